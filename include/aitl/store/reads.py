"""Reading the store back: a window's raw events, and the hourly summaries merged over it.

Both reads are point-in-time: only rows whose hour lies in the window are read,
so a backfilled run sees what a live run of that window saw. Normalization
(``aitl.mining.rollups``) writes one summary row per hour and key; everything
here sums hours, so a week of a busy platform is read as a few thousand rows
instead of millions of events. Every read is bounded by the window's end,
which is what makes a backfilled analysis see only what existed then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import JSON, Boolean, Table, cast, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from aitl.shards import GROUPS
from aitl.store.base import UTCDateTime
from aitl.store.models import Event, HourlyRollup, HourlySequence, HourlySignal, HourlyUser
from aitl.window import Window

PARTITION_ROWS = 50_000


def events_frame(
    session: Session, window: Window, columns: Sequence[str], *, groups: Sequence[int] | None = None
) -> pd.DataFrame:
    """The window's events with the given columns, ``ts`` always included.

    Only events whose timestamp lies in the window are read, so a backfilled
    run sees what a live run of that window saw. ``groups`` reads only the
    events of those session groups (``aitl.shards``), with their
    ``session_bucket``, in one fixed order (time, then id): a group's partial
    sums then add its events in the same order whichever chunk read it.
    """
    wanted = list(dict.fromkeys(["ts", *columns, *(["session_bucket"] if groups is not None else [])]))
    # Selected as NullType: rows come back as the driver returns them, and
    # _typed converts each partition a column at a time (timestamps, JSON,
    # booleans; per value, SQLAlchemy's conversions were half a busy hour's read).
    query = select(*(type_coerce(Event.__table__.c[name], NullType()).label(name) for name in wanted)).where(
        Event.ts >= window.start, Event.ts < window.end
    )
    if groups is not None:
        query = query.where((Event.session_bucket % GROUPS).in_(list(groups))).order_by(
            Event.ts, Event.event_id
        )
    # Streamed in partitions: a million events never exist as a million row objects at once.
    result = session.connection().execute(query.execution_options(yield_per=PARTITION_ROWS))
    # (As plain tuples: pandas probes a Row's attributes, an exception each, per row.)
    frames = [
        _typed(pd.DataFrame.from_records(list(map(tuple, rows)), columns=wanted))
        for rows in result.partitions()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=wanted)


def _decoded(texts: list[Any]) -> list[Any]:
    """JSON texts decoded, each distinct text once (most are ``[]`` or ``null``); other values as they are.

    Equal texts share one decoded object: nothing downstream mutates them.
    """
    seen: dict[Any, Any] = {}
    decoded = []
    for text in texts:
        if not isinstance(text, str | bytes):
            decoded.append(text)
        elif text in seen:
            decoded.append(seen[text])
        else:
            decoded.append(seen.setdefault(text, orjson.loads(text)))
    return decoded


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Driver values as the store's types: aware UTC timestamps, decoded JSON, booleans."""
    for name in frame.columns:
        kind = Event.__table__.c[name].type
        values = frame[name]
        if isinstance(kind, UTCDateTime):
            frame[name] = pd.to_datetime(values, utc=True, format="ISO8601")
        elif isinstance(kind, JSON):
            frame[name] = _decoded(values.tolist())
        elif isinstance(kind, Boolean) and not values.isna().any():
            frame[name] = values.astype(bool)
    return frame


