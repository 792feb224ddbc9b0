"""Retention: old raw events and quarantine rows go, everything derived stays, and reruns know it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aitl.config import ConfigError, Settings, Thresholds
from aitl.pipeline.runner import run_cycle, run_stage, run_window
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction
from aitl.store.intake import Event, PrunedHour, Quarantine
from aitl.store.models import HourlyRollup, HourlySignal
from aitl.store.retention import cutoff
from aitl.window import HOUR, Window

START = datetime(2026, 11, 10, tzinfo=UTC)
HOURS = Window(START, START + timedelta(days=2))
DAY2 = Window(START + timedelta(days=1), START + timedelta(days=2))  # a daily run's day
DAY = Window(START + timedelta(days=2), START + timedelta(days=3))


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def two_days(store_url, tmp_path) -> Settings:
    """Two summarised days with broken records, then the third day's hours still unsummarised."""
    settings = Settings(
        store_url=store_url,
        landing_dir=tmp_path / "landing",
        thresholds=Thresholds.resolve(overrides={"retention_days": 1}),
    )
    simulate(
        settings.landing_dir, Window(START, DAY.end), rate=40, seed=5, scenario=Scenario(malformed_rate=0.02)
    )
    for _ in run_window(HOURS, settings, ("collect", "normalize")):
        pass
    for _ in run_window(DAY, settings, ("collect",)):  # stored, never summarised
        pass
    return settings


def test_the_daily_run_prunes_summarised_hours_past_retention_and_keeps_what_is_derived(two_days):
    """With retention_days 1, the run of day 2 prunes the hours of day 1 and keeps day 2's."""
    settings = two_days
    first_day = Window(START, START + timedelta(days=1))
    with transaction(connect(settings.store_url)) as session:
        events = count(session, Event, Event.ts < first_day.end)
        rollups = count(session, HourlyRollup)
        signals = count(session, HourlySignal)
        quarantined = count(session, Quarantine, Quarantine.window_start < first_day.end)
        kept = count(session, Event, Event.ts >= first_day.end)
    assert events and quarantined and kept
    result = run_stage("prune", DAY2, settings, "daily")
    assert result.stop is None
    assert result.summary["hours"] == 24 and result.summary["events"] == events
    assert result.summary["quarantined"] == quarantined
    assert result.summary["before"] == first_day.end.isoformat()
    with transaction(connect(settings.store_url)) as session:
        assert count(session, Event, Event.ts < first_day.end) == 0
        assert count(session, Quarantine, Quarantine.window_start < first_day.end) == 0
        assert count(session, Event, Event.ts >= first_day.end) == kept
        assert count(session, HourlyRollup) == rollups and count(session, HourlySignal) == signals
        assert sorted(session.scalars(select(PrunedHour.hour))) == list(first_day.hours())
    # Pruning again finds nothing more; the analysis of the day still reads every summary.
    assert run_stage("prune", DAY2, settings, "daily").stop == "nothing past retention"
    assert run_cycle(DAY2, settings, level="daily")["collect"].stop is None


def test_a_rerun_of_a_pruned_hour_says_so_and_keeps_its_rollups(two_days):
    settings = two_days
    run_stage("prune", DAY2, settings, "daily")
    hour = Window(START + timedelta(hours=5), START + timedelta(hours=6))
    with transaction(connect(settings.store_url)) as session:
        before = count(session, HourlyRollup, HourlyRollup.hour == hour.start)
    assert before
    collected = run_stage("collect", hour, settings)
    assert (
        collected.stop.startswith("pruned by retention") and "rollups and findings are kept" in collected.stop
    )
    assert run_stage("normalize", hour, settings).stop == "pruned by retention"
    with transaction(connect(settings.store_url)) as session:
        assert count(session, HourlyRollup, HourlyRollup.hour == hour.start) == before
        assert count(session, Event, Event.ts >= hour.start, Event.ts < hour.end) == 0


def test_hours_not_summarised_or_still_open_are_never_pruned(two_days):
    """Day 3's hours were never normalized; and the cutoff never reaches into the allowed lateness."""
    settings = two_days
    far = Window(DAY.start + timedelta(days=30), DAY.end + timedelta(days=30))
    result = run_stage("prune", far, settings, "daily")
    with transaction(connect(settings.store_url)) as session:
        assert count(session, Event, Event.ts >= DAY.start) > 0  # never summarised: kept
        assert count(session, Event, Event.ts < DAY.start) == 0
    assert result.summary["hours"] == 48
    lateness = settings.thresholds.allowed_lateness
    now = DAY.end + HOUR
    assert cutoff(far, 1, lateness, now) == now - lateness - HOUR


def test_retention_days_must_be_positive():
    with pytest.raises(ConfigError, match="retention_days"):
        Thresholds.resolve(overrides={"retention_days": 0})
