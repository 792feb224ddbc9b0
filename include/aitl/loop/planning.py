"""Action planning: concrete improvements from insights and from the window's configuration evidence.

Two kinds are planned from a window's insights:

* ``prompt_refinement`` for any insight with a prompt to blame: a new
  instruction built from *one* of the taxonomy's remedies for that subtype,
  naming the signal and the evidence, appended to the prompt in a new version
  (change ``{"append": text}``). One remedy per experiment, so that a verdict
  says which instruction helped or hurt; a cause that persists gets the next
  remedy once the last one has ended without success (``next_remedy``).
  Once the prompt serves a new version, remedies tested against the old one
  may be tested again, but only when no finding of that prompt has a remedy
  never tested: otherwise the prompt's most severe finding would be retested
  after every promotion and its other findings never get their turn;
* ``workflow_optimization`` for timeouts: the seed's adaptive timeout for the
  task type and complexity band (p95 x 1.2 over at least 5 samples, a
  complexity heuristic below that, within bounds; change ``{"timeout_s": n}``).

The configuration changes of ``aitl.loop.tuning`` (model, agent tier, batch size,
concurrency) join them as candidates: all pass the same confidence threshold,
are ranked together by priority (severity x confidence x rate) and capped at
``max_improvements_per_cycle``.

An improvement is not planned again while one with the same dedupe key is
planned, proposed, running or applied, or for a while after it ended without
success (``MEMORY``). A prompt refinement's key names its finding and its
remedy (two findings may refine one prompt), and no remedy of a finding is
planned while another one is being tested; a setting's key is its target
alone, so one change at a time per setting. Nothing is planned for a prompt
while an experiment runs on it (``prompt_busy``): it could not be launched,
and a finding re-planned and deferred every hour until the prompt is free
would fill the improvements table with copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from aitl.loop.choices import CostRule
from aitl.loop.insights import describe_segment
from aitl.loop.proposals import config_key, improvement_row, priority_of
from aitl.loop.tuning import configuration_plans
from aitl.mining.frequency import complexity_band
from aitl.store.models import Experiment, Improvement, Prompt
from aitl.taxonomy import LEARNING_PATTERNS
from aitl.window import Window

# Every status an improvement can have, in the order it moves through the loop
# (docs/operations.md, "Improvement statuses"); the view's pipeline bar reads left to right.
STATUSES = (
    "planned",
    "proposed",
    "deferred",
    "running",
    "applied",
    "promoted",
    "kept",
    "rolled_back",
    "inconclusive",
    "stopped_srm",
    "stopped",
    "rejected",
)
ACTIVE_STATUSES = ("planned", "proposed", "running", "applied")
# Why a candidate was not planned, as ``plan_actions``' summary counts them.
SKIP_REASONS = ("low_confidence", "no_target", "already_active", "prompt_busy", "retest_later", "over_cap")
# How long a change that ended without success is not planned again. A
# reviewer's rejection is remembered for a week; a change that was tested and
# rolled back, or tested without a significant effect, for a month:
# re-running the same experiment until it happens to come out significant
# would undo the error control of every single test.
MEMORY = {
    "rejected": timedelta(days=7),
    "rolled_back": timedelta(days=30),
    "inconclusive": timedelta(days=30),
    # The variant broke its own assignment (crashed, lost events): as bad as a rollback.
    "stopped_srm": timedelta(days=30),
    # Stopped by a person without a verdict on it: not relaunched for a week, as a rejection.
    "stopped": timedelta(days=7),
}


@dataclass(frozen=True)
class TimeoutPolicy:
    """Bounds and fallback of the seed's AdaptiveTimeoutManager."""

    default_s: float = 120.0
    min_s: float = 30.0
    max_s: float = 1800.0
    min_samples: int = 5
    safety_margin: float = 1.2

    def timeout(self, durations: np.ndarray, complexity: float, size: float) -> tuple[float, str]:
        if len(durations) >= self.min_samples:
            value = float(np.percentile(durations, 95)) * self.safety_margin
            basis = f"p95 x {self.safety_margin} over {len(durations)} samples"
        else:
            value = self.default_s * (1 + complexity * 0.5) * (1 + math.log(max(size, 1.0)) * 0.1)
            basis = f"heuristic (only {len(durations)} samples)"
        return max(self.min_s, min(value, self.max_s)), basis


def refinement_text(insight: dict[str, Any], remedy: str) -> str:
    """The instruction appended to the blamed prompt: scope, signal, the subtype's description, one remedy."""
    spec = LEARNING_PATTERNS[insight["category"]][insight["subtype"]]
    segment = insight["segment"]
    scope = (
        " ".join(
            part for part in (segment.get("language"), segment.get("task_type", "").replace("_", " ")) if part
        )
        or "all"
    )
    evidence = insight["evidence"]
    return (
        f"When generating {scope} code, avoid {insight['signal']} "
        f"({spec['description'].lower()}): {remedy}. "
        f"[AITL: seen in {evidence['rate']:.0%} of recent executions]"
    )


