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
   Otherwise the look is ``blocked``: it promotes nothing (its guardrail
   check counts as a look of the guardrails); a mismatch that persists (two
   looks in a row, or one at p < ``SRM_STOP_P``), or one at the final look
   or at ``MAX_EXPERIMENT_DAYS``, stops it as ``stopped_srm``: the control
   is served, and the platform hears it with the arms' counts.
3. The information ``I`` is the share of the planned sample size (both arms)
   collected so far, uncapped. The final look needs the planned size and
   ``ab_test_duration`` of running time, or ``MAX_EXPERIMENT_DAYS``. The
   spending function is read at ``t = min(I, LAST_BEFORE_FINAL)``, 1 at the
   final look; the correlation between looks comes from the actual
   ``sqrt(I_j / I_k)``. The guardrails test at ``alpha`` whatever the
   experiment's promotion level, so their ``I`` is the share of the size
   planned at ``alpha`` (``rollback_total``): an experiment sized for a low
   level runs longer, but a harm is rolled back as fast.
4. Repeated looks: Lan-DeMets alpha spending with the O'Brien-Fleming-type
   function (``aitl.stats.alpha_spending``), in two schedules: the guardrail
   family looks every day, the promotion test only once promotion is possible
   (after ``ab_test_duration``), so a first promotion look past the planned
   size is a single final look at the fixed-design level. Every look stores
   the boundaries it used (``details["sequential"]``); the next look reads
   them back instead of deriving them again and spends what they left, and
   a look on a sample that did not grow repeats them. Intervals are the
   repeated confidence intervals at the look's level ``alpha``.
5. Guardrails: every metric of the experiment (success rate, error rate,
   quality, log duration, cost per success), by the sequential Holm within
   the experiment: step ``j`` compares the ``j``-th smallest p-value with this
   look's nominal level of the spending function run at ``alpha / (m - j + 1)``
   (Maurer & Bretz). A metric that is significantly worse *degrades*; one
   that degrades by at least ``rollback_threshold`` (relative: more failures,
   more errors, less quality, longer runs, dearer successes) rolls the variant
   back at once, whatever the primary metric.
6. Promotion: the primary metric against the boundary of the experiment's own
   level, which online FDR control over the loop's whole stream of
   experiments assigns at its start (LORD under asynchrony,
   ``aitl.stats.online_fdr``; ``promotion_levels`` derives the ledger from
   the stored decisions in order, so a rerun replays it). An experiment is
   promoted when its primary metric is significantly better and no guardrail
   degrades.
7. At the final look with nothing decided, the experiment stops as
   ``inconclusive`` and the control stays.

Every look is stored (``decisions``) with the test, sample sizes, effect,
interval, the p-value and the threshold it was compared with (``nominal_alpha``;
``p_adjusted`` is the p-value on the alpha scale, at most ``alpha`` exactly
when its test rejects), information fraction and alpha spent;
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

from scipy.special import ndtri
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aitl.config import Thresholds
from aitl.durations import format_duration
from aitl.loop import registry
from aitl.loop.sizing import alpha_share
from aitl.loop.verification import (
    HIGHER_IS_BETTER,
    MIN_PER_ARM,
    arm_stats,
    compare_arms,
    relative_degradation,
)
from aitl.publish import outbox
from aitl.stats.alpha_spending import (
    MIN_GROWTH,
    SpentLook,
    next_boundary,
    nominal_alpha,
    obrien_fleming_spent,
)
from aitl.stats.hypothesis import SRM_ALPHA, TestResult, sample_ratio
from aitl.stats.multiple import sequential_holm
from aitl.stats.online_fdr import lord_levels
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
# The guardrail family: every metric compare_arms can test, present at a look or not.
FAMILY = len(HIGHER_IS_BETTER)
SEQUENTIAL = "sequential"  # the details key of a look's boundaries (the others are metrics)


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
    information: float = 0.0  # the sample's share of the planned size, uncapped
    # The guardrails' schedule: the sample's share of the size planned at alpha
    # (``rollback_total``), uncapped, and the fraction their spending is read at.
    guard_information: float = 0.0
    guard_fraction: float = 0.0
    # Boundaries at alpha / d (index d - 1) for the guardrail family, and whether
    # they repeat the last look's (the sample did not grow).
    guardrails: list[float] = field(default_factory=list)
    guardrails_repeat: bool = False
    # The promotion test of the primary metric at the experiment's own level
    # (fraction, alpha, boundary, repeat); None while promotion cannot happen.
    promotion: dict[str, Any] | None = None
    results: dict[str, TestResult] = field(default_factory=dict)
    holm: dict[str, float] = field(default_factory=dict)  # guardrail family, within the experiment
    levels: dict[str, float] = field(default_factory=dict)  # each metric's Holm step level
    promotion_score: float | None = None  # primary p-value on the alpha scale, if promotion was tested
    degraded: dict[str, float] = field(default_factory=dict)
    decision: str = "continue"
    reason: str = ""
    metric: str | None = None


