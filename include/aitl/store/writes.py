"""Idempotent write primitives shared by every stage.

Two shapes cover the whole pipeline: *insert-ignore* for facts that never change
once known (events, quarantined records), and *replace* for results derived
from a window (delete the window's rows, insert the new ones, in one
transaction) so a rerun rewrites instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

CHUNK = 5000


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for offset in range(0, len(rows), size):
        yield rows[offset : offset + size]


def existing_keys(session: Session, table: Table, column: str, keys: Sequence[Any]) -> set[Any]:
    """Which of ``keys`` are already stored in ``table.column``."""
    found: set[Any] = set()
    col = table.c[column]
    # Bound parameters are capped per statement (SQLite: 32766), so ask in chunks.
    for chunk in _chunks(keys, 900):
        found.update(session.execute(select(col).where(col.in_(chunk))).scalars())
    return found


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, silently keeping the stored row where the key already exists.

    Callers count duplicates beforehand (``existing_keys``); the conflict clause
    is the safety net for a concurrent writer between that check and this insert.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:
        statement = insert(table)
    for chunk in _chunks(rows):
        session.execute(statement, list(chunk))


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
