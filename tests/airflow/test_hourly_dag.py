"""The hourly DAG end to end through real Airflow (``dag.test()``) on a planted hour."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pendulum
import pytest
from sqlalchemy import select

from aitl.config import Settings
from aitl.ingest.readers import landing_hour_dir
from aitl.loop import registry
from aitl.pipeline.runner import run_cycle
from aitl.store import connect, transaction
from aitl.store.models import (
    Base,
    Experiment,
    ExperimentResult,
    Improvement,
    Insight,
    Pattern,
    PipelineRun,
    PromptVersion,
)
from aitl.window import Window
from tests.conftest import DERIVED_TABLES, fresh_store, table_rows
from tests.factories import event

pytestmark = pytest.mark.airflow

HOUR = datetime(2026, 11, 20, 4, tzinfo=UTC)
PROMPT = "api_endpoint-gen"


def planted_hour(hour: datetime, n: int = 400, seed: int = 1, experiment: Experiment | None = None):
    """Traffic with 'sql injection' concentrated in api_endpoint/python (prompt api_endpoint-gen)."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        hot = i % 4 == 0
        fields = {
            "event_id": f"{hour:%H}-{i}",
            "execution_id": f"x-{hour:%H}-{i}",
            "user_id": f"user-{rng.integers(0, 150)}",
            "task_type": "api_endpoint" if hot else "refactor",
            "language": "python" if hot else "go",
            "prompt_id": PROMPT if hot else "refactor-gen",
            "security_warnings": ["sql injection"] if hot and rng.random() < 0.3 else [],
            "success": bool(rng.random() < 0.75),
            "quality_score": round(float(rng.uniform(0.5, 0.9)), 3),
        }
        if experiment is not None and hot:
            arm = registry.assign_arm(experiment.id, fields["execution_id"], experiment.traffic_split)
            fields |= {
                "experiment_id": experiment.id,
                "arm": arm,
                "prompt_version": experiment.variant_version if arm == "variant" else 1,
                "success": bool(rng.random() < (0.85 if arm == "variant" else 0.6)),
            }
        events.append(event(hour + timedelta(seconds=int(rng.integers(0, 3600))), **fields))
    return events


def land(landing: Path, hour: datetime, events) -> None:
    path = landing_hour_dir(landing, hour) / "part-0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")


