"""DAG integrity: every DAG parses cleanly, cheaply, and without touching a database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest

from aitl.cycles import needed, stages

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"aitl_feedback_hourly", "aitl_system_daily", "aitl_improvement_review"}


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


def test_dags_are_documented_owned_tagged_and_retried(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and "aitl" in dag.tags
        assert dag.doc_md and len(dag.doc_md) > 200
        assert dag.max_active_runs == 1
        for task in dag.tasks:
            assert task.owner == "aitl"
            assert task.retries >= 1, task.task_id
            assert task.retry_delay >= timedelta(minutes=1)
            assert task.doc_md or task.doc, task.task_id


def test_every_task_has_an_execution_timeout_within_its_cycle(dagbag):
    """A hang (a FIFO in the landing folder, a store that never answers) fails its task in bounded time
    instead of holding the run, and with max_active_runs=1 every later run, forever."""
    limits = {
        "aitl_feedback_hourly": timedelta(hours=1),
        "aitl_system_daily": timedelta(hours=3),
        "aitl_improvement_review": timedelta(minutes=15),
    }
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.execution_timeout == limits[dag.dag_id], (dag.dag_id, task.task_id)
    assert "wait_for_last_hour" in dagbag.dags["aitl_system_daily"].task_ids


def test_hourly_dag_owns_the_hour_that_just_closed(dagbag):
    dag = dagbag.dags["aitl_feedback_hourly"]
    interval = dag.timetable.infer_manual_data_interval(
        run_after=pendulum.datetime(2026, 11, 20, 5, 17, tz="UTC")
    )
    assert interval.start == pendulum.datetime(2026, 11, 20, 4, tz="UTC")
    assert interval.end == pendulum.datetime(2026, 11, 20, 5, tz="UTC")
    assert [t.task_id for t in dag.topological_sort()] == [
        "shards",
        "collect",
        "summarize",
        "normalize",
        "extract_patterns",
        "generate_insights",
        "plan_actions",
        "implement",
        "verify",
        "publish",
    ]
    assert [o.uri for o in dag.get_task("normalize").outlets] == ["aitl://store/hourly_rollups"]
    assert [o.uri for o in dag.get_task("verify").outlets] == ["aitl://store/decisions"]


def test_sharded_stages_are_mapped_over_the_hours_shards(dagbag):
    """collect and summarize run once per shard (what the shards task returns), normalize once."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.dags["aitl_feedback_hourly"]
    for stage in stages("hourly"):
        task = dag.get_task(stage.name)
        assert isinstance(task, MappedOperator) is stage.sharded, stage.name
        if stage.sharded:
            assert "shards" in task.upstream_task_ids
    assert {s.name for s in stages("hourly") if s.sharded} == {"collect", "summarize"}


PARSE_PROBE = textwrap.dedent(
    """
    import sys
    import sqlalchemy.engine
    from airflow.sdk import BaseHook, Variable

    def forbidden(*args, **kwargs):
        raise AssertionError("database or connection access at parse time")

    BaseHook.get_connection = classmethod(forbidden)
    Variable.get = staticmethod(forbidden)
    sqlalchemy.engine.Engine.connect = forbidden

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    # The kernel (standard library only) is allowed: the params' schema comes from AITL_CONFIG
    # and its durations, the stage docs from aitl.cycles. make lint keeps the kernel stdlib-only.
    allowed = {"aitl", "aitl.config", "aitl.cycles", "aitl.durations", "aitl.shards"}
    # and the webhook path the failure alerts share with the loop's (httpx, standard library)
    allowed |= {"aitl.publish", "aitl.publish.urls", "aitl.publish.webhook"}
    heavy = sorted(
        m
        for m in sys.modules
        if m.partition(".")[0] in ("pandas", "statsmodels", "scipy", "numpy")
        or (m.partition(".")[0] == "aitl" and m not in allowed)
    )
    assert not heavy, f"imported at parse time: {heavy}"
    print("parsed", sorted(bag.dag_ids))
    """
)


def test_parsing_touches_no_database_connection_or_heavy_library(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/absent/metadata.db",
    }
    env.pop("AITL_STORE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "aitl_feedback_hourly" in result.stdout


CYCLE_DAGS = ("aitl_feedback_hourly", "aitl_system_daily")


@pytest.mark.parametrize(
    ("dag_id", "level"), [("aitl_feedback_hourly", "hourly"), ("aitl_system_daily", "daily")]
)
def test_a_skipped_task_skips_only_the_work_that_needs_it(dagbag, dag_id, level):
    """The DAGs' edges and trigger rules say what ``aitl.cycles.needed`` says the library runs.

    A stage that needs an earlier stage than the one before it (planning,
    verification and publishing need ``normalize``) runs when that stage
    succeeded, whatever became of the ones in between.
    """
    dag = dagbag.dags[dag_id]
    order = [stage.name for stage in stages(level) if stage.in_library]
    for index, name in enumerate(order[1:], start=1):
        task, previous, needs = dag.get_task(name), order[index - 1], needed(level, name)
        if needs == previous:
            assert task.trigger_rule == "all_success", name
            assert previous in task.upstream_task_ids, name
        else:
            assert task.trigger_rule == "none_failed_min_one_success", name
            assert set(task.upstream_task_ids) == {needs, previous}, name


def test_every_param_is_described(dagbag):
    for dag in dagbag.dags.values():
        for name, param in dag.params.items():
            assert param.description and len(param.description) > 20, (dag.dag_id, name)


def test_cycle_dags_take_the_manual_run_params(dagbag):
    from aitl.config import AITL_CONFIG, SEGMENT_FILTER_KEYS

    for dag_id in CYCLE_DAGS:
        params = dagbag.dags[dag_id].params
        assert {"window_start", "window_end", "hours", "thresholds", "segment"} <= set(params)
        schema = params.get_param("thresholds").schema
        assert set(schema["properties"]) == set(AITL_CONFIG)
        assert schema["additionalProperties"] is False
        assert set(params.get_param("segment").schema["properties"]) == set(SEGMENT_FILTER_KEYS)
        assert params["hours"] is None and params["thresholds"] == {} and params["segment"] == {}


def test_every_dag_alerts_on_failure_and_cycles_have_deadlines(dagbag):
    from airflow.sdk import DeadlineReference

    from aitl_airflow.alerts import AitlAlert

    for dag in dagbag.dags.values():
        on_run = dag.on_failure_callback
        assert isinstance(on_run, AitlAlert) and on_run.event == "run_failed", dag.dag_id
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert [c.event for c in callbacks if isinstance(c, AitlAlert)] == ["task_failed"], task.task_id
    expected = {"aitl_feedback_hourly": timedelta(minutes=45), "aitl_system_daily": timedelta(hours=3)}
    for dag_id, interval in expected.items():
        deadlines = dagbag.dags[dag_id].deadline
        deadlines = deadlines if isinstance(deadlines, list) else [deadlines]
        assert len(deadlines) == 1
        (deadline,) = deadlines
        assert deadline.reference == DeadlineReference.DAGRUN_QUEUED_AT
        assert deadline.interval == interval
        assert type(deadline.callback).__name__ == "AsyncCallback"
        assert deadline.callback.path == "aitl_airflow.alerts.AitlAlert"
        assert deadline.callback.kwargs["event"] == "deadline_missed"
    assert not dagbag.dags["aitl_improvement_review"].deadline
