"""``aitl ingest``: historical exports of any span straight into the store.

The same readers, contract, quarantine and accounting as a scheduled
collect, but no lateness limit (an import is late by definition): every
event goes to its own hour, and every hour that got events is marked in
``late_arrivals``, so the daily cycle knows which analysed days changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from aitl.ingest.collector import Collector, IngestReport, Privacy
from aitl.ingest.files import collect_file, columnar_default
from aitl.ingest.readers import Progress
from aitl.window import Window


class UnreadableFile(OSError):
    """A file given to import that is missing, not a regular file, or not readable."""


def check_readable(paths: Sequence[Path]) -> None:
    """Refuse the import before it writes anything if any file cannot be read."""
    for path in paths:
        if not path.is_file():
            raise UnreadableFile(f"{path}: not a regular file")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise UnreadableFile(f"{path}: {exc.strerror}") from None


def import_files(session: Session, paths: Sequence[Path], now: datetime, privacy: Privacy) -> IngestReport:
    """Validate and store the records of ``paths``, each event in its own hour.

    JSONL, CSV by the ``.csv`` suffix, OpenTelemetry spans by ``.otlp.json``/``.otlp.jsonl``
    (read as complete files: a trace whose root span is missing is quarantined). Large JSONL
    files are read columnar where a scheduled collect would read them so (``files.columnar_default``).
    """
    check_readable(paths)
    collector = Collector(session, Window.hour_of(now), None, now, privacy=privacy)
    columnar = columnar_default()
    for path in paths:
        collector.report.files += 1
        collect_file(collector, path, f"file:{path.resolve().as_posix()}", Progress(), columnar=columnar)
    return collector.close()
