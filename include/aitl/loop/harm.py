"""The harm boundary: a variant that clearly hurts is rolled back within hours, not days.

Daily decisions spend their alpha with the O'Brien-Fleming function, which is
right for promotion (only an overwhelming early difference may stop an
experiment) and wrong for harm: at 20% of the planned sample a rollback
needed |z| >= 4.88, so a variant cutting success by 10 points kept half the
traffic for about two days. Harm gets a test of its own, separate from the
efficacy boundary:

* one-sided, on the bad side of every guardrail metric users feel (failures,
  errors, lower quality, longer runs; cost per success is left to the daily look);
* at every hourly look, with its own alpha ``ALPHA_HARM`` spent by a
  Pocock-type function ``alpha * ln(1 + (e - 1) t)`` over the information
  fraction ``t``, which spends early; ``t`` is the share of the size
  planned at ``alpha`` (``decisions.rollback_total``), whatever the
  experiment's promotion level;
* the spend of a look is what the function adds since the experiment's
  previous hourly look, split evenly over the guardrail metrics (Bonferroni),
  so by the union bound the chance of any false harm rollback over the whole
  experiment stays at most ``ALPHA_HARM``, however many hourly looks it has
  and whatever their correlation. A rerun of an hour spends nothing new;
* the rollback rule is the daily one: significant *and* worse by at least
  ``rollback_threshold``. Promotion stays a daily decision.

Method: docs/statistics.md#harm-boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from aitl.config import Thresholds
from aitl.loop.decisions import apply_decision, promotion_levels, rollback_total
from aitl.loop.verification import (
    HIGHER_IS_BETTER,
    MIN_PER_ARM,
    arm_stats,
    compare_arms,
    relative_degradation,
)
from aitl.stats.checks import check_alpha
from aitl.stats.hypothesis import TestResult
from aitl.store.models import Decision, Experiment, ExperimentResult
from aitl.store.writes import insert_ignore
from aitl.window import Window

ALPHA_HARM = 0.01
# The guardrails harm is watched on hourly: what users feel. A dearer variant
# (cost per success) costs money, not users' work: the daily guardrails roll
# it back, and splitting ALPHA_HARM five ways would slow every other rollback.
HARM_METRICS = tuple(metric for metric in HIGHER_IS_BETTER if metric != "cost_per_success")
HOURLY = "hourly"


def pocock_spent(t: float, alpha: float) -> float:
    """Alpha spent by information fraction ``t`` (clipped to [0, 1]): Lan-DeMets' Pocock-type function."""
    check_alpha(alpha)
    t = min(max(t, 0.0), 1.0)
    return alpha * math.log(1 + (math.e - 1) * t)


@dataclass(frozen=True)
class Harm:
    """A guardrail found worse beyond the rollback threshold at this look's harm level."""

    metric: str
    p_one_sided: float
    level: float  # the per-metric one-sided level of this look
    degradation: float
    result: TestResult


def one_sided_worse(metric: str, result: TestResult) -> float:
    """The one-sided p-value of the variant being worse on ``metric``."""
    worse = result.effect < 0 if HIGHER_IS_BETTER[metric] else result.effect > 0
    return result.p_value / 2 if worse else 1 - result.p_value / 2


def harm_at_look(
    results: dict[str, TestResult], previous: float, fraction: float, alpha: float, rollback_threshold: float
) -> Harm | None:
    """The worst guardrail harmed at a look moving from ``previous`` to ``fraction`` (of the plan), if any."""
    spend = pocock_spent(fraction, alpha) - pocock_spent(previous, alpha)
    level = spend / len(HARM_METRICS)
    if level <= 0:
        return None
    harmed = []
    for metric, result in results.items():
        if metric not in HARM_METRICS or min(result.n_control, result.n_variant) < MIN_PER_ARM:
            continue
        p_one = one_sided_worse(metric, result)
        degradation = relative_degradation(metric, result.value_control, result.effect)
        if p_one <= level and degradation >= rollback_threshold:
            harmed.append(Harm(metric, p_one, level, degradation, result))
    return max(harmed, key=lambda harm: harm.degradation, default=None)


def previous_fraction(session: Session, experiment: Experiment, end: datetime, total: float) -> float:
    """The share of ``total`` at the experiment's last hourly look before ``end`` (0 if none)."""
    table = ExperimentResult.__table__
    seen = session.scalar(
        select(func.max(table.c.n_control + table.c.n_variant)).where(
            table.c.level == HOURLY, table.c.experiment_id == experiment.id, table.c.window_end < end
        )
    )
    return min((seen or 0) / total, 1.0)


def check(session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool) -> dict[str, Any]:
    """The harm look of every running experiment at the end of the hour ``window``; roll back what harms.

    A rollback is recorded like a daily one (a ``decisions`` row at look 0,
    the registry left on the control, the platform told through the outbox).
    A dry run reports what it would roll back and changes nothing.
    """
    experiments = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.started_at < window.end)
        .order_by(Experiment.id)
    ).all()
    rolled_back: dict[str, str] = {}
    levels = promotion_levels(session, thresholds.alpha) if experiments else {}
    for experiment in experiments:
        control, variant = arm_stats(session, experiment, window.end)
        if min(control.n, variant.n) < MIN_PER_ARM:
            continue
        total = rollback_total(experiment, levels[experiment.id], thresholds.alpha)
        previous = previous_fraction(session, experiment, window.end, total)
        fraction = min((control.n + variant.n) / total, 1.0)
        results = compare_arms(control, variant, thresholds.alpha)
        harm = harm_at_look(results, previous, fraction, ALPHA_HARM, thresholds.rollback_threshold)
        if harm is None:
            continue
        rolled_back[experiment.id] = harm.metric
        if dry_run:
            continue
        reason = (
            f"harm boundary: {harm.metric} worse by {harm.degradation:.0%} (rollback_threshold "
            f"{thresholds.rollback_threshold:.0%}), one-sided p = {harm.p_one_sided:.2g} <= "
            f"{harm.level:.2g} at the hourly look at {fraction:.0%} of the planned size"
        )
        _record(session, experiment, window, harm, fraction, reason, control.n, variant.n)
        apply_decision(session, experiment, "rolled_back", reason, window.end, control.n, variant.n)
    return {"experiments": len(experiments), "rolled_back": rolled_back, "dry_run": dry_run}


def _record(
    session: Session,
    experiment: Experiment,
    window: Window,
    harm: Harm,
    fraction: float,
    reason: str,
    n_control: int,
    n_variant: int,
) -> None:
    table = Decision.__table__
    # The daily look of the same instant (an hour ending at midnight) may have
    # left an open look: the rollback replaces it.
    session.execute(
        delete(table).where(table.c.experiment_id == experiment.id, table.c.window_end == window.end)
    )
    result = harm.result
    row = {
        "experiment_id": experiment.id,
        "window_end": window.end,
        "look": 0,
        "decision": "rolled_back",
        "reason": reason,
        "metric": harm.metric,
        "test": result.test,
        "n_control": n_control,
        "n_variant": n_variant,
        "effect": result.effect,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": harm.p_one_sided,
        "p_adjusted": min(1.0, harm.p_one_sided * ALPHA_HARM / harm.level),
        "information_fraction": fraction,
        "alpha_spent": pocock_spent(fraction, ALPHA_HARM),
        "nominal_alpha": harm.level,
        "details": {"harm": {"alpha": ALPHA_HARM, "metric": harm.metric, **result.as_dict()}},
    }
    insert_ignore(session, table, [row])