@dataclass(frozen=True)
class Planned:
    """What an insight leads to: the target, the human text and the machine-readable change."""

    kind: str
    target_kind: str
    target_id: str
    modification: str
    change: dict[str, Any]
    remedy: str = ""

    def key(self, insight: dict[str, Any]) -> str:
        if self.kind == "prompt_refinement":
            finding = f"{insight['category']}/{insight['subtype']}|{insight['signal']}"
            return f"{self.kind}|{self.target_id}|{finding}|{self.remedy}"
        return config_key(self.kind, self.target_id)


def _options(insight: dict[str, Any], events: pd.DataFrame | None, policy: TimeoutPolicy) -> list[Planned]:
    """What an insight could lead to, in the order to try: a timeout setting, or a refinement per remedy."""
    segment = insight["segment"]
    signal_kind = insight["evidence"].get("signal_kind")
    if signal_kind == "error_type" and insight["signal"] == "timeout" and segment:
        if events is None:
            return []
        task_type, band = segment.get("task_type", ""), segment.get("complexity_band", "unknown")
        mask = (events["task_type"].fillna("") == task_type) & (events["band"] == band)
        ok = mask & events["success"].astype(bool)
        durations = events.loc[ok, "duration_s"].to_numpy(dtype=float)
        complexity = float(events.loc[mask, "complexity"].astype(float).mean() or 0.5)
        size = float(events.loc[mask, "size"].astype(float).mean() or 100.0)
        seconds, basis = policy.timeout(durations, complexity, size)
        setting = Planned(
            "workflow_optimization",
            "workflow",
            f"timeout:{task_type}:{band}",
            f"Set the execution timeout of {task_type} tasks of {band} complexity to "
            f"{seconds:.0f} s ({basis}, bounds {policy.min_s:.0f}-{policy.max_s:.0f} s).",
            {"timeout_s": round(seconds)},
        )
        return [setting]
    prompt_id = segment.get("prompt_id")
    if not prompt_id:
        return []
    remedies = LEARNING_PATTERNS[insight["category"]][insight["subtype"]]["improvements"]
    texts = [(str(remedy), refinement_text(insight, str(remedy))) for remedy in remedies]
    return [
        Planned("prompt_refinement", "prompt", prompt_id, text, {"append": text}, remedy)
        for remedy, text in texts
    ]


