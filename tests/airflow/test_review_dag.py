"""The review DAG: a person approves or rejects a proposed improvement by triggering it with params."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
import pytest

from aitl.loop import registry
from aitl.store import connect, transaction
from aitl.store.models import Experiment, Improvement
from tests import factories

pytestmark = pytest.mark.airflow

AT = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def review_dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    return bag.dags["aitl_improvement_review"]


@pytest.fixture
def proposed(sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("AITL_STORE_URL", sqlite_url)
    monkeypatch.setenv("AITL_SINK_URL", str(tmp_path / "published.jsonl"))
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "p", "Write an endpoint.", at=AT - timedelta(days=1))
        session.add(
            factories.improvement(
                AT, level="daily", confidence=0.85, status="proposed", status_reason="awaiting approval"
            )
        )
    return sqlite_url


def trigger(dag, **conf):
    run = dag.test(logical_date=pendulum.now("UTC"), run_conf=conf)
    return run.state, {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_approval_launches_the_experiment(review_dag, proposed):
    state, tasks = trigger(review_dag, improvement_id="imp-1", decision="approve", note="ship it")
    assert state == "success" and tasks == {"review": "success"}
    with transaction(connect(proposed)) as session:
        improvement = session.get(Improvement, "imp-1")
        assert improvement.status == "running"
        assert "approved by" in improvement.status_reason and "ship it" in improvement.status_reason
        experiment_id = session.query(Experiment).one().id
    published = [json.loads(line) for line in Path(os.environ["AITL_SINK_URL"]).read_text().splitlines()]
    assert [(m["kind"], m["payload"]["experiment_id"]) for m in published] == [
        ("experiment_started", experiment_id)
    ]


def test_a_refused_review_fails_without_retrying(review_dag, proposed):
    state, tasks = trigger(review_dag, improvement_id="nope", decision="reject")
    assert state == "failed" and tasks == {"review": "failed"}
    with transaction(connect(proposed)) as session:
        assert session.get(Improvement, "imp-1").status == "proposed"


def test_an_invalid_param_is_refused_naming_it(review_dag, proposed):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="decision"):
        trigger(review_dag, improvement_id="imp-1", decision="maybe")
