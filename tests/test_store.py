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
