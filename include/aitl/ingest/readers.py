"""Reading feedback records from where the platform leaves them.

Two sources: a *landing directory* of JSONL/CSV files laid out by hour
(``<landing>/YYYY-MM-DD/HH/*.jsonl``; OTLP/JSON span files there are read by
``aitl.ingest.otel``), and a *source SQL table* reached by a
SQLAlchemy URL. Each record comes out as a ``RawRecord``: where it was, its raw
text, and either its store row or the problem that makes it quarantined
(``aitl.ingest.collector`` stores both).

Nothing one record holds can stop a file: any exception while decoding or
checking a record (a RecursionError from absurd nesting, an OverflowError from
a timestamp, a CSV cell past the parser's limit) becomes that record's
problem, named ``record`` with the exception's class and message.
"""

from __future__ import annotations

import csv
import hashlib
import io
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import MetaData, Table, select

from aitl.ingest.contract import ContractError, decode, decode_list_cells, validate
from aitl.store.database import connect
from aitl.window import Window

MAX_RECORD_BYTES = 1 << 20  # 1 MiB: no honest feedback event is larger
# The CSV parser's own cell limit; records between the two are read and
# quarantined whole as oversized, beyond it the cell is reported unread.
MAX_CSV_CELL = 16 << 20
# OpenTelemetry span files (aitl.ingest.otel) are told from contract JSONL by their name.
OTLP_SUFFIXES = (".otlp.json", ".otlp.jsonl")
LANDING_SUFFIXES = (".jsonl", ".csv", *OTLP_SUFFIXES)
T = TypeVar("T")
BOM = b"\xef\xbb\xbf"
TRUNCATED = "truncated"  # the reason's first word for a last line cut short
HASH_CHUNK = 1 << 20


class RawRecord(NamedTuple):
    """One record as read: where it was, what it said, and its store row or its problem.

    A named tuple: one is made per record read, and a frozen dataclass costs
    several times as much to build.
    """

    source: str
    locator: str
    raw: str | bytes  # bytes as read; decoded only if the record is quarantined
    row: dict[str, Any] | None = None
    problem: ContractError | None = None
    header: str | None = None  # a CSV file's header line, to re-read the row later


def isolated(check: Callable[[Any], T], value: Any) -> tuple[T | None, ContractError | None]:
    """``check(value)``, one record's decode and check: its failure is the record's problem, not the run's."""
    try:
        return check(value), None
    except ContractError as exc:
        return None, exc
    except Exception as exc:  # by design: one record must not fail the hour
        return None, ContractError("record", f"{type(exc).__name__}: {exc}")


def validate_text(record: dict[str, Any]) -> dict[str, Any]:
    """A record of text cells (CSV, a source table): list fields decoded, then the contract's check."""
    return validate(decode_list_cells(record), from_text=True)


def is_otlp(path: Path | str) -> bool:
    """Whether a file holds OTLP/JSON spans rather than contract events, by its name."""
    return str(path).endswith(OTLP_SUFFIXES)


def landing_hour_dir(landing: Path, hour: datetime) -> Path:
    return landing / f"{hour:%Y-%m-%d}" / f"{hour:%H}"


@dataclass
class LandingScan:
    """The files a run may read, and why the others were left alone."""

    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path (relative) -> reason


def scan_landing(
    landing: Path, hours: Iterator[datetime], min_file_age_s: float, now: datetime
) -> LandingScan:
    """The regular ``*.jsonl``/``*.csv``/``*.otlp.json`` files of the hours' folders, in a stable order.

    Read are only regular files inside the landing folder, or symlinks to
    one. Dot-files and ``*.tmp`` (a producer's file being written, renamed
    when complete) are passed over silently; FIFOs, directories, symlinks
    leading outside the folder or nowhere, and files younger than
    ``min_file_age_s`` are skipped and reported.
    """
    scan = LandingScan()
    root = landing.resolve()
    for hour in hours:
        directory = landing_hour_dir(landing, hour)
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.name.startswith(".") or not path.name.endswith(LANDING_SUFFIXES):
                continue
            reason = _unreadable(path, root, min_file_age_s, now)
            if reason is None:
                scan.files.append(path)
            else:
                scan.skipped[path.relative_to(landing).as_posix()] = reason
    return scan


def _unreadable(path: Path, root: Path, min_file_age_s: float, now: datetime) -> str | None:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "dangling symlink"
        if not target.is_relative_to(root):
            return "symlink leading outside the landing folder"
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a directory, FIFO or device)"
    if now.timestamp() - info.st_mtime < min_file_age_s:
        return f"younger than min_file_age_s ({min_file_age_s:g} s): left for the next run"
    return None


def _oversize(size: int) -> ContractError:
    return ContractError("event", f"record of {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")


def _utf8_problem(raw: bytes) -> ContractError | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ContractError("event", f"not valid UTF-8 (byte {exc.start})")
    return None


@dataclass
class Progress:
    """How far a file has been read: bytes and lines consumed, and the hash of those bytes.

    A last line without its newline that does not decode is being written:
    it is quarantined as truncated but not consumed, so the next read of the
    grown file starts at it.
    """

    offset: int = 0
    lines: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


