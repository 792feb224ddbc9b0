"""Verification: test every running experiment on everything it has collected.

Each look merges the experiment's hourly rollups per arm from its start to the
end of the window (sufficient statistics, so no raw events are re-read) and
tests the variant against control:

* ``success_rate`` and ``error_rate`` (share of executions reporting an
  error): two-proportion z-test, Fisher's exact test for small counts;
* ``quality_score``: Welch's t-test from the arms' means and variances;
* ``log_duration``: Welch's t-test on log(duration + 0.01 s). Durations are skewed; on
  the log scale they are close to normal, the effect is a ratio of geometric
  means (``exp(effect)``), and unlike Mann-Whitney it needs only the additive
  sums the rollups keep, not every raw duration;
* ``cost_per_success``: cost over successes, of the executions that carry a
  cost (reported, or tokens at the model's price), by a z-test of the log
  ratio with the delta-method variance (``aitl.stats.cost``); its effect is
  that log ratio;
* ``sample_ratio``: whether the arm sizes fit the planned split (chi-square). A
  mismatch (p < 0.001) means the assignment is broken, and every other verdict
  of that look becomes ``blocked_by_srm``.

Each result is stored with its test, sample sizes, estimates, effect,
confidence interval and p-value. The verdict here is per look and nominal; it
is evidence, not a decision: promotion and rollback, which must correct for
repeated looks and multiple metrics, are made by the decision step that reads
these rows (``aitl.loop.decisions``).

Method: docs/statistics.md#hourly-evidence.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.stats.cost import CostSums, cost_per_success
from aitl.stats.hypothesis import SRM_ALPHA, TestResult, sample_ratio, two_proportions, welch_from_stats
from aitl.store.models import Experiment, ExperimentResult
from aitl.store.reads import SegmentStats, merged_stats
from aitl.store.writes import replace
from aitl.window import Window

MIN_PER_ARM = 30  # below this no verdict, only the running numbers

# Which direction of each metric is an improvement.
HIGHER_IS_BETTER = {
    "success_rate": True,
    "error_rate": False,
    "quality_score": True,
    "log_duration": False,
    "cost_per_success": False,
}


def relative_degradation(metric: str, control: float, effect: float) -> float:
    """How much worse ``control + effect`` is than ``control``, relative (positive = worse).

    Rates are compared on their bad side (failures, errors) so that a drop
    from 95% to 90% success counts as twice the failures, not as 5% less
    success; the effects of ``log_duration`` and ``cost_per_success`` are log ratios.
    """
    if metric in ("log_duration", "cost_per_success"):
        return math.expm1(effect)
    if metric == "quality_score":
        return -effect / abs(control) if control else 0.0
    bad, change = (1 - control, -effect) if metric == "success_rate" else (control, effect)
    if bad == 0:
        return math.inf if change > 0 else 0.0
    return change / bad


def _verdict(result: TestResult, alpha: float, higher_is_better: bool) -> str:
    if min(result.n_control, result.n_variant) < MIN_PER_ARM:
        return "insufficient_data"
    if result.p_value >= alpha:
        return "no_significant_difference"
    better = result.effect > 0 if higher_is_better else result.effect < 0
    return "variant_better" if better else "variant_worse"


def compare_arms(control: SegmentStats, variant: SegmentStats, alpha: float) -> dict[str, TestResult]:
    """The metric tests that the two arms' statistics allow, variant minus control.

    ``alpha`` sets only the confidence level of the intervals, so a decision
    look can ask for intervals at its own (sequentially corrected) level.
    """
    results: dict[str, TestResult] = {}
    if control.n and variant.n:
        results["success_rate"] = two_proportions(
            control.successes, control.n, variant.successes, variant.n, alpha
        )
        results["error_rate"] = two_proportions(
            control.error_events, control.n, variant.error_events, variant.n, alpha
        )
    # Over the executions that reported the metric (outcome-only sources report neither).
    for metric, column, count in (
        ("quality_score", "quality", "quality_n"),
        ("log_duration", "log_duration", "duration_n"),
    ):
        n_c, n_v = getattr(control, count), getattr(variant, count)
        if min(n_c, n_v) >= 2:
            mean_c, var_c = control.mean_var(column)
            mean_v, var_v = variant.mean_var(column)
            results[metric] = welch_from_stats(mean_c, var_c, n_c, mean_v, var_v, n_v, alpha)
    results["cost_per_success"] = cost_per_success(CostSums.of(control), CostSums.of(variant), alpha)
    # A metric without variation in either arm (all durations equal) has no
    # test: it is left out rather than carried as a NaN p-value.
    return {metric: r for metric, r in results.items() if math.isfinite(r.p_value)}


def arm_stats(session: Session, experiment: Experiment, end: datetime) -> tuple[SegmentStats, SegmentStats]:
    """Control and variant statistics from the experiment's start to ``end``."""
    span = Window(experiment.started_at, end)
    return (
        merged_stats(session, span, experiment_id=experiment.id, arm="control"),
        merged_stats(session, span, experiment_id=experiment.id, arm="variant"),
    )


def verify(session: Session, window: Window, alpha: float, level: str) -> dict[str, Any]:
    experiments = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.started_at < window.end)
        .order_by(Experiment.id)
    ).all()
    rows: list[dict[str, Any]] = []
    looks: dict[str, dict[str, Any]] = {}
    for experiment in experiments:
        control, variant = arm_stats(session, experiment, window.end)
        look: dict[str, Any] = {
            "n_control": control.n,
            "n_variant": variant.n,
            "planned_n_per_arm": experiment.planned_n_per_arm,
        }
        compared = compare_arms(control, variant, alpha)
        mismatch = False
        if control.n + variant.n:
            srm = sample_ratio(control.n, variant.n, experiment.traffic_split, alpha)
            mismatch = srm.p_value < SRM_ALPHA
            compared["sample_ratio"] = srm
        for metric, result in compared.items():
            if metric == "sample_ratio":
                verdict = "sample_ratio_mismatch" if mismatch else "ok"
            else:
                verdict = "blocked_by_srm" if mismatch else _verdict(result, alpha, HIGHER_IS_BETTER[metric])
            rows.append(
                {
                    "level": level,
                    "experiment_id": experiment.id,
                    "window_end": window.end,
                    "metric": metric,
                    "verdict": verdict,
                    **result.as_dict(),
                }
            )
            look[metric] = {"effect": result.effect, "p_value": result.p_value, "verdict": verdict}
        looks[experiment.id] = look
    table = ExperimentResult.__table__
    replace(session, table, (table.c.level == level) & (table.c.window_end == window.end), rows)
    return {"experiments": len(experiments), "results": len(rows), "looks": looks}
