"""Which reader reads a landing or exported file: by its name, and columnar where that pays."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


def columnar_default() -> bool:
    """Whether large JSONL files are read columnar (``AITL_INGEST_COLUMNAR``).

    ``auto`` (the default) and ``1`` mean yes, on either store: the whole
    ``collect`` stage is faster so, about 8x on PostgreSQL (``COPY``) and
    1.2x on SQLite (BENCHMARKS.md, ``ingest_columnar``). ``0`` reads every
    record on its own.
    """
    return os.environ.get(COLUMNAR_SWITCH, "auto") != "0"


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