@dataclass(frozen=True)
class _Spent:
    """A look already taken, in one family's schedule: where it was, and the boundaries it used."""

    information: float
    fraction: float
    boundaries: tuple[float | None, ...] | None  # one per level; None: not kept (a look stored before)
    alpha: float | None = None  # the promotion family's level


def planned_total(experiment: Experiment) -> float:
    """The planned sample size of both arms."""
    return experiment.planned_n_per_arm * (1 + experiment.traffic_split / (1 - experiment.traffic_split))


def rollback_total(experiment: Experiment, level: float, alpha: float) -> float:
    """Both arms' size the guardrails and the harm boundary spend over: the size planned at ``alpha``.

    An experiment is sized for its promotion ``level`` (``aitl.loop.sizing``),
    several times the size at ``alpha`` while the stream has few promotions;
    rollbacks test at ``alpha`` and must not slow down with that level.
    """
    return planned_total(experiment) * alpha_share(level, alpha)


def _distinct(entries: list[_Spent]) -> list[_Spent]:
    """The looks whose sample grew since the one before (the others were the same look again)."""
    kept: list[_Spent] = []
    for entry in entries:
        if not kept or entry.information >= kept[-1].information * (1 + MIN_GROWTH):
            kept.append(entry)
    return kept


def _history(
    session: Session, experiment: Experiment, window: Window, guard_total: float
) -> tuple[list[_Spent], list[_Spent]]:
    """The experiment's earlier looks: the guardrail family's schedule, and the promotion test's.

    Read from the stored looks in order, with the boundaries they used, so no
    boundary is ever derived again. A look stored before boundaries were
    kept counts in both schedules; its level-``alpha`` boundary is the one its
    nominal alpha stands for, the others are derived from its information.
    In the guardrails' schedule, a look stored before it had its own
    information has it derived from its sample and ``guard_total``.
    """
    rows = session.execute(
        select(
            Decision.look,
            Decision.information_fraction,
            Decision.nominal_alpha,
            Decision.n_control,
            Decision.n_variant,
            Decision.details,
        )
        .where(Decision.experiment_id == experiment.id, Decision.window_end < window.end)
        .order_by(Decision.window_end)
    ).all()
    guardrails: list[_Spent] = []
    promotion: list[_Spent] = []
    for number, fraction, nominal, n_control, n_variant, details in rows:
        record = (details or {}).get(SEQUENTIAL)
        guarded = (n_control + n_variant) / guard_total
        if record is None:
            if number > 0:
                used = float(ndtri(1 - nominal / 2)) if 0 < nominal < 1 else None
                guardrails.append(_Spent(guarded, fraction, (used, *[None] * (FAMILY - 1))))
                promotion.append(_Spent((n_control + n_variant) / planned_total(experiment), fraction, None))
            continue
        spent = record["guardrails"]
        if not spent["repeat"]:
            information = spent.get("information", guarded)
            # A look stored before cost per success joined the family kept one boundary fewer.
            used = (*spent["boundaries"], *[None] * (FAMILY - len(spent["boundaries"])))
            guardrails.append(_Spent(information, spent["fraction"], used))
        tested = record.get("promotion")
        if tested and not tested["repeat"]:
            promotion.append(
                _Spent(record["information"], tested["fraction"], (tested["boundary"],), tested["alpha"])
            )
    return _distinct(guardrails), _distinct(promotion)


def _boundaries(
    history: list[_Spent], information: float, fraction: float, levels: list[float]
) -> tuple[list[float], bool]:
    """This look's boundary at each level, and whether it is the last look again.

    A look whose sample did not grow by ``MIN_GROWTH`` repeats the last look's
    boundaries and spends nothing (a rerun, or no traffic since).
    """

    def spent(entries: list[_Spent], i: int) -> list[SpentLook]:
        return [
            SpentLook(e.information, e.fraction, None if e.boundaries is None else e.boundaries[i])
            for e in entries
        ]

    if history and information < history[-1].information * (1 + MIN_GROWTH):
        last = history[-1]
        return [
            used
            if last.boundaries is not None and (used := last.boundaries[i]) is not None
            else next_boundary(spent(history[:-1], i), last.information, last.fraction, level)
            for i, level in enumerate(levels)
        ], True
    fresh = [next_boundary(spent(history, i), information, fraction, level) for i, level in enumerate(levels)]
    return fresh, False


