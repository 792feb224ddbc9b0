"""Columnar ingest of landing JSONL: a file's lines decoded and checked in DuckDB, in bulk.

The per-record path (``readers.read_jsonl`` -> ``contract.decode`` -> ``Collector``)
costs about 13 us a record in Python. Here the complete lines of a file are
handed to DuckDB as one zero-copy Arrow string array, parsed once per line
(``json_extract`` of every contract field as a JSON fragment), and checked in
SQL against the contract. A line becomes a store row here only when the checks
*prove* that ``contract.decode`` would accept it and give the same values; every
other line (malformed, out of bounds, out of the run's time window, or merely
unusual: non-ASCII bytes, backslash escapes, a key order or shape the checks
do not cover) goes through the per-record path, unchanged, so every
quarantine reason, locator and raw text is exactly what that path gives.

What the checks rely on (each kept conservative; a line that is not surely
accepted falls back):

* lines of printable ASCII without a backslash: every JSON string is its
  characters between two quotes, a fragment is the text as written, lengths
  are bytes, and no ``\\u0000`` can appear;
* DuckDB's parser is more lenient than msgspec (NaN and Infinity, trailing
  commas, first of duplicate keys): numbers must be digits, trailing commas
  are refused by pattern, and a line's top-level keys are counted (its colons
  less those inside the values) against the contract fields present, so an
  unknown or repeated key falls back;
* ``errors`` items must read exactly ``{"type":...,"message":...}`` (the form
  the store keeps), lists of indicators exactly ``["...",...]``;
* timestamps ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)``, the text the store
  keeps built from their digits; negative numbers (valid only as -0) fall back.

Rows are written in line order after what the collector had pending, so the
first occurrence of an ``event_id`` is the one stored, as on the per-record
path; SQLite by ``executemany`` of the rows DuckDB returns as tuples,
PostgreSQL by ``COPY`` into a staging table and ``INSERT ... ON CONFLICT DO
NOTHING`` (``aitl.store.writes``).
"""

from __future__ import annotations

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

CHUNK_BYTES = 64 << 20  # lines are read and checked this many bytes at a time (bounded memory)
# Below this many new bytes a file is read record by record: starting DuckDB and its queries costs
# tens of milliseconds, what the per-record path spends on a few thousand records.
COLUMNAR_MIN_BYTES = 1 << 20
COLUMNAR_SWITCH = "AITL_INGEST_COLUMNAR"  # 1, 0 or auto (the default: columnar on PostgreSQL)

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

_TIMESTAMP = (
    r'"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    r'(\.[0-9]{1,6})?(Z|\+00:00)"'
)
_INDICATOR_LIST = r'\["[^"]{0,200}"(,"[^"]{0,200}")*\]'


def _frag(name: str) -> str:
    return f"f{KNOWN.index(name) + 1}"


def _string_value(frag: str) -> str:
    return f"substr({frag}, 2, strlen({frag}) - 2)"


def _is_null(frag: str) -> str:
    return f"({frag} IS NULL OR {frag} = 'null')"


