"""A sharded hour: the same derived tables as an unsharded run, and memory bounded by chunks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from aitl.config import ConfigError, Settings, Thresholds
from aitl.mining import summaries
from aitl.pipeline.runner import run_cycle, run_stage
from aitl.shards import GROUPS, WHOLE, Shard, session_bucket, shard_list
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction
from aitl.store.database import upgrade
from aitl.store.locks import advisory_lock, lock_key
from aitl.store.models import PipelineRun, SummaryPart
from aitl.window import HOUR, Window
from tests.conftest import DERIVED_TABLES, fresh_store, table_rows
from tests.factories import event

START = datetime(2026, 11, 20, 9, tzinfo=UTC)


def new_store(tmp_path, name: str, kind: str = "sqlite") -> str:
    (tmp_path / name).mkdir()
    return fresh_store(kind, tmp_path / name)


def run_hours(url: str, landing, shards: int) -> list[dict[str, Any]]:
    settings = Settings(
        store_url=url, landing_dir=landing, thresholds=Thresholds.resolve(overrides={"shards": shards})
    )
    return [run_cycle(Window(START + i * HOUR, START + (i + 1) * HOUR), settings) for i in range(2)]


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """Two simulated hours, each dealt over five files (sessions across files)."""
    folder = tmp_path_factory.mktemp("landing")
    simulate(folder, Window(START, START + 2 * HOUR), rate=1500, seed=11, files=5)
    return folder


@pytest.mark.parametrize("shards", [2, 3])
def test_sharded_hours_write_the_same_derived_tables(landing, tmp_path, shards):
    whole = new_store(tmp_path, "whole", "sqlite")
    split = new_store(tmp_path, "split", "sqlite")
    run_hours(whole, landing, 1)
    results = run_hours(split, landing, shards)
    normalized = results[0]["normalize"].summary
    assert normalized["shards"] == shards and normalized["parts_merged"] == shards
    assert normalized["events"] > 1000
    collected = results[0]["collect"].summary["shards"]
    assert sum(s["stored"] for s in collected) == normalized["events"]
    assert all(s["files"] < 5 for s in collected)  # each shard read its own files
    for name in DERIVED_TABLES:
        assert table_rows(split, name) == table_rows(whole, name), name
    with transaction(connect(split)) as session:
        assert session.scalars(select(SummaryPart.shard)).all() == []  # merged parts are deleted
        stages = set(session.scalars(select(PipelineRun.stage)))
    assert {f"collect[{i}/{shards}]" for i in range(1, shards + 1)} <= stages
    assert {f"summarize[{i}/{shards}]" for i in range(1, shards + 1)} <= stages


@pytest.mark.postgres
def test_sharded_hours_on_postgresql(landing, tmp_path):
    whole = new_store(tmp_path, "whole", "sqlite")
    split = new_store(tmp_path, "split", "postgresql")
    run_hours(whole, landing, 1)
    run_hours(split, landing, 4)
    for name in DERIVED_TABLES:
        assert table_rows(split, name) == table_rows(whole, name), name


def test_chunks_of_any_size_give_identical_summaries(landing, tmp_path, monkeypatch):
    """Memory is bounded by reading a few session groups at a time; the result does not depend on it."""
    whole = new_store(tmp_path, "whole", "sqlite")
    small = new_store(tmp_path, "small", "sqlite")
    run_hours(whole, landing, 1)
    monkeypatch.setattr(summaries, "CHUNK_EVENTS", 40)
    run_hours(small, landing, 1)
    for name in DERIVED_TABLES[:4]:
        assert table_rows(small, name) == table_rows(whole, name), name


def test_a_part_summarised_before_more_events_arrived_is_summarised_again(landing, tmp_path):
    """normalize merges a part only while its session groups still hold the events it summarised."""
    hour = Window(START, START + HOUR)
    copy = tmp_path / "landing"
    shutil.copytree(landing, copy)
    url = new_store(tmp_path, "split", "sqlite")
    settings = Settings(
        store_url=url, landing_dir=copy, thresholds=Thresholds.resolve(overrides={"shards": 2})
    )
    for index in range(2):
        run_stage("collect", hour, dataclasses.replace(settings, shard=Shard(index, 2)))
    for index in range(2):
        run_stage("summarize", hour, dataclasses.replace(settings, shard=Shard(index, 2)))
    # Then an event of one of shard 0's sessions lands, and is collected.
    session = next(f"late-{i}" for i in range(1000) if session_bucket(f"late-{i}") % 2 == 0)
    late = event(START + timedelta(minutes=5), event_id="late-1", session_id=session)
    (copy / START.strftime("%Y-%m-%d/%H") / "late.jsonl").write_text(json.dumps(late) + "\n")
    run_stage("collect", hour, settings)
    assert run_stage("normalize", hour, settings).summary["parts_merged"] == 1  # shard 1's part held
    whole = new_store(tmp_path, "whole", "sqlite")
    one = dataclasses.replace(settings, store_url=whole, thresholds=Thresholds.resolve())
    run_stage("collect", hour, one)
    run_stage("normalize", hour, one)
    for name in DERIVED_TABLES[:4]:
        assert table_rows(url, name) == table_rows(whole, name), name


def test_shards_partition_groups_and_files():
    for count in (1, 2, 3, 7, GROUPS):
        shards = [Shard(i, count) for i in range(count)]
        groups = sorted(g for shard in shards for g in shard.groups())
        assert groups == list(range(GROUPS))
        paths = [f"2026-11-20/09/file-{i}.jsonl" for i in range(50)]
        assert sorted(p for shard in shards for p in paths if shard.holds_file(p)) == sorted(paths)
    assert WHOLE.label("collect") == "collect" and Shard(1, 4).label("collect") == "collect[2/4]"
    assert shard_list(2) == [{"index": 0, "count": 2}, {"index": 1, "count": 2}]
    assert session_bucket("s-1") == session_bucket("s-1") != session_bucket("s-2")


@pytest.mark.parametrize("count", [0, GROUPS + 1])
def test_a_bad_shard_count_is_refused(count):
    with pytest.raises(ValueError, match="shard count must be 1 to 32"):
        shard_list(count)
    with pytest.raises(ConfigError, match="threshold 'shards' must be 1 to 32"):
        Thresholds.resolve(overrides={"shards": count})


def test_the_migration_fills_every_stored_events_bucket(tmp_path):
    """Events stored before the revision get the bucket ingest gives new ones."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = connect(url)
    with engine.begin() as connection:
        for n in range(30):
            connection.exec_driver_sql(
                "INSERT INTO events (event_id, execution_id, session_id, user_id, ts, success, source, "
                "ingested_at) VALUES (?, ?, ?, 'u', '2026-11-20 09:00:00.000000', 1, 'x', "
                "'2026-11-20 09:00:00.000000')",
                (f"e{n}", f"x{n}", f"s-{n % 7}"),
            )
    upgrade(url, "head")
    with engine.begin() as connection:
        rows = connection.exec_driver_sql("SELECT session_id, session_bucket FROM events").all()
    assert len(rows) == 30
    assert all(bucket == session_bucket(session) for session, bucket in rows)


@pytest.mark.postgres
def test_shards_share_the_windows_lock_and_exclude_other_stages(tmp_path):
    """On PostgreSQL a run's shards hold the window's lock together; any other stage waits for them."""
    url = new_store(tmp_path, "store", "postgresql")
    engine = connect(url)
    with transaction(engine) as first, transaction(engine) as second:
        advisory_lock(first, "hourly", START.isoformat(), shared=True)
        advisory_lock(second, "hourly", START.isoformat(), shared=True)  # does not wait
        with engine.connect() as other:
            key = {"key": lock_key("hourly", START.isoformat())}
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar() is False
            assert other.execute(text("SELECT pg_try_advisory_xact_lock_shared(:key)"), key).scalar() is True
