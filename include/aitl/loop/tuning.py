"""Configuration improvements: which model and agent tier, what batch size and concurrency.

Planning turns *insights* (a failure concentrated in a segment) into changes.
The seed's other improvement types have no insight behind them: they come from
comparing alternatives that already run side by side in the window, and from
the resources the window's executions used. This module computes them, so each
row carries its own evidence (test, rates, n, interval, adjusted p) in its
``modification`` and the new setting in its machine-readable ``change``.

* ``model_selection`` / ``agent_configuration``: per task type, the model (agent
  tier) whose success rate is significantly higher than that of the task type's
  most-used one, read from the window's hourly rollups. Each alternative with
  at least ``MIN_ARM_N`` executions is compared with the most-used value by a
  two-proportion test; all comparisons of the window (models and tiers
  together) are one family under Benjamini-Hochberg, since a window compares
  many pairs and would otherwise "find" a better model by chance. The
  comparison is pooled within a task type, so a value serving easier work
  (a tier given simpler tasks, say) can look better than it is: that is one
  more reason configuration changes are proposed for approval, never applied
  by themselves.
* ``workflow_optimization`` of batch size (the seed's IntelligentBatchSizer)
  and of the concurrency limit per task type, from the p95 memory and CPU
  footprint of the window's executions. Raw resource readings are not in the
  rollups, so these need an events frame with ``cpu_s`` and ``memory_mb`` (the
  hourly cycle); they are proposed only when they differ from the setting's
  current value in the registry (``config_versions``) or, before any, from the
  documented default of ``ResourcePolicy``.

Airflow-free like the rest of ``aitl``: the DAGs call it through the planner.

Method:
docs/statistics.md#model-and-agent-tier-comparisons
docs/statistics.md#workflow-settings
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.loop.insights import SEVERITY_WEIGHT
from aitl.stats.hypothesis import TestResult, two_proportions
from aitl.stats.multiple import adjust
from aitl.store.models import ConfigVersion
from aitl.store.reads import rollup_frame_of
from aitl.window import Window

# Executions both the most-used value and an alternative need before they are
# compared: below this the normal approximation and a rate's interval are too
# loose for a platform-wide switch.
MIN_ARM_N = 30

# Success-rate gains (absolute) that rank a model or tier switch as a high or
# medium severity change; smaller significant gains are low.
HIGH_GAIN, MEDIUM_GAIN = 0.10, 0.05


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
class Alternative:
    """A value significantly better than the task type's most-used one (control = most-used)."""

    column: str
    task_type: str
    current: str
    best: str
    test: TestResult
    p_adjusted: float
    comparisons: int


def priority_of(severity: str, confidence: float, rate: float) -> tuple[str, float]:
    """Label and score shared by every improvement, so all kinds rank on one scale.

    Planning imports it from here (planning depends on this module, not the reverse).
    """
    score = SEVERITY_WEIGHT[severity] * confidence * (0.5 + rate)
    label = "high" if score >= 2.0 else "medium" if score >= 1.0 else "low"
    return label, round(score, 6)


def improvement_row(
    level: str,
    window: Window,
    *,
    insight_id: str,
    kind: str,
    target_kind: str,
    target_id: str,
    key: str,
    modification: str,
    change: dict[str, Any],
    expected_effect: str,
    priority: tuple[str, float],
    confidence: float,
    reason: str,
) -> dict[str, Any]:
    """One ``improvements`` row as planned; the same shape for insight-based and configuration changes."""
    label, score = priority
    return {
        "id": stable_id("improvement", level, window.start.isoformat(), key),
        "level": level,
        "insight_id": insight_id,
        "window_start": window.start,
        "window_end": window.end,
        "type": kind,
        "target_kind": target_kind,
        "target_id": target_id,
        "dedupe_key": key,
        "modification": modification,
        "change": change,
        "expected_effect": expected_effect,
        "priority": label,
        "priority_score": score,
        "confidence": confidence,
        "status": "planned",
        "status_reason": reason,
        "updated_at": window.end,
    }


def config_key(kind: str, target_id: str) -> str:
    """Dedupe key of a configuration change: any active change to a target blocks another."""
    return f"{kind}|{target_id}"


# --------------------------------------------------------------------------- model and agent tier


