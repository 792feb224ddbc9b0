"""Replaying quarantined records: check them again and store those that now pass.

Records come back through the same reader and contract as when they were
first read (a JSONL line, a CSV row with its file's header, a source-table
row, an OpenTelemetry agent run's spans), so a record refused for a contract
rule that has since changed, or only for arriving beyond the allowed
lateness, is stored exactly as an on-time record would have been, and leaves
the quarantine. Records whose raw text the privacy setting hashed or dropped
cannot come back.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, delete, select
from sqlalchemy.orm import Session

from aitl.ingest import otel
from aitl.ingest.collector import Collector, Privacy
from aitl.ingest.contract import ContractError
from aitl.ingest.readers import RawRecord, csv_record, is_otlp, isolated, jsonl_record, sql_record
from aitl.store.models import Quarantine
from aitl.window import Window


@dataclass
class ReplayReport:
    checked: int = 0
    stored: int = 0
    duplicates: int = 0
    still_quarantined: int = 0
    unrecoverable: int = 0
    hours: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def raw_bytes(raw: str, encoding: str) -> bytes | None:
    """The record as it was read, or None where the privacy setting kept no copy."""
    if encoding == "text":
        return raw.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(raw)
    return None


def _csv_cells(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text, newline="")), [])


def reread(source: str, locator: str, data: bytes, header: str | None) -> RawRecord:
    """The record again, through the reader its source used the first time."""
    if header is not None:
        text = data.decode("utf-8", errors="surrogateescape")
        header_cells = _csv_cells(header)
        cells, problem = isolated(_csv_cells, text)
        if problem is not None or cells is None:
            return RawRecord(source, locator, data, problem=problem, header=header)
        return csv_record(header_cells, cells, source, locator, header, text)
    if source.startswith("sql:"):
        record, problem = isolated(orjson.loads, data)
        if problem is not None or not isinstance(record, dict):
            return RawRecord(
                source, locator, data, problem=problem or ContractError("event", "not an object")
            )
        return sql_record(record, source, locator)
    if is_otlp(source):
        return otel.reread(source, locator, data)
    return jsonl_record(data, source, locator)


def replay(collector: Collector, rows: Sequence[Row[Any]]) -> ReplayReport:
    """Store the quarantined ``rows`` that pass now; remove them from quarantine.

    Valid rows go through ``collector`` (its time limits apply: a scheduled
    run replays only its own hour's late records, an explicit replay takes
    any time). Rows that still fail stay as they are.
    """
    report = ReplayReport()
    before = collector.report.stored, collector.report.duplicates
    passed: list[int] = []
    for row in rows:
        report.checked += 1
        data = raw_bytes(row.raw, row.raw_encoding)
        if data is None:
            report.unrecoverable += 1
            continue
        record = reread(row.source, row.locator, data, row.header)
        if record.problem is not None or record.row is None:
            report.still_quarantined += 1
            continue
        if collector.accept is not None and not collector.accept.contains(record.row["ts"]):
            report.still_quarantined += 1
            continue
        collector.keep(record.source, record.row)
        passed.append(row.id)
    if passed:
        collector.session.execute(delete(Quarantine).where(Quarantine.id.in_(passed)))
    hours_before = dict(collector.report.hours)
    collector.close()
    report.stored = collector.report.stored - before[0]
    report.duplicates = collector.report.duplicates - before[1]
    report.hours = {
        hour: count - hours_before.get(hour, 0)
        for hour, count in collector.report.hours.items()
        if count != hours_before.get(hour, 0)
    }
    return report


def replay_quarantine(
    session: Session, window: Window | None, now: datetime, privacy: Privacy
) -> ReplayReport:
    """``aitl quarantine replay``: re-check the records quarantined by runs of ``window`` (None: all)."""
    query = select(Quarantine.__table__).order_by(Quarantine.id)
    if window is not None:
        query = query.where(Quarantine.window_start >= window.start, Quarantine.window_start < window.end)
    collector = Collector(session, Window.hour_of(now), None, now, privacy=privacy)
    return replay(collector, session.execute(query).all())
