"""The store's migrations: they build exactly the models, on both backends, idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from aitl.store import connect, upgrade
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
