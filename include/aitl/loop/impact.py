"""Before/after impact of settings changed without an experiment (seed: ImpactMeasurement).

A setting (tier, model, timeout, batch size, concurrency for a task type)
changes all of that task type's traffic at once, so there is no control arm.
Comparing the task type's metrics before and after the change would credit it
with whatever else moved: the platform's trend, a busy weekday, the hour of
day. The comparison is therefore a difference in differences: the change in
the affected task type minus the change in every other task type (the rest).

The unit of analysis is the **day**, not the execution. A task type's success
rate and duration swing from day to day (and hour to hour) by more than its
executions' sampling error, and those swings do not cancel against the rest of
the platform; a test that treats every execution as independent takes them for
effects of the change. So:

* each whole UTC day gives one value per metric: the task type's daily mean
  minus the rest's (``success_rate`` and ``error_rate`` as shares,
  ``log_duration`` as the day's mean of log(duration + 0.01 s), as experiments
  compare durations, so the difference is a log ratio of geometric means);
* *before* is the ``BASELINE_DAYS`` (two weeks, so every weekday twice) whole
  days ending at the change's day; *after* is the whole days from the first
  midnight after the change, up to ``IMPACT_PERIOD``. The day of the change
  itself is mixed and left out, and a look at the end of a partial day uses
  the whole days before it;
* per metric, a two-sample t-test (pooled variance) of the after days'
  differences against the before days': the effect is their mean difference,
  the day-to-day variation is in its standard error, with ``n_before +
  n_after - 2`` degrees of freedom;
* the daily cycle looks every day for ``IMPACT_PERIOD`` with the same
  O'Brien-Fleming alpha spending as experiments; the information fraction is
  that of the difference of two means, ``(1/B + 1/7) / (1/B + 1/A)`` for
  ``B`` before and ``A`` after days, so the looks' correlations are the
  boundaries' ``sqrt(t_j / t_k)``;
* Holm across the three metrics, group-sequentially (Maurer & Bretz): the
  j-th smallest p-value is compared with the look's nominal level of the
  spending function run at ``alpha / (m - j + 1)``;
* a metric significantly worse by at least ``rollback_threshold`` (relative,
  ``aitl.loop.decisions.relative_degradation``) restores the previous version;
  at the end of the period the change is *kept*.

``placebo`` runs the same sequence of looks at past dates where nothing
changed: on a platform whose days behave as the test assumes it rejects at
most ``alpha`` of them.

Method: docs/statistics.md#impact-of-settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as with_fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.config import Thresholds
from aitl.loop import registry
from aitl.loop.verification import HIGHER_IS_BETTER, MIN_PER_ARM, relative_degradation
from aitl.publish import outbox
from aitl.stats.alpha_spending import look_threshold
from aitl.stats.hypothesis import TestResult
from aitl.store.models import ConfigVersion, ImpactMeasurement, Improvement
from aitl.store.reads import window_totals
from aitl.store.writes import replace
from aitl.window import Window

DAY = timedelta(days=1)
IMPACT_PERIOD = timedelta(days=7)
PERIOD_DAYS = IMPACT_PERIOD.days
BASELINE_DAYS = 14  # whole days before the change: two of every weekday
MIN_BASELINE_DAYS = 3  # fewer (a platform younger than that) and there is no test
METRICS = ("success_rate", "error_rate", "log_duration")
TEST = "daily_differences_t"
_SUMS = ["n", "successes", "error_events", "duration_n", "log_duration_sum"]


def _midnight(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _next_midnight(instant: datetime) -> datetime:
    """``instant`` if it is a midnight, else the midnight after it."""
    floor = _midnight(instant)
    return floor if floor == instant else floor + DAY


def _daily_means(sums: pd.DataFrame) -> pd.DataFrame:
    """Each metric's daily value from the day's summed rollups (NaN where the day has none)."""
    n = sums["n"].where(sums["n"] > 0)
    duration_n = sums["duration_n"].where(sums["duration_n"] > 0)
    return pd.DataFrame(
        {
            "n": sums["n"],
            "success_rate": sums["successes"] / n,
            "error_rate": sums["error_events"] / n,
            "log_duration": sums["log_duration_sum"] / duration_n,
        },
        index=sums.index,
    )


def daily_values(session: Session, days: Window, task_type: str) -> pd.DataFrame:
    """Per whole day of ``days`` (midnight to midnight): the task type's and the rest's daily values.

    Columns ``n`` and each metric for the task type, ``rest_n`` and
    ``rest_<metric>`` for all other traffic; indexed by the day's midnight.
    The rollups are summed per hour and task type in the store; means use each
    metric's own count (``duration_n``: sources without durations do not
    count towards them).
    """
    totals = window_totals(session, days, ["hour", "task_type"], _SUMS)
    index = pd.date_range(days.start, days.end, freq="D", inclusive="left")
    if totals.empty:
        totals = pd.DataFrame(0.0, index=[], columns=["day", "task_type", *_SUMS])
    else:
        totals["day"] = pd.to_datetime(totals["hour"], utc=True).dt.floor("D")
    totals[_SUMS] = totals[_SUMS].astype(float)
    mine = totals["task_type"] == task_type
    segment = totals[mine].groupby("day")[_SUMS].sum().reindex(index, fill_value=0.0)
    rest = totals[~mine].groupby("day")[_SUMS].sum().reindex(index, fill_value=0.0)
    return _daily_means(segment).join(_daily_means(rest).add_prefix("rest_"))


def daily_difference_test(before: np.ndarray, after: np.ndarray, alpha: float = 0.05) -> TestResult:
    """Mean of ``after`` minus mean of ``before`` (daily differences), pooled two-sample t-test.

    ``n_control``/``n_variant`` of the result are the numbers of days; the
    values are left to the caller. The interval is at level ``1 - alpha``.
    """
    nb, na = len(before), len(after)
    if nb < 1 or na < 1 or nb + na < 3:
        raise ValueError("a t-test on daily differences needs at least three days, one on each side")
    effect = float(np.mean(after) - np.mean(before))
    df = nb + na - 2
    squares = float(np.sum((before - np.mean(before)) ** 2) + np.sum((after - np.mean(after)) ** 2))
    se = math.sqrt(squares / df * (1 / nb + 1 / na))
    if se > 0:
        statistic = effect / se
        p_value = float(2 * stdtr(df, -abs(statistic)))
    else:  # no variation at all: any difference is certain, none is nothing
        statistic = math.copysign(math.inf, effect) if effect else 0.0
        p_value = 0.0 if effect else 1.0
    margin = float(stdtrit(df, 1 - alpha / 2)) * se
    return TestResult(
        TEST, nb, na, math.nan, math.nan, effect, effect - margin, effect + margin, statistic, p_value
    )


def information_fraction(baseline_days: int, after_days: int) -> float:
    """Information of the difference of two means at ``after_days`` relative to the full period."""
    if after_days >= PERIOD_DAYS:
        return 1.0
    return (1 / baseline_days + 1 / PERIOD_DAYS) / (1 / baseline_days + 1 / max(after_days, 1))


@lru_cache(maxsize=4096)
def _nominal(previous: tuple[float, ...], fraction: float, alpha: float) -> float:
    return look_threshold(list(previous), fraction, alpha).nominal_alpha


@dataclass(frozen=True)
class MetricLook:
    metric: str
    result: TestResult
    verdict: str  # improved, degraded, no_significant_change
    degradation: float  # relative, positive = worse (0 unless degraded)


@dataclass(frozen=True)
class Look:
    """One look at a change: every metric's test and the rollback it calls for, if any."""

    metrics: list[MetricLook]
    rollback: MetricLook | None

    @property
    def rejected(self) -> bool:
        return any(m.verdict != "no_significant_change" for m in self.metrics)


