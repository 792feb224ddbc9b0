"""Engines, transactions and Alembic migrations for the AITL store.

SQLite (a file) is the embedded default; PostgreSQL is the production store.
Every stage writes inside one ``transaction`` so a failure leaves nothing
half-written.

Database URLs carry passwords: ``masked_url`` is the only form in which one is
printed, logged or stored. A store that cannot be used (not migrated,
read-only, full, unreachable) is reported as one ``StoreError`` line naming it
and saying what to do (``check_schema``, ``store_error``); the callers (the
``aitl`` command, the Airflow tasks, the view) show that line instead of a
traceback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = resources.files("aitl.store").joinpath("migrations")


class StoreError(Exception):
    """The store cannot be used as it is: one line naming it (password masked) and what to do."""


class StoreSchemaError(StoreError):
    """The store's schema is not this version's: ``aitl db upgrade`` fixes it, a retry cannot."""


def engine_url(url: str | URL) -> URL:
    """The URL an engine is made from: a bare ``postgresql://`` or ``postgres://`` gets psycopg2.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3 and knows no
    ``postgres://`` (the scheme of Airflow's connections); psycopg2 is the
    driver installed. The one rule for every engine: the store, the sinks, the
    SQL source and the migrations.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def masked_url(url: str | URL) -> str:
    """``url`` with its password shown as ``***``: the only form in which a URL is printed, logged or stored.

    A string SQLAlchemy cannot parse (a malformed URL) keeps its scheme and
    what follows the last ``@``; everything before that, where a password
    would be, is masked.
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        text = str(url)
        scheme, separator, rest = text.rpartition("://")
        _, at, location = rest.rpartition("@")
        return f"{scheme}{separator}***@{location}" if at else text


# SQLite's page cache, in KiB. Stages read through the operating system's file cache, so a
# connection keeps a small one of its own; while events are inserted it grows, so that the pages
# of the events indexes stay in memory (``bulk_cache``).
CACHE_KIB = 16 << 10
BULK_CACHE_KIB = 128 << 10


def sqlite_pragmas(dbapi_connection, _record=None) -> None:
    """The store's SQLite settings on a new DBAPI connection (an engine ``connect`` listener)."""
    cursor = dbapi_connection.cursor()
    # WAL lets Airflow's parallel tasks read while a stage writes; the busy
    # timeout turns a brief lock into a wait instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


def bulk_cache(session: Session, bulk: bool) -> None:
    """SQLite: ``session``'s page cache at ``BULK_CACHE_KIB`` (``bulk``) or back at ``CACHE_KIB``.

    A 1M-event hour's inserts keep the events indexes' pages in 128 MiB; a stage that only reads
    would hold that much for nothing (the ``hourly`` bench's peak grew by it from 100k to 1M).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB if bulk else CACHE_KIB}")


def _is_sqlite(url: URL) -> bool:
    """True for SQLite URLs; the file's folder is created so a fresh home just works."""
    if url.get_backend_name() != "sqlite":
        return False
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return True


def json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (signal lists, errors, summaries) are read by the hundred
# thousand per hour; orjson is several times faster than the stdlib codec.
JSON_CODEC = {"json_serializer": json_text, "json_deserializer": orjson.loads}

# The attribute ``connect``'s engines set on their errors: which database failed (masked).
_FAILED_URL = "aitl_failed_url"


