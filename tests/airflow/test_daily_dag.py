"""The daily cycle on a simulated week: planted ground truth found, point-in-time, idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from sqlalchemy import select

from aitl.config import Settings
from aitl.pipeline.runner import run_cycle, run_stage, run_window
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, reads, transaction
from aitl.store.models import Insight, InsightObservation, Pattern, PerformanceTrend, PipelineRun, Tracking
from aitl.window import Window
from tests.airflow.test_hourly_dag import snapshot

WEEK_START = datetime(2026, 11, 12, tzinfo=UTC)
ANOMALY = datetime(2026, 11, 18, 14, tzinfo=UTC)
DAY_18 = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
DAY_19 = Window(datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
RATE = 250


def summarise_hours(settings: Settings, start: datetime, end: datetime) -> None:
    """What the hourly DAG leaves behind for the daily one: events and hourly summaries."""
    for _ in run_window(Window(start, end), settings, ("collect", "normalize")):
        pass


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Eight simulated days (Nov 12-19) summarised hour by hour into a SQLite store."""
    from tests.conftest import fresh_store

    root = tmp_path_factory.mktemp("week")
    url = fresh_store("sqlite", root)
    landing = root / "landing"
    simulate(landing, Window(WEEK_START, DAY_19.end), rate=RATE, seed=3, store_url=url, scenario=Scenario())
    settings = Settings(store_url=url, landing_dir=landing)
    summarise_hours(settings, WEEK_START, DAY_19.end)
    return settings


def day_patterns(url: str, day: Window, kind: str) -> list[Pattern]:
    with transaction(connect(url)) as session:
        return session.scalars(
            select(Pattern).where(
                Pattern.level == "daily", Pattern.window_start == day.start, Pattern.kind == kind
            )
        ).all()


@pytest.fixture(scope="module")
def day18(week):
    results = run_cycle(DAY_18, week, level="daily")
    return week, results


def test_every_stage_does_its_work(day18):
    settings, results = day18
    assert list(results)[:5] == [
        "collect",
        "normalize",
        "extract_patterns",
        "analyze_performance",
        "generate_insights",
    ]
    assert results["collect"].summary["hours_with_events"] == 7 * 24
    assert results["extract_patterns"].summary["by_kind"].keys() >= {"frequency", "anomaly"}
    with transaction(connect(settings.store_url)) as session:
        tracking = session.scalars(select(Tracking).where(Tracking.day == DAY_18.start)).all()
        trends = session.scalars(select(PerformanceTrend).where(PerformanceTrend.day == DAY_18.start)).all()
    by_dimension = {t.dimension for t in tracking}
    assert by_dimension == {"tier_task", "language"}
    tier_task = next(t for t in tracking if t.key == "T2|api_endpoint")
    assert 0 < tier_task.success_rate < 1 and tier_task.attempts > 50
    assert sum(tier_task.error_types.values()) > 0
    platform = {t.metric: t for t in trends if t.segment_key == "all"}
    assert set(platform) == {
        "success_rate",
        "mean_quality",
        "p95_duration_s",
        "error_rate",
        "security_rate",
        "satisfaction",
    }
    assert len(platform["success_rate"].forecast) == 24
    assert all(f["lower"] <= f["mean"] <= f["upper"] for f in platform["success_rate"].forecast)


def root_causes(url: str, day: Window, signal: str) -> list[Pattern]:
    """The day's discoveries (q < 0.05) of ``signal`` that are root causes: what becomes an insight."""
    return [
        p
        for p in day_patterns(url, day, "frequency")
        if p.signal == signal and p.segment and p.q_value < 0.05 and p.details["cause"]
    ]


def test_planted_security_pattern_is_one_root_cause_at_its_segment(day18):
    settings, _ = day18
    found = root_causes(settings.store_url, DAY_18, "sql injection")
    assert [p.segment for p in found] == [
        {"prompt_id": "api_endpoint-gen", "task_type": "api_endpoint", "language": "python"}
    ]
    assert found[0].rate > 0.15 and found[0].q_value < 1e-6
    parts = found[0].details["sub_segments"]
    assert {p["segment"]["complexity_band"] for p in parts} == {"low", "medium", "high"}


