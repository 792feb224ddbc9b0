"""Collection: every record read is stored, a duplicate, or quarantined with its reason."""

from __future__ import annotations

import base64
import csv
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
)

from aitl.config import Settings
from aitl.ingest.readers import MAX_RECORD_BYTES, landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.store import connect, transaction
from aitl.store.models import Event, Quarantine
from aitl.window import Window
from tests.factories import event

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)
WINDOW = Window(HOUR, HOUR + timedelta(hours=1))


def settings(store_url: str, landing: Path | None, **kw) -> Settings:
    return Settings(store_url=store_url, landing_dir=landing, **kw)


def write_jsonl(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def dumps(obj) -> bytes:
    return json.dumps(obj).encode()


def quarantine(url: str) -> dict[str, tuple[str, str]]:
    with transaction(connect(url)) as session:
        rows = session.scalars(select(Quarantine)).all()
        return {row.locator: (row.field, row.reason) for row in rows}


def count(url: str, model) -> int:
    with transaction(connect(url)) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_bad_input_is_quarantined_with_its_reason_and_nothing_is_lost(store_url, tmp_path):
    at = HOUR + timedelta(minutes=10)
    good = [event(at, event_id=f"good-{i}") for i in range(5)]
    huge = event(at, event_id="huge", comment="x" * (10 * 1024 * 1024))
    lines = [
        *(dumps(e) for e in good),  # lines 1-5
        b'{"event_id": "broken", "success": tru',  # 6 malformed JSON
        dumps(event(at, event_id="typed", success="yes")),  # 7 wrong type
        dumps({k: v for k, v in event(at, event_id="nots").items() if k != "timestamp"}),  # 8
        dumps(event(at, event_id="good-0")),  # 9 duplicate id in file
        dumps(event(HOUR - timedelta(hours=7), event_id="early")),  # 10 beyond the allowed lateness
        dumps(huge),  # 11 10 MB line
        b'{"event_id": "latin1", "comment": "caf\xe9"}',  # 12 not UTF-8
        b"",  # blank: not a record
        b"[1, 2, 3]",  # 14 not an object
    ]
    landing = tmp_path / "landing"
    write_jsonl(landing_hour_dir(landing, HOUR) / "part-0.jsonl", lines)

    summary = run_stage("collect", WINDOW, settings(store_url, landing)).summary

    assert summary["read"] == 13
    assert summary["stored"] == 5
    assert summary["duplicates"] == 1
    assert summary["quarantined"] == 7
    assert summary["read"] == summary["stored"] + summary["duplicates"] + summary["quarantined"]
    reasons = quarantine(store_url)
    assert reasons["line:6"][0] == "event" and "malformed JSON" in reasons["line:6"][1]
    assert reasons["line:7"] == ("success", "success: Expected `bool`, got `str`")
    assert reasons["line:8"] == ("timestamp", "timestamp: Object missing required field `timestamp`")
    assert reasons["line:10"][0] == "timestamp" and "allowed lateness" in reasons["line:10"][1]
    assert reasons["line:11"][0] == "event" and f"{MAX_RECORD_BYTES}-byte limit" in reasons["line:11"][1]
    assert reasons["line:12"][0] == "event"
    assert reasons["line:12"][1].startswith("event: not valid UTF-8 (byte 38) (raw record kept as base64")
    assert reasons["line:14"] == ("event", "event: Expected `object`, got `array`")
    with transaction(connect(store_url)) as session:
        raw = {q.locator: (q.raw, q.raw_encoding) for q in session.scalars(select(Quarantine))}
    assert len(raw["line:11"][0]) > 10 * 1024 * 1024 and raw["line:11"][1] == "text"  # kept whole
    # Bytes that are not UTF-8 are kept exactly, as base64.
    assert raw["line:12"][1] == "base64"
    assert base64.b64decode(raw["line:12"][0]) == b'{"event_id": "latin1", "comment": "caf\xe9"}'
    assert count(store_url, Event) == 5


def test_reingesting_a_window_changes_nothing(store_url, tmp_path):
    at = HOUR + timedelta(minutes=1)
    landing = tmp_path / "landing"
    path = landing_hour_dir(landing, HOUR) / "a.jsonl"
    write_jsonl(path, [dumps(event(at, event_id=f"e{i}")) for i in range(20)] + [b"not json"])
    first = run_stage("collect", WINDOW, settings(store_url, landing)).summary
    second = run_stage("collect", WINDOW, settings(store_url, landing))
    assert (first["stored"], first["duplicates"], first["quarantined"]) == (20, 0, 1)
    # The manifest knows the file: nothing is read again, and the hour goes on to be analysed.
    assert (second.summary["read"], second.summary["files"], second.stop) == (0, 0, None)
    assert second.summary["events_in_window"] == 20
    # A rewritten file is read again whole; what it held before is stored once.
    write_jsonl(path, [dumps(event(at, event_id=f"e{i}")) for i in range(21)] + [b"not json"])
    os.utime(path, ns=(1, 1))
    third = run_stage("collect", WINDOW, settings(store_url, landing)).summary
    assert (third["stored"], third["duplicates"], third["quarantined"]) == (1, 20, 1)
    assert count(store_url, Event) == 21
    # The bad line moved (line 21, now 22): a record at a new place, and the old one is kept.
    assert set(quarantine(store_url)) == {"line:21", "line:22"}


def test_csv_landing_files(store_url, tmp_path):
    at = HOUR + timedelta(minutes=2)
    landing = tmp_path / "landing"
    path = landing_hour_dir(landing, HOUR) / "export.csv"
    path.parent.mkdir(parents=True)
    fields = [
        "event_id",
        "execution_id",
        "session_id",
        "user_id",
        "timestamp",
        "success",
        "duration_s",
        "quality_score",
        "errors",
        "security_warnings",
    ]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        writer.writerow(
            [
                "c1",
                "x1",
                "s1",
                "u1",
                at.isoformat(),
                "true",
                "2.5",
                "0.9",
                '[{"type": "timeout", "message": "took, too long"}]',
                '["xss"]',
            ]
        )
        writer.writerow(["c2", "x2", "s1", "u1", at.isoformat(), "maybe", "2.5", "0.9", "", ""])
        writer.writerow(["c3", "x3", "s1", "u1", at.isoformat(), "0", "2.5", "0.9", "", "", "extra"])
    summary = run_stage("collect", WINDOW, settings(store_url, landing)).summary
    assert (summary["read"], summary["stored"], summary["quarantined"]) == (3, 1, 2)
    with transaction(connect(store_url)) as session:
        stored = session.get(Event, "c1")
        assert stored.errors == [{"type": "timeout", "message": "took, too long"}]
        assert stored.security_warnings == ["xss"]
        assert stored.success is True
    reasons = quarantine(store_url)
    assert reasons["line:3"][0] == "success"
    assert reasons["line:4"] == ("event", "event: more cells than header columns")


def test_sql_source_table(store_url, tmp_path):
    source_url = f"sqlite:///{tmp_path / 'platform.db'}"
    engine = create_engine(source_url)
    table = Table(
        "feedback_events",
        MetaData(),
        Column("event_id", String, primary_key=True),
        Column("execution_id", String),
        Column("session_id", String),
        Column("user_id", String),
        Column("timestamp", DateTime),
        Column("success", Boolean),
        Column("duration_s", Float),
        Column("quality_score", Float),
        Column("prompt_version", Integer),
        Column("errors", JSON),
    )
    table.create(engine)
    at = (HOUR + timedelta(minutes=5)).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            insert(table),
            [
                {
                    "event_id": "q1",
                    "execution_id": "x",
                    "session_id": "s",
                    "user_id": "u",
                    "timestamp": at,
                    "success": True,
                    "duration_s": 1.0,
                    "quality_score": 0.5,
                    "prompt_version": 2,
                    "errors": [{"type": "timeout"}],
                },
                {
                    "event_id": "q2",
                    "execution_id": "x",
                    "session_id": "s",
                    "user_id": "u",
                    "timestamp": at,
                    "success": False,
                    "duration_s": 1.0,
                    "quality_score": 7.0,
                    "prompt_version": 2,
                    "errors": None,
                },
                {
                    "event_id": "q3",
                    "execution_id": "x",
                    "session_id": "s",
                    "user_id": "u",
                    "timestamp": at - timedelta(hours=1),
                    "success": True,
                    "duration_s": 1.0,
                    "quality_score": 0.5,
                    "prompt_version": 2,
                    "errors": None,
                },
            ],
        )
    source = settings(store_url, None, source_url=source_url, source_table="feedback_events")
    summary = run_stage("collect", WINDOW, source).summary
    # q3 belongs to the hour before, still within the allowed lateness: stored in its own hour.
    assert (summary["read"], summary["stored"], summary["quarantined"]) == (3, 2, 1)
    assert summary["hours"] == {(HOUR - timedelta(hours=1)).isoformat(): 1, HOUR.isoformat(): 1}
    assert quarantine(store_url) == {
        "2026-11-20T05:00/row:1/event_id:q2": ("quality_score", "quality_score: Expected `float` <= 1.0")
    }
    # A row inserted late for this hour is read by the next hour's run; unchanged hours are not read again.
    with engine.begin() as connection:
        late = {"event_id": "q4", "execution_id": "x", "session_id": "s", "user_id": "u", "timestamp": at}
        connection.execute(insert(table), [late | {"success": True, "duration_s": 2.0, "quality_score": 0.9}])
    engine.dispose()
    next_hour = run_stage("collect", Window(WINDOW.end, WINDOW.end + timedelta(hours=1)), source).summary
    assert (next_hour["read"], next_hour["stored"], next_hour["hours"]) == (3, 1, {HOUR.isoformat(): 1})


