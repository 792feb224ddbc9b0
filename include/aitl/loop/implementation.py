"""Implementation: launch planned improvements safely, as experiments or versioned settings.

A planned improvement is implemented only when it clears every gate of the
run's thresholds, in this order (the first gate that fails is recorded as the
improvement's ``status_reason``):

1. ``improvement_confidence_threshold`` -> otherwise *rejected*;
2. ``auto_implement_threshold`` -> otherwise *proposed*, awaiting approval
   (``aitl review`` or the ``aitl_improvement_review`` DAG);
3. with ``safety_mode``, settings (tier, model, timeout, batch size,
   concurrency) are never changed unattended -> *proposed*;
4. ``pause_launches`` is off (a person's switch: while on, nothing is
   launched or applied; analysis, looks and decisions go on);
5. with ``safety_mode``: fewer than ``max_concurrent_improvements`` running;
6. ``improvement_budget``: the cost units (``COST``) implemented in the last
   24 hours plus this one stay within the budget;
7. no other experiment running on the same prompt (two experiments on one
   prompt would confound each other), and the prompt is registered.

Gates 1-3 are what a reviewer's approval overrides; they leave the
improvement *proposed*. Gates 4-7 protect the platform and apply to approved
improvements too; they are passing conditions, so they leave it *deferred*:
not blocking, so that the next cycle that sees the finding again plans it
afresh and tries once more.

A person may also end a running experiment by hand (``control``: stop it,
or roll it back); that is recorded and published as a daily decision is.

A prompt refinement becomes a new prompt version (parent = the current
version, diff and reason recorded) that does *not* become current, and an A/B
experiment that serves it to ``traffic_split`` of users by deterministic
assignment, sized by power analysis, with guardrail metrics; ``aitl.loop.decisions``
later promotes or rolls it back. A setting becomes a new current version in
the registry and is measured before/after (``aitl.loop.impact``). Either way the
platform learns of it through the outbox (``aitl.publish.outbox``), written in the same
transaction. In a dry run nothing is written; the summary says what would
have happened.

Method: docs/statistics.md#sample-size (``aitl.loop.sizing``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.config import OVERRIDABLE_GATES, Thresholds
from aitl.ids import stable_id
from aitl.loop import registry
from aitl.loop.decisions import AlreadyEnded, apply_decision, planned_total, promotion_levels
from aitl.loop.sizing import planned_size
from aitl.loop.verification import HIGHER_IS_BETTER, arm_stats, compare_arms
from aitl.publish import outbox
from aitl.store.models import ConfigVersion, Decision, Experiment, Improvement
from aitl.store.reads import SegmentStats
from aitl.window import Window

# What implementing each type costs out of ``improvement_budget`` per day: an
# experiment exposes users to an untested prompt; a setting changes all traffic.
COST = {
    "prompt_refinement": 10,
    "workflow_optimization": 10,
    "agent_configuration": 20,
    "model_selection": 20,
}
BUDGET_PERIOD = timedelta(hours=24)
PAUSED = "launches paused (pause_launches): nothing is launched or applied until it is off"
# What a person may do to a running experiment (``control``), and the final decision each records.
MANUAL_ACTIONS = {"stop": "stopped", "rollback": "rolled_back"}
REVIEW_DECISIONS = ("approve", "reject", *MANUAL_ACTIONS)


class ReviewError(ValueError):
    """An approval or rejection that cannot be applied (unknown id, wrong status, a gate that holds)."""


def _spent(session: Session, at: datetime) -> int:
    """Budget units implemented in the 24 hours before ``at``."""
    since = at - BUDGET_PERIOD
    types = [
        *session.scalars(
            select(Improvement.type)
            .join(Experiment, Experiment.improvement_id == Improvement.id)
            .where(Experiment.started_at > since, Experiment.started_at <= at)
        ),
        *session.scalars(
            select(Improvement.type)
            .join(ConfigVersion, ConfigVersion.improvement_id == Improvement.id)
            .where(ConfigVersion.created_at > since, ConfigVersion.created_at <= at)
        ),
    ]
    return sum(COST[t] for t in types)


def _review_gate(improvement: Improvement, thresholds: Thresholds) -> tuple[str, str] | None:
    """The gates a reviewer's approval overrides: confidence and auto-implementation."""
    if improvement.confidence < thresholds.improvement_confidence_threshold:
        return "rejected", (
            f"confidence {improvement.confidence:.3f} below improvement_confidence_threshold "
            f"{thresholds.improvement_confidence_threshold}"
        )
    if improvement.confidence < thresholds.auto_implement_threshold:
        return "proposed", (
            f"awaiting approval: confidence {improvement.confidence:.3f} below "
            f"auto_implement_threshold {thresholds.auto_implement_threshold}"
        )
    if thresholds.safety_mode and improvement.target_kind != "prompt":
        return "proposed", "awaiting approval: safety mode never changes settings unattended"
    return None