def _checks_and_values(privacy: str) -> tuple[list[str], dict[str, str]]:
    """The SQL conditions a line must meet, and the SQL of each column's stored value."""
    checks: list[str] = []
    values: dict[str, str] = {}
    for name, (low, high) in _STRINGS.items():
        f = _frag(name)
        ok = f"(starts_with({f}, '\"') AND strlen({f}) BETWEEN {low + 2} AND {high + 2})"
        checks.append(ok if name in REQUIRED else f"({_is_null(f)} OR {ok})")
        values[name] = f"CASE WHEN {_is_null(f)} THEN NULL ELSE {_string_value(f)} END"
    if privacy == "hash":
        values["comment"] = (
            f"CASE WHEN {_is_null(_frag('comment'))} THEN NULL "
            f"ELSE 'sha256:' || sha256({values['comment']}) END"
        )
    elif privacy == "drop":
        values["comment"] = "NULL::VARCHAR"
    for name, low in _INTS.items():
        f = _frag(name)
        # A fragment starting with a digit is a JSON number; without '.' or an exponent, an integer.
        ok = (
            f"({f} >= '0' AND {f} < ':' AND NOT contains({f}, '.') AND NOT contains({f}, 'e') "
            f"AND NOT contains({f}, 'E') AND try_cast({f} AS BIGINT) >= {low})"
        )
        checks.append(f"({_is_null(f)} OR {ok})")
        values[name] = f"CASE WHEN {_is_null(f)} THEN NULL ELSE try_cast({f} AS BIGINT) END"
    for name, (low, high) in _FLOATS.items():
        f = _frag(name)
        # A number (never NaN or Infinity), without a sign: a negative is valid only as -0, which
        # COPY's text would not keep.
        ok = f"({f} >= '0' AND {f} < ':' AND try_cast({f} AS DOUBLE) BETWEEN {low!r} AND {high!r})"
        checks.append(ok if name in REQUIRED else f"({_is_null(f)} OR {ok})")
        values[name] = f"CASE WHEN {_is_null(f)} THEN NULL ELSE try_cast({f} AS DOUBLE) END"
    for name in _BOOLS:
        f = _frag(name)
        ok = f"({f} IN ('true', 'false'))"
        checks.append(ok if name in REQUIRED else f"({_is_null(f)} OR {ok})")
        values[name] = f"CASE WHEN {_is_null(f)} THEN NULL ELSE {f} = 'true' END"
    f = _frag("arm")
    checks.append(f"({_is_null(f)} OR {f} IN ('\"control\"', '\"variant\"'))")
    values["arm"] = f"CASE WHEN {_is_null(f)} THEN NULL ELSE {_string_value(f)} END"
    for name in _INDICATORS:
        f = _frag(name)
        listed = (
            f"(regexp_full_match({f}, '{_INDICATOR_LIST}') "
            f"AND strlen({f}) - strlen(replace({f}, '\"', '')) <= 200)"
        )
        checks.append(f"({_is_null(f)} OR {f} = '[]' OR {listed})")
        values[name] = (
            f"CASE WHEN {_is_null(f)} THEN 'null' ELSE {f} END"  # JSON text, as json_text writes it
        )
    f = _frag("errors")
    items = f'json_transform({f}, \'[{{"type":"JSON","message":"JSON"}}]\')'
    rendered = (
        f"'[' || array_to_string(list_transform({items}, lambda x: '{{\"type\":' || x.type "
        "|| ',\"message\":' || coalesce(x.message, 'null') || '}'), ',') || ']'"
    )
    item_ok = (
        f"list_bool_and(list_transform({items}, lambda x: starts_with(x.type, '\"') "
        "AND strlen(x.type) BETWEEN 3 AND 66 "
        "AND (x.message IS NULL OR (starts_with(x.message, '\"') AND strlen(x.message) <= 2002))))"
    )
    errors_ok = f"(starts_with({f}, '[{{') AND len({items}) <= 100 AND {rendered} = {f} AND {item_ok})"
    checks.append(f"({_is_null(f)} OR {f} = '[]' OR coalesce({errors_ok}, false))")
    if privacy == "keep":
        values["errors"] = f"CASE WHEN {_is_null(f)} THEN 'null' ELSE {f} END"
    else:
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
        values["errors"] = f"CASE WHEN {_is_null(f)} THEN 'null' WHEN {f} = '[]' THEN '[]' ELSE {private} END"
    f = _frag("timestamp")
    checks.append(
        f"(regexp_full_match({f}, '{_TIMESTAMP}') AND try_cast(substr({f}, 2, 10) AS DATE) IS NOT NULL)"
    )
    body = f"substr({f}, 2, strlen({f}) - CASE WHEN ends_with({f}, 'Z\"') THEN 3 ELSE 8 END)"
    values["ts"] = (
        f"substr({body}, 1, 10) || ' ' || substr({body}, 12, 8) || '.' || rpad(substr({body}, 21), 6, '0')"
    )
    # Every top-level key is a contract field, present once. Without escapes every '"' delimits a
    # string: the line's quotes (column q) are its keys' and its string values'; the fields present,
    # their string values and the quotes inside their lists account for all of them exactly when no
    # key is unknown or repeated (each such key adds two).
    present = " + ".join(f"({_frag(n)} IS NOT NULL)::INTEGER" for n in KNOWN)
    strings = " + ".join(f"starts_with({_frag(n)}, '\"')::INTEGER" for n in (*_STRINGS, "timestamp", "arm"))
    lists = " + ".join(
        f"CASE WHEN {_is_null(_frag(n))} OR {_frag(n)} = '[]' THEN 0 "
        f"ELSE strlen({_frag(n)}) - strlen(replace({_frag(n)}, '\"', '')) END"
        for n in (*_INDICATORS, "errors")
    )
    checks.append(f"q = 2 * ({present}) + 2 * ({strings}) + {lists}")
    checks.append("NOT trailing_comma")
    return checks, values


_QUERIES: dict[str, tuple[list[str], dict[str, str]]] = {}


def _query(privacy: str) -> tuple[list[str], dict[str, str]]:
    if privacy not in _QUERIES:
        _QUERIES[privacy] = _checks_and_values(privacy)
    return _QUERIES[privacy]


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
BATCH_LINES = 8192  # lines per Arrow record batch: the unit DuckDB hands to a thread