def choice_counts(session: Session, window: Window) -> pd.DataFrame:
    """Executions and successes of the window per choice column, task type and value.

    A long frame (``column``, ``task_type``, ``value``, ``n``, ``successes``),
    so models and tiers go through one comparison.
    """
    columns = [choice.column for choice in CHOICES]
    rollups = rollup_frame_of(session, window, ["task_type", *columns, "n", "successes"])
    frames = [
        rollups.groupby(["task_type", column], as_index=False)[["n", "successes"]]
        .sum()
        .rename(columns={column: "value"})
        .assign(column=column)
        for column in columns
    ]
    return pd.concat(frames, ignore_index=True)


def better_alternatives(counts: pd.DataFrame, alpha: float, min_n: int = MIN_ARM_N) -> list[Alternative]:
    """Per choice and task type, the best value significantly better than the most-used one.

    ``counts`` is shaped like ``choice_counts``. Empty values (the event did not
    say) are neither a current value nor an alternative. Among several
    significant alternatives the one with the highest success rate wins.
    """
    known = counts[(counts["task_type"] != "") & (counts["value"] != "")]
    compared: list[tuple[str, str, str, str, TestResult]] = []
    for (column, task_type), group in known.groupby(["column", "task_type"], sort=True):
        ordered = group.sort_values(["n", "value"], ascending=[False, True])
        current = ordered.iloc[0]
        if current["n"] < min_n:
            continue
        for other in ordered.iloc[1:].itertuples(index=False):
            if other.n >= min_n:
                test = two_proportions(
                    int(current["successes"]), int(current["n"]), int(other.successes), int(other.n), alpha
                )
                compared.append((str(column), str(task_type), str(current["value"]), str(other.value), test))
    if not compared:
        return []
    reject, adjusted = adjust([c[-1].p_value for c in compared], "fdr_bh", alpha)
    best: dict[tuple[str, str], Alternative] = {}
    for (column, task_type, current, value, test), significant, p_adjusted in zip(
        compared, reject, adjusted, strict=True
    ):
        if not significant or test.effect <= 0:
            continue
        found = Alternative(column, task_type, current, value, test, float(p_adjusted), len(compared))
        held = best.get((column, task_type))
        if held is None or test.value_variant > held.test.value_variant:
            best[(column, task_type)] = found
    return [best[key] for key in sorted(best)]


def _gain_severity(gain: float) -> str:
    return "high" if gain >= HIGH_GAIN else "medium" if gain >= MEDIUM_GAIN else "low"


def _alternative_row(found: Alternative, level: str, window: Window, alpha: float) -> dict[str, Any]:
    choice, test = _CHOICE[found.column], found.test
    target_id = f"{found.column}:{found.task_type}"
    key = config_key(choice.kind, target_id)
    confidence = round(min(max(1.0 - found.p_adjusted, 0.0), 1.0), 6)
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
            f"success rate {test.value_variant:.1%} (n={test.n_variant}) vs {test.value_control:.1%} "
            f"(n={test.n_control}), {test.effect:+.1%} [{1 - alpha:.0%} CI {test.ci_low:+.1%} to "
            f"{test.ci_high:+.1%}], {test.test} p={test.p_value:.2g}, Benjamini-Hochberg p="
            f"{found.p_adjusted:.2g} over {found.comparisons} comparisons."
        ),
        change={found.column: found.best},
        expected_effect=(
            f"Raise the success rate of {found.task_type} tasks from {test.value_control:.1%} "
            f"toward {test.value_variant:.1%}"
        ),
        priority=priority_of(_gain_severity(test.effect), confidence, test.effect),
        confidence=confidence,
        reason=f"{choice.noun} comparison: {found.best} beats the most-used {found.current}",
    )


# --------------------------------------------------------------------------- batch size and concurrency


@dataclass(frozen=True)
class ResourcePolicy:
    """The worker that batch sizes and concurrency limits are computed for, and their bounds.

    * ``worker_memory_mb`` / ``worker_cpus``: one worker of the platform, 8 GiB
      and 4 cores (two of the 4096 MB sandboxes the platform runs code in);
      the budget the p95 footprint of one execution is measured against.
    * ``min_batch_size`` / ``max_batch_size``: the seed's config bounds.
    * ``max_concurrency``: upper bound of the per-worker concurrency limit.
    * ``default_batch_size`` / ``default_concurrency``: what a task type runs
      with until the registry holds a value: the seed's "moderate resources"
      batch (max x 0.5) and one execution per core.
    * ``min_samples``: executions with resource readings a task type needs
      before its settings are computed at all.
    """

    worker_memory_mb: float = 8192.0
    worker_cpus: float = 4.0
    min_batch_size: int = 5
    max_batch_size: int = 50
    max_concurrency: int = 32
    default_batch_size: int = 25
    default_concurrency: int = 4
    min_samples: int = 30


