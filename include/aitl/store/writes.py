"""Idempotent write primitives shared by every stage.

Two shapes cover the whole pipeline: *insert-ignore* for facts that never change
once known (events, quarantined records), and *replace* for results derived
from a window (delete the window's rows, insert the new ones, in one
transaction) so a rerun rewrites instead of duplicating.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

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


@functools.lru_cache(maxsize=4)  # a batch shares one ingested_at: convert it once
def _utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite dialect binds this column's values (None: as they are)."""
    if isinstance(column.type, UTCDateTime):
        return _utc_text
    if isinstance(column.type, JSON):
        return json_text  # the engine's serializer; None becomes JSON null, as SQLAlchemy stores it
    return None


def _sqlite_insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert through the driver's executemany with pre-converted tuples.

    SQLAlchemy's per-row parameter processing costs several times SQLite's own
    insert; converting the two non-native types here (UTC datetimes in the text
    form SQLAlchemy stores, JSON as text) keeps the stored values identical
    (a test compares them) and makes bulk ingest several times faster.
    """
    columns = [column for column in table.columns if column.name in rows[0]]
    names = [column.name for column in columns]
    convert = [(i, f) for i, f in enumerate(map(_sqlite_converter, columns)) if f is not None]
    values_of = itemgetter(*names)
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}) ON CONFLICT DO NOTHING'

    def as_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
        values = list(values_of(row)) if len(names) > 1 else [values_of(row)]
        for index, function in convert:
            values[index] = function(values[index])
        return tuple(values)

    connection = session.connection()
    # executemany's rowcount is the number of rows SQLite actually inserted.
    return sum(
        connection.exec_driver_sql(sql, [as_tuple(row) for row in chunk]).rowcount for chunk in _chunks(rows)
    )


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
