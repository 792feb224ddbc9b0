"""Workflow settings: the batch size and concurrency limit each task type's resource use calls for.

Planning turns *insights* (a failure concentrated in a segment) into changes.
The seed's other improvement types have no insight behind them: they come from
comparing alternatives that already run side by side in the window
(``aitl.loop.choices``) and from the resources the window's executions used,
here. Each row carries its own evidence in its ``modification`` and the new
setting in its machine-readable ``change``.

``workflow_optimization`` of batch size (the seed's IntelligentBatchSizer)
and of the concurrency limit per task type come from the p95 memory and CPU
footprint of the window's executions. Raw resource readings are not in the
rollups, so these need an events frame with ``cpu_s`` and ``memory_mb`` (the
hourly cycle); they are proposed only when they differ from the setting's
current value in the registry (``config_versions``) or, before any, from the
documented default of ``ResourcePolicy``.

Airflow-free like the rest of ``aitl``: the DAGs call it through the planner.

Method: docs/statistics.md#workflow-settings
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
from aitl.loop.choices import CostRule, choice_rows
from aitl.loop.proposals import config_key, improvement_row, priority_of
from aitl.store.models import ConfigVersion
from aitl.window import Window

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
    rule: CostRule | None = None,
) -> list[dict[str, Any]]:
    """Candidate configuration improvements of the window, shaped like planning's rows.

    Model and agent-tier switches (``aitl.loop.choices``, weighing price by
    ``rule``) come from the rollups at every level; batch
    size and concurrency only when ``events`` carries ``cpu_s`` and
    ``memory_mb``. Confidence threshold, dedupe and cap are the planner's.
    """
    rows = choice_rows(session, window, level, alpha, rule)
    if events is not None and {"cpu_s", "memory_mb"} <= set(events.columns):
        rows += resource_rows(session, window, level, events, alpha, policy or ResourcePolicy())
    return rows
