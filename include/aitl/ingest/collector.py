"""Data collection: validated feedback records of one window into the store.

Valid events are inserted once per ``event_id``; every record that breaks the
contract goes to the quarantine table with its raw text and a reason naming the
field. Nothing is dropped silently: every report satisfies
``read == stored + duplicates + quarantined``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aitl.ingest.contract import ContractError
from aitl.ingest.readers import RawRecord, as_text
from aitl.store.models import Event, Quarantine
from aitl.store.writes import insert_ignore
from aitl.window import Window


@dataclass
class IngestReport:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    files: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Collector:
    """Validates the records of one window and writes them in bounded batches.

    All batches go through the caller's session, i.e. one transaction: a failure
    leaves nothing behind, and memory stays bounded by ``batch_size`` however
    large the hour.
    """

    def __init__(self, session: Session, window: Window, ingested_at: datetime, batch_size: int = 50_000):
        self.session = session
        self.window = window
        self.ingested_at = ingested_at
        self.batch_size = batch_size
        self.report = IngestReport()
        self.rows: dict[str, dict[str, Any]] = {}
        self.quarantine: list[dict[str, Any]] = []

    def add(self, record: RawRecord) -> None:
        self.report.read += 1
        if record.problem is not None:
            self._reject(record, record.problem)
            return
        row = record.row
        if not self.window.contains(row["ts"]):
            outside = f"{row['ts'].isoformat()} is outside the window {self.window}"
            self._reject(record, ContractError("timestamp", outside))
            return
        if row["event_id"] in self.rows:
            self.report.duplicates += 1
            return
        row["source"] = record.source
        row["ingested_at"] = self.ingested_at
        self.rows[row["event_id"]] = row
        if len(self.rows) >= self.batch_size:
            self.flush()

    def _reject(self, record: RawRecord, problem: ContractError) -> None:
        raw = as_text(record.raw) if isinstance(record.raw, bytes) else record.raw
        self.quarantine.append(
            {
                "source": record.source,
                "locator": record.locator,
                "window_start": self.window.start,
                "window_end": self.window.end,
                "field": problem.field,
                "reason": str(problem),
                "raw": raw,
            }
        )
        self.report.quarantined += 1
        reasons = self.report.quarantine_reasons
        reasons[problem.field] = reasons.get(problem.field, 0) + 1
        if len(self.quarantine) >= self.batch_size:
            self.flush()

    def flush(self) -> IngestReport:
        """Write the pending batch; events already stored count as duplicates."""
        stored = insert_ignore(self.session, Event.__table__, list(self.rows.values()))
        self.report.duplicates += len(self.rows) - stored
        self.report.stored += stored
        insert_ignore(self.session, Quarantine.__table__, self.quarantine)
        self.rows, self.quarantine = {}, []
        return self.report
