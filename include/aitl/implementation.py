"""Implementation: launch planned improvements safely, as experiments.

A planned prompt refinement is launched only when it clears every gate of the
run's thresholds, in this order (the first gate that fails is recorded as the
improvement's ``status_reason``):

1. ``improvement_confidence_threshold`` -> otherwise *rejected*;
2. it is a prompt refinement (configuration changes wait for approval);
3. ``auto_implement_threshold`` -> otherwise *proposed*, awaiting approval;
4. with ``safety_mode``: fewer than ``max_concurrent_improvements`` running;
5. no other experiment running on the same prompt (two experiments on one
   prompt would confound each other);
6. the prompt is registered (its current text is the control).

Launching writes a new prompt version (parent = the current version, diff and
reason recorded) that does *not* become current, and an A/B experiment that
serves it to ``traffic_split`` of users by deterministic assignment, sized by
power analysis. In a dry run nothing is written; the summary says what would
have happened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl import registry
from aitl.config import Thresholds
from aitl.patterns import stable_id
from aitl.stats import sample_size_two_proportions
from aitl.store.models import Experiment, Improvement
from aitl.summaries import merged_stats
from aitl.window import Window

MINIMUM_DETECTABLE_EFFECT = 0.05  # absolute change in success rate
POWER = 0.8


def _gate(
    session: Session, improvement: Improvement, thresholds: Thresholds, running: int
) -> tuple[str, str] | None:
    """The (status, reason) of the first gate that stops this improvement, if any."""
    if improvement.confidence < thresholds.improvement_confidence_threshold:
        return "rejected", (
            f"confidence {improvement.confidence:.3f} below improvement_confidence_threshold "
            f"{thresholds.improvement_confidence_threshold}"
        )
    if improvement.type != "prompt_refinement":
        return "proposed", "awaiting approval: configuration changes are never auto-applied"
    if improvement.confidence < thresholds.auto_implement_threshold:
        return "proposed", (
            f"awaiting approval: confidence {improvement.confidence:.3f} below "
            f"auto_implement_threshold {thresholds.auto_implement_threshold}"
        )
    if thresholds.safety_mode and running >= thresholds.max_concurrent_improvements:
        return "proposed", (
            f"safety mode: {running} experiments running "
            f"(max_concurrent_improvements {thresholds.max_concurrent_improvements})"
        )
    conflict = session.scalar(
        select(Experiment.id).where(
            Experiment.prompt_id == improvement.target_id, Experiment.status == "running"
        )
    )
    if conflict:
        return "proposed", f"conflict: experiment {conflict} is already running on this prompt"
    try:
        registry.current(session, improvement.target_id)
    except registry.RegistryError as exc:
        return "proposed", f"cannot launch: {exc}"
    return None


def planned_size(session: Session, prompt_id: str, window: Window, thresholds: Thresholds) -> int:
    """Per-arm sample size to detect a 5-point success-rate change with 80% power."""
    recent = merged_stats(session, window, prompt_id=prompt_id)
    baseline = recent.success_rate if recent.n else 0.5
    baseline = min(max(baseline, 0.05), 0.95 - MINIMUM_DETECTABLE_EFFECT)
    split = thresholds.traffic_split
    return sample_size_two_proportions(
        baseline,
        MINIMUM_DETECTABLE_EFFECT,
        alpha=thresholds.alpha,
        power=POWER,
        ratio=split / (1 - split),
    )


def launch(session: Session, improvement: Improvement, window: Window, thresholds: Thresholds) -> Experiment:
    control = registry.current(session, improvement.target_id)
    variant = registry.add_version(
        session,
        improvement.target_id,
        f"{control.text.rstrip()}\n{improvement.modification}\n",
        at=window.end,
        reason=improvement.status_reason,
        improvement_id=improvement.id,
        make_current=False,
    )
    experiment = Experiment(
        id=f"exp-{stable_id('experiment', improvement.id)[:12]}",
        improvement_id=improvement.id,
        prompt_id=improvement.target_id,
        control_version=control.version,
        variant_version=variant.version,
        assignment_unit="user_id",
        traffic_split=thresholds.traffic_split,
        primary_metric="success_rate",
        planned_n_per_arm=planned_size(session, improvement.target_id, window, thresholds),
        status="running",
        started_at=window.end,
        ended_at=None,
    )
    session.add(experiment)
    session.flush()
    return experiment


def implement(
    session: Session, window: Window, thresholds: Thresholds, *, dry_run: bool, level: str
) -> dict[str, Any]:
    """Gate and launch this run's planned improvements (highest priority first)."""
    planned = session.scalars(
        select(Improvement)
        .where(
            Improvement.level == level,
            Improvement.window_start == window.start,
            Improvement.status == "planned",
        )
        .order_by(Improvement.priority_score.desc(), Improvement.id)
    ).all()
    running = (
        session.scalar(select(func.count()).select_from(Experiment).where(Experiment.status == "running"))
        or 0
    )
    outcome: dict[str, list[str]] = {"launched": [], "proposed": [], "rejected": []}
    for improvement in planned:
        stopped = _gate(session, improvement, thresholds, running)
        if stopped is not None:
            status, reason = stopped
            outcome[status].append(improvement.id)
            if not dry_run:
                improvement.status, improvement.status_reason = status, reason
                improvement.updated_at = window.end
            continue
        outcome["launched"].append(improvement.id)
        running += 1
        if not dry_run:
            experiment = launch(session, improvement, window, thresholds)
            improvement.status = "running"
            improvement.status_reason = f"experiment {experiment.id} launched"
            improvement.updated_at = window.end
    return {
        "considered": len(planned),
        "launched": len(outcome["launched"]),
        "proposed": len(outcome["proposed"]),
        "rejected": len(outcome["rejected"]),
        "dry_run": dry_run,
        "improvement_ids": outcome,
    }
