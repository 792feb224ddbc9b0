"""Reading the landing folder exactly once per change, through the ``ingested_files`` manifest.

A run looks at its own hour's folder and those of the previous
``allowed_lateness`` hours. A file the manifest has seen with the same size
and modification time is skipped; a JSONL file that grew from an unchanged
prefix (same SHA-256 of the bytes read before) is read from where the last
read stopped, so an appending producer is read incrementally; any other change
re-reads the file whole, and ``event_id`` keeps that from storing an event
twice. The manifest is written in the run's transaction, so a failed run
leaves the files to be read again.

A last line still being written is quarantined as truncated and not
consumed; when the grown file is read again that quarantine row is removed
first, and the completed event is stored.

OpenTelemetry span files (``*.otlp.json``, ``*.otlp.jsonl``, ``aitl.ingest.otel``)
also hold back the lines of traces whose root span has not arrived. Such a
file is *final*, and its rootless spans quarantined, once it has not been
modified for the allowed lateness, or when this is the last run that reads
its folder (the folder's hour is more than the allowed lateness before the
next run's). A final file with held-back lines is read again even if unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.ingest.collector import Collector
from aitl.ingest.files import collect_file, columnar_default
from aitl.ingest.readers import HASH_CHUNK, TRUNCATED, Progress, is_otlp, landing_hour_dir, scan_landing
from aitl.shards import WHOLE, Shard
from aitl.store.locks import advisory_lock
from aitl.store.models import IngestedFile, Quarantine
from aitl.store.writes import replace


def _prefix_hash(path: Path, length: int) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while length > 0 and (chunk := handle.read(min(HASH_CHUNK, length))):
            digest.update(chunk)
            length -= len(chunk)
    return digest


def _progress(path: Path, known: IngestedFile | None, *, final: bool = False) -> Progress | None:
    """Where to start reading ``path``, or None when the manifest says it is unchanged.

    An unchanged file whose read stopped short of its end is read again when
    ``final``: an OTLP file's held-back traces are then settled.
    """
    info = path.stat()
    if known is None:
        return Progress()
    unchanged = known.size == info.st_size and known.mtime_ns == info.st_mtime_ns
    if unchanged and not (final and known.offset < known.size):
        return None
    if path.suffix != ".csv" and info.st_size >= known.offset:
        digest = _prefix_hash(path, known.offset)
        if digest.hexdigest() == known.prefix_sha256:
            return Progress(offset=known.offset, lines=known.lines, digest=digest)
    return Progress()


def collect_landing(
    session: Session,
    collector: Collector,
    landing: Path,
    hours: Iterable[datetime],
    *,
    min_file_age_s: float,
    now: datetime,
    shard: Shard = WHOLE,
    columnar: bool | None = None,
) -> dict[str, str]:
    """Feed the new and changed files of the hours' folders to ``collector``; return what was skipped.

    A shard of a sharded run reads only the files it holds (``Shard.holds_file``). Large JSONL
    files are read columnar (``files.collect_file``) when ``columnar`` says so, by default
    ``files.columnar_default``.
    """
    if columnar is None:
        columnar = columnar_default()
    read_hours = list(hours)
    scan = scan_landing(landing, iter(read_hours), min_file_age_s, now)
    table = IngestedFile.__table__
    # The run's allowed lateness: how long an OTLP file may wait for a trace's root span, and
    # the folders no later run reads (the next one starts at this one's end less the lateness).
    lateness = collector.own.start - collector.accept.start if collector.accept else timedelta(0)
    last_read = {
        landing_hour_dir(landing, hour) for hour in read_hours if hour < collector.own.end - lateness
    }
    for path in scan.files:
        relative = path.relative_to(landing).as_posix()
        if not shard.holds_file(relative):
            continue
        key = stable_id("landing", relative)
        # Runs of neighbouring hours read the same folders: one reads a file at
        # a time. Files come in one global order (folder, then name), so these
        # locks never deadlock.
        advisory_lock(session, "landing-file", key)
        known = session.execute(select(IngestedFile).where(IngestedFile.path_key == key)).scalar_one_or_none()
        otlp = is_otlp(path)
        final = otlp and (
            path.parent in last_read or now.timestamp() - path.stat().st_mtime >= lateness.total_seconds()
        )
        progress = _progress(path, known, final=final)
        if progress is None:
            continue
        info = path.stat()
        source = f"landing:{relative}"
        session.execute(
            delete(Quarantine).where(
                Quarantine.source == source, Quarantine.reason.startswith(f"event: {TRUNCATED}")
            )
        )
        collector.report.files += 1
        collect_file(collector, path, source, progress, columnar=columnar, final=final)
        row = {
            "path_key": key,
            "path": relative,
            "size": info.st_size,
            "mtime_ns": info.st_mtime_ns,
            "offset": progress.offset,
            "lines": progress.lines,
            "prefix_sha256": progress.digest.hexdigest(),
            "window_start": collector.own.start,
            "read_at": now,
        }
        replace(session, table, table.c.path_key == key, [row])
    return {path: reason for path, reason in scan.skipped.items() if shard.holds_file(path)}