def _safety_gate(
    session: Session,
    improvement: Improvement,
    thresholds: Thresholds,
    running: int,
    spent: int,
    overrides: frozenset[str] = frozenset(),
) -> str | None:
    """Why implementing now would be unsafe, if it would; approval alone does not override these.

    ``overrides`` names the gates a reviewer explicitly set aside (``review``);
    only those in ``OVERRIDABLE_GATES`` can be.
    """
    if thresholds.pause_launches:
        return PAUSED
    capped = thresholds.safety_mode and "safety_mode" not in overrides
    if capped and running >= thresholds.max_concurrent_improvements:
        return (
            f"safety mode: {running} experiments running "
            f"(max_concurrent_improvements {thresholds.max_concurrent_improvements})"
        )
    cost = COST[improvement.type]
    if spent + cost > thresholds.improvement_budget:
        return (
            f"budget: {spent} of improvement_budget {thresholds.improvement_budget} spent in the "
            f"last 24 h, this one costs {cost}"
        )
    if improvement.target_kind != "prompt":
        return None
    conflict = session.scalar(
        select(Experiment.id).where(
            Experiment.prompt_id == improvement.target_id, Experiment.status == "running"
        )
    )
    if conflict:
        return f"conflict: experiment {conflict} is already running on this prompt"
    try:
        registry.current(session, improvement.target_id)
    except registry.RegistryError as exc:
        return f"cannot launch: {exc}"
    return None


def launch(session: Session, improvement: Improvement, window: Window, thresholds: Thresholds) -> Experiment:
    control = registry.current(session, improvement.target_id)
    addition = (improvement.change or {}).get("append", improvement.modification)
    variant = registry.add_version(
        session,
        improvement.target_id,
        f"{control.text.rstrip()}\n{addition}\n",
        at=window.end,
        reason=improvement.status_reason,
        improvement_id=improvement.id,
        make_current=False,
    )
    experiment_id = f"exp-{stable_id('experiment', improvement.id)[:12]}"
    # Sized at the level the experiment gets in the online FDR stream as it starts now.
    level = promotion_levels(session, thresholds.alpha, joining=(experiment_id, window.end))[experiment_id]
    experiment = Experiment(
        id=experiment_id,
        improvement_id=improvement.id,
        prompt_id=improvement.target_id,
        control_version=control.version,
        variant_version=variant.version,
        assignment_unit="execution_id",
        traffic_split=thresholds.traffic_split,
        primary_metric="success_rate",
        guardrail_metrics=list(HIGHER_IS_BETTER),
        planned_n_per_arm=planned_size(session, improvement.target_id, window, thresholds, level),
        status="running",
        started_at=window.end,
        ended_at=None,
    )
    session.add(experiment)
    session.flush()
    outbox.enqueue(
        session,
        "experiment_started",
        {
            "experiment_id": experiment.id,
            "improvement_id": improvement.id,
            "prompt_id": experiment.prompt_id,
            "control_version": experiment.control_version,
            "variant_version": experiment.variant_version,
            "traffic_split": experiment.traffic_split,
            # The rule of registry.assign_arm, exactly, as a Python expression (docs/event-contract.md).
            "assignment": (
                "'variant' if int.from_bytes(sha256(f'{experiment_id}:{execution_id}'.encode('utf-8'))"
                ".digest()[:8], 'big') / 2**64 < traffic_split else 'control'"
            ),
            "started_at": window.end.isoformat(),
        },
        window.end,
    )
    return experiment


def apply_setting(session: Session, improvement: Improvement, at: datetime) -> ConfigVersion:
    """A new current version of the improvement's setting, announced in the outbox.

    The first change of a setting first records ``{}``, the platform's own
    default, as version 1: that is what a rollback returns to.
    """
    kind = improvement.target_id.split(":", 1)[0]
    if registry.current_config(session, improvement.target_id) is None:
        registry.apply_config(
            session, improvement.target_id, kind, {}, at=at, reason="the platform's default before AITL"
        )
    version = registry.apply_config(
        session,
        improvement.target_id,
        kind,
        improvement.change or {},
        at=at,
        reason=improvement.status_reason,
        improvement_id=improvement.id,
    )
    outbox.enqueue(
        session,
        "config_change",
        {
            "target_id": improvement.target_id,
            "version": version.version,
            "value": version.value,
            "improvement_id": improvement.id,
            "applied_at": at.isoformat(),
        },
        at,
    )
    return version


