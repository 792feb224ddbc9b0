"""Fuzz and poison hours (issue 10): nothing a record holds can fail collect, and nothing is lost.

The records come from ``adversarial.Adversary``, seeded, so a failure here
replays exactly. Each test lands files in one hour's folder, runs the collect
stage as the hourly cycle does, and holds the store to what the generator
says of every record:

- the run returns (a crash is an exception out of ``run_stage``);
- ``read == stored + duplicates + quarantined``, each the expected count;
- every valid event is stored once, its values unchanged (timestamps as UTC
  instants);
- every bad record is quarantined, naming its field where the generator knows
  it, with its raw bytes as written (base64-decoded where ``raw_encoding`` is
  ``base64``), minus the line terminator.

Failures are listed per record class, a few examples each.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import math
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select

from aitl.config import Settings
from aitl.pipeline.runner import run_stage
from aitl.store.database import connect
from aitl.window import Window
from tests.unit.ingest import adversarial
from tests.unit.ingest.adversarial import HOUR, INT64_MAX, MAX_MEASURE, Adversary, LandingFile, Record

SEED = 20261120
MARKER = re.compile(rb"fz\d+-\d+")
Problems = dict[str, list[str]]


def land(files: list[LandingFile], root: Path, hour: datetime = HOUR) -> Path:
    """Write the files into the hour's folder of a landing directory (``<root>/YYYY-MM-DD/HH/``)."""
    folder = root / f"{hour:%Y-%m-%d}" / f"{hour:%H}"
    folder.mkdir(parents=True)
    for landing_file in files:
        (folder / landing_file.name).write_bytes(landing_file.data())
    return root


def run(stage: str, url: str, landing: Path, hour: datetime = HOUR) -> dict[str, Any]:
    settings = dataclasses.replace(Settings.from_env(store_url=url), landing_dir=landing)
    return run_stage(stage, Window.hour_of(hour), settings).summary


def rows(url: str, table_name: str) -> list[dict[str, Any]]:
    """A table's rows, read by reflection: the test does not depend on the models' Python side."""
    engine = connect(url)
    table = Table(table_name, MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(table)).mappings()]


def raw_bytes(row: dict[str, Any]) -> bytes:
    if row.get("raw_encoding", "text") == "base64":
        return base64.b64decode(row["raw"])
    return row["raw"].encode("utf-8", "surrogateescape")


def same(wanted: Any, stored: Any) -> bool:
    if isinstance(wanted, datetime):
        if not isinstance(stored, datetime):
            return False
        return wanted == (stored if stored.tzinfo else stored.replace(tzinfo=UTC))
    if isinstance(wanted, float) or isinstance(stored, float):
        return wanted is not None and stored is not None and float(wanted) == float(stored)
    if isinstance(wanted, list) and wanted and isinstance(wanted[0], dict):  # errors: message None or absent
        if not isinstance(stored, list) or len(stored) != len(wanted):
            return False
        return all(
            isinstance(s, dict) and (s.get("type"), s.get("message")) == (w["type"], w["message"])
            for w, s in zip(wanted, stored, strict=True)
        )
    return wanted == stored


def csv_cells(raw: bytes) -> tuple[str, ...] | None:
    """A CSV record's cells: the same row however it was quoted."""
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8", "surrogateescape"), newline="")))
    except csv.Error:
        return None
    return tuple(rows[0]) if len(rows) == 1 and len(rows[0]) > 1 else None


