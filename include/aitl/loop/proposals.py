"""The one shape of a planned improvement, and the one scale its priority is ranked on.

Insight-based changes (``aitl.loop.planning``), model and tier switches
(``aitl.loop.choices``) and workflow settings (``aitl.loop.tuning``) all make
their rows here, so every improvement ranks against every other.
"""

from __future__ import annotations

from typing import Any

from aitl.ids import stable_id
from aitl.loop.insights import SEVERITY_WEIGHT
from aitl.window import Window


def priority_of(severity: str, confidence: float, rate: float) -> tuple[str, float]:
    """Label and score shared by every improvement, so all kinds rank on one scale."""
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
