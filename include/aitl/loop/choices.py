"""Model and agent-tier choices: switch a task type to a value that is better, or as good and cheaper.

Per task type, every model (agent tier) with at least ``MIN_ARM_N`` executions
in the window is compared with the task type's most-used one, from the
window's hourly rollups, for two claims:

* *better*: a significantly higher success rate (two-proportion test) at
  acceptable cost: its cost per success is not significantly higher by
  ``CostRule.max_increase`` or more;
* *cheaper*: a significantly lower cost per success (``aitl.stats.cost``)
  *and* a success rate worse by less than ``CostRule.margin``
  (non-inferiority); both must hold, so the claim's p-value is the larger of
  the two (an intersection-union test).

All claims of the window (models and tiers together) are one family under
Benjamini-Hochberg, since a window compares many pairs and would otherwise
"find" a better or cheaper model by chance. A better value wins over a
cheaper one. Each switch states what it is worth a day at the current
value's volume: successes gained, or dollars saved. The comparison is pooled
within a task type, so a value serving easier work (a tier given simpler
tasks, say) can look better than it is: that is one more reason configuration
changes are proposed for approval, never applied by themselves. No cost
reported (and no price table, ``aitl.mining.prices``): success alone decides.

Method: docs/statistics.md#model-and-agent-tier-comparisons
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from aitl.config import AITL_CONFIG, Thresholds
from aitl.ids import stable_id
from aitl.loop.proposals import config_key, improvement_row, priority_of
from aitl.stats.cost import COLUMNS as COST_SUMS
from aitl.stats.cost import CostSums, cheaper_p, cost_per_success, noninferior_p
from aitl.stats.hypothesis import TestResult, two_proportions
from aitl.stats.multiple import adjust
from aitl.store.reads import rollup_frame_of
from aitl.window import Window

# Executions both the most-used value and an alternative need before they are
# compared: below this the normal approximation and a rate's interval are too
# loose for a platform-wide switch.
MIN_ARM_N = 30

# Success-rate gains (absolute) that rank a model or tier switch as a high or
# medium severity change; smaller significant gains are low.
HIGH_GAIN, MEDIUM_GAIN = 0.10, 0.05
HIGH_SAVING = 0.25  # a switch that only saves money ranks medium from this relative saving, else low


@dataclass(frozen=True)
class Choice:
    """A setting chosen per task type among values that run side by side."""

    kind: str  # the improvement type
    column: str  # the rollup column, and the key of the change
    noun: str  # how the modification text names it


CHOICES = (
    Choice("model_selection", "model", "model"),
    Choice("agent_configuration", "agent_tier", "agent tier"),
)
_CHOICE = {choice.column: choice for choice in CHOICES}


@dataclass(frozen=True)
class CostRule:
    """How model and tier choices weigh price (``cost_per_success``, ``aitl.stats.cost``).

    * ``margin``: a cheaper value may be worse in success rate by less than
      this (absolute), shown by a non-inferiority test (the
      ``noninferiority_margin`` threshold, 2 points by default);
    * ``max_increase``: a more successful value may raise the cost per success
      by less than this (relative), unless its rise is not significant (the
      ``rollback_threshold``, which bounds an experiment's cost guardrail too).
    """

    margin: float = AITL_CONFIG["noninferiority_margin"]
    max_increase: float = AITL_CONFIG["rollback_threshold"]

    @classmethod
    def of(cls, thresholds: Thresholds) -> CostRule:
        """The rule a run's thresholds set."""
        return cls(thresholds.noninferiority_margin, thresholds.rollback_threshold)


@dataclass(frozen=True)
class Alternative:
    """A value to switch to from the task type's most-used one (control = most-used).

    ``claim`` is ``better`` (significantly more successes at acceptable cost)
    or ``cheaper`` (significantly lower cost per success and non-inferior in
    success); ``cost`` is the cost-per-success comparison, None when either
    value reports no cost; ``per_day`` the current value's executions a day.
    """

    column: str
    task_type: str
    current: str
    best: str
    test: TestResult
    p_adjusted: float
    comparisons: int
    claim: str = "better"
    cost: TestResult | None = None
    cost_per_execution: tuple[float, float] = (math.nan, math.nan)  # current, alternative (USD)
    per_day: float = math.nan

    @property
    def daily_saving(self) -> float:
        """USD a day the switch saves at the current value's volume (negative: it costs more)."""
        current, alternative = self.cost_per_execution
        return (current - alternative) * self.per_day

    @property
    def daily_gain(self) -> float:
        """Successes a day the switch adds at the current value's volume."""
        return self.test.effect * self.per_day


def choice_counts(session: Session, window: Window) -> pd.DataFrame:
    """Executions, successes and cost sums of the window per choice column, task type and value.

    A long frame (``column``, ``task_type``, ``value``, ``n``, ``successes``
    and ``COST_SUMS``), so models and tiers go through one comparison.
    """
    columns = [choice.column for choice in CHOICES]
    sums = ["n", "successes", *COST_SUMS]
    rollups = rollup_frame_of(session, window, ["task_type", *columns, *sums])
    frames = [
        rollups.groupby(["task_type", column], as_index=False)[sums]
        .sum()
        .rename(columns={column: "value"})
        .assign(column=column)
        for column in columns
    ]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _Candidate:
    """One claim about one alternative, before the window's Benjamini-Hochberg correction."""

    column: str
    task_type: str
    current: Any  # the most-used value's row
    other: Any
    claim: str
    p_value: float
    test: TestResult
    cost: TestResult | None
    claimable: bool  # a significant p-value makes the claim (a better value must also be better, not dearer)


def _candidates(current: Any, other: Any, alpha: float, rule: CostRule, min_n: int) -> list[_Candidate]:
    """The claims one alternative is tested for: better at acceptable cost, and cheaper but non-inferior."""
    test = two_proportions(int(current.successes), int(current.n), int(other.successes), int(other.n), alpha)
    cost = None
    if min(current.cost_n, other.cost_n) >= min_n:
        compared = cost_per_success(CostSums.of(current), CostSums.of(other), alpha)
        cost = compared if math.isfinite(compared.p_value) else None
    key = (current.column, current.task_type, current, other)
    # Every comparison made is in the family, whatever its direction; only a
    # better value at acceptable cost may be claimed from it.
    dearer = cost is not None and cost.p_value < alpha and math.expm1(cost.effect) >= rule.max_increase
    found = [_Candidate(*key, "better", test.p_value, test, cost, test.effect > 0 and not dearer)]
    if cost is not None:
        noninferior = noninferior_p(
            int(current.successes), int(current.n), int(other.successes), int(other.n), rule.margin
        )
        # Both must hold (intersection-union): the claim's p-value is the larger of the two.
        found.append(_Candidate(*key, "cheaper", max(cheaper_p(cost), noninferior), test, cost, True))
    return found


def better_alternatives(
    counts: pd.DataFrame,
    alpha: float,
    min_n: int = MIN_ARM_N,
    rule: CostRule | None = None,
    days: float = 1.0,
) -> list[Alternative]:
    """Per choice and task type, the value to switch to from the most-used one, if any.

    ``counts`` is shaped like ``choice_counts`` (without cost sums: no cost
    reported). Empty values (the event did not say) are neither a current
    value nor an alternative. Every claim of the window is one
    Benjamini-Hochberg family. A significantly better value wins over a
    cheaper one; among several, the highest success rate, then the lowest
    cost per success. ``days`` is the window's length, for the daily figures.
    """
    rule = rule or CostRule()
    counts = counts.reindex(columns=[*counts.columns.difference(COST_SUMS), *COST_SUMS], fill_value=0)
    known = counts[(counts["task_type"] != "") & (counts["value"] != "")]
    candidates: list[_Candidate] = []
    for _, group in known.groupby(["column", "task_type"], sort=True):
        ordered = list(group.sort_values(["n", "value"], ascending=[False, True]).itertuples(index=False))
        current = ordered[0]
        if current.n < min_n:
            continue
        for other in ordered[1:]:
            if other.n >= min_n:
                candidates += _candidates(current, other, alpha, rule, min_n)
    if not candidates:
        return []
    reject, adjusted = adjust([c.p_value for c in candidates], "fdr_bh", alpha)
    best: dict[tuple[str, str], Alternative] = {}
    for found, significant, p_adjusted in zip(candidates, reject, adjusted, strict=True):
        if not (significant and found.claimable):
            continue
        current, other = found.current, found.other
        alternative = Alternative(
            str(found.column),
            str(found.task_type),
            str(current.value),
            str(other.value),
            found.test,
            float(p_adjusted),
            len(candidates),
            found.claim,
            found.cost,
            (CostSums.of(current).per_execution, CostSums.of(other).per_execution),
            current.n / days,
        )
        held = best.get((alternative.column, alternative.task_type))
        if held is None or _rank(alternative) > _rank(held):
            best[(alternative.column, alternative.task_type)] = alternative
    return [best[key] for key in sorted(best)]


def _rank(found: Alternative) -> tuple[bool, float, float]:
    cost = found.cost.value_variant if found.cost is not None else math.inf
    return found.claim == "better", found.test.value_variant, -cost


def _gain_severity(gain: float) -> str:
    return "high" if gain >= HIGH_GAIN else "medium" if gain >= MEDIUM_GAIN else "low"


def _cost_text(found: Alternative) -> str:
    """What the switch does to cost: per success, and a day at today's volume."""
    if found.cost is None:
        return "Cost per success: not reported for both."
    cost, saving = found.cost, found.daily_saving
    direction = f"saves about ${saving:,.2f}" if saving >= 0 else f"costs about ${-saving:,.2f} more"
    return (
        f"Cost per success ${cost.value_variant:.4g} vs ${cost.value_control:.4g} "
        f"({math.expm1(cost.effect):+.0%}, {cost.test} p={cost.p_value:.2g}); at {found.per_day:,.0f} "
        f"{found.current} executions a day the switch {direction} a day."
    )


def _alternative_row(
    found: Alternative, level: str, window: Window, alpha: float, rule: CostRule
) -> dict[str, Any]:
    choice, test = _CHOICE[found.column], found.test
    target_id = f"{found.column}:{found.task_type}"
    key = config_key(choice.kind, target_id)
    confidence = round(min(max(1.0 - found.p_adjusted, 0.0), 1.0), 6)
    rates = (
        f"success rate {test.value_variant:.1%} (n={test.n_variant}) vs {test.value_control:.1%} "
        f"(n={test.n_control}), {test.effect:+.1%} [{1 - alpha:.0%} CI {test.ci_low:+.1%} to "
        f"{test.ci_high:+.1%}]"
    )
    family = f"Benjamini-Hochberg p={found.p_adjusted:.2g} over {found.comparisons} comparisons"
    if found.cost is None or found.claim == "better":
        claim = f"{rates}, {test.test} p={test.p_value:.2g}, {family}."
        expected = (
            f"Raise the success rate of {found.task_type} tasks from {test.value_control:.1%} toward "
            f"{test.value_variant:.1%}: about {found.daily_gain:,.1f} more successes a day"
        )
        priority = priority_of(_gain_severity(test.effect), confidence, test.effect)
        reason = f"{choice.noun} comparison: {found.best} beats the most-used {found.current}"
    else:
        saved = -math.expm1(found.cost.effect)
        claim = (
            f"{rates}: non-inferior at a margin of {rule.margin:.0%} and significantly cheaper per "
            f"success, {family}."
        )
        expected = (
            f"Cut the cost per success of {found.task_type} tasks by {saved:.0%} at the same success "
            f"rate: about ${found.daily_saving:,.2f} a day"
        )
        priority = priority_of("medium" if saved >= HIGH_SAVING else "low", confidence, saved)
        reason = f"{choice.noun} comparison: {found.best} is as good as {found.current} and cheaper"
    return improvement_row(
        level,
        window,
        insight_id=stable_id("finding", key),
        kind=choice.kind,
        target_kind="config",
        target_id=target_id,
        key=key,
        modification=(
            f"Use {choice.noun} {found.best} for {found.task_type} tasks instead of {found.current}: "
            f"{claim} {_cost_text(found)}"
        ),
        change={found.column: found.best},
        expected_effect=expected,
        priority=priority,
        confidence=confidence,
        reason=reason,
    )


def choice_rows(
    session: Session, window: Window, level: str, alpha: float, rule: CostRule | None = None
) -> list[dict[str, Any]]:
    """The window's model and agent-tier switches, as planned improvement rows."""
    rule = rule or CostRule()
    days = (window.end - window.start) / timedelta(days=1)
    found = better_alternatives(choice_counts(session, window), alpha, rule=rule, days=days)
    return [_alternative_row(alternative, level, window, alpha, rule) for alternative in found]
