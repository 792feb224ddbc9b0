"""Columnar ingest stores exactly what the per-record path stores (a property over seeds).

Each seed lands a messy hour: the adversarial fuzz generator's files (every
record class, JSONL and CSV, BOM, CRLF, a last line without its newline),
simulated traffic with malformed lines in the hour and in an earlier hour of
the lateness window, and a file of edge cases for the columnar checks (events
late beyond the lateness and ahead of the hour, duplicates across files and
hours with different values, unknown and repeated keys, trailing commas, NaN,
escapes, non-ASCII, numbers written every way). The collect stage runs twice
(the second time after files grew, one of them from a truncated last line)
once record by record and once columnar (every JSONL file, however small), each
on a fresh store; the stores' events, quarantine, late arrivals and manifest,
and the stage summaries, must be identical.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select

from aitl.config import Settings
from aitl.ingest import columnar as columnar_module
from aitl.ingest import files as files_module
from aitl.ingest.collector import Privacy
from aitl.ingest.importer import import_files
from aitl.ingest.readers import landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import transaction
from aitl.store.database import connect
from aitl.window import Window
from tests.conftest import fresh_store
from tests.factories import event
from tests.unit.ingest.adversarial import HOUR, Adversary

SEEDS = range(4)
CHECK_LINES = columnar_module.check_lines


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def edge_lines(seed: int) -> list[bytes]:
    """Lines that probe each columnar check, valid and not, in a seeded order."""
    rng = random.Random(seed)
    at = HOUR + timedelta(minutes=7, seconds=3, microseconds=120)
    stamp = "2026-11-20T05:07:03.00012Z"

    def ev(**fields: Any) -> dict[str, Any]:
        return event(at, **{"timestamp": stamp, **fields})

    base = ev(event_id=f"edge-{seed}-base")
    text = dumps(base).decode()
    lines = [
        dumps(
            ev(event_id=f"edge-{seed}-a", errors=[{"type": "timeout", "message": None}], comment="a, b: c")
        ),
        dumps(ev(event_id=f"edge-{seed}-b", errors=[{"type": "timeout"}], style_issues=["x", "y,z"])),
        dumps(ev(event_id=f"edge-{seed}-c", errors=[{"message": "m", "type": "oom"}])),
        dumps(ev(event_id=f"edge-{seed}-d", errors=[{"type": "t", "message": "m", "extra": [[1]]}])),
        dumps(ev(event_id=f"edge-{seed}-e", comment="é ✓ ünïcode", satisfaction=4.5, accepted=False)),
        dumps(ev(event_id=f"edge-{seed}-f", comment='quote " and \\ backslash\n')),
        dumps(ev(event_id=f"edge-{seed}-g", timestamp="2026-11-20T05:07:03+00:00", arm="variant")),
        dumps(ev(event_id=f"edge-{seed}-h", timestamp="2026-11-20T06:07:03+01:00")),
        dumps(ev(event_id=f"edge-{seed}-i", timestamp="2026-11-20 05:07:03Z")),
        dumps(ev(event_id=f"edge-{seed}-j", timestamp="2026-11-20T05:07:03.1234567Z")),
        dumps(ev(event_id=f"edge-{seed}-k", timestamp="2026-11-19T20:00:00Z")),  # late beyond the lateness
        dumps(ev(event_id=f"edge-{seed}-l", timestamp="2026-11-20T02:30:00Z")),  # late, within it
        dumps(ev(event_id=f"edge-{seed}-m", timestamp="2026-11-20T14:00:00Z")),  # ahead beyond it
        dumps(ev(event_id=f"edge-{seed}-n", timestamp="2026-11-20T06:00:00Z")),  # the next hour, within it
        dumps(ev(event_id=f"edge-{seed}-base", duration_s=99.0)),  # a duplicate, other values
        # a duplicate in another hour
        dumps(ev(event_id=f"edge-{seed}-l", duration_s=98.0, timestamp="2026-11-20T05:59:59Z")),
        dumps(ev(event_id=f"edge-{seed}-o", duration_s=-0.0, size=0, cost_usd=0)),
        dumps(ev(event_id=f"edge-{seed}-p", duration_s=1e12, quality_score=1, complexity=0)),
        dumps(ev(event_id=f"edge-{seed}-q", tokens_in=2**63 - 1, prompt_version=2**62)),
        dumps(ev(event_id=f"edge-{seed}-r", tokens_in=2**63)),
        dumps(ev(event_id=f"edge-{seed}-s", size=1.0)),
        dumps(ev(event_id=f"edge-{seed}-t", success=1)),
        dumps(ev(event_id=f"edge-{seed}-u", duration_s="1.5")),
        dumps(ev(event_id=f"edge-{seed}-v", event_id_extra="x", unknown={"deep": [1, 2]})),
        dumps(ev(event_id=f"edge-{seed}-w", arm="other")),
        dumps(ev(event_id=f"edge-{seed}-x", style_issues=["a" * 201])),
        dumps(ev(event_id=f"edge-{seed}-y", style_issues=["a" * 200], security_warnings=[1])),
        dumps(ev(event_id=f"edge-{seed}-z", errors=[{"type": "", "message": "m"}])),
        dumps(ev(event_id="", user_id="u")),
        dumps(ev(event_id="i" * 129)),
        dumps(ev(event_id=f"edge-{seed}-A", comment=None, model=None, experiment_id="exp-1", arm="control")),
        dumps(ev(event_id=f"edge-{seed}-B", timestamp="2026-02-30T05:07:03Z")),
        dumps(ev(event_id=f"edge-{seed}-C", timestamp="2026-11-20T24:00:00Z")),
        text.replace('"duration_s":12.5', '"duration_s":NaN').replace("base", "nan").encode(),
        text.replace('"duration_s":12.5', '"duration_s":Infinity').replace("base", "inf").encode(),
        text.replace('"style_issues":[]', '"style_issues":["a",]').replace("base", "tc1").encode(),
        text.replace("}", ",}").replace("base", "tc2").encode(),
        text.replace('"success":true', '"success":true,"success":false').replace("base", "dupkey").encode(),
        text.replace('"size":120', '"size":120,"zz":"q"').replace("base", "unknown").encode(),
        text.replace('"duration_s":12.5', '"duration_s":1.25e1').replace("base", "exp").encode(),
        text.replace('"duration_s":12.5', '"duration_s" : 12.50 ').replace("base", "spaced").encode(),
        text.replace('"size":120', '"size":1e2').replace("base", "intexp").encode(),
        text.replace('"size":120', '"size":-0').replace("base", "negzero").encode(),
        text.replace('"size":120', '"size":0120').replace("base", "leading").encode(),
        text.replace('"event_id":"edge', '"event_id":"e\\u0000dge').replace("base", "nul").encode(),
        text.replace("base", "del\x7f").encode(),
        text.replace("base", "tab\t").encode(),
        text.encode() + b" \r",
        b"[1, 2, 3]",
        b"   ",
        b"",
        b'{"event_id": 7}',
        text[:-20].encode(),
    ]
    rng.shuffle(lines)
    return [dumps(base), *lines]


def messy_hour(seed: int, root: Path) -> None:
    """The seed's landing folder (``growth`` says what grows before the second run)."""
    files = Adversary(seed).fuzz_hour(scale=0.05)
    folder = landing_hour_dir(root, HOUR)
    folder.mkdir(parents=True)
    for landing_file in files:
        (folder / landing_file.name).write_bytes(landing_file.data())
    scenario = Scenario(daily_amplitude=0.0, weekend_factor=1.0, anomaly_hours=(), malformed_rate=0.03)
    earlier = HOUR - timedelta(hours=2)
    simulate(root, Window(earlier, earlier + timedelta(hours=1)), rate=800, seed=seed, scenario=scenario)
    simulate(root, Window(HOUR, HOUR + timedelta(hours=1)), rate=1500, seed=seed, scenario=scenario)
    edges = folder / "edges.jsonl"
    lines = edge_lines(seed)
    edges.write_bytes(b"\n".join(lines[:-3]) + b"\n" + lines[-3][: len(lines[-3]) // 2])  # cut short
    growing = folder / "growing.jsonl"
    growing.write_bytes(b"\n".join(dumps(event(HOUR + timedelta(minutes=m))) for m in range(5)) + b"\n")


def growth(seed: int) -> dict[str, bytes]:
    """What each growing file gets appended (the edge file's cut line completed and more)."""
    lines = edge_lines(seed)
    appended = b"\n".join(dumps(event(HOUR + timedelta(minutes=m))) for m in range(10, 14)) + b"\n"
    return {
        "edges.jsonl": lines[-3][len(lines[-3]) // 2 :] + b"\n" + b"\n".join(lines[-2:]) + b"\n",
        "growing.jsonl": appended + dumps(event(HOUR + timedelta(minutes=20)))[:30],  # a line being written
    }


def table_rows(url: str, name: str, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    engine = connect(url)
    table = Table(name, MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        found = [dict(row) for row in connection.execute(select(table)).mappings()]
    found = [{k: v for k, v in row.items() if k not in drop} for row in found]
    return sorted(found, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def run_collect(url: str, landing: Path, privacy: str) -> dict[str, Any]:
    settings = dataclasses.replace(Settings.from_env(store_url=url), landing_dir=landing, privacy=privacy)
    return run_stage("collect", Window.hour_of(HOUR), settings).summary


def stored_types(url: str) -> list[tuple[Any, ...]]:
    """SQLite: every event's columns as the database holds them (storage class and raw value)."""
    engine = connect(url)
    if engine.dialect.name != "sqlite":
        return []
    names = [
        c.name for c in Table("events", MetaData(), autoload_with=engine).columns if c.name != "ingested_at"
    ]
    sql = f"SELECT {', '.join(f'typeof({n}), {n}' for n in names)} FROM events ORDER BY event_id"
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


def store_state(url: str) -> dict[str, Any]:
    return {
        "events": table_rows(url, "events", drop=("ingested_at",)),
        "stored_types": stored_types(url),
        "quarantine": table_rows(url, "quarantine", drop=("id",)),
        "late_arrivals": table_rows(url, "late_arrivals", drop=("last_at",)),
        "ingested_files": table_rows(url, "ingested_files", drop=("read_at", "mtime_ns")),
    }


def spy(*args: Any, real: Any, accepted: list[int], **kwargs: Any) -> Any:
    checked = real(*args, **kwargs)
    accepted.append(checked.accepted)
    return checked


def both_paths(tmp_path: Path, kind: str, seed: int, privacy: str, monkeypatch: Any) -> list[dict[str, Any]]:
    base = tmp_path / "base"
    messy_hour(seed, base)
    appended = growth(seed)
    outcomes = []
    for columnar in (False, True):
        root = tmp_path / ("columnar" if columnar else "records")
        shutil.copytree(base, root / "landing")
        url = fresh_store(kind, root)
        monkeypatch.setattr(files_module, "COLUMNAR_MIN_BYTES", 0)
        monkeypatch.setenv(columnar_module.COLUMNAR_SWITCH, "1" if columnar else "0")
        accepted: list[int] = []
        monkeypatch.setattr(columnar_module, "check_lines", partial(spy, real=CHECK_LINES, accepted=accepted))
        first = run_collect(url, root / "landing", privacy)
        for name, data in appended.items():
            with (landing_hour_dir(root / "landing", HOUR) / name).open("ab") as handle:
                handle.write(data)
        second = run_collect(url, root / "landing", privacy)
        outcomes.append({"first": first, "second": second, **store_state(url)})
        # The columnar run's checks accepted most lines themselves (the rest went record by record).
        assert (sum(accepted) > first["stored"] // 2) if columnar else not accepted
    return outcomes


@pytest.mark.parametrize("seed", SEEDS)
def test_columnar_equals_per_record_on_messy_hours(tmp_path, monkeypatch, seed):
    records, columnar = both_paths(tmp_path, "sqlite", seed, "keep", monkeypatch)
    assert columnar["first"]["read"] > 1000 and columnar["first"]["quarantined"] > 100
    assert columnar["second"]["stored"] > 0  # the grown files' new lines
    for key in records:
        assert columnar[key] == records[key], key


@pytest.mark.parametrize("privacy", ["hash", "drop"])
def test_columnar_equals_per_record_under_privacy(tmp_path, monkeypatch, privacy):
    records, columnar = both_paths(tmp_path, "sqlite", 11, privacy, monkeypatch)
    for key in records:
        assert columnar[key] == records[key], key


@pytest.mark.parametrize("kind", ["postgresql"])
def test_columnar_equals_per_record_on_postgresql(tmp_path, monkeypatch, kind):
    records, columnar = both_paths(tmp_path, kind, 21, "keep", monkeypatch)
    for key in records:
        assert columnar[key] == records[key], key


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_import_columnar_equals_per_record(tmp_path, monkeypatch, kind):
    """``aitl ingest`` of the messy files (JSONL and CSV, several hours) stores the same either way."""
    messy_hour(5, tmp_path / "export")
    paths = sorted(path for path in (tmp_path / "export").rglob("*") if path.suffix in {".jsonl", ".csv"})
    monkeypatch.setattr(files_module, "COLUMNAR_MIN_BYTES", 0)
    outcomes = []
    for columnar in (False, True):
        (tmp_path / str(columnar)).mkdir()
        url = fresh_store(kind, tmp_path / str(columnar))
        monkeypatch.setenv(columnar_module.COLUMNAR_SWITCH, "1" if columnar else "0")
        accepted: list[int] = []
        monkeypatch.setattr(columnar_module, "check_lines", partial(spy, real=CHECK_LINES, accepted=accepted))
        with transaction(connect(url)) as session:
            report = import_files(session, paths, HOUR + timedelta(days=3), Privacy()).as_dict()
        assert (sum(accepted) > report["stored"] // 2) if columnar else not accepted
        state = store_state(url)
        assert not state.pop("ingested_files")  # an import keeps no manifest: it reads what it is given
        outcomes.append({"report": report, **state})
    records, columnar_outcome = outcomes
    assert records["report"]["quarantined"] > 100 and len(records["report"]["hours"]) >= 2
    for key in records:
        assert columnar_outcome[key] == records[key], key
