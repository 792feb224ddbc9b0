"""Decisions: once a day, promote, roll back, stop or continue every running experiment.

The hourly looks (``aitl.loop.verification``) are evidence only: acting on every
look at a nominal 5% would promote noise, because an experiment looked at
daily for two weeks gets a dozen chances to cross by luck. Decisions are made
by the daily cycle, one *decision look* per experiment per day, like this:

1. The arms' statistics since the start. Below ``MIN_PER_ARM`` executions per
   arm nothing is decided and no look is spent (after ``MAX_EXPERIMENT_DAYS``
   the experiment stops as inconclusive: too little traffic).
2. A sample-ratio mismatch (chi-square p < 0.001) means the assignment is
   broken, often by the variant itself (it crashes, or loses events). The
   guardrails are checked first, so a harmful variant is still rolled back.
   Otherwise the look is ``blocked`` and no look is spent; a mismatch that
   persists (two looks in a row, or one at p < ``SRM_STOP_P``) or an
   experiment at ``MAX_EXPERIMENT_DAYS`` stops it as ``stopped_srm``: the
   control is served, and the platform hears it with the arms' counts.
3. The information fraction ``t`` is the share of the planned sample size
   (both arms) collected so far. The final look (``t = 1``) needs the planned
   size and ``ab_test_duration`` of running time, or ``MAX_EXPERIMENT_DAYS``;
   a look past the planned size but short of the time counts as
   ``LAST_BEFORE_FINAL``.
4. Repeated looks: Lan-DeMets alpha spending with the O'Brien-Fleming-type
   function (``aitl.stats.alpha_spending``). The boundary of this look follows from the
   fractions of the experiment's earlier looks, so looks need not be planned
   and a missed day costs nothing. Early looks are very strict; the final look
   is close to the fixed-design level. Each metric's p-value is put on the
   alpha scale (``p * alpha / alpha_look``, capped at 1) so that it is at most
   ``alpha`` exactly when the look's boundary is crossed; intervals are the
   repeated confidence intervals at the look's level.
5. Guardrails: every metric of the experiment (success rate, error rate,
   quality, log duration), corrected by Holm within the experiment. A metric
   that is significantly worse *degrades*; one that degrades by at least
   ``rollback_threshold`` (relative: more failures, more errors, less quality,
   longer runs) rolls the variant back at once, whatever the primary metric.
6. Promotion: the primary metric's p-values of all experiments deciding in
   this look are corrected by Benjamini-Hochberg (the share of promotions that
   are false stays below ``alpha``); an experiment is promoted when its primary
   metric is significantly better, no guardrail degrades, and it has run at
   least ``ab_test_duration`` (a full daily cycle, so hours of the day weigh as
   in production).
7. At the final look with nothing decided, the experiment stops as
   ``inconclusive`` and the control stays.

Every look is stored (``decisions``) with the test, sample sizes, effect,
interval, nominal and adjusted p-values, information fraction and alpha spent;
a final decision also changes the registry and is queued for the platform in
the outbox, in the same transaction.

Method:
docs/statistics.md#decision-looks
docs/statistics.md#guardrails-and-rollback
docs/statistics.md#promotion-and-inconclusive-stops
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aitl.config import Thresholds
from aitl.durations import format_duration
from aitl.loop import registry
from aitl.loop.verification import HIGHER_IS_BETTER, MIN_PER_ARM, arm_stats, compare_arms
from aitl.publish import outbox
from aitl.stats.alpha_spending import look_threshold
from aitl.stats.hypothesis import SRM_ALPHA, TestResult, sample_ratio
from aitl.stats.multiple import adjust
from aitl.store.models import Decision, Experiment, Improvement
from aitl.store.reads import SegmentStats
from aitl.store.writes import insert_ignore
from aitl.window import Window

MAX_EXPERIMENT_DAYS = 14
LAST_BEFORE_FINAL = 0.95  # information fraction of a look past the planned size but not yet final
# "stopped": by a person (aitl.loop.implementation.control), who may also roll back.
FINAL = ("promoted", "rolled_back", "inconclusive", "stopped_srm", "stopped")
# A mismatch this strong is no fluke: the experiment stops at its first such look.
SRM_STOP_P = 1e-6


def relative_degradation(metric: str, control: float, effect: float) -> float:
    """How much worse ``control + effect`` is than ``control``, relative (positive = worse).

    Rates are compared on their bad side (failures, errors) so that a drop
    from 95% to 90% success counts as twice the failures, not as 5% less
    success; ``log_duration``'s effect is a log ratio of geometric means.
    """
    if metric == "log_duration":
        return math.expm1(effect)
    if metric == "quality_score":
        return -effect / abs(control) if control else 0.0
    bad, change = (1 - control, -effect) if metric == "success_rate" else (control, effect)
    if bad == 0:
        return math.inf if change > 0 else 0.0
    return change / bad


@dataclass
class Look:
    """One experiment's decision look before the cross-experiment correction."""

    experiment: Experiment
    control: SegmentStats
    variant: SegmentStats
    number: int = 0
    fraction: float = 0.0
    final: bool = False
    nominal_alpha: float = 0.0
    spent: float = 0.0
    results: dict[str, TestResult] = field(default_factory=dict)
    holm: dict[str, float] = field(default_factory=dict)  # guardrail family, within the experiment
    bh: float | None = None  # primary metric, across the looks' experiments
    degraded: dict[str, float] = field(default_factory=dict)
    decision: str = "continue"
    reason: str = ""
    metric: str | None = None


