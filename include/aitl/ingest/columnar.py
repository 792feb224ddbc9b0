"""Columnar ingest of landing JSONL: a file's lines decoded and checked in bulk, then inserted in bulk.

The per-record path (``readers.read_jsonl`` -> ``contract.decode`` -> ``Collector``)
costs about 13 us a record in Python. Here a chunk of a file is read by a
compiled reader of the contract's JSON (``aitl.ingest.jsonscan``, in parallel
across lines) into Arrow columns, which DuckDB then dedupes, groups by hour
and hands to the store. A line becomes a store row here only when the reader
*proves* that ``contract.decode`` would accept it and give the same values
(its docstring lists what it relies on); every other line (malformed, out of
bounds, out of the run's time window, or merely unusual: non-ASCII bytes,
backslash escapes, unknown or repeated keys, a shape the reader does not
cover) goes through the per-record path, unchanged, so every quarantine
reason, locator and raw text is exactly what that path gives.

Rows are written in line order after what the collector had pending, so the
first occurrence of an ``event_id`` is the one stored, as on the per-record
path; SQLite by ``executemany`` of the rows DuckDB returns as tuples,
PostgreSQL by ``COPY`` into a staging table and ``INSERT ... ON CONFLICT DO
NOTHING`` (``aitl.store.writes``).
"""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aitl.ingest.collector import Collector
from aitl.ingest.contract import FIELDS, MAX_MEASURE, REQUIRED, ContractError
from aitl.ingest.readers import MAX_RECORD_BYTES, TRUNCATED, Progress, RawRecord, jsonl_record
from aitl.shards import session_bucket
from aitl.store.intake import Event
from aitl.store.writes import copy_insert_ignore, row_converter, sqlite_insert_rows, utc_text

if TYPE_CHECKING:
    import duckdb

CHUNK_BYTES = 16 << 20  # lines are read and checked this many bytes at a time (bounded memory)
INSERT_BATCH = 16_384  # rows handed to SQLite's executemany at a time
# Below this many new bytes a file is read record by record: starting DuckDB and its queries costs
# tens of milliseconds, what the per-record path spends on a few thousand records.
COLUMNAR_MIN_BYTES = 1 << 20
COLUMNAR_SWITCH = "AITL_INGEST_COLUMNAR"  # auto (the default) or 1: columnar; 0: record by record

# The contract's fields by how the checks treat them: (kind, min, max).
_STRINGS = {
    "event_id": (1, 128),
    "execution_id": (1, 128),
    "session_id": (1, 128),
    "user_id": (1, 128),
    "agent_tier": (0, 64),
    "task_type": (0, 64),
    "language": (0, 64),
    "model": (0, 128),
    "prompt_id": (0, 128),
    "experiment_id": (0, 128),
    "comment": (0, 10000),
}
_INTS = {"prompt_version": 1, "size": 0, "syntax_errors": 0, "tokens_in": 0, "tokens_out": 0}  # -> minimum
_FLOATS = {
    "complexity": (0.0, 1.0),
    "duration_s": (0.0, MAX_MEASURE),
    "quality_score": (0.0, 1.0),
    "test_coverage": (0.0, 1.0),
    "doc_score": (0.0, 1.0),
    "satisfaction": (1.0, 5.0),
    "cpu_s": (0.0, MAX_MEASURE),
    "memory_mb": (0.0, MAX_MEASURE),
    "cost_usd": (0.0, MAX_MEASURE),
}
_BOOLS = ("success", "accepted")
_INDICATORS = ("style_issues", "security_warnings")
_OTHER = ("timestamp", "arm", "errors")
KNOWN = (*_STRINGS, *_INTS, *_FLOATS, *_BOOLS, *_INDICATORS, *_OTHER)
assert sorted(KNOWN) == sorted(FIELDS), "columnar checks must cover the contract's fields exactly"
_LISTS = (*_INDICATORS, "errors")  # stored as JSON text