def _running(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Experiment).where(Experiment.status == "running"))
        or 0
    )


def _implement_one(session: Session, improvement: Improvement, window: Window, thresholds: Thresholds) -> str:
    """Launch or apply an improvement that passed its gates; returns its new status."""
    if improvement.target_kind == "prompt":
        experiment = launch(session, improvement, window, thresholds)
        improvement.status, improvement.status_reason = "running", f"experiment {experiment.id} launched"
    else:
        version = apply_setting(session, improvement, window.end)
        improvement.status = "applied"
        improvement.status_reason = f"{improvement.target_id} v{version.version} applied"
    improvement.updated_at = window.end
    return improvement.status


def implement(
    session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool, level: str
) -> dict[str, Any]:
    """Gate and implement this run's planned improvements (highest priority first).

    With ``pause_launches`` every improvement that passes gates 1-3 is
    deferred with the reason ``PAUSED``, so the finding is planned afresh once
    launches resume.
    """
    planned = session.scalars(
        select(Improvement)
        .where(
            Improvement.level == level,
            Improvement.window_start == window.start,
            Improvement.status == "planned",
        )
        .order_by(Improvement.priority_score.desc(), Improvement.id)
    ).all()
    running, spent = _running(session), _spent(session, window.end)
    outcome: dict[str, list[str]] = {
        "launched": [],
        "applied": [],
        "proposed": [],
        "deferred": [],
        "rejected": [],
    }
    for improvement in planned:
        stopped = _review_gate(improvement, thresholds)
        if stopped is None:
            unsafe = _safety_gate(session, improvement, thresholds, running, spent)
            stopped = None if unsafe is None else ("deferred", unsafe)
        if stopped is not None:
            status, reason = stopped
            outcome[status].append(improvement.id)
            if not dry_run:
                improvement.status, improvement.status_reason = status, reason
                improvement.updated_at = window.end
            continue
        is_prompt = improvement.target_kind == "prompt"
        outcome["launched" if is_prompt else "applied"].append(improvement.id)
        running += is_prompt
        spent += COST[improvement.type]
        if not dry_run:
            _implement_one(session, improvement, window, thresholds)
    return {
        "considered": len(planned),
        **{status: len(ids) for status, ids in outcome.items()},
        "budget_spent": spent,
        "paused": thresholds.pause_launches,
        "dry_run": dry_run,
        "improvement_ids": outcome,
    }