def test_empty_window_stops_the_cycle(store_url, tmp_path):
    result = run_stage("collect", WINDOW, settings(store_url, tmp_path / "nothing-here"))
    assert result.stop and "no events" in result.stop
    assert result.summary["read"] == 0


@pytest.mark.parametrize("bad", ["2026-11-20T06:00:00Z"])
def test_failed_stage_leaves_no_partial_writes(sqlite_url, tmp_path, bad, monkeypatch):
    landing = tmp_path / "landing"
    write_jsonl(
        landing_hour_dir(landing, HOUR) / "a.jsonl",
        [dumps(event(HOUR, event_id="ok")), dumps(event(bad, event_id="late"))],
    )
    from aitl.ingest import collector

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(collector, "insert_ignore", explode)
    with pytest.raises(RuntimeError):
        run_stage("collect", WINDOW, settings(sqlite_url, landing))
    assert count(sqlite_url, Event) == 0
    assert count(sqlite_url, Quarantine) == 0


def test_batches_give_the_same_result_and_roll_back_together(sqlite_url, tmp_path, monkeypatch):
    at = HOUR + timedelta(minutes=3)
    landing = tmp_path / "landing"
    lines = [dumps(event(at, event_id=f"b{i % 7}")) for i in range(10)] + [b"{oops"]
    write_jsonl(landing_hour_dir(landing, HOUR) / "a.jsonl", lines)
    from aitl.ingest import collector

    monkeypatch.setattr(collector.Collector.__init__, "__kwdefaults__", {"privacy": None, "batch_size": 2})
    calls = []
    real = collector.insert_ignore

    def fail_on_third_batch(session, table, rows):
        calls.append(len(rows))
        if len(calls) == 5:
            raise RuntimeError("connection lost")
        return real(session, table, rows)

    monkeypatch.setattr(collector, "insert_ignore", fail_on_third_batch)
    with pytest.raises(RuntimeError):
        run_stage("collect", WINDOW, settings(sqlite_url, landing))
    assert count(sqlite_url, Event) == 0  # the batches written before the failure are gone too

    monkeypatch.setattr(collector, "insert_ignore", real)
    summary = run_stage("collect", WINDOW, settings(sqlite_url, landing)).summary
    assert (summary["read"], summary["stored"], summary["duplicates"], summary["quarantined"]) == (
        11,
        7,
        3,
        1,
    )
    assert count(sqlite_url, Event) == 7
