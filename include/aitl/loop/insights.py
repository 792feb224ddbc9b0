"""Insight generation: which patterns matter, filed under the taxonomy.

A segment pattern becomes an insight when it is a root cause
(``aitl.mining.root_cause``): its concentration, a rate more than twice the
rest of the window's, is a discovery of the run (q < alpha over every test of
the run), and no part of it stands out on its own. So one planted
cause gives one insight, at its segment, listing the sub-segments that share
it. A window-wide pattern becomes one only for validation indicators (an
error type is the normal companion of a failure: only its concentration says
something) and only when its root causes do not explain it: outside them it
is still significantly above the platform-wide threshold.

Confidence is ``1 - q``: one minus the smallest false discovery rate at which
the finding would still be reported. It accounts for every test the run made,
so it does not grow with the number of segments searched. Insights are ranked
by their excess events (hits above what the rest's rate predicts: effect size
times volume). Signals outside the taxonomy stay visible as patterns but raise
no insight, since no improvement template knows how to act on them.

Method: docs/statistics.md#insights.
"""

from __future__ import annotations

from typing import Any

from scipy.stats import binomtest

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


def _details(pattern: dict[str, Any]) -> dict[str, Any]:
    return pattern.get("details") or {}


def _q(pattern: dict[str, Any]) -> float | None:
    """The q-value of the discovery behind a pattern: a root cause's (``cause_q``), else its own."""
    return _details(pattern).get("cause_q", pattern["q_value"])


def _discovered(pattern: dict[str, Any], alpha: float) -> bool:
    q = _q(pattern)
    return q is not None and q < alpha


def excess(pattern: dict[str, Any]) -> float:
    """Hits above what the rest's rate predicts for the segment: effect size times volume."""
    return pattern["count"] - pattern["baseline_rate"] * pattern["segment_n"]


def _explained(window_wide: dict[str, Any], causes: list[dict[str, Any]], alpha: float) -> bool:
    """Whether, outside its root causes, a signal is no longer significantly above the threshold."""
    hits = window_wide["count"] - sum(c["count"] for c in causes)
    events = window_wide["segment_n"] - sum(c["segment_n"] for c in causes)
    if not causes or events <= 0 or hits <= 0:
        return bool(causes)
    rest = binomtest(hits, events, window_wide["baseline_rate"], alternative="greater")
    return bool(rest.pvalue >= alpha)


def select_insights(patterns: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Pick the patterns worth an insight (rules in the module docstring), largest excess first."""
    known = [p for p in patterns if p["kind"] == "frequency" and p["category"] != "unclassified"]
    chosen = [p for p in known if p["segment"] and _details(p).get("cause") and _discovered(p, alpha)]
    for pattern in known:
        if (
            not pattern["segment"]
            and pattern["signal_kind"] == "indicator"
            and _discovered(pattern, alpha)
            and not _explained(pattern, [c for c in chosen if c["signal"] == pattern["signal"]], alpha)
        ):
            chosen.append(pattern)
    return sorted(chosen, key=lambda p: (-excess(p), p["id"]))


def frequency_findings(patterns: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """The window's frequency patterns worth an insight, as findings to file (``aitl.loop.filing``)."""
    found = []
    for pattern in select_insights(patterns, alpha):
        segment = pattern["segment"]
        details = _details(pattern)
        found.append(
            {
                "kind": "frequency",
                "category": pattern["category"],
                "subtype": pattern["subtype"],
                "signal": pattern["signal"],
                "segment": segment,
                "title": _title(pattern),
                "evidence": {
                    "pattern_id": pattern["id"],
                    "signal_kind": pattern["signal_kind"],
                    "count": pattern["count"],
                    "segment_n": pattern["segment_n"],
                    "rate": pattern["rate"],
                    "baseline_rate": pattern["baseline_rate"],
                    "lift": pattern["lift"],
                    "excess": round(excess(pattern), 3),
                    "test": details.get("test") if segment else "binomial_greater",
                    "p_value": pattern["p_value"],
                    "q_value": _q(pattern),
                    "sub_segments": details.get("sub_segments", []),
                    "sub_segment_count": details.get(
                        "sub_segment_count", len(details.get("sub_segments", []))
                    ),
                },
                "severity": severity(pattern["category"], pattern["rate"]),
                "confidence": round(1.0 - _q(pattern), 6),
            }
        )
    return found
