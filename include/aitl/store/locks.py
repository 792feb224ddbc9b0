"""Serialising writers of the same window on PostgreSQL (SQLite serialises all writers itself).

Two runs of one hour at once (a retry racing a manual trigger, a backfill over
a live run) would each delete and re-insert the hour's derived rows, and the
second insert fails on the first one's keys. A transaction-scoped advisory
lock per key makes the second wait for the first instead; it is released at
commit or rollback, so a killed run never leaves it held.

Keys are taken in one global order (callers pass them sorted), which is what
makes several locks per transaction deadlock-free.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(*parts: object) -> int:
    """A signed 64-bit key (PostgreSQL's advisory lock space) for the parts."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def advisory_lock(session: Session, *parts: object, shared: bool = False) -> None:
    """Wait for, then hold until the transaction ends, the lock named by ``parts``.

    A ``shared`` lock is held by any number of transactions at once and
    excludes only the exclusive one: the shards of one run's stage work side by
    side, and any other stage of that window waits for them all.
    """
    if session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        session.execute(text(f"SELECT {function}(:key)"), {"key": lock_key(*parts)})
