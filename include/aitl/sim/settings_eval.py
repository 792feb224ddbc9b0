"""``aitl evaluate settings``: the before/after impact of settings on a platform whose days differ.

A setting changes all of a task type's traffic at once and is judged by
``aitl.loop.impact`` against the rest of the platform, day by day. This harness
writes the hourly rollups of a simulated platform into a scratch store, applies
a setting through the loop's own path (``aitl.loop.implementation.apply_setting``,
so the registry holds a new version), and runs the real impact look after
every simulated day, as the daily DAG runs it, until the change is kept or
rolled back. One change at a time, each in its own span of
``BASELINE_DAYS + 1 + PERIOD_DAYS`` days.

The platform (``Platform``): five task types with their own success rate,
error share, duration and hour-of-day profile; volume by hour of day and
weekday; platform-wide swings by day and hour, which the rest shares and the
comparison removes. What it does not remove, and what the test must carry, is
each task type's own variation:

* day to day: success rate ``+ N(0, day_sd)`` (a fraction: 0.01 is one
  point), log duration ``+ N(0, 5 day_sd)`` (a relative swing of about
  ``5 day_sd``); errors are a fixed share of failures, so they swing with
  success;
* hour to hour within a day: the same again per hour (which adds about
  ``day_sd / sqrt(24)`` to a day's mean).

The change moves the task type's success rate by ``effect`` (a fraction, from
the hour of the change on) and nothing else. It is applied at a random hour,
so most looks begin with a partial day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Float, select
from statsmodels.stats.proportion import proportion_confint

from aitl.config import Thresholds
from aitl.loop.impact import BASELINE_DAYS, PERIOD_DAYS, measure
from aitl.loop.implementation import apply_setting
from aitl.mining.rollups import BUCKETS, LOG_OFFSET_S
from aitl.store.database import connect, transaction, upgrade
from aitl.store.models import HourlyRollup, ImpactMeasurement, Improvement
from aitl.window import HOUR, Window

DAY = timedelta(days=1)
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SPAN_DAYS = BASELINE_DAYS + 1 + PERIOD_DAYS  # before, the day of the change, after
SEGMENT = "api_endpoint"
ERROR_SHARE_OF_FAILURES = 0.88
LOG_DURATION_SD = 0.6  # between executions
DURATION_SD_PER_SUCCESS_SD = 5  # duration's relative day-to-day SD = 5 x success rate's


@dataclass(frozen=True)
class Platform:
    """The simulated platform's task types and its patterns by hour and weekday."""

    task_types: tuple[str, ...] = (SEGMENT, "data_pipeline", "refactor", "unit_tests", "ui_component")
    success: tuple[float, ...] = (0.75, 0.80, 0.70, 0.78, 0.72)
    log_duration: tuple[float, ...] = (3.0, 3.4, 2.8, 2.6, 3.1)
    hourly: float = 120.0  # mean executions per task type and hour
    hour_amplitude: float = 0.03  # each task type's own hour-of-day swing of success, fixed day after day
    platform_day_sd: float = 0.01  # success swing every task type shares on a day


def _template() -> dict[str, Any]:
    """A rollup row of zeros with empty segment keys."""
    row: dict[str, Any] = {}
    for column in HourlyRollup.__table__.columns:
        if column.name == "duration_hist":
            row[column.name] = [0] * BUCKETS
        elif column.primary_key and column.name != "prompt_version":
            row[column.name] = ""
        else:
            row[column.name] = 0.0 if isinstance(column.type, Float) else 0
    return row