def _sequential(look: Look, history: tuple[list[_Spent], list[_Spent]], alpha: float, level: Any) -> None:
    """The look's place in both schedules and its boundaries (see ``decide``)."""
    guardrails, promotion = history
    look.guardrails, look.guardrails_repeat = _boundaries(
        guardrails, look.guard_information, look.guard_fraction, [alpha / d for d in range(1, FAMILY + 1)]
    )
    look.number = len(guardrails) + (0 if look.guardrails_repeat else 1)
    look.nominal_alpha = nominal_alpha(look.guardrails[0])
    look.spent = obrien_fleming_spent(look.guard_fraction, alpha)
    if level is None:  # promotion cannot happen yet: this is no look of the promotion test
        return
    own = next((e.alpha for e in promotion if e.alpha is not None), None)
    own = level(look.experiment) if own is None else own
    (boundary,), repeat = _boundaries(promotion, look.information, look.fraction, [own])
    look.promotion = {"fraction": look.fraction, "alpha": own, "boundary": boundary, "repeat": repeat}


def _look(
    session: Session, experiment: Experiment, window: Window, thresholds: Thresholds, level: Any
) -> Look:
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
    # The final look needs the planned size and the minimum running time (or
    # the time limit); a look short of both spends at most up to LAST_BEFORE_FINAL.
    alpha = thresholds.alpha
    guard_total = rollback_total(experiment, level(experiment), alpha)
    look.information = (control.n + variant.n) / planned_total(experiment)
    look.guard_information = (control.n + variant.n) / guard_total
    ran_long_enough = age >= thresholds.ab_test_duration
    look.final = (look.information >= 1 and ran_long_enough) or age >= timedelta(days=MAX_EXPERIMENT_DAYS)
    look.fraction = 1.0 if look.final else min(look.information, LAST_BEFORE_FINAL)
    look.guard_fraction = 1.0 if look.final else min(look.guard_information, LAST_BEFORE_FINAL)
    history = _history(session, experiment, window, guard_total)
    _sequential(look, history, alpha, level if ran_long_enough else None)
    look.results = compare_arms(control, variant, look.nominal_alpha)
    metrics = sorted(look.results, key=lambda m: look.results[m].p_value)
    steps = [nominal_alpha(c) for c in reversed(look.guardrails)]  # step j at alpha / (FAMILY - j + 1)
    rejected, holm = sequential_holm([look.results[m].p_value for m in metrics], steps, alpha)
    look.holm = dict(zip(metrics, holm, strict=True))
    look.levels = dict(zip(metrics, steps, strict=False))
    for metric, significant in zip(metrics, rejected, strict=True):
        result = look.results[metric]
        worse = result.effect < 0 if HIGHER_IS_BETTER[metric] else result.effect > 0
        if significant and worse:
            look.degraded[metric] = relative_degradation(metric, result.value_control, result.effect)
    beyond = {m: d for m, d in look.degraded.items() if d >= thresholds.rollback_threshold}
    if beyond:
        worst = max(beyond, key=lambda m: beyond[m])
        look.decision, look.metric = "rolled_back", worst
        look.nominal_alpha = look.levels[worst]
        look.reason = (
            f"guardrail {worst} degraded by {beyond[worst]:.0%} (rollback_threshold "
            f"{thresholds.rollback_threshold:.0%}), significant at look {look.number} "
            f"(nominal alpha {look.nominal_alpha:.2g}, sequential Holm over {FAMILY} metrics)"
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
    # At the final look nothing is left to wait for: a mismatch then ends the experiment.
    final, look.metric, look.number, look.final = look.final, "sample_ratio", 0, False
    stops = (
        (again, "again"),
        (srm.p_value < SRM_STOP_P, "far beyond chance"),
        (final, "at the final look"),
        (age >= timedelta(days=MAX_EXPERIMENT_DAYS), "at the time limit"),
    )
    why = next((text for stop, text in stops if stop), None)
    if why is not None:
        look.decision = "stopped_srm"
        look.reason = f"sample ratio mismatch {why}: {share}; stopped, the control is served"
    else:
        look.decision = "blocked"
        look.reason = f"sample ratio mismatch: {share}; assignment is broken, no decision this look"


def _promote_or_stop(looks: list[Look], thresholds: Thresholds, window: Window) -> None:
    """The primary metric's promotion test at each experiment's own level, then decide."""
    alpha = thresholds.alpha
    for look in looks:
        primary = look.experiment.primary_metric
        if look.decision != "continue" or primary not in look.results:
            continue
        result = look.results[primary]
        better = result.effect > 0 if HIGHER_IS_BETTER[primary] else result.effect < 0
        look.metric = primary
        significant = False
        if look.promotion is not None:
            level = nominal_alpha(look.promotion["boundary"])
            significant = result.p_value <= level
            score = min(1.0, result.p_value * alpha / level) if level > 0 else 1.0
            look.promotion_score = min(score, alpha) if significant else max(score, math.nextafter(alpha, 1))
            look.nominal_alpha = level
            look.spent = obrien_fleming_spent(look.fraction, look.promotion["alpha"])
        if significant and better and not look.degraded:
            look.decision = "promoted"
            look.reason = (
                f"{primary} improved by {result.effect:+.4f} "
                f"[{result.ci_low:+.4f}, {result.ci_high:+.4f}], significant at look {look.number} "
                f"(p = {result.p_value:.3g} <= nominal alpha {look.nominal_alpha:.2g}, the boundary of "
                f"its own level {look.promotion['alpha']:.3g}); no guardrail degraded"
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
                f"look {look.number} at {look.information:.0%} of the planned size: "
                f"{primary} {result.effect:+.4f}, p = {result.p_value:.3g} vs nominal alpha "
                f"{look.nominal_alpha:.2g}"
                + (
                    f"; promotion after {format_duration(thresholds.ab_test_duration)} of running time"
                    if look.promotion is None
                    else ""
                )
            )


def _sequential_record(look: Look) -> dict[str, Any]:
    """What the next looks need of this one: its information and the boundaries it used."""
    return {
        "information": look.information,
        "guardrails": {
            "information": look.guard_information,
            "fraction": look.guard_fraction,
            "boundaries": look.guardrails,
            "repeat": look.guardrails_repeat,
        },
        # Only a look that tested the promotion counts in the promotion schedule.
        "promotion": look.promotion if look.promotion_score is not None else None,
    }


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
        # The deciding p-value on the alpha scale (at most alpha exactly when its
        # test rejects): sequential Holm's for a rollback, the promotion test's otherwise.
        "p_adjusted": look.holm.get(look.metric) if look.decision == "rolled_back" else look.promotion_score,
        "information_fraction": look.fraction,
        "alpha_spent": look.spent,
        "nominal_alpha": look.nominal_alpha,
        "details": {
            **{
                metric: {
                    **result.as_dict(),
                    "p_holm": look.holm.get(metric),
                    "holm_level": look.levels.get(metric),
                    "degradation": look.degraded.get(metric),
                }
                for metric, result in look.results.items()
            },
            **({SEQUENTIAL: _sequential_record(look)} if look.guardrails else {}),
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


def promotion_levels(
    session: Session, alpha: float, *, joining: tuple[str, datetime] | None = None
) -> dict[str, float]:
    """Every experiment's level for its promotion test: the online FDR ledger (LORD*).

    The stream is every experiment in order of start (then id); a discovery is
    a stored promotion, known from its decision's time on. Derived from the
    store alone, so a rerun of an old day gets the same levels again.
    ``joining`` (id, start) adds an experiment not stored yet: the level it
    gets if it starts then (a launch sizes the experiment for it).
    """
    stream = [
        (experiment_id, started)
        for experiment_id, started in session.execute(select(Experiment.id, Experiment.started_at))
    ]
    if joining is not None:
        stream.append(joining)
    stream.sort(key=lambda entry: (entry[1], entry[0]))
    discoveries = session.scalars(select(Decision.window_end).where(Decision.decision == "promoted")).all()
    levels = lord_levels([started for _, started in stream], list(discoveries), alpha)
    return {experiment_id: level for (experiment_id, _), level in zip(stream, levels, strict=True)}


def decide(
    session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool, online_fdr: bool = True
) -> dict[str, Any]:
    """One decision look at every experiment running at the end of ``window``.

    A rerun of the window replaces its open looks; final decisions stand
    (their experiments no longer run, so they are not looked at again).
    ``online_fdr`` off tests every promotion at ``alpha`` itself instead of at
    the experiment's level in the loop's stream (for checking the boundaries).
    """
    table = Decision.__table__
    if not dry_run:
        session.execute(delete(table).where(table.c.window_end == window.end, table.c.decision.not_in(FINAL)))
    experiments = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.started_at < window.end)
        .order_by(Experiment.id)
    ).all()
    ledger: dict[str, float] = {}

    def level(experiment: Experiment) -> float:
        if not online_fdr:
            return thresholds.alpha
        if not ledger:
            ledger.update(promotion_levels(session, thresholds.alpha))
        return ledger[experiment.id]

    looks = [_look(session, experiment, window, thresholds, level) for experiment in experiments]
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