def _previous_fractions(session: Session, experiment_id: str, window: Window) -> list[float]:
    query = (
        select(Decision.information_fraction)
        .where(
            Decision.experiment_id == experiment_id,
            Decision.window_end < window.end,
            Decision.look > 0,
        )
        .order_by(Decision.window_end)
    )
    return list(session.scalars(query))


def _look(session: Session, experiment: Experiment, window: Window, thresholds: Thresholds) -> Look:
    control, variant = arm_stats(session, experiment, window.end)
    look = Look(experiment, control, variant)
    age = window.end - experiment.started_at
    if min(control.n, variant.n) < MIN_PER_ARM:
        if age >= timedelta(days=MAX_EXPERIMENT_DAYS):
            look.decision = "inconclusive"
            look.reason = f"too little traffic in {MAX_EXPERIMENT_DAYS} days ({control.n} / {variant.n})"
        else:
            look.reason = f"waiting for {MIN_PER_ARM} executions per arm (have {control.n} / {variant.n})"
        return look
    previous = _previous_fractions(session, experiment.id, window)
    planned = experiment.planned_n_per_arm * (1 + experiment.traffic_split / (1 - experiment.traffic_split))
    # The final look needs the planned size and the minimum running time; a
    # look short of the time stays just below the end so it spends little.
    ran_long_enough = age >= thresholds.ab_test_duration
    reached = (control.n + variant.n) >= planned and ran_long_enough
    look.final = reached or age >= timedelta(days=MAX_EXPERIMENT_DAYS)
    look.fraction = 1.0 if look.final else min((control.n + variant.n) / planned, LAST_BEFORE_FINAL)
    look.number = len(previous) + 1
    alpha = thresholds.alpha
    _, look.nominal_alpha, look.spent = look_threshold(previous, look.fraction, alpha)
    look.results = compare_arms(control, variant, look.nominal_alpha)
    metrics = list(look.results)
    scaled = [min(1.0, look.results[m].p_value * alpha / look.nominal_alpha) for m in metrics]
    rejected, holm = adjust(scaled, "holm", alpha)
    look.holm = dict(zip(metrics, holm, strict=True))
    for metric, significant in zip(metrics, rejected, strict=True):
        result = look.results[metric]
        worse = result.effect < 0 if HIGHER_IS_BETTER[metric] else result.effect > 0
        if significant and worse:
            look.degraded[metric] = relative_degradation(metric, result.value_control, result.effect)
    beyond = {m: d for m, d in look.degraded.items() if d >= thresholds.rollback_threshold}
    if beyond:
        worst = max(beyond, key=lambda m: beyond[m])
        look.decision, look.metric = "rolled_back", worst
        look.reason = (
            f"guardrail {worst} degraded by {beyond[worst]:.0%} (rollback_threshold "
            f"{thresholds.rollback_threshold:.0%}), significant at look {look.number} "
            f"(nominal alpha {look.nominal_alpha:.2g})"
        )
        return look
    srm = sample_ratio(control.n, variant.n, experiment.traffic_split)
    if srm.p_value < SRM_ALPHA:
        _mismatch(session, look, srm, window, age)
    return look