def test_planted_timeouts_are_one_root_cause_in_complex_tasks(day18):
    settings, _ = day18
    assert [p.segment for p in root_causes(settings.store_url, DAY_18, "timeout")] == [
        {"complexity_band": "high"}
    ]


def test_anomalous_hour_is_flagged_and_reported_as_an_insight(day18):
    settings, _ = day18
    anomalies = day_patterns(settings.store_url, DAY_18, "anomaly")
    platform_success = [p for p in anomalies if p.signal == "success_rate" and set(p.segment) == {"hour"}]
    hours = {p.segment["hour"] for p in platform_success}
    assert ANOMALY.isoformat() in hours
    with transaction(connect(settings.store_url)) as session:
        insights = session.scalars(select(Insight).where(Insight.level == "daily")).all()
    # Every series the bad hour touched is one incident, the platform's success rate among them.
    incidents = [i for i in insights if i.title.startswith("incident at 2026-11-18T14h")]
    assert len(incidents) == 1
    touched = {(s["metric"], tuple(s["segment"].items())) for s in incidents[0].evidence["series"]}
    assert ("success_rate", ()) in touched and len(touched) > 3


def test_sequences_made_only_of_successes_are_no_finding(day18):
    """'ok ok' is the most frequent sequence of the week, and no pattern: all-success is no finding."""
    settings, _ = day18
    with transaction(connect(settings.store_url)) as session:
        sessions = reads.window_sequences(session, Window(DAY_18.end - timedelta(days=7), DAY_18.end))
    assert sessions[("ok", "ok")] / sum(sessions.values()) >= 0.1  # above pattern_support_threshold
    mined = day_patterns(settings.store_url, DAY_18, "sequence")
    assert all(set(p.signal.replace("=>", " ").split()) != {"ok"} for p in mined)
    assert all(p.rate >= 0.1 for p in mined if p.signal_kind == "pattern")
    assert all(p.details["confidence"] >= 0.7 for p in mined if p.signal_kind == "rule")


def test_prompt_regression_is_seen_in_the_hours_after_it_ships(week):
    """A release that makes refactor-gen misunderstand 15% more tasks, seen by the hourly cycle.

    Within an hour refactor-gen's rate is several times the rest's; over the
    daily cycle's 7-day window one day of it is diluted below twice the
    rest's (5% against 2.4%), so the daily frequency view does not claim it.
    The hourly observations are one insight.
    """
    hours = [
        Window(DAY_19.start + timedelta(hours=h), DAY_19.start + timedelta(hours=h + 1)) for h in range(9, 15)
    ]
    for hour in hours:
        run_stage("extract_patterns", hour, week)
        run_stage("generate_insights", hour, week)
    with transaction(connect(week.store_url)) as session:
        found = session.scalars(select(Insight).where(Insight.signal == "misunderstood_task")).all()
        assert [i.segment.get("prompt_id") for i in found] == ["refactor-gen"]
        assert found[0].occurrences >= 3 and found[0].level == "hourly"


def observations(session, insight_id: str) -> list[tuple[str, datetime]]:
    """(level, window start) of every observation of an insight, in time order."""
    table = InsightObservation
    query = select(table.level, table.window_start).where(table.insight_id == insight_id)
    return sorted(tuple(row) for row in session.execute(query.order_by(table.window_start)))


def test_a_finding_on_consecutive_days_is_one_insight(week):
    """Both days' observations, and any hourly ones of the same cause, make one insight."""
    run_cycle(DAY_18, week, level="daily")
    run_cycle(DAY_19, week, level="daily")
    with transaction(connect(week.store_url)) as session:
        security = session.scalars(select(Insight).where(Insight.signal == "sql injection")).all()
        assert security
        seen = {i.id: observations(session, i.id) for i in security}
    for insight in security:
        assert insight.occurrences == len(seen[insight.id])
        assert insight.first_seen == min(start for _, start in seen[insight.id])
    assert any(
        [start for level, start in seen[i.id] if level == "daily"] == [DAY_18.start, DAY_19.start]
        and (i.level, i.window_start) == ("daily", DAY_19.start)
        for i in security
    )