@functools.cache
def _texts() -> tuple[np.ndarray, np.ndarray]:
    """The fields read as text (``KNOWN`` indices), and how ``jsonscan.texts`` writes each."""
    from aitl.ingest import jsonscan

    names = [name for name in KNOWN if name in _STRINGS or name in ("arm", *_LISTS)]
    how = {"errors": jsonscan.ERROR_LIST, **dict.fromkeys(_INDICATORS, jsonscan.LIST)}
    return (
        np.array([KNOWN.index(name) for name in names]),
        np.array([how.get(name, jsonscan.TEXT) for name in names]),
    )


@functools.cache
def _spec() -> tuple[np.ndarray, ...]:
    """The contract's fields as ``jsonscan.scan`` reads them (in ``KNOWN`` order)."""
    from aitl.ingest import jsonscan  # numba: imported by the columnar path only

    count = len(KNOWN)
    kind = np.empty(count, dtype=np.int64)
    low = np.zeros(count)
    high = np.zeros(count)
    kinds = {"timestamp": jsonscan.TIMESTAMP, "arm": jsonscan.ARM, "errors": jsonscan.ERRORS}
    for k, name in enumerate(KNOWN):
        if name in _STRINGS:
            kind[k] = jsonscan.STRING
            low[k], high[k] = _STRINGS[name]
        elif name in _INTS:
            kind[k], low[k] = jsonscan.INTEGER, _INTS[name]
        elif name in _FLOATS:
            kind[k] = jsonscan.FLOAT
            low[k], high[k] = _FLOATS[name]
        else:
            kind[k] = jsonscan.BOOLEAN if name in _BOOLS else kinds.get(name, jsonscan.INDICATORS)
    width = max(map(len, KNOWN)) + 1
    keys = np.zeros((count, width), dtype=np.uint8)
    buckets: dict[tuple[int, int], list[int]] = {}
    for k, name in enumerate(KNOWN):
        keys[k, : len(name)] = np.frombuffer(name.encode(), dtype=np.uint8)
        buckets.setdefault((ord(name[0]), len(name)), []).append(k)
    candidates = np.full((256, width, max(map(len, buckets.values()))), -1, dtype=np.int64)
    for (first, length), found in buckets.items():
        candidates[first, length, : len(found)] = found
    required = np.array([name in REQUIRED for name in KNOWN])
    return keys, candidates, kind, low, high, required


def _privacy_values(privacy: str) -> dict[str, str]:
    """The SQL of the stored ``comment`` and ``errors`` under ``privacy`` (the other columns as read)."""
    if privacy == "keep":
        return {}
    items = 'json_transform(errors, \'[{"type":"JSON","message":"JSON"}]\')'
    message = (
        "'\"sha256:' || sha256(substr(x.message, 2, strlen(x.message) - 2)) || '\"'"
        if privacy == "hash"
        else "NULL"
    )
    private = (
        f"'[' || array_to_string(list_transform({items}, lambda x: '{{\"type\":' || x.type "
        "|| ',\"message\":' "
        f"|| coalesce(CASE WHEN x.message IS NULL THEN NULL ELSE {message} END, 'null') "
        "|| '}'), ',') || ']'"
    )
    comment = "'sha256:' || sha256(comment)" if privacy == "hash" else "NULL::VARCHAR"
    return {
        "comment": comment,
        "errors": f"CASE WHEN errors IN ('null', '[]') THEN errors ELSE {private} END",
    }


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})


def _line_ends(data: bytes | memoryview) -> np.ndarray:
    """The offsets of ``data``'s newlines, found a block at a time (no temporary as large as the data)."""
    view = np.frombuffer(data, np.uint8)
    found = [
        np.flatnonzero(view[start : start + _BLOCK] == 10) + start for start in range(0, len(view), _BLOCK)
    ]
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


_BLOCK = 1 << 20


class Checked:
    """A chunk's lines after the checks: the view ``rows`` (accepted) and the others' indices."""

    def __init__(self, con: duckdb.DuckDBPyConnection, fallback: np.ndarray, accepted: int) -> None:
        self.con = con
        self.fallback = fallback  # line indices (within the chunk) for the per-record path
        self.accepted = accepted