def _mismatch(session: Session, look: Look, srm: TestResult, window: Window, age: timedelta) -> None:
    """A sample-ratio mismatch: block this look, or stop the experiment if it persists."""
    experiment = look.experiment
    before = session.execute(
        select(Decision.decision, Decision.metric)
        .where(Decision.experiment_id == experiment.id, Decision.window_end < window.end)
        .order_by(Decision.window_end.desc())
        .limit(1)
    ).first()
    again = before is not None and tuple(before) == ("blocked", "sample_ratio")
    share = (
        f"variant share {srm.value_variant:.3f} vs planned {experiment.traffic_split:.3f} "
        f"(p = {srm.p_value:.2g}; {look.control.n} control / {look.variant.n} variant)"
    )
    look.results = {"sample_ratio": srm, **look.results}
    look.metric, look.number, look.final = "sample_ratio", 0, False
    if again or srm.p_value < SRM_STOP_P or age >= timedelta(days=MAX_EXPERIMENT_DAYS):
        why = "again" if again else ("far beyond chance" if srm.p_value < SRM_STOP_P else "at the time limit")
        look.decision = "stopped_srm"
        look.reason = f"sample ratio mismatch {why}: {share}; stopped, the control is served"
    else:
        look.decision = "blocked"
        look.reason = f"sample ratio mismatch: {share}; assignment is broken, no decision this look"


def _promote_or_stop(looks: list[Look], thresholds: Thresholds, window: Window) -> None:
    """Benjamini-Hochberg over the primary metrics of the looks still open, then decide."""
    open_looks = [
        look
        for look in looks
        if look.decision == "continue" and look.experiment.primary_metric in look.results
    ]
    if not open_looks:
        return
    alpha = thresholds.alpha
    scaled = [
        min(1.0, look.results[look.experiment.primary_metric].p_value * alpha / look.nominal_alpha)
        for look in open_looks
    ]
    rejected, bh = adjust(scaled, "fdr_bh", alpha)
    minimum_run = thresholds.ab_test_duration
    for look, significant, p_bh in zip(open_looks, rejected, bh, strict=True):
        primary = look.experiment.primary_metric
        result = look.results[primary]
        better = result.effect > 0 if HIGHER_IS_BETTER[primary] else result.effect < 0
        look.metric, look.bh = primary, p_bh
        ran = window.end - look.experiment.started_at
        if significant and better and not look.degraded and ran >= minimum_run:
            look.decision = "promoted"
            look.reason = (
                f"{primary} improved by {result.effect:+.4f} "
                f"[{result.ci_low:+.4f}, {result.ci_high:+.4f}], significant at look {look.number} "
                f"after Benjamini-Hochberg across {len(open_looks)} experiments; no guardrail degraded"
            )
        elif look.final:
            look.decision = "inconclusive"
            look.reason = (
                f"planned size reached (or {MAX_EXPERIMENT_DAYS} days) without a significant "
                f"improvement of {primary} ({result.effect:+.4f}, p = {result.p_value:.3g})"
                + (f"; degraded: {', '.join(sorted(look.degraded))}" if look.degraded else "")
            )
        else:
            look.reason = (
                f"look {look.number} at {look.fraction:.0%} of the planned size: "
                f"{primary} {result.effect:+.4f}, p = {result.p_value:.3g} vs nominal alpha "
                f"{look.nominal_alpha:.2g}"
                + (
                    f"; running at least {format_duration(thresholds.ab_test_duration)}"
                    if ran < minimum_run
                    else ""
                )
            )


