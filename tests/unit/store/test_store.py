"""The store's migrations build exactly the models, on both backends, idempotently; and the store
says clearly what is wrong with it (not migrated, read-only, unreachable) without showing a password."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from aitl.store import connect, transaction, upgrade
from aitl.store.database import StoreSchemaError, check_schema, engine_url, masked_url, store_error
from aitl.store.models import Base


def test_migrations_match_the_models(store_url):
    with connect(store_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_creates_every_table(store_url):
    upgrade(store_url)
    tables = set(inspect(connect(store_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_sqlite_store_folder_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'home' / 'aitl.db'}"
    upgrade(url)
    assert (tmp_path / "fresh" / "home" / "aitl.db").exists()


def test_migrations_go_down_and_up_and_keep_existing_looks(store_url):
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text

    from aitl.store.database import alembic_config

    config = alembic_config(store_url)
    command.downgrade(config, "0001")
    with connect(store_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiment_results (experiment_id, window_end, metric, test,"
                " n_control, n_variant, verdict)"
                " VALUES ('e', :at, 'success_rate', 'z', 1, 1, 'insufficient_data')"
            ),
            {"at": datetime(2026, 11, 20, tzinfo=UTC).replace(tzinfo=None)},
        )
    command.upgrade(config, "head")
    with connect(store_url).connect() as connection:
        assert connection.execute(text("SELECT level, experiment_id FROM experiment_results")).all() == [
            ("hourly", "e")
        ]
    command.downgrade(config, "base")
    assert "events" not in inspect(connect(store_url)).get_table_names()
    upgrade(store_url)


# --------------------------------------------------------------------------- URLs, schema, failures


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@db/aitl", "postgresql+psycopg2"),
        ("postgres://u:p@db/aitl", "postgresql+psycopg2"),
        ("postgresql+psycopg2://u:p@db/aitl", "postgresql+psycopg2"),
        ("sqlite:///aitl.db", "sqlite"),
    ],
)
def test_bare_postgresql_urls_get_the_installed_driver(url, driver):
    assert engine_url(url).drivername == driver
    assert engine_url(url).password == ("p" if "@" in url else None)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg2://aitl:s3cr%40t@db:5432/aitl", "postgresql+psycopg2://aitl:***@db:5432/aitl"),
        ("postgres://aitl:s3cr3t@db/aitl?sslmode=require", "postgres://aitl:***@db/aitl?sslmode=require"),
        ("sqlite:////var/lib/aitl/aitl.db", "sqlite:////var/lib/aitl/aitl.db"),
        ("/var/lib/aitl/published.jsonl", "/var/lib/aitl/published.jsonl"),
        ("aitl:s3cr3t@db", "***@db"),
    ],
)
def test_masked_url_never_shows_a_password(url, shown):
    assert masked_url(url) == shown
    assert "s3cr" not in masked_url(url)


def test_check_schema_names_the_store_and_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'never-upgraded.db'}"
    with pytest.raises(StoreSchemaError, match=r"has no AITL tables: run `aitl db upgrade`$") as raised:
        check_schema(url)
    assert str(raised.value).startswith(f"store {url} ")
    upgrade(url, "0002")
    with pytest.raises(
        StoreSchemaError, match=r"is at revision 0002, older than this aitl's \S+: run `aitl db"
    ):
        check_schema(url)
    upgrade(url)
    check_schema(url)  # at head: nothing to say


def test_a_store_newer_than_this_aitl_says_to_upgrade_aitl(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    with connect(url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreSchemaError, match=r"is at revision 9999, newer than this aitl .*: upgrade aitl"):
        check_schema(url)


def test_a_read_only_store_is_one_line_saying_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    read_only = f"sqlite:///file:{tmp_path / 'store.db'}?mode=ro&uri=true"
    with pytest.raises(OperationalError) as raised, transaction(connect(read_only)) as session:
        session.execute(text("INSERT INTO sink_state (sink, state, failures) VALUES ('s', 'closed', 0)"))
    line = str(store_error(raised.value, read_only))
    assert line.startswith(
        f"store {masked_url(read_only)} is read-only (attempt to write a readonly database)"
    )
    assert "\n" not in line and "INSERT" not in line


def test_an_unreachable_server_is_one_line_without_the_password():
    url = "postgresql://aitl:Pa55-unreachable@127.0.0.1:1/aitl"
    with pytest.raises(OperationalError) as raised:
        connect(url).connect()
    line = str(store_error(raised.value, url))
    assert line.startswith("store postgresql://aitl:***@127.0.0.1:1/aitl cannot be reached (")
    assert line.endswith("check that it is up and that its URL's host, port or path is right")
    assert "Pa55" not in line and "\n" not in line


@pytest.mark.parametrize(
    ("driver_error", "what"),
    [
        (sqlite3.OperationalError("database or disk is full"), "is out of disk space"),
        (sqlite3.OperationalError("no such table: events"), "lacks tables or columns this aitl needs"),
        (sqlite3.OperationalError("database is locked"), "is locked by another writer"),
        (
            sqlite3.IntegrityError("UNIQUE constraint failed: events.event_id"),
            "failed (IntegrityError: UNIQUE",
        ),
    ],
)
def test_store_errors_say_what_is_wrong(driver_error, what):
    error = DBAPIError("INSERT INTO events VALUES (?)", ("a value",), driver_error)
    line = str(store_error(error, "sqlite:////var/lib/aitl/aitl.db"))
    assert line.startswith(f"store sqlite:////var/lib/aitl/aitl.db {what}")
    assert "a value" not in line and "INSERT" not in line


def test_errors_name_the_database_that_failed_and_carry_no_event_values(tmp_path):
    store, other = f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(store)
    with connect(other).begin() as connection:
        connection.execute(text("CREATE TABLE t (id TEXT PRIMARY KEY)"))
    with pytest.raises(IntegrityError) as raised, connect(other).begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:v), (:v)"), {"v": "an event value"})
    assert "an event value" not in str(raised.value)  # hide_parameters
    assert str(store_error(raised.value, store)).startswith(f"database {other} failed (IntegrityError: ")
