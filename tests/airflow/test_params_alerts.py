"""Manual-run params (window override, thresholds, segment) and alerts (failure callbacks, deadlines)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
from sqlalchemy import select

from aitl.config import ConfigError, Settings
from aitl.loop import registry
from aitl.pipeline.acting import config_scope, in_segment
from aitl.pipeline.runner import run_cycle, run_window
from aitl.store import connect, transaction
from aitl.store.models import PipelineRun
from aitl.window import Window
from tests.airflow.test_hourly_dag import HOUR, PROMPT, land, planted_hour

DAGS = Path(__file__).resolve().parents[2] / "dags"
END = HOUR + timedelta(hours=1)  # the hourly interval [04:00, 05:00)
INTERVAL = Window(HOUR, END)
DAY_END = datetime(2026, 11, 20, tzinfo=UTC)


# --------------------------------------------------------------------------- window override


def override(level="hourly", interval=INTERVAL, **params):
    from aitl_airflow.tasks import override_window

    return override_window(params, interval, level)


def test_no_override_keeps_the_data_interval():
    assert override() is None
    assert override(hours=None, window_start=None, window_end=None) is None


def test_hours_is_the_hours_ending_at_the_interval_end():
    window = override(hours=3)
    assert window == Window(END - timedelta(hours=3), END)
    assert [u.start.hour for u in window.units("hourly")] == [2, 3, 4]


def test_an_explicit_window_is_read_as_utc():
    window = override(window_start="2026-11-20T03:00:00+01:00", window_end="2026-11-20T04:00")
    assert window == Window(datetime(2026, 11, 20, 2, tzinfo=UTC), datetime(2026, 11, 20, 4, tzinfo=UTC))
    day = Window(DAY_END - timedelta(days=1), DAY_END)
    daily = override("daily", day, hours=72)
    assert [u.start.day for u in daily.units("daily")] == [17, 18, 19]
    assert all(u.end - u.start == timedelta(days=1) for u in daily.units("daily"))
    explicit = override("daily", day, window_start="2026-11-17T00:00:00Z", window_end="2026-11-19T00:00:00Z")
    assert [u.start.day for u in explicit.units("daily")] == [17, 18]


@pytest.mark.parametrize(
    ("level", "params", "named"),
    [
        ("hourly", {"hours": 2, "window_start": "2026-11-20T00:00Z"}, "hours"),
        ("hourly", {"window_start": "2026-11-20T04:00Z", "window_end": "2026-11-20T04:00Z"}, "window_end"),
        ("hourly", {"window_start": "2026-11-20T05:00Z", "window_end": "2026-11-20T04:00Z"}, "window_end"),
        ("hourly", {"window_start": "2026-11-20T04:00Z"}, "window_end"),
        ("hourly", {"window_end": "2026-11-20T04:00Z"}, "window_start"),
        ("hourly", {"window_start": "2026-11-20T03:30Z", "window_end": "2026-11-20T05:00Z"}, "window_start"),
        ("hourly", {"window_start": "2026-11-20T03:00Z", "window_end": "2026-11-20T04:00:01Z"}, "window_end"),
        ("hourly", {"window_start": "yesterday", "window_end": "2026-11-20T04:00Z"}, "window_start"),
        ("hourly", {"window_start": "2026-10-01T00:00Z", "window_end": "2026-11-20T00:00Z"}, "window_end"),
        ("hourly", {"hours": 0}, "hours"),
        ("daily", {"hours": 30}, "hours"),
        ("daily", {"window_start": "2026-11-18T01:00Z", "window_end": "2026-11-20T00:00Z"}, "window_start"),
    ],
)
def test_bad_overrides_are_refused_naming_the_param(level, params, named):
    from aitl_airflow.tasks import ParamError

    interval = INTERVAL if level == "hourly" else Window(DAY_END - timedelta(days=1), DAY_END)
    with pytest.raises(ParamError, match=f"^param {named}:"):
        override(level, interval, **params)


# --------------------------------------------------------------------------- thresholds and segment


def context_of(conf: dict | None = None, **params) -> dict:
    return {"params": params, "dag_run": SimpleNamespace(conf=conf or params)}


def test_threshold_overrides_reach_the_settings(monkeypatch, tmp_path):
    from aitl_airflow.tasks import settings_of

    monkeypatch.setenv("AITL_STORE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    settings = settings_of(context_of(profile="production", thresholds={"min_frequency": 3, "alpha": 0}))
    assert settings.thresholds.min_frequency == 3
    assert settings.thresholds.alpha == 0.0 and isinstance(settings.thresholds.alpha, float)
    assert settings.thresholds.auto_implement_threshold == 0.98  # the profile still applies
    # The daily DAG's own params are thresholds too; the object wins over their defaults.
    daily = settings_of(
        context_of({"thresholds": {"window_days": 3}}, window_days=7, thresholds={"window_days": 3})
    )
    assert daily.thresholds.window_days == 3
    assert settings_of(context_of(window_days=2, sensitivity=0.99)).thresholds.sensitivity == 0.99


@pytest.mark.parametrize(
    ("params", "named", "says"),
    [
        ({"thresholds": {"no_such_threshold": 1}}, "thresholds", "unknown threshold"),
        ({"thresholds": {"min_frequency": "3"}}, "thresholds", "must be int"),
        ({"window_days": 2, "thresholds": {"window_days": 3}}, "thresholds", "give it once"),
        ({"segment": {"colour": "red"}}, "segment", "not one of"),
        ({"segment": {"language": 3}}, "segment", "non-empty string"),
    ],
)
def test_bad_thresholds_and_segments_are_refused_by_the_task(monkeypatch, tmp_path, params, named, says):
    from aitl_airflow.tasks import ParamError, settings_of

    monkeypatch.setenv("AITL_STORE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    with pytest.raises(ParamError, match=f"^param {named}: .*{says}"):
        settings_of(context_of(**params))


def test_the_library_refuses_a_bad_segment():
    with pytest.raises(ConfigError, match="segment key 'colour'"):
        Settings.from_env(store_url="sqlite://", segment={"colour": "red"})
    assert Settings.from_env(store_url="sqlite://", segment={"model": "m"}).segment == {"model": "m"}


def test_what_a_segment_filter_matches():
    insight_segment = {"prompt_id": PROMPT, "task_type": "api_endpoint", "language": "python"}
    assert in_segment(insight_segment, {})
    assert in_segment(insight_segment, {"task_type": "api_endpoint", "language": "python"})
    assert not in_segment(insight_segment, {"language": "go"})
    assert not in_segment({"task_type": "api_endpoint"}, {"language": "python"})  # wider: not within
    switch = {"target_kind": "config", "target_id": "model:api_endpoint", "change": {"model": "atlas-xl"}}
    assert config_scope(switch) == {"task_type": "api_endpoint", "model": "atlas-xl"}
    batch = {"target_kind": "config", "target_id": "batch_size:refactor", "change": {"batch_size": 8}}
    assert config_scope(batch) == {"task_type": "refactor"}


def test_a_segment_filter_restricts_planning(sqlite_url, tmp_path):
    landing = tmp_path / "landing"
    land(landing, HOUR, planted_hour(HOUR))
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, PROMPT, "Write a REST endpoint.", at=HOUR)
    base = Settings(
        store_url=sqlite_url, landing_dir=landing, sink_url=str(tmp_path / "published.jsonl"), dry_run=True
    )
    # A dry run keeps nothing, so the hour is brought in for real first; the plans stay dry.
    analysis = ("collect", "normalize", "extract_patterns", "generate_insights")
    for _ in run_window(INTERVAL, replace(base, dry_run=False), stages=analysis):
        pass

    outside = run_cycle(INTERVAL, replace(base, segment={"task_type": "refactor"}))["plan_actions"]
    assert outside.summary["planned"] == 0 and outside.summary["skipped"]["outside_segment"] == 1
    assert outside.stop == "nothing to improve in segment {'task_type': 'refactor'}"

    within = {"task_type": "api_endpoint", "language": "python"}
    inside = run_cycle(INTERVAL, replace(base, segment=within))["plan_actions"]
    assert inside.summary["planned"] == 1 and inside.summary["skipped"]["outside_segment"] == 0
    assert inside.summary["segment"] == within
    unfiltered = run_cycle(INTERVAL, base)["plan_actions"]
    assert unfiltered.summary["planned"] == 1 and "outside_segment" not in unfiltered.summary["skipped"]


# --------------------------------------------------------------------------- through Airflow


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.mark.airflow
@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": "2"}, "hours"),
        ({"window_start": "yesterday"}, "window_start"),
        ({"thresholds": {"no_such_threshold": 1}}, "thresholds"),
        ({"thresholds": {"alpha": "small"}}, "thresholds"),
        ({"thresholds": {"ab_test_duration": "a day"}}, "thresholds"),
        ({"segment": {"colour": "red"}}, "segment"),
        ({"segment": {"language": ""}}, "segment"),
        ({"dry_run": "yes"}, "dry_run"),
    ],
)
def test_airflow_refuses_invalid_params_naming_them(dagbag, conf, named):
    from airflow.sdk.definitions.param import ParamValidationError

    for dag_id in ("aitl_feedback_hourly", "aitl_system_daily"):
        with pytest.raises(ParamValidationError, match=f"param {named}"):
            dagbag.dags[dag_id].test(logical_date=pendulum.instance(END), run_conf=conf)


def test_every_string_threshold_is_a_duration():
    import re

    from aitl.config import AITL_CONFIG, ENVIRONMENT_PROFILES
    from aitl.durations import DURATION_PATTERN as DURATION

    values = [*AITL_CONFIG.values(), *(v for p in ENVIRONMENT_PROFILES.values() for v in p.values())]
    assert all(re.match(DURATION, v) for v in values if isinstance(v, str))


@pytest.fixture
def deployment(airflow_home, sqlite_url, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    monkeypatch.setenv("AITL_STORE_URL", sqlite_url)
    monkeypatch.setenv("AITL_LANDING_DIR", str(landing))
    monkeypatch.setenv("AITL_SINK_URL", str(tmp_path / "published.jsonl"))
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, PROMPT, "Write a REST endpoint.", at=HOUR)
    return sqlite_url, landing


@pytest.mark.airflow
def test_a_manual_hourly_run_over_two_hours_runs_each_hour(dagbag, deployment):
    url, landing = deployment
    earlier = HOUR - timedelta(hours=1)
    for hour, seed in ((earlier, 1), (HOUR, 2)):
        land(landing, hour, planted_hour(hour, seed=seed))
    dag = dagbag.dags["aitl_feedback_hourly"]
    conf = {"hours": 2, "thresholds": {"min_frequency": 4}, "segment": {"language": "python"}}

    run = dag.test(logical_date=pendulum.instance(END), run_conf=conf)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    with transaction(connect(url)) as session:
        rows = session.scalars(select(PipelineRun).where(PipelineRun.level == "hourly")).all()
    by_hour = {}
    for row in rows:
        by_hour.setdefault(row.window_start.replace(tzinfo=UTC), {})[row.stage] = row
    assert set(by_hour) == {earlier, HOUR}
    for hour in (earlier, HOUR):
        assert by_hour[hour]["collect"].summary["stored"] == 400
        assert by_hour[hour]["normalize"].status == "success"
        assert by_hour[hour]["collect"].settings["min_frequency"] == 4  # the override is what ran
        assert by_hour[hour]["plan_actions"].summary["segment"] == {"language": "python"}
    # The first hour launched the refinement; the second found it active already.
    assert by_hour[earlier]["plan_actions"].summary["planned"] == 1
    assert by_hour[HOUR]["plan_actions"].summary["skipped"]["already_active"] == 1
    assert "implement" not in by_hour[HOUR]  # its plan stopped: the hour went no further
    assert by_hour[HOUR]["verify"].status in ("success", "skipped")  # normalized: verify looked
    # The run succeeded through dag.test despite the DAG's deadline (apache/airflow#73428
    # workaround), and the deadline is registered in the metadata DB as the scheduler reads it.
    assert registered_deadlines("aitl_feedback_hourly") == [
        ({"reference_type": "DagRunQueuedAtDeadline"}, 2700.0, "aitl_airflow.alerts.AitlAlert")
    ]


def registered_deadlines(dag_id: str) -> list[tuple]:
    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        latest = SerializedDagModel.get(dag_id, session=session)
        alerts = session.scalars(
            select(DeadlineAlertModel).where(DeadlineAlertModel.serialized_dag_id == latest.id)
        ).all()
        return [
            (
                a.reference,
                a.interval.get("__data__", a.interval),
                a.callback_def.get("__data__", a.callback_def).get("path"),
            )
            for a in alerts
        ]


@pytest.mark.airflow
def test_a_manual_daily_run_analyses_each_day(dagbag, deployment):
    url, _ = deployment
    dag = dagbag.dags["aitl_system_daily"]
    for task in dag.tasks:
        task.retries = 0

    run = dag.test(logical_date=pendulum.instance(DAY_END), run_conf={"hours": 48})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["collect"] == "skipped"  # no hourly summaries on either day
    with transaction(connect(url)) as session:
        days = session.scalars(
            select(PipelineRun.window_start).where(
                PipelineRun.level == "daily", PipelineRun.stage == "collect"
            )
        ).all()
    assert sorted(d.replace(tzinfo=UTC) for d in days) == [
        DAY_END - timedelta(days=2),
        DAY_END - timedelta(days=1),
    ]


# --------------------------------------------------------------------------- alerts


@pytest.fixture
def webhook():
    """A real HTTP endpoint on 127.0.0.1 that records what is POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], **json.loads(body)})
            self.send_response(self.server.answer)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.answer = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_port}"
    yield SimpleNamespace(url=f"{origin}/hooks/aitl", origin=origin, received=received, server=server)
    server.shutdown()
    server.server_close()


