"""Idempotent write primitives shared by every stage.

Two shapes cover the whole pipeline: *insert-ignore* for facts that never change
once known (events, quarantined records), and *replace* for results derived
from a window (delete the window's rows, insert the new ones, in one
transaction) so a rerun rewrites instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import IO, Any

from sqlalchemy import JSON, Column, Table, delete, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from aitl.store.base import UTCDateTime
from aitl.store.database import json_text

CHUNK = 5000


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for offset in range(0, len(rows), size):
        yield rows[offset : offset + size]


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, keeping the stored row where the key already exists; return how many were new.

    Counting what the database actually inserted (instead of asking first which
    keys exist) is both exact under concurrent writers and one round trip less.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _sqlite_insert_ignore(session, table, rows)
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        return sum(len(session.execute(statement, list(chunk)).all()) for chunk in _chunks(rows))
    for chunk in _chunks(rows):
        session.execute(insert(table), list(chunk))
    return len(rows)


def utc_text(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite text for a UTC datetime: ``YYYY-MM-DD HH:MM:SS.ffffff``, naive.

    Spelled out field by field: ``isoformat`` of an aware datetime costs half as much again.
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (the fastest spelling, measured)
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def _repeating(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` that reuses its last result for the same object (a batch's one ``ingested_at``)."""
    last: list[Any] = [object(), None]

    def converted(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return converted


def _json_value(value: Any) -> str:
    """The engine's JSON text (``json_text``), with the values most rows hold spelled out."""
    if value is None:
        return "null"  # as SQLAlchemy stores a None in a JSON column
    if value == []:
        return "[]"
    return json_text(value)


def _sqlite_converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite dialect binds this column's values (None: as they are)."""
    if isinstance(column.type, UTCDateTime):
        return _repeating(utc_text)
    if isinstance(column.type, JSON):
        return _json_value
    return None


def row_converter(table: Table, names: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row (dict) as the tuple of ``names`` values the store keeps, as SQLAlchemy would bind them.

    UTC datetimes become the naive UTC text SQLAlchemy stores (``YYYY-MM-DD HH:MM:SS.ffffff``)
    and JSON values their JSON text; the text forms SQLite keeps and PostgreSQL's ``COPY`` reads.
    """
    columns = [table.c[name] for name in names]
    convert = [(i, f) for i, f in enumerate(map(_sqlite_converter, columns)) if f is not None]
    values_of = itemgetter(*names)

    def as_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
        values = list(values_of(row)) if len(names) > 1 else [values_of(row)]
        for index, function in convert:
            values[index] = function(values[index])
        return tuple(values)

    return as_tuple


def _insert_sql(
    table: Table,
    names: Sequence[str],
    *,
    ignore: bool = True,
    constants: Mapping[str, str | None] | None = None,
) -> str:
    """``INSERT`` of ``names`` as bound values and of ``constants`` (text or NULL) as literals."""
    constants = constants or {}
    quoted = ", ".join(f'"{name}"' for name in (*names, *constants))
    marks = ", ".join(
        [
            *("?" for _ in names),
            *("NULL" if v is None else "'" + v.replace("'", "''") + "'" for v in constants.values()),
        ]
    )
    conflict = " ON CONFLICT DO NOTHING" if ignore else ""
    return f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}){conflict}'


def sqlite_insert_rows(
    session: Session,
    table: Table,
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    constants: Mapping[str, str | None] | None = None,
) -> int:
    """Insert ``row_converter``-form tuples into SQLite, ignoring conflicts; how many were new.

    One ``executemany``: its rowcount is the number of rows SQLite actually inserted.
    ``constants``: columns with the same value in every row, written into the statement
    instead of bound row by row (SQLite stores the same text or NULL either way).
    """
    if not rows:
        return 0
    return session.connection().exec_driver_sql(_insert_sql(table, names, constants=constants), rows).rowcount


def _sqlite_insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert through the driver's executemany with pre-converted tuples.

    SQLAlchemy's per-row parameter processing costs several times SQLite's own
    insert; converting the two non-native types here (UTC datetimes in the text
    form SQLAlchemy stores, JSON as text) keeps the stored values identical
    (a test compares them) and makes bulk ingest several times faster.
    """
    names = [column.name for column in table.columns if column.name in rows[0]]
    as_tuple = row_converter(table, names)
    return sum(
        sqlite_insert_rows(session, table, names, [as_tuple(row) for row in chunk]) for chunk in _chunks(rows)
    )


def copy_insert_ignore(
    session: Session, table: Table, names: Sequence[str], csv_file: IO[bytes], count_by: str
) -> dict[Any, int]:
    """PostgreSQL: ``COPY`` CSV rows into a staging table, then insert them, ignoring conflicts.

    ``csv_file`` holds ``names``' values in ``row_converter``'s text forms (NULL as an empty
    unquoted field). The staging table is a temporary copy of ``table``'s columns without its
    keys or indexes, dropped at commit; ``INSERT INTO table SELECT ... ON CONFLICT DO NOTHING``
    counts what the database actually inserted, exact under concurrent writers. Returns the
    inserted rows counted by ``count_by``, an SQL expression over the table's columns (e.g.
    ``date_trunc('hour', ts)``).
    """
    staging = f"aitl_staging_{table.name}"
    quoted = ", ".join(f'"{name}"' for name in names)
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" (LIKE "{table.name}" INCLUDING DEFAULTS) '
            "ON COMMIT DROP"
        )
        cursor.execute(f'TRUNCATE "{staging}"')
        cursor.copy_expert(f'COPY "{staging}" ({quoted}) FROM STDIN WITH (FORMAT csv)', csv_file)
        cursor.execute(
            f'WITH inserted AS (INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{staging}" '
            f"ON CONFLICT DO NOTHING RETURNING {count_by} AS k) SELECT k, count(*) FROM inserted GROUP BY k"
        )
        found = {key: int(n) for key, n in cursor.fetchall()}
        cursor.execute(f'TRUNCATE "{staging}"')
    finally:
        cursor.close()
    return found


def replace(
    session: Session,
    table: Table,
    where: ColumnElement[bool],
    rows: Sequence[dict[str, Any]],
) -> int:
    """Delete what ``where`` selects and insert ``rows`` in its place."""
    session.execute(delete(table).where(where))
    for chunk in _chunks(rows):
        session.execute(insert(table), list(chunk))
    return len(rows)
