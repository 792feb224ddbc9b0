"""The daily cycle's findings: what its patterns, trends and users say, ready to be filed as insights.

Each finding names its kind, its place in the taxonomy, the signal and segment
it concerns, a title a person can read, the evidence behind it, a severity and
a confidence. A finding is identified by what it is, not by the day, which is
what lets the same finding recur as one insight (``aitl.pipeline.daily``).
"""

from __future__ import annotations

from typing import Any

from scipy.stats import norm
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.loop.insights import insight_rows
from aitl.mining import performance, users
from aitl.stats import timeseries
from aitl.store import reads
from aitl.store.models import PerformanceTrend
from aitl.window import Window

DAILY = "daily"


def finding_id(finding: dict[str, Any]) -> str:
    """Daily findings are identified by what they are, not by the day: that is what lets them recur."""
    return stable_id(
        DAILY,
        finding["kind"],
        finding["category"],
        finding["subtype"],
        finding["signal"],
        sorted(finding["segment"].items()),
    )


def frequency_findings(patterns: list[dict[str, Any]], day: Window, alpha: float) -> list[dict[str, Any]]:
    """Significant concentrations, chosen by the same rules as in the hourly cycle."""
    frequency = [p for p in patterns if p["kind"] == "frequency"]
    return [{"kind": "frequency", **row} for row in insight_rows(frequency, DAILY, day, alpha)]


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
    """Sequence rules that end in a failure, correlations, and the day's anomalies."""
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
        elif p["kind"] == "correlation" and p["p_value"] < alpha:
            d = p["details"]
            title = (
                f"{d['left']} and {d['right']} move together across {p['signal_kind']} "
                f"(r={d['r']:+.2f}, n={d['n']})"
            )
            found.append(
                _finding(
                    "correlation",
                    p["category"],
                    p["subtype"],
                    p["signal"],
                    {"scope": p["signal_kind"]},
                    title,
                    {**d, "p_value": p["p_value"]},
                    "low",
                    1 - p["p_value"],
                )
            )
        elif p["kind"] == "anomaly":
            segment = {k: v for k, v in p["segment"].items() if k != "hour"}
            where = ", ".join(f"{k}={v}" for k, v in segment.items()) or "the platform"
            title = (
                f"{p['signal']} of {where} anomalous at {p['segment']['hour'][:13]}h: "
                f"{p['rate']:.3g} against a usual {p['baseline_rate']:.3g} "
                f"(score {p['details']['score']:+.1f})"
            )
            evidence = {
                **p["details"],
                "hour": p["segment"]["hour"],
                "value": p["rate"],
                "usual": p["baseline_rate"],
            }
            score = abs(p["details"]["score"])
            strong = score >= 2 * timeseries.threshold(p["details"]["sensitivity"])
            found.append(
                _finding(
                    "anomaly",
                    p["category"],
                    p["subtype"],
                    p["signal"],
                    segment,
                    title,
                    evidence,
                    "high" if strong else "low",
                    1 - 2 * float(norm.sf(score)),  # how unlikely so large a score is by chance
                )
            )
    return found


def trend_findings(trends: list[PerformanceTrend]) -> list[dict[str, Any]]:
    found = []
    for t in trends:
        if t.direction != "declining":
            continue
        metric = performance.METRIC_BY_NAME[t.metric]
        where = ", ".join(f"{k}={v}" for k, v in t.segment.items()) or "the platform"
        title = (
            f"{t.metric} of {where} declining: {t.slope_per_day:+.4g} per day (p={t.p_value:.2g}, {t.method})"
        )
        evidence = {
            "slope_per_day": t.slope_per_day,
            "p_value": t.p_value,
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
                1 - (t.p_value or 1.0),
            )
        )
    return found


def user_findings(session: Session, window: Window, alpha: float) -> list[dict[str, Any]]:
    found = []
    for u in users.failing_users(reads.window_users(session, window), alpha):
        title = (
            f"user {u.user_id} keeps failing {u.task_type} tasks: {u.rate:.0%} of {u.n} "
            f"against {u.baseline:.0%} for everyone else"
        )
        found.append(
            _finding(
                "user",
                "prompt_optimization",
                "clarity",
                "failing_task",
                {"user_id": u.user_id, "task_type": u.task_type},
                title,
                {"n": u.n, "failure_rate": u.rate, "others": u.baseline, "p_adjusted": u.p_value},
                "medium",
                1 - u.p_value,
            )
        )
    for u in users.declining_satisfaction(reads.window_users(session, window, by_hour=True), alpha):
        title = (
            f"user {u.user_id}'s satisfaction is trending down "
            f"({u.rate:+.2f} per day from a mean of {u.baseline:.1f})"
        )
        found.append(
            _finding(
                "user",
                "prompt_optimization",
                "clarity",
                "declining_satisfaction",
                {"user_id": u.user_id},
                title,
                {"ratings": u.n, "slope_per_day": u.rate, "mean": u.baseline, "p_adjusted": u.p_value},
                "medium",
                1 - u.p_value,
            )
        )
    return found
