"""Before/after impact of settings changed without an experiment (seed: ImpactMeasurement).

A setting (tier, model, timeout, batch size, concurrency for a task type)
changes all of that task type's traffic at once, so there is no control arm.
Comparing the task type's metrics before and after the change would credit it
with whatever else moved: the platform's trend, a busy weekday, the hour of
day. The comparison is therefore a difference in differences: the change in
the affected task type minus the change in every other task type over the same
two spans, which removes what moved everywhere (trend and seasonality) and
keeps what moved only where the setting applies.

Spans: *after* is from the change to the end of the look; *before* is a span of
the same length ending at the change. The daily cycle looks every day for
``IMPACT_PERIOD`` with the same O'Brien-Fleming alpha spending as experiments
(information fraction = elapsed share of the period). A significant
degradation beyond ``rollback_threshold`` restores the previous version; at the
end of the period the change is *kept*.

Method: docs/statistics.md#impact-of-settings.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from scipy.stats import norm
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.config import Thresholds
from aitl.loop import registry
from aitl.loop.decisions import relative_degradation
from aitl.loop.verification import HIGHER_IS_BETTER, MIN_PER_ARM
from aitl.publish import outbox
from aitl.stats.alpha_spending import look_threshold
from aitl.stats.hypothesis import TestResult
from aitl.store.models import ConfigVersion, ImpactMeasurement, Improvement
from aitl.store.reads import SegmentStats, merged_stats
from aitl.store.writes import replace
from aitl.window import Window

IMPACT_PERIOD = timedelta(days=7)
METRICS = ("success_rate", "quality_score", "log_duration")


def _mean_and_variance_of_mean(stats: SegmentStats, metric: str) -> tuple[float, float]:
    if metric == "success_rate":
        p = stats.success_rate
        return p, p * (1 - p) / stats.n
    mean, variance = stats.mean_var("quality" if metric == "quality_score" else "log_duration")
    return mean, variance / stats.n


def difference_in_differences(
    before: SegmentStats,
    after: SegmentStats,
    rest_before: SegmentStats,
    rest_after: SegmentStats,
    metric: str,
    alpha: float = 0.05,
) -> TestResult:
    """(after - before) of the segment minus the same of the rest; a z-test on four independent means.

    The estimates are the segment's own before and after values; the effect
    is the difference in differences with its interval at level ``1 - alpha``.
    """
    cells = [_mean_and_variance_of_mean(s, metric) for s in (before, after, rest_before, rest_after)]
    (b, vb), (a, va), (rb, vrb), (ra, vra) = cells
    effect = (a - b) - (ra - rb)
    se = math.sqrt(vb + va + vrb + vra)
    z = effect / se if se > 0 else 0.0
    margin = norm.ppf(1 - alpha / 2) * se
    return TestResult(
        "difference_in_differences_z",
        before.n,
        after.n,
        b,
        a,
        effect,
        effect - margin,
        effect + margin,
        z,
        float(2 * norm.sf(abs(z))),
    )


def _task_type(target_id: str) -> str:
    """``model:api_endpoint``, ``timeout:api_endpoint:high`` -> ``api_endpoint``."""
    return target_id.split(":")[1]


def _stats(session: Session, span: Window, task_type: str) -> tuple[SegmentStats, SegmentStats]:
    """The task type's statistics and those of all other traffic over ``span``."""
    segment = merged_stats(session, span, task_type=task_type)
    return segment, merged_stats(session, span) - segment


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
        elapsed = min(window.end - applied_at, IMPACT_PERIOD)
        after = Window(applied_at, applied_at + elapsed)
        before = Window(applied_at - elapsed, applied_at)
        task_type = _task_type(improvement.target_id)
        seg_b, rest_b = _stats(session, before, task_type)
        seg_a, rest_a = _stats(session, after, task_type)
        if min(seg_b.n, seg_a.n, rest_b.n, rest_a.n) < MIN_PER_ARM:
            outcome[improvement.id] = "insufficient_data"
            continue
        ends = _earlier_looks(session, improvement.id, window)
        fractions = [min((end - applied_at) / IMPACT_PERIOD, 1.0) for end in ends]
        fraction = elapsed / IMPACT_PERIOD
        _, nominal, _ = look_threshold(fractions, fraction, thresholds.alpha)
        worst: tuple[float, str] | None = None
        for metric in METRICS:
            result = difference_in_differences(seg_b, seg_a, rest_b, rest_a, metric, nominal)
            better = result.effect > 0 if HIGHER_IS_BETTER[metric] else result.effect < 0
            significant = result.p_value <= nominal
            verdict = "no_significant_change"
            if significant:
                verdict = "improved" if better else "degraded"
            if verdict == "degraded":
                degradation = relative_degradation(metric, result.value_control, result.effect)
                if degradation >= thresholds.rollback_threshold and (worst is None or degradation > worst[0]):
                    worst = (degradation, metric)
            rows.append(
                {
                    "improvement_id": improvement.id,
                    "window_end": window.end,
                    "metric": metric,
                    "test": result.test,
                    "n_before": result.n_control,
                    "n_after": result.n_variant,
                    "value_before": result.value_control,
                    "value_after": result.value_variant,
                    "effect": result.effect,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "p_value": result.p_value,
                    "verdict": verdict,
                }
            )
        status = "applied"
        if worst is not None:
            status = "rolled_back"
            reason = f"{worst[1]} degraded by {worst[0]:.0%} after the change (difference in differences)"
        elif elapsed >= IMPACT_PERIOD:
            status, reason = "kept", f"no harmful change in {IMPACT_PERIOD.days} days after the change"
        outcome[improvement.id] = status
        if status != "applied" and not dry_run:
            _close(session, improvement, status, reason, window)
    if not dry_run:
        table = ImpactMeasurement.__table__
        replace(session, table, table.c.window_end == window.end, rows)
    return {"settings": len(applied), "outcome": outcome}


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
