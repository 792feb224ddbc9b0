"""Which reader reads a landing or exported file: by its name, and columnar where that pays."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from aitl.ingest.collector import Collector, paused_gc
from aitl.ingest.columnar import COLUMNAR_MIN_BYTES, COLUMNAR_SWITCH, read_columnar
from aitl.ingest.otel import read_otlp
from aitl.ingest.readers import Progress, RawRecord, is_otlp, read_csv, read_jsonl


def is_jsonl(path: Path) -> bool:
    """Whether ``path`` is read as contract events one JSON object a line (neither CSV nor OTLP spans)."""
    return not is_otlp(path) and path.suffix != ".csv"


def read_file(
    path: Path, source: str, progress: Progress | None = None, *, final: bool = True
) -> Iterator[RawRecord]:
    """A file's records: OTLP/JSON spans (``*.otlp.json``, ``*.otlp.jsonl``), CSV (``*.csv``), else JSONL.

    ``final`` says the file will not grow any more: an OTLP file's traces
    still waiting for their root are then quarantined instead of held.
    """
    if is_otlp(path):
        return read_otlp(path, source, progress, final=final)
    reader = read_jsonl if is_jsonl(path) else read_csv
    return reader(path, source, progress)


def columnar_default(session: Session) -> bool:
    """Whether JSONL is read columnar in this session's store (``AITL_INGEST_COLUMNAR``).

    ``auto`` (the default) means on PostgreSQL, where ``COPY`` makes collect
    about five times faster; on SQLite the per-record path is still faster end
    to end (BENCHMARKS.md, ``ingest_columnar``). ``1`` or ``0`` forces either way.
    """
    switch = os.environ.get(COLUMNAR_SWITCH, "auto")
    return switch == "1" or (switch != "0" and session.get_bind().dialect.name == "postgresql")


def collect_file(
    collector: Collector, path: Path, source: str, progress: Progress, *, columnar: bool, final: bool = True
) -> None:
    """Feed ``path``'s records from ``progress`` on to ``collector``, advancing ``progress``.

    With ``columnar``, a JSONL file with at least ``COLUMNAR_MIN_BYTES`` new
    bytes is read by ``aitl.ingest.columnar``; every other file record by
    record. Both store the same rows and quarantine the same records.
    """
    with paused_gc():
        if columnar and is_jsonl(path) and path.stat().st_size - progress.offset >= COLUMNAR_MIN_BYTES:
            read_columnar(collector, path, source, progress)
        else:
            for record in read_file(path, source, progress, final=final):
                collector.add(record)