@dataclass(frozen=True)
class Days:
    """One side of a change, day by day (NaN where a day has no value): the input of ``look``."""

    n: np.ndarray  # the task type's executions
    rest_n: np.ndarray
    values: dict[str, np.ndarray]  # the task type's daily value of each metric
    differences: dict[str, np.ndarray]  # the task type's minus the rest's

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Days:
        """From ``daily_values`` rows."""
        return cls(
            frame["n"].to_numpy(float),
            frame["rest_n"].to_numpy(float),
            {m: frame[m].to_numpy(float) for m in METRICS},
            {m: (frame[m] - frame[f"rest_{m}"]).to_numpy(float) for m in METRICS},
        )

    def head(self, days: int) -> Days:
        """The first ``days`` days."""
        return Days(
            self.n[:days],
            self.rest_n[:days],
            {m: v[:days] for m, v in self.values.items()},
            {m: v[:days] for m, v in self.differences.items()},
        )

    @property
    def days_with_traffic(self) -> int:
        return int(((self.n > 0) & (self.rest_n > 0)).sum())


def look(
    before: Days,
    after: Days,
    previous: Sequence[float],
    fraction: float,
    alpha: float,
    rollback_threshold: float,
) -> Look:
    """Test every metric's daily differences after vs before at this look, Holm across metrics.

    ``previous`` are the information fractions of the earlier looks at this
    change, in order; the intervals are at the look's nominal level for
    ``alpha / 3`` (Holm's first step).
    """
    earlier = tuple(previous)
    tested: list[tuple[str, TestResult]] = []
    for metric in METRICS:
        b, a = before.differences[metric], after.differences[metric]
        b, a = b[~np.isnan(b)], a[~np.isnan(a)]
        if len(b) < MIN_BASELINE_DAYS or len(a) < 1:
            continue
        result = daily_difference_test(b, a, _nominal(earlier, fraction, alpha / len(METRICS)))
        values = (float(np.nanmean(before.values[metric])), float(np.nanmean(after.values[metric])))
        tested.append((metric, _with_values(result, *values)))
    # Group-sequential Holm: step j at the nominal level of the spending function run at alpha / (m - j).
    significant: set[str] = set()
    for step, (metric, result) in enumerate(sorted(tested, key=lambda item: item[1].p_value)):
        if result.p_value > _nominal(earlier, fraction, alpha / (len(tested) - step)):
            break
        significant.add(metric)
    looks, worst = [], None
    for metric, result in tested:
        verdict, degradation = "no_significant_change", 0.0
        if metric in significant:
            better = result.effect > 0 if HIGHER_IS_BETTER[metric] else result.effect < 0
            verdict = "improved" if better else "degraded"
            if not better:
                degradation = relative_degradation(metric, result.value_control, result.effect)
        item = MetricLook(metric, result, verdict, degradation)
        looks.append(item)
        if degradation >= rollback_threshold and (worst is None or degradation > worst.degradation):
            worst = item
    return Look(looks, worst)