def check_lines(
    con: duckdb.DuckDBPyConnection,
    data: bytes,
    ends: np.ndarray,
    *,
    privacy: str,
    accept: tuple[str, str] | None,
    first_line_has_bom: bool = False,
) -> Checked:
    """Decode and check ``data``'s lines (``ends``: their newlines); the accepted ones into ``rows``.

    ``rows`` holds the line index ``i``, the hour (``YYYY-MM-DD HH``) and the store columns (less
    ``session_bucket``, ``source`` and ``ingested_at``), timestamps as the store's UTC text and lists
    as JSON text. ``accept``: the run's window as the same text (start inclusive, end exclusive).
    """
    import pyarrow as pa

    from aitl.ingest import jsonscan

    count = len(ends)
    begins = np.zeros(count, dtype=np.int64)
    begins[1:] = ends[:-1] + 1
    skip = ends + 1 - begins > MAX_RECORD_BYTES
    if first_line_has_bom and count:
        skip[0] = True
    view = np.frombuffer(data, dtype=np.uint8)
    ok, state, start, stop, ints, floats, slow, ts = jsonscan.scan(view, begins, ends, skip, *_spec())
    _convert_slow(data, ok, start, stop, floats, slow)
    rows = np.flatnonzero(ok)
    columns = {
        "i": pa.array(rows),
        "ts": _text(np.arange(len(rows) + 1) * jsonscan.TS_WIDTH, ts[rows].ravel()),
    }
    fields, how = _texts()
    offsets, texts, bases = jsonscan.texts(view, rows, fields, how, state, start, stop, ints)
    for f, k in enumerate(fields.tolist()):
        valid = None if how[f] != jsonscan.TEXT else state[rows, k] == jsonscan.PRESENT
        columns[KNOWN[k]] = _text(offsets[f], texts[bases[f] : bases[f + 1]], valid)
    for k, name in enumerate(KNOWN):
        if name in _INTS or name in _FLOATS or name in _BOOLS:
            valid = state[rows, k] == jsonscan.PRESENT
            values = floats[rows, k] if name in _FLOATS else ints[rows, k]
            columns[name] = pa.array(values == 1 if name in _BOOLS else values, mask=~valid)
    table = pa.table({name: columns[name] for name in ("i", *CHECKED)})
    sql_values = _privacy_values(privacy)
    window = "" if accept is None else f" WHERE ts >= '{accept[0]}' AND ts < '{accept[1]}'"
    # A view over the Arrow columns, registered until the chunk is written (``_write``): the insert
    # reads them once, where a table would first copy every value into DuckDB's own storage.
    con.register("checked", table)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW rows AS SELECT i, substr(ts, 1, 13) AS hour, "
        + ", ".join(f"{sql_values.get(name, name)} AS {name}" for name in CHECKED)
        + f" FROM checked{window}"
    )
    accepted = con.execute("SELECT i FROM rows").fetchnumpy()["i"]
    fallback = np.setdiff1d(np.arange(count, dtype=np.int64), accepted, assume_unique=True)
    return Checked(con, fallback, len(accepted))


def _convert_slow(
    data: bytes, ok: np.ndarray, start: np.ndarray, stop: np.ndarray, floats: np.ndarray, slow: np.ndarray
) -> None:
    """Floats the compiled conversion left (over 19 digits, or near halfway), by Python's ``float``."""
    for i, k in zip(*np.nonzero(slow & ok[:, None]), strict=True):
        value = float(data[start[i, k] : stop[i, k]])
        low, high = _FLOATS[KNOWN[k]]
        if low <= value <= high:
            floats[i, k] = value
        else:
            ok[i] = False  # out of bounds (or infinite): the per-record path says why


def _text(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """A large-string Arrow array over ``data`` (``valid``: the null mask's complement)."""
    import pyarrow as pa

    bitmap = None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if bitmap is None else int(len(valid) - valid.sum())
    return pa.Array.from_buffers(
        pa.large_string(), len(offsets) - 1, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], nulls
    )


def _event_columns() -> list[str]:
    return [column.name for column in Event.__table__.columns]


ADDED = ("session_bucket", "source", "ingested_at")  # columns the reader adds to the checked ones
CHECKED = [name for name in _event_columns() if name not in ADDED]