@dataclass(frozen=True)
class SegmentStats:
    """Merged sufficient statistics of any set of rollup rows."""

    n: int = 0
    successes: int = 0
    duration_sum: float = 0.0
    duration_sumsq: float = 0.0
    log_duration_sum: float = 0.0
    log_duration_sumsq: float = 0.0
    quality_sum: float = 0.0
    quality_sumsq: float = 0.0
    error_events: int = 0
    # Events that reported a duration / a quality score (outcome-only sources report neither).
    duration_n: int = 0
    quality_n: int = 0
    # Cost per success (aitl.stats.cost): over the events that carry a cost, reported or priced.
    cost_n: int = 0
    cost_sum: float = 0.0
    cost_sumsq: float = 0.0
    cost_successes: int = 0
    cost_success_sum: float = 0.0

    def __add__(self, other: SegmentStats) -> SegmentStats:
        return SegmentStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: SegmentStats) -> SegmentStats:
        """The statistics of a superset minus a subset of it: the rest of the traffic."""
        return SegmentStats(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    def mean_var(self, metric: str) -> tuple[float, float]:
        """Mean and unbiased variance of ``quality``, ``duration`` or ``log_duration``.

        Over the events that reported the metric (``quality_n``, ``duration_n``), not all events.
        """
        total, squares = getattr(self, f"{metric}_sum"), getattr(self, f"{metric}_sumsq")
        n = self.quality_n if metric == "quality" else self.duration_n
        if n < 2:
            return (total / n if n else float("nan")), float("nan")
        mean = total / n
        variance = max(squares - n * mean * mean, 0.0) / (n - 1)
        return mean, variance


@cache
def _stat_sums() -> tuple[Any, ...]:
    """``SegmentStats``' fields summed over rollup rows, built once: every hourly look sums them."""
    table = HourlyRollup.__table__
    return tuple(func.coalesce(func.sum(table.c[f.name]), 0) for f in fields(SegmentStats))


def merged_stats(session: Session, window: Window, **segment: Any) -> SegmentStats:
    """Add up the rollups of ``window`` whose segment columns equal ``segment`` (summed in SQL)."""
    table = HourlyRollup.__table__
    query = select(*_stat_sums()).where(table.c.hour >= window.start, table.c.hour < window.end)
    for column, value in segment.items():
        query = query.where(table.c[column] == value)
    row = session.execute(query).one()
    # Each field keeps its own type (counts int, sums float) whatever the backend's SUM returns.
    return SegmentStats(*(type(f.default)(v) for v, f in zip(row, fields(SegmentStats), strict=True)))


def window_totals(session: Session, window: Window, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Rollup columns ``values`` summed over the window per ``keys`` (e.g. per hour)."""
    return _summed(session, HourlyRollup.__table__, window, keys, values)


def _in_window(table: Table, window: Window):
    return (table.c.hour >= window.start) & (table.c.hour < window.end)


def _summed(
    session: Session, table: Table, window: Window, keys: list[str], values: list[str]
) -> pd.DataFrame:
    # PostgreSQL sums a BIGINT as NUMERIC (a Decimal in Python): cast back to the column's type.
    query = (
        select(
            *(table.c[k] for k in keys),
            *(cast(func.sum(table.c[v]), table.c[v].type).label(v) for v in values),
        )
        .where(_in_window(table, window))
        .group_by(*(table.c[k] for k in keys))
    )
    return pd.DataFrame.from_records(session.execute(query).all(), columns=[*keys, *values])


def window_signal_counts(session: Session, window: Window) -> pd.DataFrame:
    """``hourly_signals`` summed over the window (the input of frequency extraction)."""
    table = HourlySignal.__table__
    keys = [c.name for c in table.primary_key.columns if c.name != "hour"]
    return _summed(session, table, window, keys, ["count"])


def window_sequences(session: Session, window: Window) -> dict[tuple[str, ...], int]:
    """Distinct session sequences of the window with their session counts."""
    counts = _summed(session, HourlySequence.__table__, window, ["sequence"], ["sessions"])
    return {tuple(seq.split()): int(n) for seq, n in zip(counts["sequence"], counts["sessions"], strict=True)}


def window_users(session: Session, window: Window, by_hour: bool = False) -> pd.DataFrame:
    """Per user and task type (and hour, if asked): executions, successes, quality, satisfaction."""
    table = HourlyUser.__table__
    keys = ["user_id", "task_type", *(["hour"] if by_hour else [])]
    values = ["n", "successes", "quality_sum", "quality_n", "satisfaction_n", "satisfaction_sum"]
    return _summed(session, table, window, keys, values)


def rollup_frame_of(session: Session, window: Window, columns: list[str]) -> pd.DataFrame:
    """The window's rollup rows (hour and the given columns), for series and segment analyses."""
    table = HourlyRollup.__table__
    query = select(table.c.hour, *(table.c[c] for c in columns)).where(_in_window(table, window))
    return pd.DataFrame.from_records(session.execute(query).all(), columns=["hour", *columns])


def merged_histogram(hists: Any) -> np.ndarray:
    """Element-wise sum of duration histograms (lists of bucket counts)."""
    stacked = [np.asarray(h, dtype=np.int64) for h in hists]
    return np.sum(stacked, axis=0) if stacked else np.zeros(0, dtype=np.int64)