def _with_values(result: TestResult, before: float, after: float) -> TestResult:
    return with_fields(result, value_control=before, value_variant=after)


def _task_type(target_id: str) -> str:
    """``model:api_endpoint``, ``timeout:api_endpoint:high`` -> ``api_endpoint``."""
    return target_id.split(":")[1]


def _after_days(applied_at: datetime, end: datetime) -> int:
    """Whole days after the change (from the first midnight after it) before ``end``, at most the period."""
    days = (_midnight(end) - _next_midnight(applied_at)).days
    return min(max(days, 0), PERIOD_DAYS)


def _spans(applied_at: datetime, after_days: int) -> tuple[Window, Window]:
    baseline_end = _midnight(applied_at)
    first_after = _next_midnight(applied_at)
    return (
        Window(baseline_end - BASELINE_DAYS * DAY, baseline_end),
        Window(first_after, first_after + max(after_days, 1) * DAY),
    )


def _earlier_looks(session: Session, improvement_id: str, window: Window) -> list[datetime]:
    return list(
        session.scalars(
            select(ImpactMeasurement.window_end)
            .where(
                ImpactMeasurement.improvement_id == improvement_id,
                ImpactMeasurement.window_end < window.end,
            )
            .distinct()
            .order_by(ImpactMeasurement.window_end)
        )
    )


def _enough(before: Days, after: Days) -> bool:
    """At least ``MIN_BASELINE_DAYS`` days before with traffic on both sides, and 30 executions per cell."""
    cells = (before.n.sum(), before.rest_n.sum(), after.n.sum(), after.rest_n.sum())
    return before.days_with_traffic >= MIN_BASELINE_DAYS and min(cells) >= MIN_PER_ARM