def read_jsonl(path: Path, source: str, progress: Progress | None = None) -> Iterator[RawRecord]:
    """The records of a JSONL file from ``progress`` on (the start by default), advancing it."""
    progress = progress or Progress()
    start = progress.offset
    with path.open("rb") as handle:
        handle.seek(start)
        for line in handle:
            complete = line.endswith(b"\n")
            lineno = progress.lines + 1
            record = None
            if not line.isspace():
                record = jsonl_record(line, source, f"line:{lineno}", first=progress.offset == 0)
            if not complete and (record is None or record.problem is not None):
                if record is not None:
                    cut = ContractError("event", f"{TRUNCATED}: no newline yet after: {record.problem}")
                    yield RawRecord(source, record.locator, record.raw, problem=cut)
                break
            progress.offset += len(line)
            progress.lines = lineno
            if record is not None:
                yield record
        # The consumed bytes are hashed in one pass at the end (a hash call per
        # line costs more than reading them again from the page cache).
        handle.seek(start)
        remaining = progress.offset - start
        while remaining > 0 and (chunk := handle.read(min(HASH_CHUNK, remaining))):
            progress.digest.update(chunk)
            remaining -= len(chunk)


def jsonl_record(line: bytes, source: str, locator: str, *, first: bool = False) -> RawRecord:
    line = line.rstrip(b"\r\n")
    if first and line.startswith(BOM):
        line = line[len(BOM) :]
    if len(line) > MAX_RECORD_BYTES:
        return RawRecord(source, locator, line, problem=_oversize(len(line)))
    # The decoder skips unknown fields without checking them: a line with
    # non-ASCII bytes is checked for UTF-8 here (ASCII, the usual case, is free).
    utf8 = None if line.isascii() else _utf8_problem(line)
    if utf8 is not None:
        return RawRecord(source, locator, line, problem=utf8)
    row, problem = isolated(decode, line)
    return RawRecord(source, locator, line, row=row, problem=problem)


def read_csv(path: Path, source: str, progress: Progress | None = None) -> Iterator[RawRecord]:
    """CSV with a header row of contract field names; list fields hold JSON text. Read whole."""
    progress = progress or Progress()
    csv.field_size_limit(MAX_CSV_CELL)
    with path.open("rb") as binary:
        progress.digest.update(data := binary.read())
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    consumed: list[str] = []  # the physical lines of the record being parsed: its raw text

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    def taken() -> str:
        raw = "".join(consumed)
        consumed.clear()
        return raw.removesuffix("\n").removesuffix("\r")

    # strict: a quote left open at the end of the file is an error, not a cell that runs to the end.
    reader = csv.reader(lines(), strict=True)
    header_cells = next(reader, None) or []
    header = taken()
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problem = ContractError("record", f"Error: {exc}")
            yield RawRecord(source, f"line:{reader.line_num}", taken(), problem=problem, header=header)
            continue
        raw = taken()
        if cells:
            yield csv_record(header_cells, cells, source, f"line:{reader.line_num}", header, raw)
    progress.offset, progress.lines = len(data), reader.line_num


def csv_record(
    header: list[str], cells: list[str], source: str, locator: str, header_line: str, raw: str
) -> RawRecord:
    """One CSV row (``raw``, as written) checked against the contract; empty cells are missing values."""
    encoded = raw.encode("utf-8", errors="surrogateescape")
    problem = _oversize(len(encoded)) if len(encoded) > MAX_RECORD_BYTES else _utf8_problem(encoded)
    if problem is None and len(cells) > len(header):
        problem = ContractError("event", "more cells than header columns")
    if problem is not None:
        return RawRecord(source, locator, encoded, problem=problem, header=header_line)
    present = {name: text for name, text in zip(header, cells, strict=False) if text != ""}
    row, problem = isolated(validate_text, present)
    return RawRecord(source, locator, raw, row=row, problem=problem, header=header_line)


def sql_record(record: dict[str, Any], source: str, locator: str) -> RawRecord:
    """One source-table row checked against the contract; NULL columns are missing values."""
    raw = orjson.dumps(record, default=str).decode()
    present = {name: value for name, value in record.items() if value is not None}
    if isinstance(present.get("timestamp"), datetime) and present["timestamp"].tzinfo is None:
        # A TIMESTAMP column holds UTC without an offset (see read_sql_source).
        present["timestamp"] = present["timestamp"].replace(tzinfo=UTC)
    row, problem = isolated(validate_text, present)
    return RawRecord(source, locator, raw, row=row, problem=problem)


def read_sql_source(url: str, table_name: str, window: Window) -> Iterator[RawRecord]:
    """Rows of a source table whose ``timestamp`` column (a UTC TIMESTAMP) is in the window.

    A row is located by its hour and position (``2026-11-20T05/row:3``, with
    its event id where it has one), so rows of different hours never share a
    quarantine key.
    """
    engine = connect(url)
    table = Table(table_name, MetaData(), autoload_with=engine)
    ts = table.c["timestamp"]
    query = (
        select(table)
        .where(ts >= window.start.replace(tzinfo=None), ts < window.end.replace(tzinfo=None))
        .order_by(ts, *table.primary_key.columns)
    )
    source = f"sql:{table_name}"
    with engine.connect() as connection:
        for index, row in enumerate(connection.execute(query).mappings()):
            record = {str(key): value for key, value in row.items()}
            locator = f"{window.start:%Y-%m-%dT%H:%M}/row:{index}"
            if record.get("event_id"):
                locator += f"/event_id:{record['event_id']}"
            yield sql_record(record, source, locator)
