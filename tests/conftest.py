"""Shared fixtures: isolated AITL and Airflow homes, and stores on SQLite and PostgreSQL.

The environment is set before anything imports Airflow, so the suite never
touches a developer's ~/airflow or ~/.aitl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="aitl-tests-"))
os.environ.update(
    {
        "AITL_HOME": str(_HOME / "aitl"),
        "AIRFLOW_HOME": str(_HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    }
)
for name in ("AITL_STORE_URL", "AITL_LANDING_DIR", "AITL_SOURCE_URL", "AITL_PROFILE"):
    os.environ.pop(name, None)

PG_URL = os.environ.get("AITL_TEST_PG_URL")


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_store(kind: str, tmp_path: Path) -> str:
    """An empty, migrated store of the given kind; returns its URL."""
    from aitl.store import upgrade
    from aitl.store.database import connect

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        if not PG_URL:
            if os.environ.get("CI") == "true":
                pytest.fail("AITL_TEST_PG_URL is not set: CI must run the PostgreSQL tests")
            pytest.skip("no PostgreSQL server (set AITL_TEST_PG_URL or run `make test`)")
        url = PG_URL
        connect(url).dispose()
        _reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """The same test against an embedded SQLite store and a real PostgreSQL store."""
    return fresh_store(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return fresh_store("sqlite", tmp_path)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """An Airflow home with a migrated SQLite metadata DB (once per session)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return home


# The tables derived from events: what a sharded run must write exactly as an unsharded one.
DERIVED_TABLES = (
    "hourly_rollups",
    "hourly_signals",
    "hourly_sequences",
    "hourly_users",
    "patterns",
    "insights",
    "insight_observations",
    "improvements",
    "experiments",
    "prompt_versions",
)


def table_rows(url: str, name: str) -> list[tuple[Any, ...]]:
    """Every row of a store table, wall-clock columns (``*_at``) left out, sorted."""
    from sqlalchemy import select

    from aitl.store.database import connect, transaction
    from aitl.store.models import Base

    table = Base.metadata.tables[name]
    columns = [c for c in table.columns if not c.name.endswith("_at")]
    with transaction(connect(url)) as session:
        rows = session.execute(select(*columns)).all()
    return sorted((tuple(row) for row in rows), key=repr)
