"""Publishing decisions: the outbox keeps them, sinks deliver them in order, the breaker spares a dead sink.

The HTTP sink talks to a real local server that can be told to fail
(``Platform``, in conftest); the SQL sink writes to a real SQLite file; the
store runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update

from aitl.publish.outbox import enqueue, publish
from aitl.publish.sinks import FileSink, HttpSink, SinkError, SqlSink, canonical_json, sink_from_url
from aitl.store import connect, transaction
from aitl.store.models import OutboxMessage, SinkState

T0 = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 6, tzinfo=UTC)


def decision(i: int) -> dict[str, Any]:
    return {"experiment_id": f"exp-{i}", "decision": "promote", "look": i, "effect": 0.1 * i}


def enqueue_all(url: str, times: list[datetime]) -> list[str]:
    """Enqueue one decision per time; return the ids in the order they must be delivered."""
    with transaction(connect(url)) as session:
        ids = [enqueue(session, "decision", decision(i), at) for i, at in enumerate(times)]
    return [message_id for _, message_id in sorted(zip(times, ids, strict=True))]


def run(url: str, sink: Any, now: datetime, **options: Any) -> dict[str, Any]:
    """One publish, as one Airflow task would; never really sleeps."""
    options.setdefault("sleep", lambda _seconds: None)
    return publish(connect(url), sink, now, **options)


def outbox(url: str) -> dict[str, OutboxMessage]:
    with transaction(connect(url)) as session:
        return {row.id: row for row in session.scalars(select(OutboxMessage))}


def breaker_row(url: str, sink: Any) -> SinkState:
    with transaction(connect(url)) as session:
        row = session.get(SinkState, sink.name)
    assert row is not None
    return row


def test_enqueue_keeps_one_row_per_kind_and_payload(store_url):
    with transaction(connect(store_url)) as session:
        first = enqueue(session, "decision", {"a": 1, "b": [1, 2]}, T0)
    with transaction(connect(store_url)) as session:  # a rerun, later, with the keys in another order
        again = enqueue(session, "decision", {"b": [1, 2], "a": 1}, T0 + timedelta(hours=1))
        other_payload = enqueue(session, "decision", {"a": 2, "b": [1, 2]}, T0)
        other_kind = enqueue(session, "rollback", {"a": 1, "b": [1, 2]}, T0)
    assert again == first
    assert len({first, other_payload, other_kind}) == 3
    rows = outbox(store_url)
    assert set(rows) == {first, other_payload, other_kind}
    kept = rows[first]
    assert (kept.kind, kept.payload, kept.created_at) == ("decision", {"a": 1, "b": [1, 2]}, T0)
    assert (kept.attempts, kept.last_error, kept.delivered_at) == (0, None, None)


def test_enqueue_refuses_what_the_store_cannot_keep(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        with pytest.raises(ValueError, match="naive"):
            enqueue(session, "decision", {}, datetime(2026, 11, 20))
        with pytest.raises(ValueError, match="longer than 32"):
            enqueue(session, "d" * 33, {}, T0)


def test_file_sink_delivers_everything_in_order_once(store_url, tmp_path):
    times = [T0 + timedelta(minutes=m) for m in (3, 1, 1, 0, 2)]  # enqueued out of order, with a tie
    order = enqueue_all(store_url, times)
    path = tmp_path / "spool" / "new" / "decisions.jsonl"
    sink = FileSink(path)

    summary = run(store_url, sink, NOW, batch_size=2)
    assert summary == {
        "sink": sink.name,
        "pending_before": 5,
        "delivered": 5,
        "failed_attempts": 0,
        "still_pending": 0,
        "breaker": "closed",
        "error": None,
    }
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["id"] for line in lines] == order
    assert lines[0] == {
        "id": order[0],
        "kind": "decision",
        "created_at": "2026-11-20T00:00:00+00:00",
        "payload": decision(3),
    }
    assert all(
        (r.delivered_at, r.attempts, r.last_error) == (NOW, 1, None) for r in outbox(store_url).values()
    )

    rerun = run(store_url, sink, NOW + timedelta(hours=1))
    assert (rerun["pending_before"], rerun["delivered"], rerun["still_pending"]) == (0, 0, 0)
    assert len(path.read_bytes().splitlines()) == 5


def test_file_sink_starts_after_a_torn_line(tmp_path):
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b'{"id": "torn by a cra')
    FileSink(path).send([{"id": "m1"}])
    assert path.read_bytes().splitlines() == [b'{"id": "torn by a cra', b'{"id":"m1"}']


def test_file_sink_failure_is_a_sink_error(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(SinkError, match="cannot append"):
        FileSink(tmp_path / "taken" / "decisions.jsonl").send([{"id": "m1"}])


def test_http_sink_retries_with_exponential_backoff(store_url, platform):
    order = enqueue_all(store_url, [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)])
    platform.fail_next(2)
    sink = HttpSink(f"{platform.url}/decisions?token=secret", headers={"Authorization": "Bearer t0k"})
    sleeps: list[float] = []

    summary = run(store_url, sink, NOW, sleep=sleeps.append)
    assert (summary["delivered"], summary["failed_attempts"], summary["still_pending"]) == (3, 2, 0)
    assert (summary["breaker"], summary["error"]) == ("closed", None)
    assert sleeps == [0.5, 1.0]
    assert [r["status"] for r in platform.requests] == [503, 503, 200]
    assert platform.batches() == [order] * 3
    request = platform.requests[-1]
    assert request["path"] == "/decisions?token=secret"
    assert request["headers"]["Authorization"] == "Bearer t0k"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["messages"][0]["payload"] == decision(0)
    rows = outbox(store_url)
    # Every send is counted, and the trouble stays visible after the success.
    assert all(r.delivered_at == NOW and r.attempts == 3 for r in rows.values())
    assert all(r.last_error == f"HTTP 503 Service Unavailable from {sink.name}" for r in rows.values())
    assert sink.name == f"http:{platform.url}"  # no path or token in what is stored and logged
    assert breaker_row(store_url, sink).failures == 0


@pytest.mark.parametrize(("status", "message"), [(404, "HTTP 404 Not Found"), (302, "HTTP 302 Found")])
def test_http_sink_accepts_only_2xx(platform, status, message):
    platform.fail_next(1, status)
    with pytest.raises(SinkError, match=message):
        HttpSink(platform.url).send([{"id": "m1"}])
    assert platform.batches() == [["m1"]]  # the redirect was not followed


def test_http_sink_unreachable_is_a_sink_error(closed_port):
    with pytest.raises(SinkError, match="cannot reach"):
        HttpSink(f"http://127.0.0.1:{closed_port}/", connect_timeout_s=2).send([{"id": "m1"}])


def test_dead_sink_loses_nothing_and_its_breaker_opens_probes_and_closes(store_url, platform):
    order = enqueue_all(store_url, [T0 + timedelta(minutes=i) for i in range(5)])
    platform.default_status = 503
    sink = HttpSink(platform.url)
    sleeps: list[float] = []

    # Closed: every publish tries (1 + 3 retries) and counts one failure; the fifth opens it.
    for i in range(5):
        summary = run(store_url, sink, NOW + timedelta(seconds=i), batch_size=2, sleep=sleeps.append)
        assert (summary["delivered"], summary["failed_attempts"], summary["still_pending"]) == (0, 4, 5)
        assert summary["breaker"] == ("open" if i == 4 else "closed")
        assert summary["error"] == f"HTTP 503 Service Unavailable from {sink.name}"
    assert sleeps == [0.5, 1.0, 2.0] * 5
    assert platform.batches() == [order[:2]] * 20  # the first batch, never anything after it
    rows = outbox(store_url)
    assert all(rows[i].delivered_at is None for i in order)
    assert [rows[i].attempts for i in order] == [20, 20, 0, 0, 0]
    assert [rows[i].last_error is not None for i in order] == [True, True, False, False, False]
    opened_at = NOW + timedelta(seconds=4)
    state = breaker_row(store_url, sink)
    assert (state.state, state.failures, state.opened_at) == ("open", 5, opened_at)

    # Open: publishing does not call the sink at all.
    summary = run(store_url, sink, opened_at + timedelta(seconds=59), batch_size=2)
    assert (summary["breaker"], summary["delivered"], summary["still_pending"]) == ("open", 0, 5)
    assert summary["error"].startswith("circuit open")
    assert len(platform.requests) == 20

    # Half-open: one message, one try; its failure reopens the breaker from now.
    probe_at = opened_at + timedelta(seconds=60)
    summary = run(store_url, sink, probe_at, batch_size=2)
    assert (summary["breaker"], summary["failed_attempts"], summary["still_pending"]) == ("open", 1, 5)
    assert platform.batches()[20:] == [order[:1]]
    state = breaker_row(store_url, sink)
    assert (state.state, state.failures, state.opened_at) == ("open", 6, probe_at)
    assert outbox(store_url)[order[0]].attempts == 21
    run(store_url, sink, probe_at + timedelta(seconds=30), batch_size=2)
    assert len(platform.requests) == 21

    # The sink is back: the probe closes the breaker and the rest follows in the same publish.
    platform.default_status = 200
    later = probe_at + timedelta(seconds=60)
    summary = run(store_url, sink, later, batch_size=2)
    assert (summary["breaker"], summary["delivered"], summary["still_pending"]) == ("closed", 5, 0)
    assert (summary["failed_attempts"], summary["error"]) == (0, None)
    assert platform.batches()[21:] == [order[:1], order[1:3], order[3:]]
    assert platform.batches(200) == [order[:1], order[1:3], order[3:]]
    state = breaker_row(store_url, sink)
    assert (state.state, state.failures, state.opened_at, state.updated_at) == ("closed", 0, None, later)
    assert all(row.delivered_at == later for row in outbox(store_url).values())


def test_a_failed_batch_stops_the_publish_so_order_is_kept(store_url, platform):
    order = enqueue_all(store_url, [T0 + timedelta(minutes=i) for i in range(5)])
    platform.plan.append(200)
    platform.default_status = 503
    sink = HttpSink(platform.url)

    summary = run(store_url, sink, NOW, batch_size=2, retries=1)
    assert (summary["delivered"], summary["failed_attempts"], summary["still_pending"]) == (2, 2, 3)
    assert summary["breaker"] == "closed"
    assert platform.batches() == [order[:2], order[2:4], order[2:4]]
    rows = outbox(store_url)
    assert [rows[i].delivered_at for i in order] == [NOW, NOW, None, None, None]
    assert [rows[i].attempts for i in order] == [1, 1, 2, 2, 0]
    assert breaker_row(store_url, sink).failures == 1

    platform.default_status = 200
    summary = run(store_url, sink, NOW + timedelta(minutes=5), batch_size=2)
    assert (summary["delivered"], summary["still_pending"]) == (3, 0)
    assert [i for batch in platform.batches(200) for i in batch] == order
    assert breaker_row(store_url, sink).failures == 0


def test_sql_sink_is_idempotent_on_redelivery(store_url, tmp_path):
    order = enqueue_all(store_url, [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)])
    target = f"sqlite:///{tmp_path / 'platform' / 'published.db'}"
    sink = SqlSink(target, table="decisions_in")

    assert run(store_url, sink, NOW)["delivered"] == 3
    # A crash after the sink took the batch but before delivered_at was committed: redelivery.
    with transaction(connect(store_url)) as session:
        session.execute(update(OutboxMessage).values(delivered_at=None))
    assert run(store_url, sink, NOW + timedelta(hours=1))["delivered"] == 3

    with connect(target).connect() as connection:
        stored = connection.execute(select(sink.table).order_by(sink.table.c.created_at)).all()
        assert connection.scalar(select(func.count()).select_from(sink.table)) == 3
    assert [row.id for row in stored] == order
    first = stored[0]
    assert (first.kind, first.payload, first.created_at) == ("decision", canonical_json(decision(0)), T0)
    assert first.published_at.tzinfo is UTC


def test_sql_sink_failure_is_a_sink_error(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(SinkError, match="cannot write"):
        SqlSink(f"sqlite:///{tmp_path / 'taken' / 'published.db'}").send([{"id": "m1"}])


def test_sink_from_url(tmp_path):
    by_file_url = sink_from_url(f"file://{tmp_path}/out/decisions.jsonl")
    assert isinstance(by_file_url, FileSink)
    assert by_file_url.path == tmp_path / "out" / "decisions.jsonl"
    by_path = sink_from_url("spool/decisions.jsonl")
    assert isinstance(by_path, FileSink)
    assert by_path.path == Path("spool/decisions.jsonl")
    for url in ("http://platform:8080/aitl", "https://platform.example/aitl"):
        http = sink_from_url(url)
        assert isinstance(http, HttpSink)
        assert http.url == url
    for url in (f"sqlite:///{tmp_path / 'p.db'}", "postgresql+psycopg2://aitl:pw@db:5432/platform"):
        sql = sink_from_url(url)
        assert isinstance(sql, SqlSink)
        assert sql.url == url
    assert sink_from_url("postgresql+psycopg2://aitl:pw@db:5432/platform").name == (
        "sql:postgresql+psycopg2://aitl:***@db:5432/platform#aitl_published"
    )
    for url, shown in (
        ("kafka://user:pw@broker:9092/decisions", "kafka://broker:9092"),
        ("ftp://host/x", "ftp://host"),
    ):
        with pytest.raises(ValueError, match=f"unknown sink url {shown}: not a file") as raised:
            sink_from_url(url)
        assert "pw" not in str(raised.value) and "/decisions" not in str(raised.value)
    with pytest.raises(ValueError, match="file sink url file://fileserver names a remote host"):
        sink_from_url("file://fileserver/decisions.jsonl")
    with pytest.raises(ValueError, match="invalid http sink url"):
        sink_from_url("http://platform:port/aitl")


def test_a_bug_in_a_sink_is_raised_not_retried(sqlite_url):
    class BrokenSink:
        name = "broken"
        calls = 0

        def send(self, messages: list[dict[str, Any]]) -> None:
            BrokenSink.calls += 1
            raise TypeError("a bug, not an outage")

    enqueue_all(sqlite_url, [T0])
    with pytest.raises(TypeError, match="a bug"):
        run(sqlite_url, BrokenSink(), NOW)
    assert BrokenSink.calls == 1
    with pytest.raises(ValueError, match="batch_size"):
        run(sqlite_url, BrokenSink(), NOW, batch_size=0)
    with pytest.raises(ValueError, match="naive"):
        run(sqlite_url, BrokenSink(), datetime(2026, 11, 21))


def test_a_failed_probe_reopens_even_under_a_raised_threshold(sqlite_url, platform):
    enqueue_all(sqlite_url, [T0])
    platform.default_status = 503
    sink = HttpSink(platform.url)
    assert run(sqlite_url, sink, NOW, failure_threshold=1, retries=0)["breaker"] == "open"
    probe_at = NOW + timedelta(seconds=60)
    # The failures (2) stay under the new threshold, but a failed probe is proof enough.
    summary = run(sqlite_url, sink, probe_at, failure_threshold=10, retries=0)
    assert summary["breaker"] == "open"
    state = breaker_row(sqlite_url, sink)
    assert (state.state, state.failures, state.opened_at) == ("open", 2, probe_at)
    assert len(platform.requests) == 2
