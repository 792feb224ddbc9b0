"""Publishing the loop's decisions to the platform without ever losing one.

A decision (promote a variant, roll back a configuration) matters only once the
platform has heard of it, and the platform's endpoint will sometimes be down.
Sending from inside the analysis would make a dead endpoint either fail the
analysis or drop the decision. Instead the decision is *enqueued* into the
``outbox`` table in the same transaction that records it (the transactional
outbox pattern): committed together with the analysis or not at all. A separate
``publish`` step then delivers pending messages to a sink, oldest first, and
marks them delivered only after the sink accepted them.

Sending is network I/O that may hang as long as the sink's timeouts allow, so
it happens outside any transaction: each batch is claimed in one short
transaction (the breaker read, the next pending messages), sent with none
open, and settled in another (``delivered_at``, or the failure and the
breaker). A hanging sink thus delays only its own messages and never holds
the store's write lock against the other stages. Only the publisher holding
the sink's turn (``aitl.publish.turns``) claims and sends, so two publishers
never send the same batch; one that finds the turn taken sends nothing and
leaves the outbox to the holder, which delivers until nothing is pending (a
message committed just as the holder finishes waits for the next publish).

Delivery is therefore at-least-once: a crash between the sink's acceptance and
the commit of ``delivered_at`` sends the message again. Every message carries a
deterministic id (a hash of its kind and canonical payload), so receivers drop
duplicates by id, as ``SqlSink`` does itself. Messages are sent in order and
publishing stops at the first batch that fails, so a later decision never
overtakes an earlier one about the same experiment.

A circuit breaker (``aitl.publish.breaker``) guards the sink.

The outbox has one ``delivered_at`` per message, so it feeds one sink.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, func, select, update
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.publish.breaker import HALF_OPEN, OPEN, CircuitBreaker, require_utc
from aitl.publish.sinks import Sink, SinkError, canonical_json
from aitl.publish.turns import sending_turn
from aitl.store.database import transaction
from aitl.store.models import OutboxMessage
from aitl.store.writes import insert_ignore


def enqueue(session: Session, kind: str, payload: dict[str, Any], at: datetime) -> str:
    """Add a message to the outbox in the caller's transaction and return its id.

    Call it in the transaction that records the decision, so the two commit
    together. The id is derived from the kind and payload: a rerun that makes
    the same decision enqueues nothing new (the stored row, with its delivery
    state, is kept).
    """
    require_utc(at)
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


@dataclass(frozen=True)
class _Publisher:
    """One publish's store, sink and options: the short transactions it opens around each send."""

    store: Engine
    sink: str  # the sink's name, which keys its breaker
    now: datetime
    failure_threshold: int
    recovery_timeout_s: float

    def breaker(self, session: Session) -> CircuitBreaker:
        return CircuitBreaker.load(
            session,
            self.sink,
            self.now,
            failure_threshold=self.failure_threshold,
            recovery_timeout_s=self.recovery_timeout_s,
        )

    def pending(self) -> int:
        with transaction(self.store) as session:
            return _pending_count(session)

    def claim(self, batch_size: int) -> tuple[str, datetime | None, Sequence[Row[Any]]]:
        """The breaker's gate, when it lets a probe through, and the batch it allows.

        Open: no batch. Half-open: the oldest message alone, the probe.
        """
        with transaction(self.store) as session:
            breaker = self.breaker(session)
            gate = breaker.state(self.now)
            batch = [] if gate == OPEN else _pending_batch(session, 1 if gate == HALF_OPEN else batch_size)
            return gate, breaker.probe_at, batch

    def settle(self, ids: list[str], delivered: bool, tries: int, last_error: str | None) -> None:
        """Record a batch's outcome and the breaker's, together."""
        values: dict[str, Any] = {"attempts": OutboxMessage.attempts + tries}
        if last_error is not None:
            values["last_error"] = last_error
        if delivered:
            values["delivered_at"] = self.now
        with transaction(self.store) as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(values))
            breaker = self.breaker(session)
            if delivered:
                breaker.record_success(self.now)
            else:
                breaker.record_failure(self.now)

    def gate(self) -> str:
        with transaction(self.store) as session:
            return self.breaker(session).state(self.now)


def publish(
    store: Engine,
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

    ``store`` is the store's engine: the publish commits its own short
    transactions, none of them open while the sink is called (see the module
    docstring), so call it outside any transaction of the caller's. When
    another publisher holds the sink's turn, nothing is sent and the summary's
    ``error`` says so. A sink failure never raises (the summary reports it and
    the messages stay pending); a bad argument or a sink raising anything but
    ``SinkError`` does.
    """
    if batch_size < 1 or retries < 0:
        raise ValueError("batch_size must be >= 1 and retries >= 0")
    require_utc(now)
    publisher = _Publisher(store, sink.name, now, failure_threshold, recovery_timeout_s)
    delivered = failed_attempts = 0
    error = None
    with sending_turn(store, sink.name) as ours:
        pending_before = publisher.pending()
        if not ours:
            error = f"another publisher is delivering to {sink.name}: its messages wait for it"
        while ours and pending_before:
            gate, probe_at, batch = publisher.claim(batch_size)
            if gate == OPEN:
                error = f"circuit open: {pending_before} messages wait for the probe at {probe_at}"
            if not batch:
                break
            allowed = 1 if gate == HALF_OPEN else 1 + retries  # a probe is one message, once
            ok, tries, last_error = _send(sink, [_message(row) for row in batch], allowed, backoff_s, sleep)
            failed_attempts += tries - 1 if ok else tries
            publisher.settle([row.id for row in batch], ok, tries, last_error)
            if not ok:
                error = last_error
                break
            delivered += len(batch)
    return {
        "sink": sink.name,
        "pending_before": pending_before,
        "delivered": delivered,
        "failed_attempts": failed_attempts,
        "still_pending": publisher.pending(),
        "breaker": publisher.gate(),
        "error": error,
    }
