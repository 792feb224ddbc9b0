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

A circuit breaker (``aitl.publish.breaker``) guards the sink.

The outbox has one ``delivered_at`` per message, so it feeds one sink.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.publish.breaker import HALF_OPEN, OPEN, CircuitBreaker, require_utc
from aitl.publish.sinks import Sink, SinkError, canonical_json
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
