"""The review DAG: a person approves or rejects a proposal, or stops or rolls back an experiment."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
import pytest

from aitl.loop import registry
from aitl.store import connect, transaction
from aitl.store.models import Decision, Experiment, Improvement
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


# dag.test() keeps a run's params in the DAG object: each run names them all.
DEFAULTS = {"improvement_id": None, "experiment_id": None, "note": "", "override": None}


def trigger(dag, **conf):
    run = dag.test(logical_date=pendulum.now("UTC"), run_conf=DEFAULTS | conf)
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


@pytest.fixture
def running(proposed):
    """Besides the proposed imp-1: imp-2's experiment exp-2 runs on prompt "q" (v1 against v2)."""
    with transaction(connect(proposed)) as session:
        registry.ensure_registered(session, "q", "Refactor.", at=AT - timedelta(days=2))
        registry.add_version(session, "q", "Refactor.\nCarefully.\n", at=AT, reason="t", make_current=False)
        session.add(factories.improvement(AT, id="imp-2", dedupe_key="k2", target_id="q", status="running"))
        session.add(factories.experiment(AT, id="exp-2", improvement_id="imp-2", prompt_id="q"))
    return proposed


def published() -> list[dict]:
    return [json.loads(line) for line in Path(os.environ["AITL_SINK_URL"]).read_text().splitlines()]


@pytest.mark.parametrize(
    ("conf", "status"),
    [
        ({"experiment_id": "exp-2", "decision": "stop"}, "stopped"),
        ({"improvement_id": "imp-2", "decision": "rollback"}, "rolled_back"),
    ],
)
def test_a_person_stops_or_rolls_back_a_running_experiment(review_dag, running, conf, status):
    state, tasks = trigger(review_dag, note="incident 7", **conf)
    assert state == "success" and tasks == {"review": "success"}
    with transaction(connect(running)) as session:
        assert session.get(Experiment, "exp-2").status == status
        improvement = session.get(Improvement, "imp-2")
        assert improvement.status == status
        assert improvement.status_reason.startswith(f"manual {conf['decision']} by ")
        assert "incident 7" in improvement.status_reason
        decision = session.query(Decision).one()
        assert (decision.look, decision.decision, decision.reason) == (0, status, improvement.status_reason)
        assert registry.current(session, "q").version == 1
        assert session.get(Improvement, "imp-1").status == "proposed"
    (message,) = published()
    assert message["kind"] == "experiment_decision"
    assert (message["payload"]["decision"], message["payload"]["serve_version"]) == (status, 1)


@pytest.mark.parametrize(
    "conf",
    [
        {"decision": "stop"},  # neither id
        {"decision": "stop", "experiment_id": "exp-2", "improvement_id": "imp-2"},
        {"decision": "approve", "experiment_id": "exp-2"},
        {"decision": "rollback", "experiment_id": "exp-2", "override": "safety_mode", "note": "x"},
        {"decision": "stop", "improvement_id": "imp-1"},  # proposed: nothing runs
    ],
)
def test_a_stop_or_rollback_that_names_no_running_experiment_fails(review_dag, running, conf):
    state, tasks = trigger(review_dag, **conf)
    assert state == "failed" and tasks == {"review": "failed"}
    with transaction(connect(running)) as session:
        assert session.get(Experiment, "exp-2").status == "running"
        assert session.query(Decision).count() == 0


def test_the_pause_variable_refuses_approvals_but_not_stops(review_dag, running, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_AITL_PAUSE_LAUNCHES", "true")
    state, _ = trigger(review_dag, improvement_id="imp-1", decision="approve", note="ship it")
    assert state == "failed"
    state, _ = trigger(review_dag, experiment_id="exp-2", decision="stop")
    assert state == "success"
    with transaction(connect(running)) as session:
        assert session.get(Improvement, "imp-1").status == "proposed"
        assert session.get(Experiment, "exp-2").status == "stopped"
        assert [e.id for e in session.query(Experiment)] == ["exp-2"]
