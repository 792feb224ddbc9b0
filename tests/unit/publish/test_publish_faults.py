"""Publishing under faults: a sink that hangs, two publishers at once, kill -9, secrets in the sink's URL.

The sink is a real HTTP server on 127.0.0.1 that can be told to hang
(``Platform``, in conftest); the store runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aitl.config import Settings
from aitl.pipeline.runner import run_stage
from aitl.publish import sinks
from aitl.publish.outbox import enqueue
from aitl.publish.sinks import HttpSink
from aitl.store import connect, transaction
from aitl.store.models import OutboxMessage, PipelineRun, SinkState
from aitl.window import Window
from tests.unit.publish.test_outbox import NOW, T0, breaker_row, decision, enqueue_all, outbox, run

HOUR = datetime(2026, 11, 20, 4, tzinfo=UTC)
WINDOW = Window(HOUR, HOUR + timedelta(hours=1))
# A Slack-style webhook: the path is the secret, and a token rides in the query.
SECRET = "/services/T000/B000/XOXBSECRET?token=QUERYSECRET"
SECRETS = ("hunter2", "XOXBSECRET", "QUERYSECRET", "services")


def settings(url: str, tmp_path: Path, sink_url: str) -> Settings:
    return Settings(store_url=url, landing_dir=tmp_path / "landing", sink_url=sink_url)


def stored_text(url: str) -> list[str]:
    """Every row of the outbox, the breakers and the run records, as text."""
    tables = (OutboxMessage.__table__, SinkState.__table__, PipelineRun.__table__)
    with transaction(connect(url)) as session:
        return [json.dumps(list(row), default=str) for t in tables for row in session.execute(select(t))]


def test_a_hanging_sink_holds_no_lock_while_another_stage_writes(store_url, platform, tmp_path, monkeypatch):
    first = enqueue_all(store_url, [T0])
    platform.hang_next()  # the first send hangs past the read timeout; its retry goes through
    monkeypatch.setattr(sinks, "sink_from_url", lambda url: HttpSink(url, read_timeout_s=2))
    config = settings(store_url, tmp_path, platform.url + SECRET)
    results: dict[str, Any] = {}
    publisher = threading.Thread(target=lambda: results.update(publish=run_stage("publish", WINDOW, config)))
    publisher.start()
    assert platform.hanging.wait(60)

    # While publish waits on the network: another stage commits, and so does a new decision.
    started = time.monotonic()
    results["verify"] = run_stage("verify", Window(WINDOW.end, WINDOW.end + timedelta(hours=1)), config)
    with transaction(connect(store_url)) as session:
        later = [enqueue(session, "decision", decision(1), T0 + timedelta(minutes=1))]
    took = time.monotonic() - started
    still_waiting = publisher.is_alive()
    publisher.join(60)

    assert still_waiting and took < 2, took  # done within the hang, before the sink's read timeout
    summary = results["publish"].summary
    assert (summary["delivered"], summary["failed_attempts"], summary["still_pending"]) == (2, 1, 0)
    assert platform.batches() == [first, first, later]  # the hung try, its retry, then the newcomer
    rows = outbox(store_url)
    assert rows[first[0]].last_error == f"cannot reach http:{platform.url}: ReadTimeout: timed out"
    assert all(row.delivered_at is not None for row in rows.values())
    with transaction(connect(store_url)) as session:
        stages = set(session.scalars(select(PipelineRun.stage)))
    assert stages == {"publish", "verify"}
    assert not any(secret in text for text in stored_text(store_url) for secret in SECRETS)


def test_two_publishers_never_send_the_same_batch(store_url, platform):
    order = enqueue_all(store_url, [T0, T0 + timedelta(minutes=1)])
    platform.hang_next()
    sink = HttpSink(platform.url, read_timeout_s=30)
    first: dict[str, Any] = {}
    publisher = threading.Thread(target=lambda: first.update(run(store_url, sink, NOW)))
    publisher.start()
    assert platform.hanging.wait(60)

    second = run(store_url, HttpSink(platform.url), NOW)
    platform.released.set()  # the hung request is answered 200
    publisher.join(60)

    assert second == {
        "sink": sink.name,
        "pending_before": 2,
        "delivered": 0,
        "failed_attempts": 0,
        "still_pending": 2,
        "breaker": "closed",
        "error": f"another publisher is delivering to {sink.name}: its messages wait for it",
    }
    assert (first["delivered"], first["failed_attempts"], first["still_pending"]) == (2, 0, 0)
    assert platform.batches() == [order]  # one request in all
    assert all(row.attempts == 1 for row in outbox(store_url).values())


PUBLISH = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from pathlib import Path

    from aitl.config import Settings
    from aitl.pipeline.runner import run_stage
    from aitl.window import Window

    store_url, sink_url, landing, start, end = sys.argv[1:]
    settings = Settings(store_url=store_url, landing_dir=Path(landing), sink_url=sink_url)
    run_stage("publish", Window(datetime.fromisoformat(start), datetime.fromisoformat(end)), settings)
    """
)