@dataclass(frozen=True)
class ResourceUse:
    """What one task type's executions of the window used, and how alike they were."""

    task_type: str
    n: int
    p95_memory_mb: float
    p95_cores: float
    complexity_mean: float
    complexity_std: float

    def free_percent(self, policy: ResourcePolicy) -> tuple[float, float]:
        """CPU and memory left free on a worker by one execution at its p95 footprint."""
        cpu = 100.0 * (1.0 - self.p95_cores / policy.worker_cpus)
        memory = 100.0 * (1.0 - self.p95_memory_mb / policy.worker_memory_mb)
        return cpu, memory

    @property
    def uniformity(self) -> float:
        """The seed's ``1 - std(complexity)``, rescaled to reach 0.

        Complexity lies in [0, 1], so its standard deviation is at most 0.5 and
        the seed's literal ``1 - std`` never falls below its 0.3 threshold;
        ``1 - 2 std`` spans [0, 1] and makes "highly variable tasks" reachable.
        """
        return 1.0 - 2.0 * self.complexity_std


def resource_use(events: pd.DataFrame, min_samples: int) -> list[ResourceUse]:
    """Per task type with at least ``min_samples`` resource readings, their p95 footprint.

    CPU use is in cores (``cpu_s / duration_s``), so events without a positive
    duration, or without either reading, do not count.
    """
    usable = events[
        events["task_type"].fillna("").ne("")
        & events["cpu_s"].notna()
        & events["memory_mb"].notna()
        & (events["duration_s"].astype(float) > 0)
    ]
    found = []
    for task_type, group in usable.groupby("task_type", sort=True):
        if len(group) < min_samples:
            continue
        cores = group["cpu_s"].astype(float) / group["duration_s"].astype(float)
        complexity = group["complexity"].dropna().astype(float).to_numpy()
        found.append(
            ResourceUse(
                task_type=str(task_type),
                n=len(group),
                p95_memory_mb=float(np.percentile(group["memory_mb"].astype(float), 95)),
                p95_cores=float(np.percentile(cores, 95)),
                complexity_mean=float(complexity.mean()) if len(complexity) else math.nan,
                complexity_std=float(complexity.std()) if len(complexity) else math.nan,
            )
        )
    return found


def batch_size(use: ResourceUse, policy: ResourcePolicy) -> int:
    """The seed's IntelligentBatchSizer, with a worker's headroom as the free resources."""
    cpu_free, memory_free = use.free_percent(policy)
    if cpu_free > 70 and memory_free > 70:
        size = int(policy.max_batch_size * 0.8)
    elif cpu_free > 50 and memory_free > 50:
        size = int(policy.max_batch_size * 0.5)
    else:
        size = max(policy.min_batch_size, int(policy.max_batch_size * 0.2))
    if use.complexity_mean > 0.7:
        size = int(size * 0.7)
    if use.uniformity < 0.3:
        size = int(size * 0.8)
    return size


def _fits(budget: float, per_execution: float) -> float:
    return budget / per_execution if per_execution > 0 else math.inf


def max_concurrency(use: ResourceUse, policy: ResourcePolicy) -> int:
    """Executions one worker holds at their p95 footprint: the scarcer of memory and CPU, within bounds."""
    fits = min(_fits(policy.worker_memory_mb, use.p95_memory_mb), _fits(policy.worker_cpus, use.p95_cores))
    return int(max(1, min(fits, policy.max_concurrency)))


def current_setting(session: Session, target_id: str, name: str, window: Window, default: int) -> int:
    """The setting in force when the window ended: the registry's latest version before it, or the default.

    Point-in-time (versions created after the window are ignored), so a
    backfill compares with what was live then.
    """
    value = session.scalar(
        select(ConfigVersion.value)
        .where(ConfigVersion.target_id == target_id, ConfigVersion.created_at < window.end)
        .order_by(ConfigVersion.version.desc())
        .limit(1)
    )
    return int(value.get(name, default)) if value else default


