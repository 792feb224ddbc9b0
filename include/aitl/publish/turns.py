"""One publisher of a sink at a time, without a transaction held while it sends.

The outbox sends outside any transaction (``aitl.publish.outbox``): a sink may
take as long as its timeouts allow, and a transaction open that long would
hold SQLite's single write lock, or PostgreSQL row locks, against every other
stage. What keeps two publishers of one sink (the hourly and the daily DAG's,
a review, ``aitl publish``) from sending the same batch is a *turn*: a lock
owned by the publishing process rather than by a transaction, which dies with
that process. A publisher killed mid-send thus hands its turn on at once;
there is no lease to expire.

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``), held
  by a connection that idles outside any transaction while the turn lasts.
* SQLite: an exclusive ``flock`` on a file next to the database file
  (``<store>.publish-<sink hash>.lock``). An SQLite store is a local file, so
  every process publishing from it runs on that host. An in-memory store
  belongs to one process: it needs no turn.

Taking a turn never waits: the publisher that holds it delivers everything
pending, in order, until the outbox is empty.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from aitl.ids import stable_id
from aitl.store.locks import lock_key


@contextmanager
def sending_turn(store: Engine, sink: str) -> Iterator[bool]:
    """Take the turn to send to ``sink`` (a sink's name) for the ``with`` block: True if taken.

    False means another process (or thread) holds it now.
    """
    dialect = store.dialect.name
    if dialect == "postgresql":
        with _advisory_lock(store, sink) as taken:
            yield taken
    elif dialect == "sqlite":
        database = store.url.database
        if not database or database == ":memory:":
            yield True
            return
        path = Path(database)
        with _file_lock(path.with_name(f"{path.name}.publish-{stable_id(sink)}.lock")) as taken:
            yield taken
    else:
        raise ValueError(f"the store is SQLite or PostgreSQL, not {dialect}")


@contextmanager
def _advisory_lock(store: Engine, sink: str) -> Iterator[bool]:
    key = lock_key("aitl.publish", sink)
    with store.connect() as connection:
        taken = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        connection.commit()  # the lock is the session's: idle outside a transaction while sending
        try:
            yield taken
        finally:
            if taken:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    with path.open("a") as file:  # closing it, or the process dying, releases the lock
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except BlockingIOError:
            taken = False
        yield taken
