"""Contract-shaped test events."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

_ids = itertools.count()


def event(ts: datetime | str, **fields: Any) -> dict[str, Any]:
    """A valid feedback event at ``ts``; keyword arguments override any field."""
    n = next(_ids)
    base: dict[str, Any] = {
        "event_id": f"ev-{n}",
        "execution_id": f"ex-{n}",
        "session_id": f"s-{n // 3}",
        "user_id": f"u-{n % 17}",
        "timestamp": ts if isinstance(ts, str) else ts.isoformat().replace("+00:00", "Z"),
        "agent_tier": "T1",
        "task_type": "api_endpoint",
        "language": "python",
        "model": "atlas-large",
        "prompt_id": "api_endpoint-gen",
        "prompt_version": 1,
        "complexity": 0.3,
        "size": 120,
        "success": True,
        "duration_s": 12.5,
        "quality_score": 0.8,
        "syntax_errors": 0,
        "style_issues": [],
        "security_warnings": [],
        "errors": [],
        "tokens_in": 900,
        "tokens_out": 400,
        "cost_usd": 0.01,
    }
    base.update(fields)
    return base


def improvement(at: datetime, **fields: Any):
    """A prompt refinement of prompt "p" planned for the hour ending at ``at``; fields override."""
    from datetime import timedelta

    from aitl.store.models import Improvement

    text = "Always parameterize queries."
    base: dict[str, Any] = {
        "id": "imp-1",
        "level": "hourly",
        "insight_id": "i",
        "window_start": at - timedelta(hours=1),
        "window_end": at,
        "type": "prompt_refinement",
        "target_kind": "prompt",
        "target_id": "p",
        "dedupe_key": "k",
        "modification": text,
        "change": {"append": text},
        "expected_effect": "",
        "priority": "high",
        "priority_score": 3.0,
        "confidence": 0.99,
        "status": "planned",
        "status_reason": "from insight",
        "updated_at": at,
    }
    return Improvement(**(base | fields))


def experiment(started_at: datetime, **fields: Any):
    """A running A/B test "exp-1" of prompt "p", v1 against v2, started at ``started_at``; fields override."""
    from aitl.store.models import Experiment

    base: dict[str, Any] = {
        "id": "exp-1",
        "improvement_id": "imp-1",
        "prompt_id": "p",
        "control_version": 1,
        "variant_version": 2,
        "assignment_unit": "execution_id",
        "traffic_split": 0.5,
        "primary_metric": "success_rate",
        "guardrail_metrics": ["success_rate", "error_rate", "quality_score", "log_duration"],
        "planned_n_per_arm": 100,
        "status": "running",
        "started_at": started_at,
        "ended_at": None,
    }
    return Experiment(**(base | fields))