@dataclass(frozen=True)
class Setting:
    """One task type's computed value of a setting, and the evidence behind it."""

    name: str  # the key of the change
    target_id: str
    value: int
    default: int  # in force while the registry holds no value
    basis: str


def resource_settings(use: ResourceUse, policy: ResourcePolicy) -> list[Setting]:
    """The batch size and concurrency limit one task type's resource use calls for."""
    cpu_free, memory_free = use.free_percent(policy)
    footprint = (
        f"p95 footprint {use.p95_memory_mb:.0f} MB and {use.p95_cores:.2f} cores over {use.n} executions"
    )
    size, limit = batch_size(use, policy), max_concurrency(use, policy)
    return [
        Setting(
            "batch_size",
            f"batch_size:{use.task_type}",
            size,
            policy.default_batch_size,
            f"Set the batch size of {use.task_type} tasks to {size}: {footprint} leave "
            f"{cpu_free:.0f}% CPU and {memory_free:.0f}% memory of a {policy.worker_memory_mb:.0f} MB / "
            f"{policy.worker_cpus:g}-core worker free; complexity mean {use.complexity_mean:.2f}, "
            f"uniformity {use.uniformity:.2f}; bounds {policy.min_batch_size}-{policy.max_batch_size}.",
        ),
        Setting(
            "max_concurrency",
            f"concurrency:{use.task_type}",
            limit,
            policy.default_concurrency,
            f"Run at most {limit} {use.task_type} tasks at once per worker: {footprint}; "
            f"{policy.worker_memory_mb:.0f} MB hold {_fits(policy.worker_memory_mb, use.p95_memory_mb):.1f} "
            f"and {policy.worker_cpus:g} cores {_fits(policy.worker_cpus, use.p95_cores):.1f} of them; "
            f"bounds 1-{policy.max_concurrency}.",
        ),
    ]


def _setting_row(
    use: ResourceUse, setting: Setting, current: int, level: str, window: Window, alpha: float
) -> dict[str, Any]:
    key = config_key("workflow_optimization", setting.target_id)
    # A policy computed from at least min_samples executions, not a test: it
    # gets the confidence level the window's tests are held to.
    confidence = 1.0 - alpha
    relative = min(abs(setting.value - current) / max(current, 1), 1.0)
    return improvement_row(
        level,
        window,
        insight_id=stable_id("finding", key),
        kind="workflow_optimization",
        target_kind="config",
        target_id=setting.target_id,
        key=key,
        modification=f"{setting.basis} Now {current}.",
        change={setting.name: setting.value},
        expected_effect=(
            f"{'Higher throughput' if setting.value > current else 'Fewer resource-exhaustion failures'} "
            f"for {use.task_type} tasks, sized to their p95 footprint"
        ),
        # Resource tuning fixes no failure users report: low severity, ranked by how far the setting moves.
        priority=priority_of("low", confidence, relative),
        confidence=confidence,
        reason=(
            f"resource use of {use.n} {use.task_type} executions: {setting.name} {current} -> {setting.value}"
        ),
    )


def resource_rows(
    session: Session,
    window: Window,
    level: str,
    events: pd.DataFrame,
    alpha: float,
    policy: ResourcePolicy,
) -> list[dict[str, Any]]:
    """Batch size and concurrency changes whose computed value differs from the one in force."""
    rows = []
    for use in resource_use(events, policy.min_samples):
        for setting in resource_settings(use, policy):
            current = current_setting(session, setting.target_id, setting.name, window, setting.default)
            if setting.value != current:
                rows.append(_setting_row(use, setting, current, level, window, alpha))
    return rows


# --------------------------------------------------------------------------- all configuration changes


def configuration_plans(
    session: Session,
    window: Window,
    level: str,
    events: pd.DataFrame | None,
    alpha: float,
    policy: ResourcePolicy | None = None,
) -> list[dict[str, Any]]:
    """Candidate configuration improvements of the window, shaped like planning's rows.

    Model and agent-tier switches come from the rollups at every level; batch
    size and concurrency only when ``events`` carries ``cpu_s`` and
    ``memory_mb``. Confidence threshold, dedupe and cap are the planner's.
    """
    rows = [
        _alternative_row(found, level, window, alpha)
        for found in better_alternatives(choice_counts(session, window), alpha)
    ]
    if events is not None and {"cpu_s", "memory_mb"} <= set(events.columns):
        rows += resource_rows(session, window, level, events, alpha, policy or ResourcePolicy())
    return rows
