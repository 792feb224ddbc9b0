"""Which reader reads a landing or exported file: by its name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aitl.ingest.otel import read_otlp
from aitl.ingest.readers import Progress, RawRecord, is_otlp, read_csv, read_jsonl


def read_file(
    path: Path, source: str, progress: Progress | None = None, *, final: bool = True
) -> Iterator[RawRecord]:
    """A file's records: OTLP/JSON spans (``*.otlp.json``, ``*.otlp.jsonl``), CSV (``*.csv``), else JSONL.

    ``final`` says the file will not grow any more: an OTLP file's traces
    still waiting for their root are then quarantined instead of held.
    """
    if is_otlp(path):
        return read_otlp(path, source, progress, final=final)
    reader = read_csv if path.suffix == ".csv" else read_jsonl
    return reader(path, source, progress)