def test_kill_9_during_publish_loses_nothing_and_the_rerun_delivers_everything(store_url, platform, tmp_path):
    order = enqueue_all(store_url, [T0 + timedelta(minutes=i) for i in range(3)])
    platform.hang_next()
    config = settings(store_url, tmp_path, platform.url + SECRET)
    arguments = [
        store_url,
        config.sink_url,
        str(config.landing_dir),
        WINDOW.start.isoformat(),
        WINDOW.end.isoformat(),
    ]
    process = subprocess.Popen([sys.executable, "-c", PUBLISH, *arguments])
    try:
        assert platform.hanging.wait(120), "the publish never reached the sink"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(60)
    assert process.returncode == -signal.SIGKILL

    # Killed mid-send: nothing half-written, every message still pending, no run recorded.
    rows = outbox(store_url)
    assert all((row.delivered_at, row.attempts, row.last_error) == (None, 0, None) for row in rows.values())
    with transaction(connect(store_url)) as session:
        assert session.scalars(select(PipelineRun)).all() == []
    state = breaker_row(store_url, HttpSink(config.sink_url))
    assert (state.state, state.failures) == ("closed", 0)

    # The rerun has the sink's turn at once (it died with the killed process) and delivers.
    platform.released.set()
    summary = run_stage("publish", WINDOW, config).summary
    assert (summary["delivered"], summary["still_pending"], summary["error"]) == (3, 0, None)
    received = platform.batches()
    assert received == [order, order]  # at least once: the killed send reached the platform too
    assert sorted({i for batch in received for i in batch}) == sorted(order)  # once each, by id
    assert all(row.delivered_at is not None and row.attempts == 1 for row in outbox(store_url).values())


def test_the_sink_url_is_shown_by_its_origin_only(store_url, platform, closed_port, caplog, monkeypatch):
    # Airflow's logging setup (imported by earlier tests) quiets httpx; its request line must be seen here.
    httpx_log = logging.getLogger("httpx")
    monkeypatch.setattr(httpx_log, "propagate", True)
    monkeypatch.setattr(httpx_log, "disabled", False)
    enqueue_all(store_url, [T0])
    url = platform.url.replace("http://", "http://aitl:hunter2@") + SECRET
    unreachable = f"http://aitl:hunter2@127.0.0.1:{closed_port}{SECRET}"
    platform.default_status = 503
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        refused = run(store_url, HttpSink(url), NOW, retries=0)
        platform.hang_next()
        timed_out = run(store_url, HttpSink(url, read_timeout_s=0.5), NOW, retries=0)
        down = run(store_url, HttpSink(unreachable, connect_timeout_s=2), NOW, retries=0)
        platform.default_status = 200
        delivered = run(store_url, HttpSink(url), NOW)

    origin = f"http:{platform.url}"
    assert refused["error"] == f"HTTP 503 Service Unavailable from {origin}"
    assert timed_out["error"] == f"cannot reach {origin}: ReadTimeout: timed out"
    assert down["error"].startswith(f"cannot reach http:http://127.0.0.1:{closed_port}: ConnectError: ")
    assert (delivered["sink"], delivered["delivered"]) == (origin, 1)
    assert platform.requests[-1]["path"] == SECRET  # the platform still gets the whole URL
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith(f'HTTP Request: POST {platform.url} "HTTP/1.0 200 OK"') for m in messages)
    shown = [
        json.dumps([refused, timed_out, down, delivered]),
        caplog.text,
        *messages,
        *stored_text(store_url),
    ]
    assert not any(secret in text for text in shown for secret in SECRETS)
