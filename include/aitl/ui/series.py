"""The hourly series the AITL page charts, and the anomaly episodes the daily analysis found on them.

Platform-wide metrics per hour come from the summed hourly rollups; metrics
beyond ``SERIES_METRICS`` use their own definition in ``aitl.mining.performance``
(the one the anomalies were scored on), so every episode's peak sits on its
line. An episode is adverse or favourable by its metric's polarity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.loop.insights import describe_segment
from aitl.mining.performance import METRIC_BY_NAME
from aitl.store.models import HourlyRollup, Pattern
from aitl.store.reads import merged_histogram, window_totals
from aitl.window import Window, parse_utc

# Always charted (and totalled); any other metric of aitl.mining.performance is charted
# when the window holds an anomaly of it.
SERIES_METRICS = ("success_rate", "mean_quality", "error_rate")
# Rollup sums behind the hourly series; the duration histograms are read only when p95 is charted.
SERIES_SUMS = (
    "n",
    "successes",
    "quality_sum",
    "quality_n",
    "error_events",
    "security_events",
    "satisfaction_n",
    "satisfaction_sum",
    "duration_n",
    "log_duration_sum",
)


def ratio(numerator: float, n: int) -> float | None:
    return numerator / n if n else None


def hour_point(
    hour: datetime,
    n: int = 0,
    successes: int = 0,
    errors: int = 0,
    quality_sum: float = 0.0,
    quality_n: int = 0,
) -> dict[str, Any]:
    """An hour's charted metrics; the mean quality is over the events that report one (None: none did)."""
    return {
        "hour": hour.isoformat(),
        "n": n,
        "quality_n": quality_n,
        "success_rate": ratio(successes, n),
        "mean_quality": ratio(quality_sum, quality_n),
        "error_rate": ratio(errors, n),
    }


def empty_series(window: Window) -> list[dict[str, Any]]:
    return [hour_point(hour) for hour in window.hours()]


def charted_metrics(anomalies: list[dict[str, Any]]) -> tuple[str, ...]:
    """The always charted metrics, then every other known metric with an anomaly in the window."""
    flagged = {a["metric"] for a in anomalies}
    extra = [name for name in METRIC_BY_NAME if name in flagged and name not in SERIES_METRICS]
    return (*SERIES_METRICS, *extra)


def hourly_series(
    session: Session, window: Window, charted: Iterable[str] = SERIES_METRICS
) -> list[dict[str, Any]]:
    """Platform-wide metrics of every hour of the window (segments summed); empty hours have no values.

    The metrics beyond ``SERIES_METRICS`` are computed by their own definition
    in ``aitl.mining.performance`` (the one the anomalies were scored on),
    applied to the hour's summed rollups.
    """
    extra = [METRIC_BY_NAME[m] for m in charted if m not in SERIES_METRICS]
    frame = window_totals(session, window, ["hour"], list(SERIES_SUMS))
    by_hour = {_utc(row["hour"]): row for row in frame.to_dict("records")}
    if any(m.name == "p95_duration_s" for m in extra):
        histograms = _hourly_histograms(session, window)
        for hour, row in by_hour.items():
            row["duration_hist"] = histograms.get(hour, [])
    series = []
    for hour in window.hours():
        row = by_hour.get(hour)
        if row is None or not row["n"]:
            point = hour_point(hour)
            point.update(dict.fromkeys((m.name for m in extra), None))
        else:
            point = hour_point(
                hour,
                int(row["n"]),
                int(row["successes"]),
                int(row["error_events"]),
                float(row["quality_sum"]),
                int(row["quality_n"]),
            )
            one = _one_hour(row)
            for metric in extra:
                value = metric.compute(one)
                point[metric.name] = float(value) if math.isfinite(value) else None
        series.append(point)
    return series