@functools.cache
def connect(url: str) -> Engine:
    """One engine per URL per process (engines own connection pools).

    Statement parameters are left out of error messages (``hide_parameters``):
    they are event values, which have no place in a task log. Each error
    carries the engine's masked URL, so ``store_error`` names the database that
    failed.
    """
    parsed = engine_url(url)
    shown = masked_url(url)
    sqlite = _is_sqlite(parsed)
    # A server may drop idle connections; a SQLite file cannot.
    options = {"hide_parameters": True, "pool_pre_ping": not sqlite, **JSON_CODEC}
    try:
        engine = create_engine(parsed, **options)
    except ImportError as exc:
        raise StoreError(
            f"database {shown} needs the Python module {exc.name}, which is not installed: "
            "install it, or use postgresql:// or sqlite:///"
        ) from exc
    if sqlite:
        event.listen(engine, "connect", sqlite_pragmas)

    def name_the_database(context) -> None:
        failure = context.sqlalchemy_exception or context.original_exception
        setattr(failure, _FAILED_URL, shown)

    event.listen(engine, "handle_error", name_the_database)
    return engine


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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = engine_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store at ``url`` to ``revision`` (idempotent)."""
    from alembic import command

    _is_sqlite(engine_url(url))
    command.upgrade(alembic_config(url), revision)


@functools.cache
def _migrations() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def schema_problem(connection: Connection) -> str | None:
    """What is wrong with the schema of the store behind ``connection``, or None when it is at head."""
    from alembic.migration import MigrationContext

    current = set(MigrationContext.configure(connection).get_current_heads())
    script = _migrations()
    heads = set(script.get_heads())
    if current == heads:
        return None
    latest = ", ".join(sorted(heads))
    if not current:
        return "has no AITL tables: run `aitl db upgrade`"
    known = {revision.revision for revision in script.walk_revisions()}
    at = ", ".join(sorted(current))
    if current - known:
        return f"is at revision {at}, newer than this aitl (latest {latest}): upgrade aitl"
    return f"is at revision {at}, older than this aitl's {latest}: run `aitl db upgrade`"


@functools.cache
def check_schema(url: str) -> None:
    """Raise ``StoreSchemaError`` unless the store at ``url`` is at the migrations' head.

    Called where work on the store starts, so an unmigrated or older store
    says to run ``aitl db upgrade`` instead of failing on a missing table or
    column halfway through a stage. A success is remembered for the process
    (one query per URL); a failure is not, so an upgrade made meanwhile is seen.
    """
    with connect(url).connect() as connection:
        problem = schema_problem(connection)
    if problem:
        raise StoreSchemaError(f"store {masked_url(url)} {problem}")


# What a database failure means and what to do, recognised by the driver's
# first line and SQLSTATE (lower case), in order: the first match wins.
_FAILURES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(clues), what, todo)
    for clues, what, todo in (
        (
            r"readonly database|read-only|\b25006\b",
            "is read-only",
            "give the AITL user write access to it, or point AITL at a writable store",
        ),
        (
            r"disk is full|no space left|\b53100\b",
            "is out of disk space",
            "free space on its disk, then rerun",
        ),
        (
            r'password authentication failed|role "[^"]*" does not exist|\b28p01\b|\b28000\b',
            "refused the credentials",
            "check the user and password in its URL",
        ),
        (
            r'database "[^"]*" does not exist|\b3d000\b',
            "has no such database",
            "create the database, then run `aitl db upgrade`",
        ),
        (
            r"no such table|no such column|\b42p01\b|\b42703\b",
            "lacks tables or columns this aitl needs",
            "run `aitl db upgrade`",
        ),
        (
            r"database is locked|\b55p03\b|\b40p01\b",
            "is locked by another writer",
            "rerun; parallel writers need PostgreSQL",
        ),
        (
            r"could not connect|connection refused|connection to server|could not translate host name"
            r"|timeout expired|server closed the connection|unable to open database file|\b08001\b|\b08006\b",
            "cannot be reached",
            "check that it is up and that its URL's host, port or path is right",
        ),
    )
)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def store_error(error: BaseException, url: str | None = None) -> StoreError:
    """One line for a failure of a database: which one (password masked), what is wrong, what to do.

    The database is the engine that failed (``connect`` names it on its
    errors), else ``url``, the store. Only the driver's first line is quoted:
    SQLAlchemy's own text carries the statement, and DETAIL lines may carry
    values.
    """
    shown = getattr(error, _FAILED_URL, None) or (masked_url(url) if url else None)
    if shown is None:
        who = "database"
    elif url and shown == masked_url(url):
        who = f"store {shown}"
    else:
        who = f"database {shown}"
    driver = getattr(error, "orig", None) or error
    detail = (str(driver).strip().splitlines() or [type(driver).__name__])[0]
    password = _password(url) if url else None
    if password:  # drivers do not quote passwords; this keeps it so
        detail = detail.replace(str(password), "***")
    code = str(getattr(driver, "pgcode", None) or getattr(driver, "sqlstate", None) or "")
    clues = f"{detail} {code}".lower()
    for pattern, what, todo in _FAILURES:
        if pattern.search(clues):
            return StoreError(f"{who} {what} ({detail}): {todo}")
    return StoreError(f"{who} failed ({type(driver).__name__}: {detail})")