@pytest.fixture
def deployment(airflow_home, store_url, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    monkeypatch.setenv("AITL_STORE_URL", store_url)
    monkeypatch.setenv("AITL_LANDING_DIR", str(landing))
    monkeypatch.setenv("AITL_SINK_URL", str(tmp_path / "published.jsonl"))
    with transaction(connect(store_url)) as session:
        registry.ensure_registered(session, PROMPT, "Write a REST endpoint.", at=HOUR)
    return store_url, landing


@pytest.fixture(scope="module")
def hourly_dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags["aitl_feedback_hourly"]


def run_hour(dag, hour: datetime):
    run = dag.test(logical_date=pendulum.instance(hour + timedelta(hours=1)))
    assert run.state == "success"
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def snapshot(url: str) -> dict[str, list]:
    """Every table's rows, minus what describes the latest run rather than the results.

    ``events.ingested_at`` is when an event first arrived; ``pipeline_runs`` keeps
    one row per stage whose numbers describe the latest run (a rerun reads the
    same events as duplicates), so only its keys are compared; delivery to the
    sink happens on the wall clock. A quarantined record is identified by its
    ``key``: its serial ``id`` only orders the rows, and a PostgreSQL sequence
    does not roll back with the transaction that drew from it (a killed collect
    leaves a gap).
    """
    volatile = {
        "events": {"ingested_at"},
        "pipeline_runs": {"duration_s", "finished_at", "summary", "status"},
        # when (wall clock) a sink took a message, and its breaker's clock
        "outbox": {"delivered_at", "attempts", "last_error"},
        "sink_state": {"updated_at", "opened_at"},
        # when (wall clock) a landing file was read, and the file's own clock;
        # when late events came and their hour was re-normalized
        "ingested_files": {"read_at", "mtime_ns"},
        "late_arrivals": {"last_at", "normalized_at"},
        "quarantine": {"id"},
    }
    tables = {}
    with transaction(connect(url)) as session:
        for table in Base.metadata.sorted_tables:
            keep = [c for c in table.columns if c.name not in volatile.get(table.name, set())]
            rows = session.execute(select(*keep)).all()
            tables[table.name] = sorted(json.dumps(list(r), default=str, sort_keys=True) for r in rows)
    return tables


def test_hourly_cycle_finds_the_pattern_and_launches_an_experiment(hourly_dag, deployment):
    url, landing = deployment
    land(landing, HOUR, planted_hour(HOUR))

    states = run_hour(hourly_dag, HOUR)

    assert states == {
        "shards": "success",
        "collect": "success",
        "summarize": "success",
        "normalize": "success",
        "extract_patterns": "success",
        "generate_insights": "success",
        "plan_actions": "success",
        "implement": "success",
        # the experiment starts at the end of this hour: nothing to verify yet
        "verify": "skipped",
        "publish": "success",
    }
    lines = Path(os.environ["AITL_SINK_URL"]).read_text().splitlines()
    published = [json.loads(line) for line in lines]
    assert [m["kind"] for m in published] == ["experiment_started"]
    with transaction(connect(url)) as session:
        pattern = session.scalars(
            select(Pattern).where(Pattern.signal == "sql injection", Pattern.window_start == HOUR)
        ).all()
        assert {(p.category, p.subtype) for p in pattern} == {("security", "input_validation")}
        segment = next(p for p in pattern if p.segment)
        assert segment.segment == {
            "prompt_id": PROMPT,
            "task_type": "api_endpoint",
            "language": "python",
            "complexity_band": "low",
        }
        assert segment.p_value < 1e-6
        insight = session.scalars(select(Insight)).one()
        assert (insight.category, insight.subtype, insight.severity) == (
            "security",
            "input_validation",
            "critical",
        )
        improvement = session.scalars(select(Improvement)).one()
        assert (improvement.type, improvement.target_id, improvement.status) == (
            "prompt_refinement",
            PROMPT,
            "running",
        )
        assert ": add validation." in improvement.modification  # the first remedy
        variant = session.get(PromptVersion, (PROMPT, 2))
        assert variant.parent_version == 1 and variant.improvement_id == improvement.id
        assert "+" in variant.diff and "add validation" in variant.diff
        assert session.get(registry.Prompt, PROMPT).current_version == 1  # variant is not live for all
        experiment = session.scalars(select(Experiment)).one()
        assert (experiment.control_version, experiment.variant_version, experiment.status) == (
            1,
            2,
            "running",
        )
        assert experiment.planned_n_per_arm > 100
        runs = {r.stage: r.status for r in session.scalars(select(PipelineRun))}
        assert runs["collect"] == "success" and runs["verify"] == "skipped"
        assert published[0]["payload"]["experiment_id"] == experiment.id


def test_a_sharded_hour_through_airflow_writes_what_an_unsharded_run_does(deployment, tmp_path):
    """shards=3: collect and summarize run as three mapped task instances each; the results are the same.

    On a DAG of its own: dag.test(run_conf=...) keeps the conf in the DAG's params.
    """
    from airflow.dag_processing.dagbag import DagBag

    hourly_dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags[
        "aitl_feedback_hourly"
    ]
    url, landing = deployment
    events = planted_hour(HOUR)
    for part in range(3):  # three producers' files, sessions across them
        path = landing_hour_dir(landing, HOUR) / f"part-{part}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e) + "\n" for e in events[part::3]))

    run = hourly_dag.test(logical_date=pendulum.instance(HOUR + timedelta(hours=1)), run_conf={"shards": 3})

    assert run.state == "success"
    mapped = sorted((ti.task_id, ti.map_index) for ti in run.get_task_instances() if ti.map_index >= 0)
    assert mapped == [("collect", i) for i in range(3)] + [("summarize", i) for i in range(3)]
    (tmp_path / "whole").mkdir()
    whole = fresh_store("sqlite", tmp_path / "whole")
    with transaction(connect(whole)) as session:
        registry.ensure_registered(session, PROMPT, "Write a REST endpoint.", at=HOUR)
    settings = Settings.from_env(store_url=whole)
    run_cycle(Window(HOUR, HOUR + timedelta(hours=1)), settings)
    for name in DERIVED_TABLES:
        assert table_rows(url, name) == table_rows(whole, name), name


def test_next_hour_verifies_the_running_experiment(hourly_dag, deployment):
    url, landing = deployment
    land(landing, HOUR, planted_hour(HOUR))
    run_hour(hourly_dag, HOUR)
    with transaction(connect(url)) as session:
        experiment = session.scalars(select(Experiment)).one()
    nxt = HOUR + timedelta(hours=1)
    land(landing, nxt, planted_hour(nxt, n=1200, seed=2, experiment=experiment))

    states = run_hour(hourly_dag, nxt)

    assert states["verify"] == "success"
    with transaction(connect(url)) as session:
        results = {r.metric: r for r in session.scalars(select(ExperimentResult))}
    success = results["success_rate"]
    assert success.test == "two_proportion_z"
    assert success.n_control + success.n_variant == 300
    assert success.effect > 0.1 and success.p_value < 0.01
    assert success.ci_low > 0
    assert success.verdict == "variant_better"
    assert results["quality_score"].test == "welch_t"
    assert (results["sample_ratio"].test, results["sample_ratio"].verdict) == ("srm_chi_square", "ok")


def test_rerunning_an_hour_leaves_an_identical_store(hourly_dag, deployment):
    url, landing = deployment
    land(landing, HOUR, planted_hour(HOUR))
    run_hour(hourly_dag, HOUR)
    first = snapshot(url)
    run_hour(hourly_dag, HOUR)
    assert snapshot(url) == first
    assert len(first["experiments"]) == 1
    assert len(first["prompt_versions"]) == 2
    with transaction(connect(url)) as session:
        collect = session.get(PipelineRun, ("hourly", HOUR, "collect"))
    # The manifest knows the hour's files: the rerun reads nothing again, and analyses the stored hour.
    summary = collect.summary
    assert (summary["read"], summary["stored"], summary["events_in_window"]) == (0, 0, 400)


def test_an_hour_without_events_is_a_skip_not_a_failure(hourly_dag, deployment):
    states = run_hour(hourly_dag, HOUR)
    assert states.pop("shards") == "success"  # it plans the shards; every stage then skips
    assert set(states.values()) == {"skipped"}


def test_the_store_can_come_from_the_aitl_store_connection(hourly_dag, deployment, monkeypatch):
    """Deployments configure the store and the sink as Airflow connections, not AITL variables."""
    url, landing = deployment
    monkeypatch.delenv("AITL_STORE_URL")
    monkeypatch.setenv("AITL_HOME", str(landing.parent / "unused-default-home"))
    monkeypatch.delenv("AITL_SINK_URL")
    sink = landing.parent / "from-connection.jsonl"
    sink_conn = {"conn_type": "generic", "extra": {"url": str(sink)}}
    monkeypatch.setenv("AIRFLOW_CONN_AITL_SINK", json.dumps(sink_conn))
    if url.startswith("postgresql"):
        # the form a Postgres connection takes in AIRFLOW_CONN_*: a plain URI
        monkeypatch.setenv("AIRFLOW_CONN_AITL_STORE", url.replace("postgresql+psycopg2://", "postgresql://"))
    else:
        extra = {"conn_type": "generic", "extra": {"sqlalchemy_url": url}}
        monkeypatch.setenv("AIRFLOW_CONN_AITL_STORE", json.dumps(extra))
    land(landing, HOUR, planted_hour(HOUR, n=400))
    assert run_hour(hourly_dag, HOUR)["collect"] == "success"
    with transaction(connect(url)) as session:
        assert session.get(PipelineRun, ("hourly", HOUR, "collect")).summary["stored"] == 400
        launched = session.scalars(select(Experiment.id)).all()
    assert not (landing.parent / "unused-default-home").exists()
    delivered = [json.loads(line)["payload"]["experiment_id"] for line in sink.read_text().splitlines()]
    assert launched and delivered == launched


def test_the_hours_critical_finding_alerts_through_airflow(hourly_dag, deployment, monkeypatch):
    """The publish task posts the run's critical insight to the webhook, once: a rerun sends nothing new."""
    from tests.unit.publish.conftest import Platform

    _, landing = deployment
    land(landing, HOUR, planted_hour(HOUR))
    platform = Platform()
    thread = threading.Thread(target=platform.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AITL_ALERT_WEBHOOK", platform.url)
        run_hour(hourly_dag, HOUR)
        run_hour(hourly_dag, HOUR)
    finally:
        platform.shutdown()
        platform.server_close()
        thread.join()
    alerts = [r["alert"] for r in platform.requests]
    findings = [a for a in alerts if a["kind"] == "insight"]
    assert [(a["severity"], a["category"], a["subtype"]) for a in findings] == [
        ("critical", "security", "input_validation")
    ]
    assert all(a["window_start"] == HOUR.isoformat() for a in alerts)
