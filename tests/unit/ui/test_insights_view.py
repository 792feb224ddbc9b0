"""The dashboard's insights: grouped by root cause, with q-values, why they are there, and their parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aitl.loop.filing import file_findings
from aitl.store import connect, transaction
from aitl.ui.dashboard import dashboard
from aitl.ui.insights import top_insights
from aitl.ui.page import render_html
from aitl.window import Window

DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
HOT = {"prompt_id": "api_endpoint-gen", "task_type": "api_endpoint", "language": "python"}


def frequency(signal: str, rate: float, q: float, excess: float, severity: str) -> dict:
    part = {"segment": {**HOT, "complexity_band": "high"}, "count": 40, "segment_n": 160, "rate": 0.25}
    return {
        "kind": "frequency",
        "category": "security",
        "subtype": "input_validation",
        "signal": signal,
        "segment": HOT,
        "title": f"{signal!r} in {rate:.0%} of api_endpoint",
        "evidence": {
            "test": "rate_ratio_above_2",
            "rate": rate,
            "segment_n": 4_000,
            "baseline_rate": 0.003,
            "lift": rate / 0.003,
            "excess": excess,
            "q_value": q,
            "sub_segments": [part],
        },
        "severity": severity,
        "confidence": 1 - q,
    }


def correlation() -> dict:
    return {
        "kind": "correlation",
        "category": "quality",
        "subtype": "code_structure",
        "signal": "mean_quality ~ cost_per_event",
        "segment": {"scope": "segments"},
        "title": "mean_quality and cost_per_event move together across segments",
        "evidence": {"r": 0.62, "n": 178, "scope": "segments", "q_value": 1e-6},
        "severity": "low",
        "confidence": 1 - 1e-6,
    }


def test_findings_at_one_segment_are_one_root_cause_seen_by_both_cycles(sqlite_url):
    security = frequency("sql injection", 0.25, 1e-40, 990.0, "critical")
    consequence = frequency("validation_error", 0.06, 1e-9, 230.0, "medium")
    with transaction(connect(sqlite_url)) as session:
        for hour in (13, 14):
            at = DAY.start + timedelta(hours=hour)
            file_findings(session, "hourly", Window(at, at + timedelta(hours=1)), [security])
        file_findings(session, "daily", DAY, [security, consequence, correlation()])
    with transaction(connect(sqlite_url)) as session:
        groups = top_insights(session, DAY, top=10)
        model = dashboard(session, DAY)
    cause, other = groups
    assert cause["cause"] == "prompt_id=api_endpoint-gen, task_type=api_endpoint, language=python"
    assert cause["severity"] == "critical" and [i["title"][:16] for i in cause["insights"]] == [
        "'sql injection' ",
        "'validation_erro",
    ]
    hotspot = cause["insights"][0]
    assert hotspot["seen"] == {"daily": 1, "hourly": 2} and hotspot["q_value"] == 1e-40
    assert hotspot["why"].startswith("rate_ratio_above_2: 25.0% of 4,000 executions against 0.3%")
    assert "990 executions above the rest's rate" in hotspot["why"]
    assert other["insights"][0]["why"] == "Pearson r = +0.62 over 178 segments"
    page = render_html(model)
    assert "root cause: prompt_id=api_endpoint-gen" in page
    assert "1 sub-segments share this cause" in page and "complexity_band=high" in page
    assert "why: rate_ratio_above_2" in page


def test_an_insight_outside_the_window_is_not_shown(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "daily", DAY, [correlation()])
        assert top_insights(session, Window(DAY.end, DAY.end + timedelta(days=1)), top=10) == []
