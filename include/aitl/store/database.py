"""Engines, transactions and Alembic migrations for the AITL store.

SQLite (a file) is the embedded default; PostgreSQL is the production store.
Every stage writes inside one ``transaction`` so a failure leaves nothing
half-written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets Airflow's parallel tasks read while a stage writes; the busy
    # timeout turns a brief lock into a wait instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 128 MiB page cache: bulk inserts into the events indexes stay in memory.
    cursor.execute("PRAGMA cache_size=-131072")
    cursor.close()


def _is_sqlite(url: str) -> bool:
    """True for SQLite URLs; the file's folder is created so a fresh home just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return True


def json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (signal lists, errors, summaries) are read by the hundred
# thousand per hour; orjson is several times faster than the stdlib codec.
JSON_CODEC = {"json_serializer": json_text, "json_deserializer": orjson.loads}


@functools.cache
def connect(url: str) -> Engine:
    """One engine per URL per process (engines own connection pools)."""
    if _is_sqlite(url):
        engine = create_engine(url, **JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **JSON_CODEC)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose work is always undone: what a dry run computes, it never keeps."""
    with Session(engine, expire_on_commit=False) as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("aitl.store").joinpath("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store at ``url`` to ``revision`` (idempotent)."""
    _is_sqlite(url)
    command.upgrade(alembic_config(url), revision)
