"""Reading feedback records of one window from where the platform leaves them.

Two sources: a *landing directory* of JSONL/CSV files laid out by hour
(``<landing>/YYYY-MM-DD/HH/*.jsonl``), and a *source SQL table* reached by a
SQLAlchemy URL. Each record comes out as a ``RawRecord``: where it was, its raw
text, and either its store row or the contract problem that makes it
quarantined (``aitl.ingest.collector`` stores both).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import MetaData, Table, create_engine, select

from aitl.ingest.contract import ContractError, decode, decode_list_cells, validate
from aitl.window import Window

MAX_RECORD_BYTES = 1 << 20  # 1 MiB: no honest feedback event is larger
LANDING_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class RawRecord:
    """One record as read: where it was, what it said, and its store row or its problem."""

    source: str
    locator: str
    raw: str | bytes  # bytes as read; decoded only if the record is quarantined
    row: dict[str, Any] | None = None
    problem: ContractError | None = None


def landing_hour_dir(landing: Path, hour: datetime) -> Path:
    return landing / f"{hour:%Y-%m-%d}" / f"{hour:%H}"


def landing_files(landing: Path, window: Window) -> list[Path]:
    """The window's files, in a stable order so reruns read identically."""
    files: list[Path] = []
    for hour in window.hours():
        directory = landing_hour_dir(landing, hour)
        if directory.is_dir():
            files.extend(sorted(p for p in directory.iterdir() if p.suffix in LANDING_SUFFIXES))
    return files


def _oversize(size: int) -> ContractError:
    return ContractError("event", f"record of {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")


def as_text(raw: bytes) -> str:
    # backslashreplace keeps undecodable bytes visible (and recoverable) in the
    # quarantine instead of replacing them with U+FFFD.
    return raw.decode("utf-8", errors="backslashreplace")


def _utf8_problem(raw: bytes) -> ContractError | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ContractError("event", f"not valid UTF-8 (byte {exc.start})")
    return None


def read_jsonl(path: Path, source: str) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            locator = f"line:{lineno}"
            if len(line) > MAX_RECORD_BYTES:
                yield RawRecord(source, locator, line, problem=_oversize(len(line)))
                continue
            try:
                yield RawRecord(source, locator, line, row=decode(line))
            except ContractError as exc:
                utf8 = _utf8_problem(line) if exc.field == "event" else None
                yield RawRecord(source, locator, line, problem=utf8 or exc)


def read_csv(path: Path, source: str) -> Iterator[RawRecord]:
    """CSV with a header row of contract field names; list fields hold JSON text."""
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            locator = f"line:{reader.line_num}"
            raw = _csv_raw(reader.fieldnames or [], record)
            encoded = raw.encode("utf-8", errors="surrogateescape")
            if len(encoded) > MAX_RECORD_BYTES:
                yield RawRecord(source, locator, encoded, problem=_oversize(len(encoded)))
                continue
            problem = _utf8_problem(encoded)
            if problem is None and None in record:
                problem = ContractError("event", "more cells than header columns")
            if problem is not None:
                yield RawRecord(source, locator, encoded, problem=problem)
                continue
            cells = {name: text for name, text in record.items() if text != ""}
            try:
                yield RawRecord(source, locator, raw, row=validate(decode_list_cells(cells), from_text=True))
            except ContractError as exc:
                yield RawRecord(source, locator, raw, problem=exc)


def _csv_raw(header: list[str], record: dict[str | None, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    cells = [record.get(name) for name in header]
    extra = record.get(None)
    writer.writerow([*cells, *(extra or [])])
    return buffer.getvalue()


def read_landing(landing: Path, window: Window) -> tuple[int, Iterator[RawRecord]]:
    files = landing_files(landing, window)

    def records() -> Iterator[RawRecord]:
        for path in files:
            source = f"landing:{path.relative_to(landing).as_posix()}"
            reader = read_csv if path.suffix == ".csv" else read_jsonl
            yield from reader(path, source)

    return len(files), records()


def read_sql_source(url: str, table_name: str, window: Window) -> Iterator[RawRecord]:
    """Rows of a source table whose ``timestamp`` column (a UTC TIMESTAMP) is in the window."""
    engine = create_engine(url)
    try:
        table = Table(table_name, MetaData(), autoload_with=engine)
        ts = table.c["timestamp"]
        naive = {"start": window.start.replace(tzinfo=None), "end": window.end.replace(tzinfo=None)}
        query = (
            select(table)
            .where(ts >= naive["start"], ts < naive["end"])
            .order_by(ts, *table.primary_key.columns)
        )
        with engine.connect() as connection:
            for index, row in enumerate(connection.execute(query).mappings()):
                record = {str(key): value for key, value in row.items()}
                source = f"sql:{table_name}"
                locator = f"event_id:{record.get('event_id')}" if record.get("event_id") else f"row:{index}"
                raw = orjson.dumps(record, default=str).decode()
                present = {name: value for name, value in record.items() if value is not None}
                if isinstance(present.get("timestamp"), datetime):
                    # A TIMESTAMP column holds UTC without an offset (see the docstring).
                    present["timestamp"] = present["timestamp"].replace(tzinfo=UTC)
                try:
                    row = validate(decode_list_cells(present), from_text=True)
                    yield RawRecord(source, locator, raw, row=row)
                except ContractError as exc:
                    yield RawRecord(source, locator, raw, problem=exc)
    finally:
        engine.dispose()