def task_context():
    ti = SimpleNamespace(
        dag_id="aitl_feedback_hourly",
        run_id="scheduled__2026-11-20T05:00:00+00:00",
        task_id="collect",
        log_url="http://airflow.example/dags/aitl_feedback_hourly/runs/r/tasks/collect?try_number=3",
    )
    dag_run = SimpleNamespace(dag_id=ti.dag_id, run_id=ti.run_id)
    return {"ti": ti, "dag_run": dag_run, "exception": RuntimeError("no such table: events")}


def test_the_notifier_logs_one_line_and_posts_it(webhook, monkeypatch, caplog):
    from aitl_airflow.alerts import on_task_failure

    monkeypatch.setenv("AITL_ALERT_WEBHOOK", webhook.url)
    with caplog.at_level(logging.INFO, logger="aitl_airflow.alerts"):
        on_task_failure()(task_context())
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("AITL ALERT")]
    assert line.startswith("AITL ALERT task_failed: dag=aitl_feedback_hourly run=scheduled__")
    assert "task=collect state=failed reason='RuntimeError: no such table: events'" in line
    assert "log=http://airflow.example/" in line
    (message,) = webhook.received
    assert message["path"] == "/hooks/aitl" and message["type"] == "application/json"
    assert message["text"] == line
    assert message["alert"]["task_id"] == "collect" and message["alert"]["event"] == "task_failed"


