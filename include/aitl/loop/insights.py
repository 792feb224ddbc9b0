"""Insight generation: which patterns matter, filed under the taxonomy.

A segment pattern becomes an insight when its concentration is significant
(one-sided Fisher p < alpha) and at least twice the rate of the rest of the
window. A window-wide pattern becomes one only for validation indicators (an
error type is the normal companion of a failure: only its concentration says
something) and only when no segment explains it.
Confidence is ``1 - p``: the evidence that the signal is really concentrated
there. Signals outside the taxonomy stay visible as patterns but raise no
insight, since no improvement template knows how to act on them.

Method: docs/statistics.md#insights.
"""

from __future__ import annotations

from typing import Any

from aitl.ids import stable_id
from aitl.window import Window

MIN_LIFT = 2.0
SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}


def severity(category: str, rate: float) -> str:
    if category == "security":
        return "critical" if rate >= 0.1 else "high"
    if rate >= 0.2:
        return "high"
    return "medium" if rate >= 0.05 else "low"


def describe_segment(segment: dict[str, Any]) -> str:
    if not segment:
        return "all executions"
    parts = [f"{k}={v}" for k, v in segment.items() if v not in ("", "unknown")]
    return ", ".join(parts) or "executions without context"


def _title(pattern: dict[str, Any]) -> str:
    lift = pattern["lift"]
    if not pattern["segment"]:
        versus = f", above the {pattern['baseline_rate']:.0%} platform-wide threshold"
    else:
        versus = f", {lift:.1f}x the rest" if lift else ", absent elsewhere"
    return (
        f"{pattern['signal']!r} in {pattern['rate']:.0%} of {describe_segment(pattern['segment'])}"
        f" ({pattern['count']}/{pattern['segment_n']}{versus})"
    )


def select_insights(patterns: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Pick the patterns worth an insight (rules in the module docstring)."""
    chosen: list[dict[str, Any]] = []
    explained: set[tuple[str, str]] = set()
    known = [p for p in patterns if p["category"] != "unclassified"]
    for pattern in known:
        if not pattern["segment"]:
            continue
        lift = pattern["lift"]
        if pattern["p_value"] < alpha and (lift is None or lift >= MIN_LIFT):
            chosen.append(pattern)
            explained.add((pattern["signal_kind"], pattern["signal"]))
    for pattern in known:
        key = (pattern["signal_kind"], pattern["signal"])
        if (
            not pattern["segment"]
            and pattern["signal_kind"] == "indicator"
            and key not in explained
            and pattern["p_value"] < alpha
        ):
            chosen.append(pattern)
    return chosen


def insight_rows(
    patterns: list[dict[str, Any]], level: str, window: Window, alpha: float
) -> list[dict[str, Any]]:
    rows = []
    for pattern in select_insights(patterns, alpha):
        segment = pattern["segment"]
        rows.append(
            {
                "id": stable_id(
                    level,
                    window.start.isoformat(),
                    pattern["category"],
                    pattern["subtype"],
                    pattern["signal"],
                    sorted(segment.items()),
                ),
                "level": level,
                "window_start": window.start,
                "window_end": window.end,
                "category": pattern["category"],
                "subtype": pattern["subtype"],
                "signal": pattern["signal"],
                "title": _title(pattern),
                "segment": segment,
                "evidence": {
                    "pattern_id": pattern["id"],
                    "signal_kind": pattern["signal_kind"],
                    "count": pattern["count"],
                    "segment_n": pattern["segment_n"],
                    "rate": pattern["rate"],
                    "baseline_rate": pattern["baseline_rate"],
                    "lift": pattern["lift"],
                    "test": "fisher_exact_greater" if segment else "binomial_greater",
                    "p_value": pattern["p_value"],
                },
                "severity": severity(pattern["category"], pattern["rate"]),
                "confidence": round(1.0 - pattern["p_value"], 6),
            }
        )
    return rows