def _one_hour(row: dict[str, Any]) -> dict[str, Any]:
    """An hour's summed rollup as the columns a ``Metric.compute`` reads: each a one-element array.

    ``compute`` sums named columns (and merges the duration histograms), which
    NumPy columns do as a DataFrame's would, at a tenth of the cost of a
    DataFrame per hour (a year's window is 8,784 hours).
    """
    columns: dict[str, Any] = {k: np.asarray([v]) for k, v in row.items() if k != "duration_hist"}
    columns["duration_hist"] = [row.get("duration_hist") or []]
    return columns


def _utc(hour: Any) -> datetime:
    return pd.Timestamp(hour).to_pydatetime().astimezone(UTC)


def _hourly_histograms(session: Session, window: Window) -> dict[datetime, list[int]]:
    """Each hour's duration histogram, summed over its segments (quantiles do not add, histograms do)."""
    table = HourlyRollup.__table__
    rows = session.execute(
        select(table.c.hour, table.c.duration_hist).where(
            table.c.hour >= window.start, table.c.hour < window.end
        )
    )
    by_hour: dict[datetime, list[Any]] = {}
    for hour, hist in rows:
        by_hour.setdefault(hour.astimezone(UTC), []).append(hist)
    return {hour: merged_histogram(hists).tolist() for hour, hists in by_hour.items()}


# Each charted metric's count: what its hourly values are weighted by in the totals.
WEIGHTS = {"mean_quality": "quality_n"}


def totals(series: list[dict[str, Any]]) -> dict[str, Any]:
    """The window's events and each charted metric over them (quality: over the events reporting one)."""
    summed = {}
    for metric in SERIES_METRICS:
        weight = WEIGHTS.get(metric, "n")
        count = sum(p[weight] for p in series)
        summed[metric] = ratio(sum(p[metric] * p[weight] for p in series if p[metric] is not None), count)
    return {"events": sum(p["n"] for p in series), **summed}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def is_adverse(metric: str, value: Any, expected: Any, score: Any) -> bool:
    """Whether an anomaly is for the worse, by the metric's polarity (``higher_is_better``).

    The direction is the score's sign (the residual against the hour's
    seasonal expectation, as the detector saw it), else value against usual.
    A metric of unknown polarity, or an anomaly without a direction, counts as
    adverse: an alarm is not hidden for want of knowing better.
    """
    spec = METRIC_BY_NAME.get(metric)
    if _finite(score) and score != 0:
        above = score > 0
    elif _finite(value) and _finite(expected) and value != expected:
        above = value > expected
    else:
        return True
    return spec is None or above != spec.higher_is_better


def anomalies(session: Session, window: Window) -> list[dict[str, Any]]:
    """Anomaly episodes the daily analysis found in the window, platform-wide and per segment.

    One entry per episode: ``start`` and ``end`` (its first and last
    anomalous hours), ``hour`` (its peak, where the chart marks it), the peak's
    ``value``, ``expected`` and ``score``, the episode's ``hours`` and
    ``q_value``, and whether it is ``adverse``. A daily run stores the
    episodes of its own day, so the runs that matter start at most a day
    before the window; an episode is in the window when any of it is. Rows
    of runs from before episodes (one per anomalous hour) read as episodes of
    one hour.
    """
    rows = session.scalars(
        select(Pattern).where(
            Pattern.kind == "anomaly",
            Pattern.window_start > window.start - timedelta(days=1),
            Pattern.window_start < window.end,
        )
    )
    found = []
    for row in rows:
        segment, details = dict(row.segment), row.details or {}
        peak = parse_utc(segment.pop("hour"))
        start, end = (parse_utc(details[k]) if k in details else peak for k in ("start", "end"))
        if start < window.end and end >= window.start:
            score = details.get("score")
            found.append(
                {
                    "hour": peak.isoformat(),
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "hours": details.get("hours", 1),
                    "metric": row.signal,
                    "segment": segment,
                    "value": row.rate,
                    "expected": row.baseline_rate,
                    "score": score,
                    "q_value": details.get("q_value"),
                    "adverse": is_adverse(row.signal, row.rate, row.baseline_rate, score),
                }
            )
    return sorted(found, key=lambda a: (a["start"], a["metric"], describe_segment(a["segment"])))