def test_the_aitl_alerts_connection_wins_over_the_variable(webhook, monkeypatch):
    from aitl_airflow.alerts import on_run_failure, webhook_url

    monkeypatch.setenv("AITL_ALERT_WEBHOOK", "http://127.0.0.1:9/not-this-one")
    conn = {"conn_type": "http", "extra": {"webhook_url": webhook.url}}
    monkeypatch.setenv("AIRFLOW_CONN_AITL_ALERTS", json.dumps(conn))
    assert webhook_url() == webhook.url
    on_run_failure()({**task_context(), "reason": "task_failure"})
    (message,) = webhook.received
    assert message["alert"]["event"] == "run_failed"
    assert message["alert"]["reason"] == "task_failure (last failed task collect)"
    monkeypatch.setenv("AIRFLOW_CONN_AITL_ALERTS", json.dumps({"conn_type": "http", "host": webhook.url}))
    assert webhook_url() == webhook.url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_alert_never_raises_when_the_webhook_fails(webhook, monkeypatch, caplog):
    from aitl_airflow.alerts import AitlAlert

    port = closed_port()
    with caplog.at_level(logging.INFO, logger="aitl_airflow.alerts"):
        AitlAlert(webhook_url=f"http://127.0.0.1:{port}/down", timeout_s=2)(task_context())
        webhook.server.answer = 500
        AitlAlert(webhook_url=webhook.url, timeout_s=2)(task_context())
        AitlAlert(webhook_url="not a url")({})  # nothing readable in the context either
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("AITL ALERT task_failed") for m in messages) == 3
    failures = [m for m in messages if m.startswith("AITL alert webhook")]
    assert len(failures) == 3
    assert failures[0].startswith(f"AITL alert webhook http://127.0.0.1:{port} failed: ConnectError: ")
    assert failures[1] == f"AITL alert webhook {webhook.origin} failed: HTTP 500 Internal Server Error"
    assert failures[2].startswith("AITL alert webhook (unreadable url) failed: UnsupportedProtocol: ")
    assert len(webhook.received) == 1  # the 500 was received, and answered badly