def measure(session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool) -> dict[str, Any]:
    """Look at every setting applied within ``IMPACT_PERIOD`` before the end of ``window``."""
    applied = session.execute(
        select(Improvement, ConfigVersion.created_at)
        .join(ConfigVersion, ConfigVersion.improvement_id == Improvement.id)
        .where(Improvement.status == "applied", ConfigVersion.created_at < window.end)
        .order_by(Improvement.id)
    ).all()
    rows: list[dict[str, Any]] = []
    outcome: dict[str, str] = {}
    for improvement, applied_at in applied:
        after_days = _after_days(applied_at, window.end)
        if after_days == 0:  # no whole day since the change yet
            outcome[improvement.id] = "applied"
            continue
        before_span, after_span = _spans(applied_at, after_days)
        task_type = _task_type(improvement.target_id)
        values = daily_values(session, Window(before_span.start, after_span.end), task_type)
        before = Days.of(values.loc[values.index < before_span.end])
        after = Days.of(values.loc[values.index >= after_span.start])
        if not _enough(before, after):
            outcome[improvement.id] = "insufficient_data"
            continue
        baseline = before.days_with_traffic
        earlier = [_after_days(applied_at, end) for end in _earlier_looks(session, improvement.id, window)]
        previous = [
            information_fraction(baseline, days)
            for days in sorted({d for d in earlier if 0 < d < after_days})
        ]
        result = look(
            before,
            after,
            previous,
            information_fraction(baseline, after_days),
            thresholds.alpha,
            thresholds.rollback_threshold,
        )
        rows.extend(_row(improvement.id, window.end, item) for item in result.metrics)
        status = "applied"
        if result.rollback is not None:
            status = "rolled_back"
            reason = (
                f"{result.rollback.metric} degraded by {result.rollback.degradation:.0%} after the change "
                f"(daily differences against the rest of the platform, {before_span.start:%Y-%m-%d} to "
                f"{after_span.end - DAY:%Y-%m-%d})"
            )
        elif after_days >= PERIOD_DAYS:
            status, reason = "kept", f"no harmful change in {PERIOD_DAYS} whole days after the change"
        outcome[improvement.id] = status
        if status != "applied" and not dry_run:
            _close(session, improvement, status, reason, window)
    if not dry_run:
        table = ImpactMeasurement.__table__
        replace(session, table, table.c.window_end == window.end, rows)
    return {"settings": len(applied), "outcome": outcome}


def _row(improvement_id: str, window_end: datetime, item: MetricLook) -> dict[str, Any]:
    result = item.result
    return {
        "improvement_id": improvement_id,
        "window_end": window_end,
        "metric": item.metric,
        "test": result.test,
        "n_before": result.n_control,  # days
        "n_after": result.n_variant,
        "value_before": result.value_control,
        "value_after": result.value_variant,
        "effect": result.effect,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "verdict": item.verdict,
    }


def placebo(
    session: Session, task_type: str, changes: Sequence[datetime], thresholds: Thresholds
) -> list[dict[str, Any]]:
    """The looks ``measure`` would have taken after a change of ``task_type`` at each of ``changes``.

    Nothing is written. Each date gets its ``PERIOD_DAYS`` daily looks (at
    midnight, as the daily cycle looks), up to a rollback: ``rejected`` if any
    metric was significant at any look (either way), ``rolled_back`` if a
    degradation would have restored the previous version, ``look`` the number
    of whole days at the first rejection. At dates where nothing changed,
    ``rejected`` should hold for at most ``alpha`` of them.
    """
    outcomes = []
    for change in changes:
        before_span, after_span = _spans(change, PERIOD_DAYS)
        values = daily_values(session, Window(before_span.start, after_span.end), task_type)
        before = Days.of(values.loc[values.index < before_span.end])
        after = Days.of(values.loc[values.index >= after_span.start])
        outcomes.append(placebo_looks(before, after, thresholds))
        outcomes[-1]["change"] = change
    return outcomes


def placebo_looks(before: Days, after: Days, thresholds: Thresholds) -> dict[str, Any]:
    """The daily looks at a change between ``before`` and ``after``, as ``measure`` takes them."""
    outcome: dict[str, Any] = {"rejected": False, "rolled_back": False, "look": None, "enough": True}
    baseline, previous = before.days_with_traffic, []
    for days in range(1, PERIOD_DAYS + 1):
        so_far = after.head(days)
        if not _enough(before, so_far):
            outcome["enough"] = False
            break
        fraction = information_fraction(baseline, days)
        result = look(before, so_far, previous, fraction, thresholds.alpha, thresholds.rollback_threshold)
        previous.append(fraction)
        if result.rejected and not outcome["rejected"]:
            outcome |= {"rejected": True, "look": days}
        if result.rollback is not None:
            outcome["rolled_back"] = True
            break
    return outcome


def _close(session: Session, improvement: Improvement, status: str, reason: str, window: Window) -> None:
    if status == "rolled_back":
        registry.revert_config(session, improvement.target_id, at=window.end, reason=reason)
        outbox.enqueue(
            session,
            "config_rollback",
            {"target_id": improvement.target_id, "improvement_id": improvement.id, "reason": reason},
            window.end,
        )
    improvement.status, improvement.status_reason, improvement.updated_at = status, reason, window.end