class Checked:
    """A chunk's lines after DuckDB's checks: the table ``rows`` (accepted) and the others' indices."""

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

    count = len(ends)
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    skip = np.diff(offsets) > MAX_RECORD_BYTES
    if first_line_has_bom and count:
        skip[0] = True
    lines = pa.Array.from_buffers(pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    chunk = pa.table({"i": pa.array(np.arange(count, dtype=np.int64)), "skip": pa.array(skip), "line": lines})
    # DuckDB scans an Arrow table a record batch at a time per thread: one batch would be one thread.
    chunk = pa.Table.from_batches(chunk.to_batches(max_chunksize=BATCH_LINES))
    checks, values = _query(privacy)
    paths = "[" + ", ".join(f"'$.{name}'" for name in KNOWN) + "]"
    columns = [name for name in _event_columns() if name in values]
    # Printable ASCII and tab only, no backslash: anything else is read record by record. Bytes
    # that are not UTF-8 fail DuckDB's parse (NULL), as do raw control characters in strings.
    plain = "strlen(line) = length(line) AND NOT contains(line, '\\') AND NOT contains(line, chr(127))"
    parse = f"CASE WHEN skip OR NOT ({plain}) THEN NULL ELSE try(json_extract(line, {paths})) END"
    fragments = (
        "SELECT i, strlen(line) - strlen(replace(line, '\"', '')) AS q, "
        "regexp_matches(line, ',[ \t\r\n]*[\\]}]') AS trailing_comma, "
        + ", ".join(f"j[{k + 1}]::VARCHAR AS f{k + 1}" for k in range(len(KNOWN)))
        + f" FROM (SELECT i, line, {parse} AS j FROM chunk)"
    )
    window = "" if accept is None else f" AND ts >= '{accept[0]}' AND ts < '{accept[1]}'"
    con.register("chunk", chunk)
    try:
        # One pipeline, fragments never stored: materializing them cost as much as the checks.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rows AS SELECT i, substr(ts, 1, 13) AS hour, "
            + ", ".join(columns)
            + " FROM (SELECT i, "
            + ", ".join(f"{values[name]} AS {name}" for name in columns)
            + f" FROM ({fragments}) WHERE f1 IS NOT NULL AND "
            + " AND ".join(checks)
            + f") WHERE true{window}"
        )
    finally:
        con.unregister("chunk")
    accepted = con.execute("SELECT i FROM rows").fetchnumpy()["i"]
    fallback = np.setdiff1d(np.arange(count, dtype=np.int64), accepted, assume_unique=True)
    return Checked(con, fallback, len(accepted))


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
        """Complete lines: checked in DuckDB; the others one by one; all written in line order."""
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
            con.execute("INSERT INTO rows SELECT * FROM extra")
            con.unregister("extra")
        ((total, distinct),) = con.execute("SELECT count(*), count(DISTINCT event_id) FROM rows").fetchall()
        if not total:
            return
        if distinct < total:  # the first occurrence (by line) of each event_id is the one offered
            con.execute("DELETE FROM rows WHERE i NOT IN (SELECT min(i) FROM rows GROUP BY event_id)")
            collector.report.duplicates += total - distinct
        ids = [sid for (sid,) in con.execute("SELECT DISTINCT session_id FROM rows").fetchall()]
        buckets = pa.table(
            {"sid": pa.array(ids, pa.string()), "bucket": pa.array(map(session_bucket, ids), pa.int64())}
        )
        con.register("buckets", buckets)
        offered = dict(con.execute("SELECT hour, count(*) FROM rows GROUP BY hour").fetchall())
        ingested = utc_text(collector.ingested_at)
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
        rows_sql = f"SELECT {select} FROM rows r JOIN buckets b ON b.sid = r.session_id"
        try:
            if self.dialect == "postgresql":
                with tempfile.TemporaryDirectory(prefix="aitl-copy-") as folder:
                    csv_path = Path(folder) / "rows.csv"
                    con.execute(
                        f"COPY ({rows_sql}) TO '{csv_path}' (FORMAT csv, HEADER false)", {"source": source}
                    )
                    with csv_path.open("rb") as csv_file:
                        stored = copy_insert_ignore(
                            collector.session, Event.__table__, self.names, csv_file, "date_trunc('hour', ts)"
                        )
                by_hour = {f"{hour:%Y-%m-%d %H}": n for hour, n in stored.items()}
            else:
                by_hour = {}
                for hour in sorted(offered):
                    rows = con.execute(
                        f"{rows_sql} WHERE r.hour = $hour", {"source": source, "hour": hour}
                    ).fetchall()
                    by_hour[hour] = sqlite_insert_rows(collector.session, Event.__table__, self.names, rows)
        finally:
            con.unregister("buckets")
        for hour in sorted(offered):
            collector.count_batch(_hour_of(hour), offered[hour], by_hour.get(hour, 0))


def read_columnar(collector: Collector, path: Path, source: str, progress: Progress) -> None:
    """``path``'s new lines into ``collector`` (see the module docstring)."""
    with ColumnarReader(collector) as reader:
        reader.read(path, source, progress)