def test_backfill_is_point_in_time_and_reruns_are_identical(tmp_path):
    """Day 18 analysed before day 19's data exists equals day 18 re-analysed afterwards."""
    from tests.conftest import fresh_store

    url = fresh_store("sqlite", tmp_path)
    landing = tmp_path / "landing"
    settings = Settings(store_url=url, landing_dir=landing)
    start = DAY_18.start - timedelta(days=2)
    simulate(landing, Window(start, DAY_18.end), rate=120, seed=5, store_url=url)
    summarise_hours(settings, start, DAY_18.end)
    run_cycle(DAY_18, settings, level="daily")
    before = snapshot(url)
    simulate(landing, DAY_19, rate=120, seed=5, store_url=url)
    summarise_hours(settings, DAY_19.start, DAY_19.end)
    run_cycle(DAY_18, settings, level="daily")
    after = snapshot(url)
    daily_tables = ("patterns", "performance_trends", "tracking", "insight_observations", "insights")
    for table in daily_tables:
        assert after[table] == before[table], table
    assert before["patterns"] and before["insights"]


@pytest.mark.airflow
def test_daily_dag_runs_in_airflow(airflow_home, store_url, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow.test_dag_integrity import DAGS

    landing = tmp_path / "landing"
    monkeypatch.setenv("AITL_STORE_URL", store_url)
    monkeypatch.setenv("AITL_LANDING_DIR", str(landing))
    settings = Settings(store_url=store_url, landing_dir=landing)
    start = DAY_18.start - timedelta(days=1)
    simulate(landing, Window(start, DAY_18.end), rate=80, seed=9, store_url=store_url)
    summarise_hours(settings, start, DAY_18.end)
    dag = DagBag(dag_folder=str(DAGS)).dags["aitl_system_daily"]
    for task in dag.tasks:
        task.retries = 0  # a failure should fail the test now, not after the retry delays
    run = dag.test(logical_date=pendulum.instance(DAY_18.end), run_conf={"window_days": 2})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["extract_patterns"] == states["analyze_performance"] == "success"
    with transaction(connect(store_url)) as session:
        collect = session.get(PipelineRun, ("daily", DAY_18.start, "collect"))
    assert collect.summary["window_days"] == 2
    assert json.dumps(collect.summary)


def test_empty_window_stops_at_collect(sqlite_url, tmp_path):
    settings = Settings(store_url=sqlite_url, landing_dir=tmp_path)
    results = run_cycle(DAY_18, settings, level="daily")
    assert list(results) == ["collect"]
    assert "no normalized events" in results["collect"].stop


def test_tiny_data_one_hour_three_event_segment_single_event_sessions(sqlite_url, tmp_path):
    """Edge cases: one hour of data, a segment of 3 events, sessions of one event."""
    from tests.factories import event
    from tests.unit.mining.test_rollups import land

    at = DAY_18.start + timedelta(hours=5)
    events = [
        event(at + timedelta(minutes=i), session_id=f"solo-{i}", task_type="refactor") for i in range(12)
    ]
    events += [
        event(
            at + timedelta(minutes=30 + i),
            task_type="ui_component",
            language="typescript",
            success=False,
            errors=[{"type": "timeout"}],
        )
        for i in range(3)
    ]
    land(tmp_path, events)
    settings = Settings(store_url=sqlite_url, landing_dir=tmp_path)
    summarise_hours(settings, DAY_18.start, DAY_18.end)
    results = run_cycle(DAY_18, settings, level="daily")
    assert results["collect"].summary["events"] == 15
    assert results["collect"].summary["hours_with_events"] == 1
    assert results["analyze_performance"].summary["by_direction"] == {"insufficient_data": 6}
    with transaction(connect(sqlite_url)) as session:
        tracking = {
            t.key: t for t in session.scalars(select(Tracking).where(Tracking.dimension == "tier_task"))
        }
    assert tracking["T1|ui_component"].attempts == 3
    assert tracking["T1|ui_component"].error_types == {"timeout": 3}
