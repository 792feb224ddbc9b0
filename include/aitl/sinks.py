"""Publishing the loop's decisions to the platform without ever losing one.

A decision (promote a variant, roll back a configuration) matters only once the
platform has heard of it, and the platform's endpoint will sometimes be down.
Sending from inside the analysis would make a dead endpoint either fail the
analysis or drop the decision. Instead the decision is *enqueued* into the
``outbox`` table in the same transaction that records it (the transactional
outbox pattern): committed together with the analysis or not at all. A separate
``publish`` step then delivers pending messages to a sink, oldest first, and
marks them delivered only after the sink accepted them.

Delivery is therefore at-least-once: a crash between the sink's acceptance and
the commit of ``delivered_at`` sends the message again. Every message carries a
deterministic id (a hash of its kind and canonical payload), so receivers drop
duplicates by id, as ``SqlSink`` does itself. Messages are sent in order and
publishing stops at the first batch that fails, so a later decision never
overtakes an earlier one about the same experiment.

A circuit breaker (the seed's: closed / open / half-open, five failures, sixty
seconds) guards the sink. After ``failure_threshold`` consecutive failed
publishes it opens: publishes stop calling the sink at all (no timeouts piling
up in every task) until ``recovery_timeout_s`` has passed; then a single message
probes the sink, and its outcome closes or reopens the breaker. The breaker's
state lives in the store's ``sink_state`` row so every Airflow task process
sees the same breaker. A sink down for hours thus costs nothing but delay: the
decisions wait in the outbox and go out, in order, when it is back.

The outbox has one ``delivered_at`` per message, so it feeds one sink.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from sqlalchemy import Column, MetaData, Row, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from aitl.patterns import stable_id
from aitl.store.database import connect
from aitl.store.models import OutboxMessage, SinkState, UTCDateTime
from aitl.store.writes import insert_ignore

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class SinkError(Exception):
    """A sink could not take a batch (unreachable, refused, failed to write).

    The only exception ``publish`` absorbs: anything else a sink raises is a bug
    and must surface instead of being retried forever as an outage.
    """


def _require_utc(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: the outbox keeps UTC only")


def canonical_json(payload: dict[str, Any]) -> str:
    """The payload's JSON with sorted keys: equal payloads give equal text, hence equal ids."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def enqueue(session: Session, kind: str, payload: dict[str, Any], at: datetime) -> str:
    """Add a message to the outbox in the caller's transaction and return its id.

    Call it in the transaction that records the decision, so the two commit
    together. The id is derived from the kind and payload: a rerun that makes
    the same decision enqueues nothing new (the stored row, with its delivery
    state, is kept).
    """
    _require_utc(at)
    max_kind = OutboxMessage.__table__.c.kind.type.length
    if len(kind) > max_kind:
        raise ValueError(f"outbox kind {kind!r} is longer than {max_kind} characters")
    message_id = stable_id("outbox", kind, canonical_json(payload))
    row = {
        "id": message_id,
        "kind": kind,
        "payload": payload,
        "created_at": at,
        "attempts": 0,
        "last_error": None,
        "delivered_at": None,
    }
    insert_ignore(session, OutboxMessage.__table__, [row])
    return message_id


class Sink(Protocol):
    """Where messages go. ``send`` takes a batch whole or raises ``SinkError``.

    ``name`` keys the sink's circuit breaker in ``sink_state`` (at most 128
    characters, no secrets). A message is a JSON-ready dict: ``id``, ``kind``,
    ``created_at`` (ISO 8601, UTC) and ``payload``.
    """

    name: str

    def send(self, messages: list[dict[str, Any]]) -> None: ...


def _sink_name(kind: str, target: str) -> str:
    """A readable breaker key, hashed when the target would not fit the column."""
    name = f"{kind}:{target}"
    return name if len(name) <= SinkState.__table__.c.sink.type.length else f"{kind}:{stable_id(target)}"


