"""The circuit breaker that guards a sink (the seed's: closed / open / half-open,
five failures, sixty seconds). After ``failure_threshold`` consecutive failed
publishes it opens: publishes stop calling the sink at all (no timeouts piling
up in every task) until ``recovery_timeout_s`` has passed; then a single message
probes the sink, and its outcome closes or reopens the breaker. The breaker's
state lives in the store's ``sink_state`` row so every Airflow task process
sees the same breaker. A sink down for hours thus costs nothing but delay: the
decisions wait in the outbox and go out, in order, when it is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.store.models import SinkState
from aitl.store.writes import insert_ignore

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


def require_utc(at: datetime) -> None:
    """Refuse a naive datetime: the outbox and the breaker compare UTC instants only."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: the outbox keeps UTC only")


@dataclass
class CircuitBreaker:
    """The seed's circuit breaker, kept in the sink's ``sink_state`` row.

    Only ``closed`` and ``open`` are stored. ``half_open`` is "open, and the
    recovery timeout has passed": every process derives it the same way from
    ``opened_at`` and its clock, and the probe's outcome is what gets written.
    Only the publisher holding the sink's turn (``aitl.publish.turns``) writes
    the row, so there is one probe and no lost update without a row lock
    held across the send: the outbox loads the breaker afresh in each of its
    short transactions.
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
        """The breaker of ``sink`` as stored now (created closed if new)."""
        if failure_threshold < 1 or recovery_timeout_s < 0:
            raise ValueError("failure_threshold must be >= 1 and recovery_timeout_s >= 0")
        require_utc(now)
        query = select(SinkState).where(SinkState.sink == sink).execution_options(populate_existing=True)
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