def simulate_days(
    rng: np.random.Generator,
    start: datetime,
    days: int,
    *,
    day_sd: float,
    platform: Platform | None = None,
    effect: float = 0.0,
    change_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Hourly rollup rows, one per hour and task type, of ``days`` days from ``start`` (a midnight)."""
    platform = platform or Platform()
    kinds = len(platform.task_types)
    hours = np.arange(24)
    # Volume: a daytime peak, quieter weekends.
    volume = 1 + 0.6 * np.sin(2 * np.pi * (hours - 8) / 24)
    weekday = np.array([1.1 if (start + d * DAY).weekday() < 5 else 0.6 for d in range(days)])
    n = rng.poisson(platform.hourly * weekday[:, None, None] * volume[None, :, None] * np.ones(kinds))
    # Success: each task type's level and hour-of-day profile; platform-wide day and hour swings;
    # each task type's own day-to-day and hour-to-hour swings.
    phase = rng.uniform(0, 2 * np.pi, kinds)
    own_hour = platform.hour_amplitude * np.sin(2 * np.pi * hours[:, None] / 24 + phase[None, :])
    platform_hour = -0.02 * np.cos(2 * np.pi * hours / 24)
    platform_day = rng.normal(0, platform.platform_day_sd, days) + np.where(weekday < 1, 0.01, 0.0)
    success = (
        np.asarray(platform.success)[None, None, :]
        + own_hour[None, :, :]
        + platform_hour[None, :, None]
        + platform_day[:, None, None]
        + rng.normal(0, day_sd, (days, 1, kinds))
        + rng.normal(0, day_sd, (days, 24, kinds))
    )
    log_sd = DURATION_SD_PER_SUCCESS_SD * day_sd
    log_duration = (
        np.asarray(platform.log_duration)[None, None, :]
        + 0.1 * np.sin(2 * np.pi * hours[:, None] / 24 + phase[None, :])[None, :, :]
        + rng.normal(0, 0.05, (days, 1, 1))
        + rng.normal(0, log_sd, (days, 1, kinds))
        + rng.normal(0, log_sd, (days, 24, kinds))
    )
    if change_at is not None and effect:
        changed = np.array([[start + d * DAY + h * HOUR >= change_at for h in hours] for d in range(days)])
        success[..., platform.task_types.index(SEGMENT)] += effect * changed
    success = np.clip(success, 0.001, 0.999)
    successes = rng.binomial(n, success)
    errors = rng.binomial(n - successes, ERROR_SHARE_OF_FAILURES)
    # Every execution's duration, summed per cell.
    cell = np.repeat(np.arange(n.size), n.ravel())
    duration = np.exp(rng.normal(log_duration.ravel()[cell], LOG_DURATION_SD))
    logs = np.log(duration + LOG_OFFSET_S)

    def per_cell(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=n.size).reshape(n.shape)

    sums = {
        "duration_sum": per_cell(duration),
        "duration_sumsq": per_cell(duration**2),
        "log_duration_sum": per_cell(logs),
        "log_duration_sumsq": per_cell(logs**2),
    }
    template, rows = _template(), []
    for d, h, k in zip(*np.nonzero(n), strict=True):
        count, ok, err = int(n[d, h, k]), int(successes[d, h, k]), int(errors[d, h, k])
        row = template | {
            "hour": start + int(d) * DAY + int(h) * HOUR,
            "task_type": platform.task_types[k],
            "n": count,
            "successes": ok,
            "duration_n": count,
            "error_events": err,
            "error_count": err,
            "duration_hist": [0] * BUCKETS,
        }
        rows.append(row | {name: float(values[d, h, k]) for name, values in sums.items()})
    return rows


def _change(index: int, seed: int, at: datetime) -> Improvement:
    return Improvement(
        id=f"setting-{seed}-{index:05d}",
        level="daily",
        insight_id="simulated",
        window_start=at - DAY,
        window_end=at,
        type="model_selection",
        target_kind="config",
        target_id=f"model:{SEGMENT}",
        dedupe_key=f"config:model:{SEGMENT}:{index}",
        modification=f"Serve {SEGMENT} with model m{index}.",
        change={"model": f"m{index}"},
        expected_effect="",
        priority="medium",
        priority_score=1.0,
        confidence=0.9,
        status="applied",
        status_reason="simulated change",
        updated_at=at,
    )


def _rate(count: int, n: int) -> dict[str, Any]:
    low, high = proportion_confint(count, n, method="wilson")
    return {"rate": round(count / n, 4), "ci95": [round(float(low), 4), round(float(high), 4)]}


def evaluate_settings(
    store_url: str,
    *,
    experiments: int,
    seed: int,
    day_sd: float,
    effect: float = 0.0,
    platform: Platform | None = None,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """Apply ``experiments`` simulated setting changes one after another and judge each with the daily look.

    ``effect`` moves the changed task type's success rate (a fraction); the
    result counts how often the change was rolled back, with its Wilson
    interval: ``false_rollback_rate`` when ``effect`` is 0 (null otherwise).
    """
    platform = platform or Platform()
    if experiments < 1:
        raise ValueError(f"experiments must be at least 1, got {experiments}")
    if not 0 <= day_sd < 0.2:
        raise ValueError(f"day SD {day_sd} is not a fraction in [0, 0.2)")
    base = platform.success[platform.task_types.index(SEGMENT)]
    if not 0 < base + effect < 1:
        raise ValueError(f"effect {effect} takes the success rate outside (0, 1)")
    thresholds = thresholds or Thresholds.resolve()
    rng = np.random.default_rng(seed)
    upgrade(store_url)
    engine = connect(store_url)
    statuses: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    days_to_rollback: list[float] = []
    significant = 0
    for i in range(experiments):
        span = START + i * (SPAN_DAYS + 1) * DAY
        change_day = span + BASELINE_DAYS * DAY
        change_at = change_day + int(rng.integers(24)) * HOUR
        rows = simulate_days(
            rng, span, SPAN_DAYS, day_sd=day_sd, platform=platform, effect=effect, change_at=change_at
        )
        with transaction(engine) as session:
            session.execute(HourlyRollup.__table__.insert(), rows)
            change = _change(i, seed, change_at)
            session.add(change)
            session.flush()
            apply_setting(session, change, change_at)
        status = "applied"
        for look in range(1, PERIOD_DAYS + 2):
            window = Window(change_day + (look - 1) * DAY, change_day + look * DAY)
            with transaction(engine) as session:
                measure(session, window, thresholds, dry_run=False)
                improvement = session.get(Improvement, change.id)
                status, reason = improvement.status, improvement.status_reason
            if status != "applied":
                break
        statuses[status] += 1
        with transaction(engine) as session:
            verdicts = session.scalars(
                select(ImpactMeasurement.verdict).where(ImpactMeasurement.improvement_id == change.id)
            ).all()
        significant += any(v != "no_significant_change" for v in verdicts)
        if status == "rolled_back":
            metrics[reason.split(" ", 1)[0]] += 1
            days_to_rollback.append((window.end - change_at) / DAY)
    rolled_back = statuses["rolled_back"]
    return {
        "experiments": experiments,
        "seed": seed,
        "day_sd": day_sd,
        "duration_day_sd": round(DURATION_SD_PER_SUCCESS_SD * day_sd, 4),
        "effect": effect,
        "alpha": thresholds.alpha,
        "rollback_threshold": thresholds.rollback_threshold,
        "decisions": {s: statuses.get(s, 0) for s in ("rolled_back", "kept", "applied")},
        "rolled_back_by": dict(sorted(metrics.items())),
        "rollback_rate": round(rolled_back / experiments, 4),
        "rollback": _rate(rolled_back, experiments),
        "false_rollback_rate": round(rolled_back / experiments, 4) if effect == 0 else None,
        # Any metric significant at any look, either way (Holm, alpha spending): at most alpha when
        # nothing changed, whatever rollback_threshold lets through.
        "significant_rate": _rate(significant, experiments),
        "median_days_to_rollback": (
            round(float(np.median(days_to_rollback)), 2) if days_to_rollback else None
        ),
    }


def placebo_history(
    store_url: str, *, days: int, seed: int, day_sd: float, platform: Platform | None = None
) -> Window:
    """``days`` days of the simulated platform with no change at all, for ``aitl.loop.impact.placebo``."""
    upgrade(store_url)
    rows = simulate_days(np.random.default_rng(seed), START, days, day_sd=day_sd, platform=platform)
    with transaction(connect(store_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), rows)
    return Window(START, START + days * DAY)
