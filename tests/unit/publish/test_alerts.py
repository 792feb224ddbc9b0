"""Alerts on findings and decisions: a real webhook on loopback, the real cycles, deduplication and caps."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aitl.config import Settings
from aitl.pipeline.runner import run_window
from aitl.publish import alerts
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction
from aitl.store.models import Alert, Insight, InsightObservation
from aitl.window import Window
from tests.conftest import fresh_store

DAY = Window(datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))


def simulated_day(tmp_path, platform, scenario: Scenario | None = None) -> tuple[Settings, list[dict]]:
    """A simulated day through the hourly cycle, then the daily one, alerting to ``platform``."""
    store = fresh_store("sqlite", tmp_path)
    landing = tmp_path / "landing"
    simulate(landing, DAY, rate=400, seed=19, store_url=store, scenario=scenario)
    settings = dataclasses.replace(
        Settings.from_env(store_url=store, sink_url=str(tmp_path / "published.jsonl")),
        landing_dir=landing,
        alert_webhook=platform.url + "/hooks/secret-path",
        view_url="https://airflow.example.com/aitl/",
    )
    for _ in run_window(DAY, settings):
        pass
    for _ in run_window(DAY, settings, level="daily"):
        pass
    return settings, [r["alert"] for r in platform.requests]


def test_a_day_with_planted_causes_alerts_once_per_root_cause(tmp_path, platform):
    settings, received = simulated_day(tmp_path, platform)
    findings = [a for a in received if a["kind"] in ("insight", "anomaly")]
    assert findings, "the planted security hotspot is a critical finding"
    # One alert per insight (a root cause), however many hours and days found it; again only if worse.
    by_insight = Counter(a["insight_id"] for a in findings)
    with transaction(connect(settings.store_url)) as session:
        for insight_id, count in by_insight.items():
            severities = session.scalars(select(Alert.severity).where(Alert.subject == insight_id)).all()
            assert count == len(severities) == len(set(severities)), insight_id
        assert session.scalar(select(Alert.id).where(Alert.delivered_at.is_(None))) is None
    for alert in received:
        assert alert["link"].startswith("https://airflow.example.com/aitl/?start=2026-11-")
        assert alert["severity"] in ("high", "critical")
    assert all("open in AITL" in r["text"] for r in platform.requests)
    assert {r["path"] for r in platform.requests} == {"/hooks/secret-path"}

    # Running the day again finds the same causes: nothing new is sent.
    before = len(platform.requests)
    for _ in run_window(DAY, settings):
        pass
    assert len(platform.requests) == before


def test_a_clean_day_alerts_on_nothing(tmp_path, platform):
    _, received = simulated_day(tmp_path, platform, Scenario.named("null"))
    assert [a for a in received if a["kind"] in ("insight", "anomaly")] == []


def observe(session, insight_id: str, severity: str, hour: datetime) -> None:
    """An insight of ``severity`` observed by the hourly run of ``hour``."""
    if session.get(Insight, insight_id) is None:
        session.add(
            Insight(
                id=insight_id,
                level="hourly",
                window_start=hour,
                window_end=hour + timedelta(hours=1),
                category="security",
                subtype="input_validation",
                signal="sql injection",
                title=f"sql injection in {insight_id}",
                segment={},
                evidence={"finding": "frequency"},
                severity=severity,
                confidence=0.99,
                first_seen=hour,
            )
        )
    session.add(
        InsightObservation(
            insight_id=insight_id,
            level="hourly",
            window_start=hour,
            title="t",
            evidence={"finding": "frequency"},
            severity=severity,
            confidence=0.99,
        )
    )
    session.flush()


def test_an_insight_alerts_again_only_when_its_severity_rises_and_kinds_are_capped(tmp_path, monkeypatch):
    settings = Settings(store_url=fresh_store("sqlite", tmp_path), landing_dir=None)
    hours = [DAY.start + timedelta(hours=h) for h in range(4)]
    with transaction(connect(settings.store_url)) as session:
        found = []
        for hour, severity in zip(hours, ["high", "high", "critical", "high"], strict=True):
            observe(session, "insight-1", severity, hour)
            found.append(
                alerts.record(session, settings, "hourly", Window(hour, hour + timedelta(hours=1)), hour)
            )
        assert [f["new"] for f in found] == [1, 0, 1, 0]
        monkeypatch.setattr(alerts, "CAP_PER_KIND_PER_DAY", 3)
        hour = hours[-1] + timedelta(hours=1)
        for n in range(4):
            observe(session, f"other-{n}", "critical", hour)
        capped = alerts.record(session, settings, "hourly", Window.hour_of(hour), hour)
        assert capped == {"new": 1, "capped": 3}  # 2 of the 3 a day already went to insight-1


@pytest.mark.parametrize("status", [503, 302])
def test_an_alert_the_webhook_did_not_take_is_sent_by_the_next_run(tmp_path, platform, status):
    store = fresh_store("sqlite", tmp_path)
    settings = Settings(store_url=store, landing_dir=None, alert_webhook=platform.url)
    hour = DAY.start
    window = Window.hour_of(hour)
    with transaction(connect(store)) as session:
        observe(session, "insight-1", "critical", hour)
    platform.fail_next(1, status)
    first = alerts.notify(connect(store), settings, "hourly", window, hour)
    assert (first["new"], first["delivered"], first["undelivered"]) == (1, 0, 1)
    second = alerts.notify(connect(store), settings, "hourly", window, hour)
    assert (second["new"], second["delivered"], second["undelivered"]) == (0, 1, 0)
    assert [r["status"] for r in platform.requests] == [status, 200]


def test_without_a_webhook_nothing_is_recorded(tmp_path):
    store = fresh_store("sqlite", tmp_path)
    with transaction(connect(store)) as session:
        observe(session, "insight-1", "critical", DAY.start)
    settings = Settings(store_url=store, landing_dir=None)
    assert alerts.notify(
        connect(store), settings, "hourly", Window(DAY.start, DAY.start + timedelta(hours=1)), DAY.start
    ) == {"webhook": False}
    with transaction(connect(store)) as session:
        assert session.scalars(select(Alert)).all() == []