@pytest.mark.parametrize("answer", [302, 404])
def test_a_failed_webhook_is_logged_by_scheme_and_host_only(webhook, caplog, answer):
    """A Slack-style webhook URL's path is its secret: no log line shows it, nor the query or password."""
    from aitl_airflow.alerts import AitlAlert

    secret = "/services/T000/B000/XOXBSECRET?token=QUERYSECRET"
    url = webhook.origin.replace("http://", "http://aitl:hunter2@") + secret
    webhook.server.answer = answer
    with caplog.at_level(logging.DEBUG):  # httpx logs each request's URL at INFO
        AitlAlert(webhook_url=url, timeout_s=2)(task_context())
        webhook.server.answer = 200
        AitlAlert(webhook_url=url, timeout_s=2)(task_context())
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("AITL alert webhook")]
    reason = {302: "Found", 404: "Not Found"}[answer]
    assert failures == [f"AITL alert webhook {webhook.origin} failed: HTTP {answer} {reason}"]
    assert [m["path"] for m in webhook.received] == [secret, secret]  # a redirect is not followed
    logged = [caplog.text, *(r.getMessage() for r in caplog.records)]
    assert not any(s in text for text in logged for s in ("hunter2", "XOXBSECRET", "QUERYSECRET", "services"))


@pytest.mark.airflow
def test_a_missed_deadline_alerts_through_the_triggerer_path(dagbag, webhook, monkeypatch):
    """Run the hourly DAG's deadline callback the way Airflow's triggerer does (CallbackTrigger)."""
    from airflow.triggers.callback import CallbackTrigger

    monkeypatch.setenv("AITL_ALERT_WEBHOOK", webhook.url)
    callback = dagbag.dags["aitl_feedback_hourly"].deadline
    callback = (callback[0] if isinstance(callback, list) else callback).callback
    # What Deadline.handle_miss adds: the run as the REST API shows it, and the deadline.
    context = {
        "dag_run": {"dag_id": "aitl_feedback_hourly", "dag_run_id": "scheduled__x", "state": "running"},
        "deadline": {"id": "d-1", "deadline_time": "2026-11-20T05:45:00+00:00"},
    }
    trigger = CallbackTrigger(callback.path, {**callback.kwargs, "context": context})

    async def events():
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(events())

    assert payloads[-1]["state"] == "success", payloads
    (message,) = webhook.received
    alert = message["alert"]
    assert (alert["event"], alert["dag_id"], alert["run_id"], alert["state"]) == (
        "deadline_missed",
        "aitl_feedback_hourly",
        "scheduled__x",
        "running",
    )
    assert alert["reason"] == "not finished by 2026-11-20T05:45:00+00:00 [45 min after it was queued]"


@pytest.mark.airflow
def test_a_failing_task_alerts_for_the_task_and_the_run(airflow_home, webhook, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    unmigrated = tmp_path / "empty.db"
    monkeypatch.setenv("AITL_STORE_URL", f"sqlite:///{unmigrated}")  # no tables: collect fails
    monkeypatch.setenv("AITL_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("AITL_ALERT_WEBHOOK", webhook.url)
    dag = DagBag(dag_folder=str(DAGS)).dags["aitl_feedback_hourly"]
    for task in dag.tasks:
        task.retries = 0

    run = dag.test(logical_date=pendulum.instance(END))

    assert run.state == "failed"
    alerts = {m["alert"]["event"]: m["alert"] for m in webhook.received}
    assert set(alerts) == {"task_failed", "run_failed"}, webhook.received
    task = alerts["task_failed"]
    assert (task["dag_id"], task["task_id"], task["state"]) == ("aitl_feedback_hourly", "collect", "failed")
    assert "aitl db upgrade" in task["reason"] and task["run_id"] == run.run_id
    assert task["log_url"].endswith("/tasks/collect/mapped/0?try_number=1")  # collect is mapped over shards
    assert alerts["run_failed"]["run_id"] == run.run_id
