"""The daily cycle's findings beyond frequency: what its sequences, correlations, users, anomalies and
trends say, ready to be filed as insights (frequency findings: ``aitl.loop.insights``).

Each finding names its kind, its place in the taxonomy, the signal and segment
it concerns, a title a person can read, the evidence behind it, a severity and
a confidence. A finding is identified by what it is, not by the day, which is
what lets the same finding recur as one insight (``aitl.loop.filing``).
"""

from __future__ import annotations

from typing import Any

from aitl.mining import performance
from aitl.stats.multiple import q_values
from aitl.store.models import PerformanceTrend


def _finding(
    kind: str,
    category: str,
    subtype: str,
    signal: str,
    segment: dict[str, Any],
    title: str,
    evidence: dict[str, Any],
    severity_: str,
    confidence: float,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "category": category,
        "subtype": subtype,
        "signal": signal,
        "segment": segment,
        "title": title,
        "evidence": evidence,
        "severity": severity_,
        "confidence": round(confidence, 6),
    }


def pattern_findings(patterns: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Sequence rules that end in a failure, correlations, users, and the day's anomaly episodes."""
    found = []
    for p in patterns:
        if p["kind"] == "sequence" and p["signal_kind"] == "rule" and p["category"] != "unclassified":
            d = p["details"]
            title = (
                f"sessions that go {' -> '.join(d['antecedent'])} continue with "
                f"{' -> '.join(d['consequent'])} {d['confidence']:.0%} of the time (lift {d['lift']:.1f})"
            )
            found.append(
                _finding(
                    "sequence",
                    p["category"],
                    p["subtype"],
                    p["signal"],
                    {},
                    title,
                    d,
                    "medium" if d["lift"] >= 1.5 else "low",
                    d["confidence"],
                )
            )
        elif p["kind"] == "correlation" and p["q_value"] is not None and p["q_value"] < alpha:
            d = p["details"]
            title = (
                f"{d['left']} and {d['right']} move together across {p['signal_kind']} "
                f"(r={d['r']:+.2f}, n={d['n']}, q={p['q_value']:.2g})"
            )
            found.append(
                _finding(
                    "correlation",
                    p["category"],
                    p["subtype"],
                    p["signal"],
                    {"scope": p["signal_kind"]},
                    title,
                    {**d, "p_value": p["p_value"], "q_value": p["q_value"]},
                    "low",
                    1 - p["q_value"],
                )
            )
        elif p["kind"] == "user":
            found.append(user_finding(p))
        elif p["kind"] == "anomaly":
            found.append(anomaly_finding(p))
    return found


# An episode this far below the run's false discovery rate is "high": ten times the evidence needed.
STRONG_EVIDENCE = 10


def anomaly_finding(p: dict[str, Any]) -> dict[str, Any]:
    """An anomaly episode as a finding, its confidence one minus its q-value.

    The q-value is the episode's Benjamini-Hochberg adjusted p-value over
    every series the run scanned (``aitl.mining.performance.anomaly_episodes``),
    so 1 - q accounts for the number of series and hours tested, which
    ``1 - p`` of the peak score did not.
    """
    d = p["details"]
    segment = {k: v for k, v in p["segment"].items() if k != "hour"}
    where = ", ".join(f"{k}={v}" for k, v in segment.items()) or "the platform"
    start, end = d["start"][:13], d["end"][:13]
    when = f"at {start}h" if start == end else f"from {start}h to {end}h"
    title = (
        f"{p['signal']} of {where} anomalous {when}: peak {p['rate']:.3g} at {p['segment']['hour'][11:13]}h "
        f"against a usual {p['baseline_rate']:.3g} (score {d['score']:+.1f}, q={d['q_value']:.2g})"
    )
    evidence = {**d, "hour": p["segment"]["hour"], "value": p["rate"], "usual": p["baseline_rate"]}
    strong = d["q_value"] * STRONG_EVIDENCE <= 1 - d["sensitivity"]
    return _finding(
        "anomaly",
        p["category"],
        p["subtype"],
        p["signal"],
        segment,
        title,
        evidence,
        "high" if strong else "low",
        1 - d["q_value"],
    )


def incidents(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``found`` with anomaly findings whose episodes overlap in time merged into one incident each.

    A bad hour shows on every metric it touches (success, errors, quality,
    ratings), platform-wide and in every task type: one cause, reported as
    one finding that lists the series it touched, not one per series. An
    episode that overlaps no other stays as it is.
    """
    anomalies = sorted((f for f in found if f["kind"] == "anomaly"), key=lambda f: f["evidence"]["start"])
    groups: list[list[dict[str, Any]]] = []
    for finding in anomalies:
        if groups and finding["evidence"]["start"] <= max(f["evidence"]["end"] for f in groups[-1]):
            groups[-1].append(finding)
        else:
            groups.append([finding])
    merged = [group[0] if len(group) == 1 else _incident(group) for group in groups]
    return [f for f in found if f["kind"] != "anomaly"] + merged


def _incident(group: list[dict[str, Any]]) -> dict[str, Any]:
    peak = max(group, key=lambda f: (f["confidence"], abs(f["evidence"]["score"])))
    start = min(f["evidence"]["start"] for f in group)
    end = max(f["evidence"]["end"] for f in group)
    when = f"at {start[:13]}h" if start[:13] == end[:13] else f"from {start[:13]}h to {end[:13]}h"
    metrics = sorted({f["signal"] for f in group})
    places = {", ".join(f"{k}={v}" for k, v in f["segment"].items()) or "the platform" for f in group}
    title = (
        f"incident {when}: {len(group)} series anomalous ({', '.join(metrics)} of "
        f"{', '.join(sorted(places))}); strongest: {peak['title']}"
    )
    series = [
        {
            "metric": f["signal"],
            "segment": f["segment"],
            "start": f["evidence"]["start"],
            "end": f["evidence"]["end"],
            "score": f["evidence"]["score"],
            "q_value": f["evidence"]["q_value"],
        }
        for f in group
    ]
    return _finding(
        "anomaly",
        peak["category"],
        peak["subtype"],
        "incident",
        {},
        title,
        {"start": start, "end": end, "q_value": peak["evidence"]["q_value"], "series": series},
        "high" if any(f["severity"] == "high" for f in group) else peak["severity"],
        peak["confidence"],
    )


def trend_findings(trends: list[PerformanceTrend], alpha: float) -> list[dict[str, Any]]:
    """Declining trends that are discoveries over every series the day tested (Benjamini-Hochberg).

    The daily run tests a trend in every metric of every segment; at
    ``alpha`` each, a quiet week would show a few "declining" series a day.
    Confidence is ``1 - q``.
    """
    tested = [t for t in trends if t.p_value is not None]
    found = []
    for t, q in zip(tested, q_values([t.p_value for t in tested], alpha), strict=True):
        if t.direction != "declining" or q >= alpha:
            continue
        metric = performance.METRIC_BY_NAME[t.metric]
        where = ", ".join(f"{k}={v}" for k, v in t.segment.items()) or "the platform"
        title = f"{t.metric} of {where} declining: {t.slope_per_day:+.4g} per day (q={q:.2g}, {t.method})"
        evidence = {
            "slope_per_day": t.slope_per_day,
            "p_value": t.p_value,
            "q_value": q,
            "method": t.method,
            "n": t.n,
            "recommendation": t.recommendation,
        }
        found.append(
            _finding(
                "trend",
                *metric.taxonomy,
                t.metric,
                dict(t.segment),
                title,
                evidence,
                "high" if t.segment == {} else "medium",
                1 - q,
            )
        )
    return found


def user_finding(pattern: dict[str, Any]) -> dict[str, Any]:
    """A user the daily tests singled out: failing a task type, or rating ever lower."""
    user, n, q = pattern["segment"]["user_id"], pattern["count"], pattern["q_value"]
    if pattern["signal"] == "failing_task":
        task_type = pattern["segment"]["task_type"]
        title = (
            f"user {user} keeps failing {task_type} tasks: {pattern['rate']:.0%} of {n} "
            f"against {pattern['baseline_rate']:.0%} for everyone else"
        )
        evidence = {"n": n, "failure_rate": pattern["rate"], "others": pattern["baseline_rate"]}
    else:
        title = (
            f"user {user}'s satisfaction is trending down "
            f"({pattern['rate']:+.2f} per day from a mean of {pattern['baseline_rate']:.1f})"
        )
        evidence = {"ratings": n, "slope_per_day": pattern["rate"], "mean": pattern["baseline_rate"]}
    return _finding(
        "user",
        pattern["category"],
        pattern["subtype"],
        pattern["signal"],
        pattern["segment"],
        title,
        {**evidence, "p_value": pattern["p_value"], "q_value": q},
        "medium",
        1 - q,
    )
