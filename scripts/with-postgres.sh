#!/usr/bin/env bash
# Run a command with AITL_TEST_PG_URL pointing at a real PostgreSQL server.
#
# An AITL_TEST_PG_URL already set is used as it is. Otherwise, as root with
# Debian's postgresql package installed, the packaged cluster is started and an
# `aitl` role and `aitl_test` database are created. Without a server the
# PostgreSQL tests are skipped locally, but in CI (CI=true) that is a failure.
set -euo pipefail

if [ -z "${AITL_TEST_PG_URL:-}" ] && [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
  cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2, $4}')
  if [ -n "$cluster" ]; then
    read -r version name status <<<"$cluster"
    [ "$status" = online ] || pg_ctlcluster "$version" "$name" start
    for _ in $(seq 30); do
      su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1 && break
      sleep 1
    done
    psql_admin() { su postgres -c "psql -qtAc \"$1\""; }
    # CREATEROLE: the secrets test creates a role with a password of its own.
    if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'aitl'")" = 1 ]; then
      psql_admin "ALTER ROLE aitl CREATEDB CREATEROLE"
    else
      psql_admin "CREATE ROLE aitl LOGIN PASSWORD 'aitl' CREATEDB CREATEROLE"
    fi
    [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'aitl_test'")" = 1 ] \
      || psql_admin "CREATE DATABASE aitl_test OWNER aitl"
    port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
    export AITL_TEST_PG_URL="postgresql+psycopg2://aitl:aitl@127.0.0.1:${port}/aitl_test"
  fi
fi

if [ -z "${AITL_TEST_PG_URL:-}" ]; then
  if [ "${CI:-}" = true ]; then
    echo "with-postgres: no PostgreSQL server, and CI requires one" >&2
    exit 1
  fi
  echo "with-postgres: no PostgreSQL server found; PostgreSQL tests will be skipped" \
       "(apt-get install postgresql, or set AITL_TEST_PG_URL)" >&2
fi
exec "$@"