def _row(look: Look, window: Window) -> dict[str, Any]:
    driving = look.results.get(look.metric) if look.metric else None
    return {
        "experiment_id": look.experiment.id,
        "window_end": window.end,
        "look": look.number,
        "decision": look.decision,
        "reason": look.reason,
        "metric": look.metric,
        "test": driving.test if driving else None,
        "n_control": look.control.n,
        "n_variant": look.variant.n,
        "effect": driving.effect if driving else None,
        "ci_low": driving.ci_low if driving else None,
        "ci_high": driving.ci_high if driving else None,
        "p_value": driving.p_value if driving else None,
        # The adjusted p-value the decision rests on: Holm's for a rollback,
        # Benjamini-Hochberg's for the primary metric otherwise.
        "p_adjusted": look.holm.get(look.metric) if look.decision == "rolled_back" else look.bh,
        "information_fraction": look.fraction,
        "alpha_spent": look.spent,
        "nominal_alpha": look.nominal_alpha,
        "details": {
            metric: {
                **result.as_dict(),
                "p_holm": look.holm.get(metric),
                "degradation": look.degraded.get(metric),
            }
            for metric, result in look.results.items()
        },
    }


class AlreadyEnded(RuntimeError):
    """The experiment was ended by another decision (a person's, another run's) since it was read."""


def apply_decision(
    session: Session,
    experiment: Experiment,
    decision: str,
    reason: str,
    at: datetime,
    n_control: int,
    n_variant: int,
) -> None:
    """Apply a final decision: registry, experiment, improvement and the outbox, together.

    The daily looks and a person's stop or rollback (``aitl.loop.implementation.control``)
    both end an experiment here. Only a promotion changes the registry: the
    variant becomes current; any other decision leaves the control served.
    The experiment is ended only if it is still running when written (a
    conditional update, which on PostgreSQL waits for a concurrent decision to
    commit): otherwise ``AlreadyEnded`` is raised, so the caller's transaction
    rolls back instead of overwriting the decision that came first.
    """
    if decision not in FINAL:
        raise ValueError(f"decision {decision!r} is not one of {FINAL}")
    ended = session.execute(
        update(Experiment)
        .where(Experiment.id == experiment.id, Experiment.status == "running")
        .values(status=decision, ended_at=at)
    )
    if ended.rowcount != 1:
        raise AlreadyEnded(f"experiment {experiment.id} is no longer running: it was ended meanwhile")
    if decision == "promoted":
        registry.set_current(session, experiment.prompt_id, experiment.variant_version, at)
    improvement = session.get(Improvement, experiment.improvement_id)
    if improvement is not None:
        improvement.status, improvement.status_reason = decision, reason
        improvement.updated_at = at
    outbox.enqueue(
        session,
        "experiment_decision",
        {
            "experiment_id": experiment.id,
            "improvement_id": experiment.improvement_id,
            "prompt_id": experiment.prompt_id,
            "decision": decision,
            "serve_version": (
                experiment.variant_version if decision == "promoted" else experiment.control_version
            ),
            "reason": reason,
            "n_control": n_control,
            "n_variant": n_variant,
            "decided_at": at.isoformat(),
        },
        at,
    )


def decide(session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool) -> dict[str, Any]:
    """One decision look at every experiment running at the end of ``window``.

    A rerun of the window replaces its open looks; final decisions stand
    (their experiments no longer run, so they are not looked at again).
    """
    table = Decision.__table__
    if not dry_run:
        session.execute(delete(table).where(table.c.window_end == window.end, table.c.decision.not_in(FINAL)))
    experiments = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.started_at < window.end)
        .order_by(Experiment.id)
    ).all()
    looks = [_look(session, experiment, window, thresholds) for experiment in experiments]
    _promote_or_stop(looks, thresholds, window)
    if not dry_run:
        insert_ignore(session, table, [_row(look, window) for look in looks])
        for look in looks:
            if look.decision in FINAL:
                apply_decision(
                    session,
                    look.experiment,
                    look.decision,
                    look.reason,
                    window.end,
                    look.control.n,
                    look.variant.n,
                )
    counts: dict[str, int] = {}
    for look in looks:
        counts[look.decision] = counts.get(look.decision, 0) + 1
    return {
        "experiments": len(looks),
        "decisions": dict(sorted(counts.items())),
        "final": {look.experiment.id: look.decision for look in looks if look.decision in FINAL},
        "dry_run": dry_run,
    }