def review(
    session: Session,
    improvement_id: str,
    decision: str,
    *,
    at: datetime,
    thresholds: Thresholds,
    reviewer: str,
    note: str = "",
    override: str | None = None,
    allowed_overrides: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A person's decision: approve or reject a proposed improvement, stop or roll back a running one.

    Approval overrides the confidence gates only: an approved change still
    waits if launches are paused or it would break safety mode, the budget or
    an experiment already running on its prompt, and the reviewer is told
    why. The thresholds are the deployment's: a review cannot bring its own
    profile. Setting a gate aside takes an explicit ``override`` (one of
    ``OVERRIDABLE_GATES``) that the deployment allows (``allowed_overrides``)
    and a note; it is recorded in the improvement's status reason. ``stop``
    and ``rollback`` end the improvement's running experiment (``control``).
    """
    if decision not in REVIEW_DECISIONS:
        raise ReviewError(f"decision must be 'approve', 'reject', 'stop' or 'rollback', got {decision!r}")
    if override is not None:
        if override not in OVERRIDABLE_GATES:
            raise ReviewError(f"override {override!r} is not one of {list(OVERRIDABLE_GATES)}")
        if override not in allowed_overrides:
            raise ReviewError(
                f"override {override!r} is not allowed in this deployment (AITL_REVIEW_OVERRIDES is "
                f"{','.join(sorted(allowed_overrides)) or 'empty'})"
            )
        if decision != "approve" or not note.strip():
            raise ReviewError("an override goes with an approval and a note saying why")
    improvement = session.get(Improvement, improvement_id)
    if improvement is None:
        raise ReviewError(f"improvement {improvement_id!r} does not exist")
    if decision in MANUAL_ACTIONS:
        experiment_id = session.scalar(
            select(Experiment.id).where(
                Experiment.improvement_id == improvement_id, Experiment.status == "running"
            )
        )
        if experiment_id is None:
            raise ReviewError(
                f"improvement {improvement_id!r} is {improvement.status}: only one with a running "
                "experiment can be stopped or rolled back"
            )
        return control(
            session, experiment_id, decision, at=at, thresholds=thresholds, reviewer=reviewer, note=note
        )
    if improvement.status != "proposed":
        raise ReviewError(
            f"improvement {improvement_id!r} is {improvement.status}, only proposed ones can be reviewed"
        )
    signed = (
        f"{decision}d by {reviewer}"
        + (f", overriding {override}" if override else "")
        + (f": {note}" if note else "")
    )
    if decision == "reject":
        improvement.status, improvement.status_reason, improvement.updated_at = "rejected", signed, at
        return {"improvement_id": improvement_id, "status": "rejected"}
    overrides = frozenset({override} if override else ())
    unsafe = _safety_gate(session, improvement, thresholds, _running(session), _spent(session, at), overrides)
    if unsafe is not None:
        raise ReviewError(f"approved, but cannot be implemented now: {unsafe}")
    status = _implement_one(session, improvement, Window(at - BUDGET_PERIOD, at), thresholds)
    improvement.status_reason = f"{signed}; {improvement.status_reason}"
    return {"improvement_id": improvement_id, "status": status}


def control(
    session: Session,
    experiment_id: str,
    action: str,
    *,
    at: datetime,
    thresholds: Thresholds,
    reviewer: str,
    note: str = "",
) -> dict[str, Any]:
    """A person stops (``stop``) or rolls back (``rollback``) a running experiment at ``at``.

    Recorded and published as a final daily decision is: a ``decisions`` row
    (look 0: no test was passed and no alpha is spent) with the arms' counts
    and, as evidence only, the primary metric's test at the fixed level
    ``alpha`` in ``effect`` / ``ci_low`` / ``ci_high`` / ``p_value`` (every metric's in
    ``details``); then ``aitl.loop.decisions.apply_decision``: the experiment
    and its improvement end as ``stopped`` (no verdict on the variant: not
    planned again for a week) or ``rolled_back`` (judged worse: a month),
    the control stays served, and the outbox tells the platform. The reason
    names the person and the note. Not a launch: it works while launches are
    paused.
    """
    if action not in MANUAL_ACTIONS:
        raise ReviewError(f"action must be 'stop' or 'rollback', got {action!r}")
    experiment = session.get(Experiment, experiment_id, with_for_update=True)
    if experiment is None:
        raise ReviewError(f"experiment {experiment_id!r} does not exist")
    if experiment.status != "running":
        raise ReviewError(
            f"experiment {experiment_id!r} is {experiment.status}: only a running one can be stopped "
            "or rolled back"
        )
    decision = MANUAL_ACTIONS[action]
    if at > experiment.started_at:
        control_arm, variant_arm = arm_stats(session, experiment, at)
    else:
        control_arm, variant_arm = SegmentStats(), SegmentStats()
    evidence = compare_arms(control_arm, variant_arm, thresholds.alpha)
    primary = evidence.get(experiment.primary_metric)
    planned = planned_total(experiment)
    spent = session.scalar(
        select(Decision.alpha_spent)
        .where(Decision.experiment_id == experiment_id, Decision.look > 0)
        .order_by(Decision.window_end.desc())
        .limit(1)
    )
    reason = (
        f"manual {action} by {reviewer}"
        + (f": {note}" if note else "")
        + f"; control v{experiment.control_version} served"
    )
    session.add(
        Decision(
            experiment_id=experiment_id,
            window_end=at,
            look=0,
            decision=decision,
            reason=reason,
            metric=experiment.primary_metric if primary else None,
            test=primary.test if primary else None,
            n_control=control_arm.n,
            n_variant=variant_arm.n,
            effect=primary.effect if primary else None,
            ci_low=primary.ci_low if primary else None,
            ci_high=primary.ci_high if primary else None,
            p_value=primary.p_value if primary else None,
            p_adjusted=None,
            information_fraction=min(1.0, (control_arm.n + variant_arm.n) / planned) if planned else 0.0,
            alpha_spent=spent or 0.0,
            nominal_alpha=thresholds.alpha,
            details={
                "manual": {"action": action, "by": reviewer, "note": note},
                **{metric: result.as_dict() for metric, result in evidence.items()},
            },
        )
    )
    session.flush()
    try:
        apply_decision(session, experiment, decision, reason, at, control_arm.n, variant_arm.n)
    except AlreadyEnded as exc:
        raise ReviewError(str(exc)) from None
    return {
        "experiment_id": experiment_id,
        "improvement_id": experiment.improvement_id,
        "status": decision,
        "serve_version": experiment.control_version,
        "n_control": control_arm.n,
        "n_variant": variant_arm.n,
    }
