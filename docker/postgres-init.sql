-- One PostgreSQL server, two databases, each owned by its own login role:
--   airflow  Airflow's metadata DB   (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN in docker-compose.yml)
--   aitl     the AITL store          (the `aitl_store` connection, AIRFLOW_CONN_AITL_STORE)
--
-- The postgres image runs this once, as the superuser, when it initializes an
-- empty data directory (mounted into /docker-entrypoint-initdb.d/). Changing it
-- later has no effect on an existing volume: `docker compose down -v` starts over.
--
-- The passwords only travel on the compose network (the server publishes no
-- port); a real deployment sets its own here and in docker-compose.yml.
-- tests/test_compose.py checks that both files agree.

CREATE ROLE airflow WITH LOGIN PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;

CREATE ROLE aitl WITH LOGIN PASSWORD 'aitl';
CREATE DATABASE aitl OWNER aitl;
REVOKE ALL ON DATABASE aitl FROM PUBLIC;