def _hour_of(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC)


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name in _INTS:
        return pa.int64()
    if name in _FLOATS:
        return pa.float64()
    if name in _BOOLS:
        return pa.bool_()
    return pa.string()


class ColumnarReader:
    """Reads landing JSONL files' new lines into ``collector``: columnar where the checks allow."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.con = connect_duckdb()
        accept = collector.accept
        self.accept = None if accept is None else (utc_text(accept.start), utc_text(accept.end))
        self.names = _event_columns()
        self.convert = row_converter(Event.__table__, self.names)
        self.dialect = collector.session.get_bind().dialect.name

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ColumnarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, path: Path, source: str, progress: Progress) -> None:
        """``path``'s lines from ``progress`` on, as ``read_jsonl`` reads them, advancing ``progress``."""
        with path.open("rb") as handle:
            handle.seek(progress.offset)
            pending = b""
            while True:
                block = handle.read(CHUNK_BYTES)
                data = pending + block if pending else block
                if not block:
                    if data:
                        self._tail(data, source, progress)
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                pending = data[cut:]
                self._chunk(data[:cut] if pending else data, source, progress)

    def _tail(self, line: bytes, source: str, progress: Progress) -> None:
        """A last line without its newline, exactly as ``read_jsonl`` treats it."""
        lineno = progress.lines + 1
        record = None
        if not line.isspace():
            record = jsonl_record(line, source, f"line:{lineno}", first=progress.offset == 0)
        if record is None or record.problem is not None:
            if record is not None:
                cut = ContractError("event", f"{TRUNCATED}: no newline yet after: {record.problem}")
                self.collector.add(RawRecord(source, record.locator, record.raw, problem=cut))
            return
        self.collector.add(record)  # the file's last record: after every row written before it
        progress.digest.update(line)
        progress.offset += len(line)
        progress.lines = lineno

    def _chunk(self, data: bytes, source: str, progress: Progress) -> None:
        """Complete lines: checked in bulk; the others one by one; all written in line order."""
        ends = _line_ends(data)
        first = progress.offset == 0
        checked = check_lines(
            self.con,
            data,
            ends,
            privacy=self.collector.privacy.mode,
            accept=self.accept,
            first_line_has_bom=first and data.startswith(b"\xef\xbb\xbf"),
        )
        collector = self.collector
        collector.report.read += checked.accepted
        extra: list[tuple[int, dict[str, Any]]] = []
        if len(checked.fallback):
            starts = np.concatenate(([0], ends[:-1] + 1))
            for index in checked.fallback.tolist():
                line = data[int(starts[index]) : int(ends[index]) + 1]
                if line.isspace():
                    continue
                locator = f"line:{progress.lines + index + 1}"
                row = collector.admit(jsonl_record(line, source, locator, first=first and index == 0))
                if row is not None:
                    extra.append((index, collector.complete(source, row)))
        self._write(source, extra)
        progress.digest.update(data)
        progress.offset += len(data)
        progress.lines += len(ends)

    def _write(self, source: str, extra: list[tuple[int, dict[str, Any]]]) -> None:
        """Write ``rows`` (and ``extra``, the per-record path's valid rows) after what the collector holds."""
        import pyarrow as pa

        collector = self.collector
        collector.flush()  # what was read before these lines is written first
        con = self.con
        offered_sql = "SELECT * FROM rows"
        if extra:
            converted = [self.convert(row) for _, row in extra]
            at = {name: k for k, name in enumerate(self.names)}
            columns = {
                "i": pa.array([index for index, _ in extra], pa.int64()),
                "hour": pa.array([values[at["ts"]][:13] for values in converted], pa.string()),
            }
            for name in CHECKED:
                columns[name] = pa.array([values[at[name]] for values in converted], _arrow_type(name))
            con.register("extra", pa.table(columns))
            offered_sql += " UNION ALL SELECT * FROM extra"
        con.execute(f"CREATE OR REPLACE TEMP VIEW offered AS {offered_sql}")
        try:
            self._insert(source, "offered")
        finally:
            if extra:
                con.unregister("extra")
            con.unregister("checked")  # the chunk's columns, freed before the next chunk is read

    def _insert(self, source: str, offered: str) -> None:
        """Insert the rows of ``offered`` (a view), the first of each ``event_id`` by line, into the store."""
        import pyarrow as pa

        collector = self.collector
        con = self.con
        ((total, distinct),) = con.execute(
            f"SELECT count(*), count(DISTINCT event_id) FROM {offered}"
        ).fetchall()
        if not total:
            return
        if distinct < total:  # the first occurrence (by line) of each event_id is the one offered
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE first_rows AS SELECT * FROM {offered} "
                f"WHERE i IN (SELECT min(i) FROM {offered} GROUP BY event_id)"
            )
            offered = "first_rows"
            collector.report.duplicates += total - distinct
        ids = [sid for (sid,) in con.execute(f"SELECT DISTINCT session_id FROM {offered}").fetchall()]
        buckets = pa.table(
            {"sid": pa.array(ids, pa.string()), "bucket": pa.array(map(session_bucket, ids), pa.int64())}
        )
        con.register("buckets", buckets)
        offered_by_hour = dict(con.execute(f"SELECT hour, count(*) FROM {offered} GROUP BY hour").fetchall())
        ingested = utc_text(collector.ingested_at)
        joined = f"FROM {offered} r JOIN buckets b ON b.sid = r.session_id"
        try:
            if self.dialect == "postgresql":
                select = ", ".join(
                    "b.bucket"
                    if name == "session_bucket"
                    else "$source"
                    if name == "source"
                    else f"'{ingested}'"
                    if name == "ingested_at"
                    else f"r.{name}"
                    for name in self.names
                )
                with tempfile.TemporaryDirectory(prefix="aitl-copy-") as folder:
                    csv_path = Path(folder) / "rows.csv"
                    con.execute(
                        f"COPY (SELECT {select} {joined}) TO '{csv_path}' (FORMAT csv, HEADER false)",
                        {"source": source},
                    )
                    with csv_path.open("rb") as csv_file:
                        stored = copy_insert_ignore(
                            collector.session, Event.__table__, self.names, csv_file, "date_trunc('hour', ts)"
                        )
                by_hour = {f"{hour:%Y-%m-%d %H}": n for hour, n in stored.items()}
            else:
                # Columns with one value in every row (NULL, say, where no event is in an
                # experiment) are written into the statement: fewer values built and bound a row.
                counts = con.execute(f"SELECT {', '.join(f'count({n})' for n in CHECKED)} FROM {offered}")
                constants = {
                    "source": source,
                    "ingested_at": ingested,
                    **{
                        name: None
                        for name, count in zip(CHECKED, counts.fetchone(), strict=True)
                        if not count
                    },
                }
                bound = [name for name in self.names if name not in constants]
                # Booleans as the integers SQLite stores: sqlite3 binds an int directly, but looks
                # for an adapter for a bool (a subclass), about 0.3 us a value.
                bound_sql = ", ".join(
                    "b.bucket"
                    if name == "session_bucket"
                    else f"r.{name}::INTEGER"
                    if name in _BOOLS
                    else f"r.{name}"
                    for name in bound
                )
                by_hour = dict.fromkeys(offered_by_hour, 0)
                for hour in sorted(offered_by_hour):
                    result = con.execute(f"SELECT {bound_sql} {joined} WHERE r.hour = $hour", {"hour": hour})
                    # A batch of Python rows at a time: a whole chunk's would cost about 2 kB a row.
                    while rows := result.fetchmany(INSERT_BATCH):
                        by_hour[hour] += sqlite_insert_rows(
                            collector.session, Event.__table__, bound, rows, constants
                        )
        finally:
            con.unregister("buckets")
        for hour in sorted(offered_by_hour):
            collector.count_batch(_hour_of(hour), offered_by_hour[hour], by_hour.get(hour, 0))


def read_columnar(collector: Collector, path: Path, source: str, progress: Progress) -> None:
    """``path``'s new lines into ``collector`` (see the module docstring)."""
    with ColumnarReader(collector) as reader:
        reader.read(path, source, progress)