class FileSink:
    """Appends one JSON line per message to a local file (a spool another system tails)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = _sink_name("file", str(self.path.resolve()))

    def send(self, messages: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(message) + b"\n" for message in messages)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab+") as file:
                # A crash mid-write leaves a torn last line; starting on a fresh
                # line keeps it from swallowing the first redelivered message.
                if file.seek(0, os.SEEK_END):
                    file.seek(-1, os.SEEK_END)
                    if file.read(1) != b"\n":
                        data = b"\n" + data
                file.write(data)
                file.flush()
                # Delivered means durable: the outbox forgets the message on return.
                os.fsync(file.fileno())
        except OSError as exc:
            raise SinkError(f"cannot append to {self.path}: {exc}") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failure: urllib would replay a POST as a bodiless GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSink:
    """POSTs ``{"messages": [...]}`` as JSON; only a 2xx answer counts as delivered."""

    def __init__(self, url: str, timeout_s: float = 10, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        parts = urlsplit(url)
        # Without credentials or query string: the name is stored and logged.
        host = parts.netloc.rpartition("@")[2]
        self.name = _sink_name("http", urlunsplit((parts.scheme, host, parts.path, "", "")))
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, messages: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            self.url, data=orjson.dumps({"messages": messages}), headers=self.headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise SinkError(f"HTTP {exc.code} {exc.reason} from {self.name}") from exc
        except urllib.error.URLError as exc:
            raise SinkError(f"cannot reach {self.name}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:  # timeouts, dropped connections
            raise SinkError(f"cannot reach {self.name}: {exc!r}") from exc


class SqlSink:
    """Writes messages into a table of any SQLAlchemy database, once per message id.

    The table (``id`` primary key, ``kind``, ``payload`` as JSON text,
    ``created_at``, ``published_at``) is created if missing. Ids already there
    are skipped, so a redelivery after a crash never duplicates a decision.
    """

    def __init__(self, url: str, table: str = "aitl_published") -> None:
        self.url = url
        self.table = Table(
            table,
            MetaData(),
            Column("id", String(64), primary_key=True),
            Column("kind", String(64), nullable=False),
            Column("payload", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("published_at", UTCDateTime, nullable=False),
        )
        self.name = _sink_name("sql", f"{make_url(url).render_as_string(hide_password=True)}#{table}")

    def send(self, messages: list[dict[str, Any]]) -> None:
        ids = [message["id"] for message in messages]
        published_at = datetime.now(UTC)  # the receiver's own record of arrival
        try:
            with connect(self.url).begin() as connection:
                self.table.create(connection, checkfirst=True)
                # Select-then-insert works on every dialect; a concurrent writer
                # of the same id makes the insert fail and the retry skip it.
                known = set(connection.scalars(select(self.table.c.id).where(self.table.c.id.in_(ids))))
                rows = [
                    {
                        "id": message["id"],
                        "kind": message["kind"],
                        "payload": canonical_json(message["payload"]),
                        "created_at": datetime.fromisoformat(message["created_at"]),
                        "published_at": published_at,
                    }
                    for message in messages
                    if message["id"] not in known
                ]
                if rows:
                    connection.execute(insert(self.table), rows)
        except DBAPIError as exc:  # its text would carry the SQL and every payload
            raise SinkError(f"cannot write to {self.name}: {exc.orig!r}") from exc
        except OSError as exc:  # a SQLite file whose folder cannot be created
            raise SinkError(f"cannot write to {self.name}: {exc}") from exc


def sink_from_url(url: str) -> Sink:
    """The sink a URL names: a file (``file://`` or a plain path), HTTP(S), or a SQLAlchemy database."""
    scheme, separator, _ = url.partition("://")
    if not separator:
        return FileSink(url)
    scheme = scheme.lower()
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file sink url {url!r} names a remote host")
        return FileSink(urllib.request.url2pathname(parts.path))
    if scheme in ("http", "https"):
        return HttpSink(url)
    try:
        make_url(url).get_dialect()  # resolves the dialect without connecting
    except ArgumentError as exc:
        raise ValueError(f"unknown sink url {url!r}: not a file, HTTP(S) or SQLAlchemy url") from exc
    return SqlSink(url)


@dataclass
class CircuitBreaker:
    """The seed's circuit breaker, kept in the sink's ``sink_state`` row.

    Only ``closed`` and ``open`` are stored. ``half_open`` is "open, and the
    recovery timeout has passed": every process derives it the same way from
    ``opened_at`` and its clock, and the probe's outcome is what gets written.
    The row is read ``FOR UPDATE`` so, on PostgreSQL, concurrent publishers of
    one sink take turns (one probe, no message sent twice by two processes);
    on SQLite the single writer serializes them and ids absorb any resend.
    """

    row: SinkState
    failure_threshold: int = 5
    recovery_timeout: timedelta = timedelta(seconds=60)

    @classmethod
    def load(
        cls,
        session: Session,
        sink: str,
        now: datetime,
        *,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 60,
    ) -> CircuitBreaker:
        """The breaker of ``sink``, locked for the caller's transaction (created closed if new)."""
        if failure_threshold < 1 or recovery_timeout_s < 0:
            raise ValueError("failure_threshold must be >= 1 and recovery_timeout_s >= 0")
        _require_utc(now)
        query = (
            select(SinkState)
            .where(SinkState.sink == sink)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = session.scalars(query).one_or_none()
        if row is None:
            fresh = {"sink": sink, "state": CLOSED, "failures": 0, "opened_at": None, "updated_at": now}
            insert_ignore(session, SinkState.__table__, [fresh])  # a concurrent publisher may win
            row = session.scalars(query).one()
        return cls(row, failure_threshold, timedelta(seconds=recovery_timeout_s))

    @property
    def probe_at(self) -> datetime | None:
        """When an open breaker lets a probe through (None while closed)."""
        if self.row.state != OPEN or self.row.opened_at is None:
            return None
        return self.row.opened_at + self.recovery_timeout

    def state(self, now: datetime) -> str:
        probe_at = self.probe_at
        if probe_at is None:
            return CLOSED
        return OPEN if now < probe_at else HALF_OPEN

    def record_success(self, now: datetime) -> None:
        """The sink took a batch: close, and forget past failures (written only on change)."""
        row = self.row
        if row.state != CLOSED or row.failures:
            row.state, row.failures, row.opened_at, row.updated_at = CLOSED, 0, None, now

    def record_failure(self, now: datetime) -> None:
        """A publish failed: open at the threshold, and at once when it was the half-open probe."""
        row = self.row
        row.failures += 1
        if row.state == OPEN or row.failures >= self.failure_threshold:
            row.state, row.opened_at = OPEN, now
        row.updated_at = now


def _pending_count(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
    )


def _pending_batch(session: Session, limit: int) -> Sequence[Row[Any]]:
    outbox = OutboxMessage
    return session.execute(
        select(outbox.id, outbox.kind, outbox.created_at, outbox.payload)
        .where(outbox.delivered_at.is_(None))
        .order_by(outbox.created_at, outbox.id)
        .limit(limit)
    ).all()


def _message(row: Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "created_at": row.created_at.isoformat(), "payload": row.payload}


def _send(
    sink: Sink, messages: list[dict[str, Any]], tries: int, backoff_s: float, sleep: Callable[[float], None]
) -> tuple[bool, int, str | None]:
    """Send with up to ``tries`` tries and exponential backoff: (delivered, tries made, last error)."""
    error = None
    for attempt in range(tries):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        try:
            sink.send(messages)
        except SinkError as exc:
            error = str(exc) or type(exc).__name__
        else:
            return True, attempt + 1, error
    return False, tries, error


def publish(
    session: Session,
    sink: Sink,
    now: datetime,
    *,
    batch_size: int = 100,
    retries: int = 3,
    backoff_s: float = 0.5,
    failure_threshold: int = 5,
    recovery_timeout_s: float = 60,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Deliver pending outbox messages, oldest first, as far as the sink and its breaker allow.

    Each batch is tried once and retried up to ``retries`` times, sleeping
    ``backoff_s``, ``2 * backoff_s``, ... in between. A batch the sink took is
    marked ``delivered_at = now``; a batch that still fails gets its rows'
    ``attempts`` and ``last_error`` updated, counts one breaker failure, and
    ends the publish (nothing later may overtake it). ``attempts`` counts every
    send of a row, and ``last_error`` keeps the latest failure even after a
    later success, so an operator sees which deliveries struggled.

    When the breaker is half-open, the oldest message alone is sent, once, with
    no retries (hammering a sink that is just coming back defeats the breaker).
    If it goes through the breaker closes and the rest is delivered in the same
    publish, as the sink has just proven it is back.

    Everything is written in the caller's transaction. A sink failure never
    raises (the summary reports it and the messages stay pending); a bad
    argument or a sink raising anything but ``SinkError`` does.
    """
    if batch_size < 1 or retries < 0:
        raise ValueError("batch_size must be >= 1 and retries >= 0")
    breaker = CircuitBreaker.load(
        session, sink.name, now, failure_threshold=failure_threshold, recovery_timeout_s=recovery_timeout_s
    )
    pending_before = _pending_count(session)
    delivered = failed_attempts = 0
    error = None
    gate = breaker.state(now)
    if pending_before and gate == OPEN:
        error = f"circuit open: {pending_before} messages wait for the probe at {breaker.probe_at}"
    elif pending_before:
        probing = gate == HALF_OPEN
        while batch := _pending_batch(session, 1 if probing else batch_size):
            ok, tries, last_error = _send(
                sink, [_message(row) for row in batch], 1 if probing else 1 + retries, backoff_s, sleep
            )
            failed_attempts += tries - 1 if ok else tries
            values: dict[str, Any] = {"attempts": OutboxMessage.attempts + tries}
            if last_error is not None:
                values["last_error"] = last_error
            if ok:
                values["delivered_at"] = now
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_([row.id for row in batch])).values(values)
            )
            if not ok:
                breaker.record_failure(now)
                error = last_error
                break
            breaker.record_success(now)
            delivered += len(batch)
            probing = False
    return {
        "sink": sink.name,
        "pending_before": pending_before,
        "delivered": delivered,
        "failed_attempts": failed_attempts,
        "still_pending": _pending_count(session),
        "breaker": breaker.state(now),
        "error": error,
    }