def plan(
    session: Session,
    insights: list[dict[str, Any]],
    events: pd.DataFrame | None,
    window: Window,
    *,
    confidence_threshold: float,
    max_per_cycle: int,
    level: str,
    alpha: float = 0.05,
    policy: TimeoutPolicy | None = None,
    cost_rule: CostRule | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Improvement rows for this window and why other candidates were not planned.

    ``events`` (task type, complexity, size, success, duration) feeds the
    adaptive timeouts, and with ``cpu_s`` / ``memory_mb`` the batch size and
    concurrency settings; without it (``None``) those are left to the hourly
    cycle. ``alpha`` is the level of the model and agent-tier comparisons,
    ``cost_rule`` how they weigh price.
    """
    policy = policy or TimeoutPolicy()
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    busy = _busy_prompts(session, window, level)
    if events is not None:
        events = events.assign(band=_bands(events))
    candidates: list[dict[str, Any]] = []
    retests: set[str] = set()  # keys of remedies tested before, against an older control
    for insight in insights:
        if insight["confidence"] < confidence_threshold:
            skipped["low_confidence"] += 1
            continue
        options = _options(insight, events, policy)
        if not options:
            skipped["no_target"] += 1
            continue
        chosen_option = next_remedy(session, options, insight, window, level)
        if chosen_option is None:
            skipped["already_active"] += 1
            continue
        planned, retest = chosen_option
        if planned.target_kind == "prompt" and planned.target_id in busy:
            skipped["prompt_busy"] += 1
            continue
        if retest:
            retests.add(planned.key(insight))
        candidates.append(
            improvement_row(
                level,
                window,
                insight_id=insight["id"],
                kind=planned.kind,
                target_kind=planned.target_kind,
                target_id=planned.target_id,
                key=planned.key(insight),
                modification=planned.modification,
                change=planned.change,
                expected_effect=(
                    f"Bring {insight['signal']!r} in {describe_segment(insight['segment'])} from "
                    f"{insight['evidence']['rate']:.1%} toward "
                    f"{insight['evidence']['baseline_rate']:.1%} and raise its success rate"
                ),
                priority=priority_of(insight["severity"], insight["confidence"], insight["evidence"]["rate"]),
                confidence=insight["confidence"],
                reason=f"from insight: {insight['title']}",
            )
        )
    fresh = {row["target_id"] for row in candidates if row["dedupe_key"] not in retests}
    kept = [row for row in candidates if row["dedupe_key"] not in retests or row["target_id"] not in fresh]
    skipped["retest_later"] = len(candidates) - len(kept)
    candidates = kept
    for row in configuration_plans(session, window, level, events, alpha, rule=cost_rule):
        if row["confidence"] < confidence_threshold:
            skipped["low_confidence"] += 1
        elif _blocked(session, row["dedupe_key"], window, level):  # insights' options passed next_remedy
            skipped["already_active"] += 1
        else:
            candidates.append(row)
    chosen: dict[str, dict[str, Any]] = {}
    for row in candidates:
        key = row["dedupe_key"]
        # Two insights can lead to the same change (e.g. two segments of one
        # prompt); keep the stronger one.
        if key not in chosen or row["priority_score"] > chosen[key]["priority_score"]:
            chosen[key] = row
    ranked = sorted(chosen.values(), key=lambda r: (-r["priority_score"], r["id"]))
    skipped["over_cap"] = max(0, len(ranked) - max_per_cycle)
    return ranked[:max_per_cycle], skipped


def _bands(events: pd.DataFrame) -> pd.Series:
    return complexity_band(events["complexity"]) if len(events) else pd.Series(dtype=object)


def next_remedy(
    session: Session, options: list[Planned], insight: dict[str, Any], window: Window, level: str
) -> tuple[Planned, bool] | None:
    """The option to try next and whether it is a retest; None while one is active or all were tried.

    A remedy counts as tried once it was promoted (the prompt holds it
    already) or while ``_remembered`` says it ended without success against
    the control still served. Options no experiment has tested come first,
    in order (a plan that was only deferred or proposed is not a test); then
    those tested against an older control (retests). No option is offered
    while another is active: two remedies of one finding would queue on one
    prompt.
    """
    keys = [option.key(insight) for option in options]
    history = _history(session, keys, window, level)
    if any(row.status in ACTIVE_STATUSES for row in history):
        return None
    retests = []
    for option, key in zip(options, keys, strict=True):
        tried = [row for row in history if row.dedupe_key == key]
        if any(row.status == "promoted" or _remembered(session, row, window) for row in tried):
            continue
        if any(row.control_version is not None for row in tried):  # an experiment tested it
            retests.append(option)
        else:
            return option, False
    return (retests[0], True) if retests else None


def _blocked(session: Session, key: str, window: Window, level: str) -> bool:
    """Another run's improvement with this key is still active, or ended without success recently."""
    return any(
        row.status in ACTIVE_STATUSES or _remembered(session, row, window)
        for row in _history(session, [key], window, level)
    )


def _history(session: Session, keys: list[str], window: Window, level: str) -> list[Any]:
    """Other runs' improvements with these keys, up to this window, with the control they were tested against.

    Any level counts (a daily plan must not repeat what an hourly run launched);
    this run's own earlier plans do not, so a rerun plans the same again.
    """
    query = (
        select(
            Improvement.dedupe_key,
            Improvement.status,
            Improvement.updated_at,
            Experiment.prompt_id,
            Experiment.control_version,
        )
        .outerjoin(Experiment, Experiment.improvement_id == Improvement.id)
        .where(Improvement.dedupe_key.in_(keys), Improvement.window_start < window.end)
        .where(_other_runs(window, level))
    )
    return list(session.execute(query))


def _busy_prompts(session: Session, window: Window, level: str) -> set[str]:
    """Prompts with an experiment running that another run launched (a rerun plans what it planned)."""
    query = (
        select(Experiment.prompt_id)
        .outerjoin(Improvement, Improvement.id == Experiment.improvement_id)
        .where(Experiment.status == "running", or_(Improvement.id.is_(None), _other_runs(window, level)))
    )
    return set(session.scalars(query))


def _other_runs(window: Window, level: str) -> ColumnElement[bool]:
    """Improvements not planned by this run (its level and window)."""
    return ~((Improvement.level == level) & (Improvement.window_start == window.start))


def _remembered(session: Session, row: Any, window: Window) -> bool:
    """The change ended without success within ``MEMORY`` and its control is still served.

    A change tested against a control the prompt no longer serves (a release
    or a promotion came since) is a new question and may be tested again.
    """
    if row.status not in MEMORY or window.end - row.updated_at > MEMORY[row.status]:
        return False
    served = session.get(Prompt, row.prompt_id) if row.prompt_id else None
    return served is None or served.current_version == row.control_version
