"""Normalization: hourly rollups of additive sufficient statistics per segment.

A segment is agent tier x task type x language x model x prompt version x
experiment arm. Each rollup row holds counts, sums and sums of squares, never
means, so that days merge hours by addition and an experiment's cumulative
statistics never need the raw events again (the gbstats model).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.events import events_frame
from aitl.store.models import SEGMENT_COLUMNS, HourlyRollup
from aitl.store.writes import replace
from aitl.window import Window

STAT_COLUMNS = tuple(
    c.name for c in HourlyRollup.__table__.columns if c.name not in ("hour", *SEGMENT_COLUMNS)
)
EVENT_COLUMNS = (
    *SEGMENT_COLUMNS,
    "success",
    "duration_s",
    "quality_score",
    "errors",
    "security_warnings",
    "syntax_errors",
    "satisfaction",
    "accepted",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)


def _list_len(values: pd.Series) -> np.ndarray:
    return np.fromiter((len(v) if v else 0 for v in values), dtype=np.int64, count=len(values))


def rollup_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Aggregate events into one row per (hour, segment) with additive statistics."""
    if events.empty:
        return pd.DataFrame(columns=["hour", *SEGMENT_COLUMNS, *STAT_COLUMNS])
    frame = pd.DataFrame({"hour": events["ts"].dt.floor("h")})
    for name in SEGMENT_COLUMNS:
        filler = 0 if name == "prompt_version" else ""
        frame[name] = events[name].fillna(filler).astype("int64" if filler == 0 else "str")
    duration = events["duration_s"].astype(float)
    log_duration = np.log1p(duration)
    quality = events["quality_score"].astype(float)
    n_errors = _list_len(events["errors"])
    satisfaction = pd.to_numeric(events["satisfaction"], errors="coerce")
    accepted = events["accepted"]
    frame = frame.assign(
        n=1,
        successes=events["success"].astype(bool).astype(int),
        duration_sum=duration,
        duration_sumsq=duration**2,
        log_duration_sum=log_duration,
        log_duration_sumsq=log_duration**2,
        quality_sum=quality,
        quality_sumsq=quality**2,
        error_events=(n_errors > 0).astype(int),
        error_count=n_errors,
        security_events=(_list_len(events["security_warnings"]) > 0).astype(int),
        syntax_error_events=(events["syntax_errors"].fillna(0).astype(int) > 0).astype(int),
        satisfaction_n=satisfaction.notna().astype(int),
        satisfaction_sum=satisfaction.fillna(0.0),
        satisfaction_sumsq=satisfaction.fillna(0.0) ** 2,
        accepted_n=accepted.notna().astype(int),
        accepted_count=accepted.fillna(False).astype(bool).astype(int),
        tokens_in_sum=events["tokens_in"].fillna(0).astype("int64"),
        tokens_out_sum=events["tokens_out"].fillna(0).astype("int64"),
        cost_sum=events["cost_usd"].fillna(0.0).astype(float),
    )
    grouped = frame.groupby(["hour", *SEGMENT_COLUMNS], sort=True, as_index=False)
    return grouped[list(STAT_COLUMNS)].sum()


def build_rollups(session: Session, window: Window) -> dict[str, int]:
    """Replace the rollups of every hour in the window by ones computed from its events."""
    events = events_frame(session, window, EVENT_COLUMNS)
    rollups = rollup_frame(events)
    records = rollups.to_dict("records")
    for record in records:
        record["hour"] = record["hour"].to_pydatetime()
    table = HourlyRollup.__table__
    replace(
        session,
        table,
        (table.c.hour >= window.start) & (table.c.hour < window.end),
        records,
    )
    return {"events": len(events), "rollup_rows": len(records), "segments": len(records)}


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

    def __add__(self, other: SegmentStats) -> SegmentStats:
        return SegmentStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    def mean_var(self, metric: str) -> tuple[float, float]:
        """Mean and unbiased variance of ``quality``, ``duration`` or ``log_duration``."""
        total, squares = getattr(self, f"{metric}_sum"), getattr(self, f"{metric}_sumsq")
        if self.n < 2:
            return (total / self.n if self.n else float("nan")), float("nan")
        mean = total / self.n
        variance = max(squares - self.n * mean * mean, 0.0) / (self.n - 1)
        return mean, variance


def merged_stats(session: Session, window: Window, **segment: Any) -> SegmentStats:
    """Add up the rollups of ``window`` whose segment columns equal ``segment``."""
    table = HourlyRollup.__table__
    names = [f.name for f in fields(SegmentStats)]
    query = select(*(table.c[name] for name in names)).where(
        table.c.hour >= window.start, table.c.hour < window.end
    )
    for column, value in segment.items():
        query = query.where(table.c[column] == value)
    total = SegmentStats()
    for row in session.execute(query):
        total = total + SegmentStats(*row)
    return total
