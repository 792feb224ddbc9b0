"""Event time: late files, clock skew, files being written, landing hygiene, imports and replay."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from aitl.cli.main import main as aitl
from aitl.config import Settings, Thresholds
from aitl.ingest.readers import landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.store import connect, transaction
from aitl.store.models import Event, HourlyRollup, LateArrival, Quarantine
from aitl.window import HOUR as ONE_HOUR
from aitl.window import Window
from tests.factories import event

H = datetime(2026, 11, 20, 5, tzinfo=UTC)


def settings(url: str, landing: Path, **thresholds) -> Settings:
    return Settings(store_url=url, landing_dir=landing, thresholds=Thresholds.resolve(overrides=thresholds))


def write(landing: Path, hour: datetime, name: str, events: list[dict]) -> Path:
    path = landing_hour_dir(landing, hour) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def run_hour(s: Settings, hour: datetime) -> dict:
    window = Window.hour_of(hour)
    collected = run_stage("collect", window, s)
    normalized = run_stage("normalize", window, s) if not collected.stop else None
    return {"collect": collected.summary, "normalize": normalized.summary if normalized else None}


def rollups(url: str, hour: datetime) -> list[dict]:
    table = HourlyRollup.__table__
    with transaction(connect(url)) as session:
        rows = session.execute(
            select(table).where(table.c.hour == hour).order_by(*table.primary_key)
        ).mappings()
        return [dict(row) for row in rows]


def batch(hour: datetime, n: int, prefix: str, **fields) -> list[dict]:
    return [
        event(hour + timedelta(minutes=i % 60), event_id=f"{prefix}-{i}", success=i % 3 != 0, **fields)
        for i in range(n)
    ]


def test_a_late_file_is_stored_by_a_later_run_and_its_hour_matches_an_on_time_run(store_url, tmp_path):
    on_time_events, late_events = batch(H, 30, "a"), batch(H, 12, "late", task_type="refactor")
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    from aitl.store import upgrade

    upgrade(reference)
    write(tmp_path / "ref", H, "a.jsonl", on_time_events)
    write(tmp_path / "ref", H, "b.jsonl", late_events)
    run_hour(settings(reference, tmp_path / "ref"), H)

    landing = tmp_path / "landing"
    s = settings(store_url, landing)
    write(landing, H, "a.jsonl", on_time_events)
    write(landing, H + ONE_HOUR, "next.jsonl", batch(H + ONE_HOUR, 5, "n"))
    run_hour(s, H)
    write(landing, H, "b.jsonl", late_events)  # lands after H ran
    for k in range(1, 4):  # H+1 stores it; later runs within the lateness find nothing new
        result = run_hour(s, H + k * ONE_HOUR)
        if k == 1:
            assert result["collect"]["hours"] == {H.isoformat(): 12, (H + ONE_HOUR).isoformat(): 5}
            assert result["normalize"]["renormalized"] == [H.isoformat()]
        else:
            assert result["collect"]["read"] == 0
    assert rollups(store_url, H) == rollups(reference, H)
    with transaction(connect(store_url)) as session:
        late = session.get(LateArrival, H)
        assert late.events == 12 and late.normalized_at is not None


def test_beyond_the_lateness_events_are_quarantined_and_running_their_hour_stores_them(store_url, tmp_path):
    landing = tmp_path / "landing"
    s = settings(store_url, landing, allowed_lateness="2h")
    write(landing, H, "a.jsonl", batch(H, 10, "a"))
    run_hour(s, H)
    # A producer writes hour H's events into the folder of H+3, beyond the 2 h lateness.
    write(landing, H + 3 * ONE_HOUR, "old.jsonl", batch(H, 4, "old"))
    result = run_hour(s, H + 3 * ONE_HOUR)
    assert result["collect"]["quarantined"] == 4
    with transaction(connect(store_url)) as session:
        reasons = session.scalars(select(Quarantine.reason)).all()
    assert all("later than the allowed lateness" in r and "run of hour 2026-11-20T05Z" in r for r in reasons)

    again = run_hour(s, H)  # the backfill of H
    assert again["collect"]["replayed"] == 4
    with transaction(connect(store_url)) as session:
        assert session.scalars(select(Quarantine)).all() == []
        assert len(session.scalars(select(Event).where(Event.event_id.like("old-%"))).all()) == 4
    assert sum(row["n"] for row in rollups(store_url, H)) == 14


def test_clock_skew_at_the_boundary_stores_each_event_in_its_own_hour(store_url, tmp_path):
    landing = tmp_path / "landing"
    s = settings(store_url, landing)
    boundary = H + ONE_HOUR
    write(
        landing, H, "a.jsonl", [event(boundary + timedelta(seconds=10), event_id="ahead"), *batch(H, 3, "a")]
    )
    write(landing, boundary, "b.jsonl", [event(boundary - timedelta(seconds=10), event_id="behind")])
    run_hour(s, H)
    run_hour(s, boundary)
    with transaction(connect(store_url)) as session:
        stored = {e.event_id: e.ts for e in session.scalars(select(Event))}
        assert session.scalars(select(Quarantine)).all() == []
    assert stored["ahead"] == boundary + timedelta(seconds=10)
    assert stored["behind"] == boundary - timedelta(seconds=10)
    assert sum(row["n"] for row in rollups(store_url, H)) == 4  # 3 + behind
    assert sum(row["n"] for row in rollups(store_url, boundary)) == 1  # ahead


def test_a_line_being_written_is_stored_once_complete_and_leaves_the_quarantine(store_url, tmp_path):
    landing = tmp_path / "landing"
    s = settings(store_url, landing)
    whole = json.dumps(event(H + timedelta(minutes=5), event_id="last")) + "\n"
    path = write(landing, H, "a.jsonl", batch(H, 3, "a"))
    with path.open("a") as handle:
        handle.write(whole[:40])
    first = run_stage("collect", Window.hour_of(H), s).summary
    assert (first["stored"], first["quarantined"]) == (3, 1)
    with path.open("a") as handle:
        handle.write(whole[40:])
    second = run_stage("collect", Window.hour_of(H), s).summary
    assert (second["read"], second["stored"], second["quarantined"]) == (
        1,
        1,
        0,
    )  # read from where it stopped
    with transaction(connect(store_url)) as session:
        assert session.scalars(select(Quarantine)).all() == []
        assert session.get(Event, "last") is not None


def test_only_regular_files_inside_the_landing_folder_are_read(sqlite_url, tmp_path):
    landing = tmp_path / "landing"
    s = settings(sqlite_url, landing)
    folder = landing_hour_dir(landing, H)
    write(landing, H, "good.jsonl", batch(H, 2, "g"))
    os.mkfifo(folder / "pipe.jsonl")
    (folder / "dir.jsonl").mkdir()
    (folder / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    secret = tmp_path / "secret.jsonl"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "outside.jsonl").symlink_to(secret)
    (folder / "part.jsonl.tmp").write_text("{")
    (folder / ".hidden.jsonl").write_text("{")
    summary = run_stage("collect", Window.hour_of(H), s).summary
    assert (summary["read"], summary["stored"], summary["quarantined"]) == (2, 2, 0)
    prefix = f"{H:%Y-%m-%d}/{H:%H}"
    assert set(summary["skipped"]) == {
        f"{prefix}/{name}.jsonl" for name in ("pipe", "dir", "dangling", "outside")
    }
    assert "outside the landing folder" in summary["skipped"][f"{prefix}/outside.jsonl"]


def test_files_younger_than_min_file_age_wait_for_the_next_run(sqlite_url, tmp_path):
    landing = tmp_path / "landing"
    path = write(landing, H, "a.jsonl", batch(H, 2, "a"))
    young = run_stage(
        "collect", Window.hour_of(H), settings(sqlite_url, landing, min_file_age_s=3600)
    ).summary
    assert young["read"] == 0 and young["skipped_files"] == 1
    old = datetime.now(UTC).timestamp() - 7200
    os.utime(path, (old, old))
    later = run_stage(
        "collect", Window.hour_of(H), settings(sqlite_url, landing, min_file_age_s=3600)
    ).summary
    assert later["stored"] == 2


def test_aitl_ingest_imports_any_span_and_replay_stores_what_passes_now(sqlite_url, tmp_path, capsys):
    export = tmp_path / "export.jsonl"
    rows = [event(H - timedelta(days=d), event_id=f"x{d}") for d in range(3)]
    export.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"broken"\n')
    assert aitl(["ingest", "--store", sqlite_url, str(export)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: printed[k] for k in ("read", "stored", "duplicates", "quarantined")} == {
        "read": 4,
        "stored": 3,
        "duplicates": 0,
        "quarantined": 1,
    }
    assert printed["hours"] == sorted((H - timedelta(days=d)).isoformat() for d in range(3))
    assert aitl(["ingest", "--store", sqlite_url, str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl" in capsys.readouterr().err

    # A record refused for its time by a scheduled run comes back with a replay.
    landing = tmp_path / "landing"
    write(landing, H, "a.jsonl", [event(H - timedelta(days=2), event_id="old")])
    run_stage("collect", Window.hour_of(H), settings(sqlite_url, landing))
    assert aitl(["quarantine", "replay", "--store", sqlite_url]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert (replayed["stored"], replayed["still_quarantined"]) == (1, 1)  # {"broken" stays


def test_privacy_hash_keeps_no_free_text(sqlite_url, tmp_path):
    landing = tmp_path / "landing"
    private = event(
        H, event_id="p", comment="my email is a@b.c", errors=[{"type": "x", "message": "at /home/a"}]
    )
    path = write(landing, H, "a.jsonl", [private])
    with path.open("a") as handle:
        handle.write('{"comment": "secret text"}\n')
    s = replace(settings(sqlite_url, landing), privacy="hash")
    run_stage("collect", Window.hour_of(H), s)
    with transaction(connect(sqlite_url)) as session:
        stored = session.get(Event, "p")
        quarantined = session.scalars(select(Quarantine)).one()
    assert stored.comment.startswith("sha256:") and stored.errors[0]["message"].startswith("sha256:")
    assert "secret" not in quarantined.raw and quarantined.raw_encoding == "sha256"


def test_the_daily_summary_names_analysed_days_that_got_late_events(sqlite_url, tmp_path):
    landing = tmp_path / "landing"
    s = settings(sqlite_url, landing)
    day = Window(H.replace(hour=0), H.replace(hour=0) + timedelta(days=1))
    write(landing, H, "a.jsonl", batch(H, 5, "a"))
    run_hour(s, H)
    first = run_stage("collect", day, s, "daily").summary
    assert first["late_days"] == [] and first["complete"] and first["open_hours"] == 0
    write(landing, H, "late.jsonl", batch(H, 3, "late"))
    run_hour(s, H + ONE_HOUR)
    next_day = Window(day.end, day.end + timedelta(days=1))
    assert run_stage("collect", next_day, s, "daily").summary["late_days"] == [day.start.date().isoformat()]
