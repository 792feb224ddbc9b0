"""Documented journeys in Airflow: runs without a logical date, misspelt params, dry runs, reviews, metrics.

What needs a running Airflow (triggers through the REST API and the CLI) is in
tests/e2e/test_adhoc.py; here the DAGs run through ``dag.test``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest

from aitl.config import OVERRIDABLE_GATES, Settings
from aitl.loop import registry
from aitl.pipeline.runner import run_window
from aitl.store import connect, transaction
from aitl.store.models import Improvement
from aitl.window import Window
from tests import factories
from tests.airflow.test_hourly_dag import HOUR, PROMPT, land, planted_hour, snapshot

DAGS = Path(__file__).resolve().parents[2] / "dags"
END = HOUR + timedelta(hours=1)


def test_a_run_without_a_data_interval_owns_the_unit_closed_at_run_after():
    from aitl_airflow.tasks import window_of

    run = SimpleNamespace(run_after=datetime(2026, 11, 20, 5, 42, 7, tzinfo=UTC))
    assert window_of({"dag_run": run}, "hourly") == Window(HOUR, END)
    day = datetime(2026, 11, 20, tzinfo=UTC)
    assert window_of({"dag_run": run}, "daily") == Window(day - timedelta(days=1), day)
    interval = {"data_interval_start": HOUR - timedelta(hours=3), "data_interval_end": HOUR, "dag_run": run}
    assert window_of(interval, "hourly") == Window(HOUR - timedelta(hours=3), HOUR)


def test_a_run_that_cannot_know_its_window_fails_without_retries():
    from airflow.sdk.exceptions import AirflowFailException

    from aitl_airflow.tasks import window_of

    with pytest.raises(AirflowFailException, match="no data interval and no run_after"):
        window_of({"dag_run": SimpleNamespace(run_after=None)}, "hourly")


def test_an_unknown_conf_key_is_refused_naming_it():
    from airflow.sdk.exceptions import AirflowFailException

    from aitl_airflow.tasks import check_conf

    dag = SimpleNamespace(params={"dry_run": False, "profile": "staging"})
    check_conf({"dag": dag, "dag_run": SimpleNamespace(conf={"dry_run": True})})
    with pytest.raises(AirflowFailException, match=r"^param dryrun: not a param of this DAG"):
        check_conf({"dag": dag, "dag_run": SimpleNamespace(conf={"dryrun": True, "profile": "staging"})})


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def collected_hour(airflow_home, sqlite_url, tmp_path, monkeypatch):
    """A store holding one planted hour, collected and analysed for real, and the DAGs pointed at it."""
    landing = tmp_path / "landing"
    sink = tmp_path / "published.jsonl"
    for name, value in (
        ("AITL_STORE_URL", sqlite_url),
        ("AITL_LANDING_DIR", landing),
        ("AITL_SINK_URL", sink),
    ):
        monkeypatch.setenv(name, str(value))
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, PROMPT, "Write a REST endpoint.", at=HOUR)
    land(landing, HOUR, planted_hour(HOUR))
    settings = Settings(store_url=sqlite_url, landing_dir=landing, sink_url=str(sink))
    for _ in run_window(Window(HOUR, END), settings, ("collect", "normalize")):
        pass
    return sqlite_url


def states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


@pytest.mark.airflow
def test_a_misspelt_param_fails_the_run_at_once_and_writes_nothing(dagbag, collected_hour):
    before = snapshot(collected_hour)
    run = dagbag.dags["aitl_feedback_hourly"].test(
        logical_date=pendulum.instance(END), run_conf={"dryrun": True}
    )
    assert run.state == "failed"
    assert states(run)["shards"] == ("failed", 1)  # the first task; no retry: retrying cannot fix a conf
    assert snapshot(collected_hour) == before


@pytest.mark.airflow
@pytest.mark.parametrize("dag_id", ["aitl_feedback_hourly", "aitl_system_daily"])
def test_a_dry_run_leaves_every_table_unchanged(dagbag, collected_hour, dag_id):
    before = snapshot(collected_hour)
    logical = END if dag_id == "aitl_feedback_hourly" else datetime(2026, 11, 21, tzinfo=UTC)
    conf = {"dry_run": True, "profile": "development", "thresholds": {"min_frequency": 3}}
    run = dagbag.dags[dag_id].test(logical_date=pendulum.instance(logical), run_conf=conf)
    assert run.state == "success", states(run)
    if dag_id == "aitl_feedback_hourly":
        # It did compute: the planted hour yields a plan it reports but does not keep.
        plan = run.get_task_instance("plan_actions")
        assert plan.state == "success"
    assert snapshot(collected_hour) == before


@pytest.fixture
def proposed_setting(airflow_home, sqlite_url, tmp_path, monkeypatch):
    """A proposed model switch under safety mode while five experiments run: safety mode's cap is reached."""
    monkeypatch.setenv("AITL_STORE_URL", sqlite_url)
    monkeypatch.setenv("AITL_SINK_URL", str(tmp_path / "published.jsonl"))
    monkeypatch.delenv("AITL_PROFILE", raising=False)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    with transaction(connect(sqlite_url)) as session:
        session.add(
            factories.improvement(
                at,
                level="daily",
                status="proposed",
                status_reason="awaiting approval: safety mode never changes settings unattended",
                type="model_selection",
                target_kind="config",
                target_id="model:api_endpoint",
                change={"model": "atlas-large"},
            )
        )
        for i in range(5):
            session.add(factories.experiment(at, id=f"exp-{i}", prompt_id=f"p{i}", improvement_id=f"x{i}"))
    return sqlite_url, tmp_path / "published.jsonl"