def marker(text: bytes | str) -> bytes | None:
    found = MARKER.search(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
    return found.group() if found else None


def check(files: list[LandingFile], summary: dict[str, Any], url: str) -> Problems:
    """Everything that differs from what the generator expects, by record class."""
    outcome = adversarial.expected_outcome(files)
    problems: Problems = defaultdict(list)
    every = [record for landing_file in files for record in landing_file.records]
    by_marker: dict[bytes, Record] = {}
    for record in every:
        if (found := marker(record.line)) is not None:
            by_marker.setdefault(found, record)

    if summary["read"] != summary["stored"] + summary["duplicates"] + summary["quarantined"]:
        problems["accounting"].append(f"read != stored + duplicates + quarantined: {summary}")
    for key, wanted in (
        ("read", outcome.read),
        ("stored", len(outcome.stored)),
        ("duplicates", outcome.duplicates),
        ("quarantined", len(outcome.quarantined)),
    ):
        if summary.get(key) != wanted:
            problems["accounting"].append(f"{key} {summary.get(key)}, expected {wanted}")
    if sum(summary.get("quarantine_reasons", {}).values()) != summary["quarantined"]:
        problems["accounting"].append(
            f"quarantine_reasons do not add up: {summary.get('quarantine_reasons')}"
        )

    events = {row["event_id"]: row for row in rows(url, "events")}
    for event_id, record in outcome.stored.items():
        stored = events.pop(event_id, None)
        if stored is None:
            problems[record.kind].append(f"valid, not stored: {record.line[:100]!r}")
            continue
        diffs = [
            f"{name}: wrote {wanted!r:.60}, stored {stored.get(name)!r:.60}"
            for name, wanted in record.row.items()
            if not same(wanted, stored.get(name))
        ]
        if diffs:
            problems[record.kind].append(f"{event_id[:40]!r} changed: " + "; ".join(diffs))
    stored_bad = set()
    for event_id in events:
        stored_bad.add(marker(event_id))
        record = by_marker.get(marker(event_id) or b"")
        kind = record.kind if record is not None else "unknown"
        expected = f"expected quarantined ({record.field})" if record is not None else "not written"
        problems[kind].append(f"stored event {event_id[:40]!r}: {expected}")

    quarantined = rows(url, "quarantine")
    pending: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for row in quarantined:
        pending[raw_bytes(row)].append(row)
    lost: list[Record] = []
    for record in outcome.quarantined:
        if pending.get(record.line):
            check_field(record, pending[record.line].pop(), problems)
        else:
            lost.append(record)
    # What was not kept as written: find its row by the marker in it, or (a CSV row) by its cells,
    # to say what was kept instead.
    leftover = [row for remaining in pending.values() for row in remaining]
    by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in leftover:
        for key in (marker(raw_bytes(row)), csv_cells(raw_bytes(row))):
            if key is not None:
                by_key[key].append(row)
    claimed: set[int] = set()
    for record in lost:
        found = marker(record.line)
        candidates = [*by_key.get(found, []), *by_key.get(csv_cells(record.line), [])]
        row = next((row for row in candidates if id(row) not in claimed), None)
        if row is not None:
            claimed.add(id(row))
            kept = raw_bytes(row)
            problems[record.kind].append(
                f"raw not kept as written ({row.get('raw_encoding', 'text')}): wrote {record.line[:60]!r} "
                f"({len(record.line)} bytes), kept {kept[:60]!r} ({len(kept)} bytes)"
            )
            check_field(record, row, problems)
        elif found is None or found not in stored_bad:  # (a stored one is reported above)
            problems[record.kind].append(f"not quarantined: {record.line[:100]!r}")
    for row in leftover:
        if id(row) in claimed:
            continue
        record = by_marker.get(marker(raw_bytes(row)) or b"")
        kind = record.kind if record is not None else "unexpected quarantine rows"
        what = "a valid event" if record is not None and record.valid else "no record written"
        problems[kind].append(f"quarantined {what}: {row['field']}: {row['reason'][:120]}")
    return problems


def check_field(record: Record, row: dict[str, Any], problems: Problems) -> None:
    if record.field is not None and row["field"] != record.field:
        problems[record.kind].append(
            f"field {row['field']!r}, expected {record.field!r} ({row['reason'][:100]}): {record.line[:80]!r}"
        )


def report(problems: Problems) -> str:
    lines = [f"{sum(map(len, problems.values()))} problems"]
    for kind, found in sorted(problems.items(), key=lambda item: -len(item[1])):
        lines.append(f"- {kind}: {len(found)}")
        lines.extend(f"    {example[:400]}" for example in found[:3])
    return "\n".join(lines)


@pytest.fixture(scope="module")
def fuzz_files() -> list[LandingFile]:
    return Adversary(SEED).fuzz_hour()


def test_the_generator_covers_every_class_and_replays(fuzz_files):
    kinds = Counter(record.kind for landing_file in fuzz_files for record in landing_file.records)
    every = {*adversarial.JSONL_MIX, *adversarial.JSONL_FIXED, *adversarial.CSV_MIX, "bom"}
    every |= {"csv_big_cell", "csv_big_extra", "csv_oversize", "csv_truncated_in_quotes"}
    assert every <= set(kinds), every - set(kinds)
    assert sum(kinds.values()) >= 10_000
    assert {f.name for f in fuzz_files} >= {"part-00.jsonl", "export-a.csv"}
    again = Adversary(SEED).poison_hour_all()
    assert [f.data() for f in again] == [f.data() for f in Adversary(SEED).poison_hour_all()]
    outcome = adversarial.expected_outcome(fuzz_files)
    assert outcome.read == sum(kinds.values())
    assert len(outcome.stored) > 4000 and outcome.duplicates > 200 and len(outcome.quarantined) > 4000


def test_fuzz_hour(store_url, tmp_path, fuzz_files):
    """10,000+ adversarial records in one hour (JSONL and CSV): no crash, exact accounting, nothing lost."""
    landing = land(fuzz_files, tmp_path / "landing")
    summary = run("collect", store_url, landing)
    problems = check(fuzz_files, summary, store_url)
    assert not problems, report(problems)


@pytest.mark.parametrize("kind", adversarial.POISON)
def test_poison_hour(sqlite_url, tmp_path, kind):
    """One record of a crash class among 200 valid events: the hour completes with all 200 stored."""
    files = Adversary(SEED).poison_hour(kind)
    landing = land(files, tmp_path / "landing")
    summary = run("collect", sqlite_url, landing)
    assert summary["stored"] >= 200, summary
    problems = check(files, summary, sqlite_url)
    assert not problems, report(problems)


def test_poison_hour_with_every_class(store_url, tmp_path):
    """Every crash class at once among 200 valid events, on both stores."""
    files = Adversary(SEED).poison_hour_all()
    landing = land(files, tmp_path / "landing")
    summary = run("collect", store_url, landing)
    assert summary["stored"] >= 200, summary
    problems = check(files, summary, store_url)
    assert not problems, report(problems)


def test_extreme_valid_values_go_through_the_hour(store_url, tmp_path):
    """The largest values the contract allows, in five events of one segment: the hour goes through.

    Collect stores them unchanged, normalize completes, and the rollups' sums
    neither wrap nor overflow (three tokens_in of 2^62 wrapped to a negative int64).
    """
    adversary = Adversary(SEED)
    records = []
    tokens = [2**62, 2**62, 2**62, INT64_MAX, INT64_MAX]
    for tokens_in in tokens:
        event, ts = adversary.event()
        event.update(
            dict.fromkeys(adversarial.COUNTS, INT64_MAX)
            | dict.fromkeys(adversarial.MEASURES, MAX_MEASURE)
            | {"tokens_in": tokens_in, "agent_tier": "T1", "task_type": "api_endpoint", "prompt_id": "p"}
            | {"prompt_version": 2, "satisfaction": 5.0, "experiment_id": None, "arm": None}
        )
        records.append(adversary.valid("extreme", event, ts))
    files = [LandingFile("extreme.jsonl", records)]
    landing = land(files, tmp_path / "landing")
    summary = run("collect", store_url, landing)
    problems = check(files, summary, store_url)
    assert not problems, report(problems)
    run("normalize", store_url, landing)
    rollups = rows(store_url, "hourly_rollups")
    assert sum(row["n"] for row in rollups) == 5
    for name, wanted in (("tokens_in_sum", sum(tokens)), ("duration_sum", 5 * MAX_MEASURE)):
        assert math.isclose(sum(row[name] for row in rollups), wanted, rel_tol=1e-9), name
    for row in rollups:
        for name, value in row.items():
            assert not (isinstance(value, float) and not math.isfinite(value)), (name, value)
