"""The dashboard's insights: observed in the window, grouped by root cause, each with why it is there.

Read-only, bounded by the window like the rest of the view model
(``aitl.ui.dashboard``): an insight is shown when a run in the window
observed it, with how many hourly and daily runs did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.loop.insights import SEVERITY_WEIGHT, describe_segment
from aitl.store.models import Insight, InsightObservation
from aitl.window import Window


def _weight(severity: str) -> int:
    return SEVERITY_WEIGHT.get(severity, 0)


def top_insights(session: Session, window: Window, top: int) -> list[dict[str, Any]]:
    """The insights observed in the window, grouped by root cause, most severe and largest first.

    Findings at one segment (a security hotspot and the validation errors
    its warnings cause, say) are one group: one cause, several signals.
    Each insight carries its q-value, the line that says why it is here, its
    sub-segments, and how often hourly and daily runs saw it in the window.
    An hourly finding the day's cycle placed at another segment is counted
    under the insight that superseded it (``aitl.loop.filing.supersede``).
    """
    seen: dict[str, dict[str, int]] = {}
    in_window = select(InsightObservation.insight_id, InsightObservation.level, func.count()).where(
        InsightObservation.window_start >= window.start, InsightObservation.window_start < window.end
    )
    for insight_id, level, n in session.execute(
        in_window.group_by(InsightObservation.insight_id, InsightObservation.level)
    ):
        seen.setdefault(insight_id, {})[level] = n
    seen = _placed(session, seen)
    rows = session.scalars(select(Insight).where(Insight.id.in_(list(seen)))).all() if seen else []
    groups: dict[str, list[dict[str, Any]]] = {}
    for insight in rows:
        item = _insight_item(insight, seen[insight.id])
        key = item["cause"] if item["kind"] == "frequency" else insight.id
        groups.setdefault(key, []).append(item)
    ranked = sorted(
        groups.values(),
        key=lambda g: (
            -max(SEVERITY_WEIGHT.get(i["severity"], 0) for i in g),
            -sum(i["excess"] for i in g),
            g[0]["title"],
        ),
    )[:top]
    return [
        {
            "cause": group[0]["cause"],
            "severity": max((i["severity"] for i in group), key=lambda v: SEVERITY_WEIGHT.get(v, 0)),
            "insights": sorted(
                group, key=lambda i: (-SEVERITY_WEIGHT.get(i["severity"], 0), -i["excess"], i["title"])
            ),
        }
        for group in ranked
    ]


def _placed(session: Session, seen: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """``seen`` with each superseded insight's counts added to the insight that superseded it."""
    superseded = dict(
        session.execute(
            select(Insight.id, Insight.superseded_by).where(
                Insight.id.in_(list(seen)), Insight.superseded_by.is_not(None)
            )
        ).all()
    )
    placed: dict[str, dict[str, int]] = {}
    for insight_id, counts in seen.items():
        into = placed.setdefault(superseded.get(insight_id, insight_id), {})
        for level, n in counts.items():
            into[level] = into.get(level, 0) + n
    return placed


def _insight_item(insight: Insight, seen: dict[str, int]) -> dict[str, Any]:
    evidence = insight.evidence or {}
    kind = evidence.get("finding", "frequency")
    return {
        "id": insight.id,
        "kind": kind,
        "severity": insight.severity,
        "title": insight.title,
        "category": insight.category,
        "subtype": insight.subtype,
        "cause": describe_segment(insight.segment or {}) if kind == "frequency" else insight.title,
        "q_value": evidence.get("q_value"),
        "confidence": insight.confidence,
        "why": why(kind, evidence),
        "excess": float(evidence.get("excess") or 0.0),
        "sub_segments": evidence.get("sub_segments", []),
        "sub_segment_count": evidence.get("sub_segment_count", len(evidence.get("sub_segments", []))),
        "seen": seen,
    }


def why(kind: str, evidence: dict[str, Any]) -> str:
    """One line a person can check: the test, the effect and the volume behind a finding."""
    e = evidence
    if kind == "frequency" and "segment_n" in e:
        lift = f"{e['lift']:.1f}x the rest" if e.get("lift") else "absent elsewhere"
        return (
            f"{e.get('test', 'test')}: {e['rate']:.1%} of {e['segment_n']:,} executions against "
            f"{e['baseline_rate']:.1%} ({lift}); {e.get('excess', 0):,.0f} executions above the rest's rate"
        )
    if kind == "correlation":
        return f"Pearson r = {e['r']:+.2f} over {e['n']:,} {e.get('scope', 'points')}"
    if kind == "user" and "failure_rate" in e:
        return f"binomial test: {e['failure_rate']:.0%} of {e['n']:,} failed, {e['others']:.0%} of others"
    if kind == "user":
        return f"Mann-Kendall: {e['slope_per_day']:+.2f} a day over {e['ratings']:,} ratings"
    if kind == "anomaly" and "series" in e:
        return f"{len(e['series'])} series anomalous together from {e['start'][:13]}h to {e['end'][:13]}h"
    if kind == "anomaly":
        start, end = e.get("start", "")[:13], e.get("end", "")[:13]
        return f"episode {start}h to {end}h, peak score {e.get('score', 0):+.1f}"
    if kind == "trend":
        return (
            f"{e['method']}: {e['slope_per_day']:+.4g} a day over {e['n']:,} points, p = {e['p_value']:.2g}"
        )
    if kind == "sequence":
        return f"rule: confidence {e['confidence']:.0%}, lift {e['lift']:.1f}, {e['support']:.1%} of sessions"
    return ""