def review(dagbag, **conf):
    return dagbag.dags["aitl_improvement_review"].test(logical_date=pendulum.now("UTC"), run_conf=conf)


def status_of(url: str) -> str:
    with transaction(connect(url)) as session:
        return session.get(Improvement, "imp-1").status


@pytest.mark.airflow
def test_no_review_path_applies_what_safety_mode_blocks(dagbag, proposed_setting, monkeypatch):
    url, sink = proposed_setting
    approve = {"improvement_id": "imp-1", "decision": "approve", "note": "go"}
    for conf in (
        approve,  # the deployment's profile (staging): safety mode holds
        {**approve, "profile": "development"},  # a run cannot bring a looser profile
        {**approve, "thresholds": {"safety_mode": False}},
        {**approve, "override": "safety_mode"},  # not allowed by this deployment
    ):
        assert review(dagbag, **conf).state == "failed", conf
        assert status_of(url) == "proposed"
    assert not sink.exists() or "config_change" not in sink.read_text()

    monkeypatch.setenv("AITL_REVIEW_OVERRIDES", "safety_mode")
    run = review(dagbag, **approve, override="safety_mode")
    assert run.state == "success"
    assert status_of(url) == "applied"
    with transaction(connect(url)) as session:
        assert "overriding safety_mode: go" in session.get(Improvement, "imp-1").status_reason
    assert "config_change" in sink.read_text()


def test_the_review_dag_runs_when_triggered_and_names_its_reviewers(dagbag):
    from aitl_airflow.params import REVIEWER_ROLE

    dag = dagbag.dags["aitl_improvement_review"]
    assert dag.schedule is None and dag.is_paused_upon_creation is False
    assert REVIEWER_ROLE in dag.access_control
    assert "profile" not in dag.params
    assert set(dag.params.get_param("override").schema["enum"]) == {None, *OVERRIDABLE_GATES}


def test_stage_summaries_become_metrics():
    from aitl_airflow.metrics import Metric, metrics_of

    assert metrics_of("hourly", "collect", {"read": 10, "stored": 8, "quarantined": 2}) == [
        Metric("incr", "aitl.events.read", 10),
        Metric("incr", "aitl.events.stored", 8),
        Metric("incr", "aitl.events.quarantined", 2),
    ]
    assert metrics_of("daily", "generate_insights", {"by_severity": {"high": 2, "low": 1}}) == [
        Metric("incr", "aitl.insights.high", 2),
        Metric("incr", "aitl.insights.low", 1),
    ]
    verify = {"experiments": 3, "decisions": {"decisions": {"promoted": 1, "continue": 2}}}
    assert metrics_of("daily", "verify", verify) == [
        Metric("gauge", "aitl.experiments.running", 3),
        Metric("incr", "aitl.decisions.promoted", 1),
        Metric("incr", "aitl.decisions.continue", 2),
    ]
    assert metrics_of("hourly", "implement", {"launched": 1, "applied": 2}) == [
        Metric("incr", "aitl.launches", 1),
        Metric("incr", "aitl.settings_applied", 2),
    ]
    assert metrics_of("hourly", "publish", {"still_pending": 4, "delivered": 1})[0] == Metric(
        "gauge", "aitl.outbox.backlog", 4
    )


def test_metrics_reach_a_statsd_server_through_airflow(tmp_path):
    """Through Airflow's own stats client, configured as a deployment would: ``[metrics] statsd_on``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        env = {
            **os.environ,
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(server.getsockname()[1]),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }
        # A task process initializes Airflow's stats client from [metrics] first (task_runner.main).
        code = (
            "from airflow.sdk.observability.stats import initialize; "
            "from airflow.sdk.observability.metrics.stats_utils import get_stats_factory; "
            "initialize(factory=get_stats_factory(), export_legacy_names=False); "
            "from aitl_airflow.metrics import emit; "
            "emit('hourly', 'collect', {'read': 7, 'stored': 5, 'quarantined': 2}); "
            "emit('hourly', 'publish', {'still_pending': 3, 'delivered': 0, 'dry_run': True})"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
        packets: set[str] = set()
        server.settimeout(1)
        with contextlib.suppress(TimeoutError):  # the process has ended: read what it sent
            while True:
                packets |= set(server.recv(65536).decode().split("\n"))
    assert {"airflow.aitl.events.read:7|c", "airflow.aitl.events.stored:5|c"} <= packets
    assert "airflow.aitl.events.quarantined:2|c" in packets
    assert not any("outbox" in p for p in packets)  # a dry run emits nothing
