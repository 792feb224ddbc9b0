"""Data collection: validated feedback records into the store, each event in its own hour.

Valid events are inserted once per ``event_id``; every record that breaks the
contract goes to the quarantine table with its raw text and a reason naming the
field. Nothing is dropped silently: every report satisfies
``read == stored + duplicates + quarantined``.

Event time, not arrival, decides where an event belongs: a run stores every
valid event whose timestamp lies within ``accept`` (its own hour widened by
the allowed lateness; ``None`` for an import, which takes any time), and
counts the hours other than its own that got new events in ``late_arrivals``
so that normalization re-builds exactly those. An event beyond the lateness is
quarantined with its ``event_hour``: a run of that hour stores it.
"""

from __future__ import annotations

import base64
import gc
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aitl.config import PRIVACY_MODES
from aitl.ids import record_key
from aitl.ingest.contract import ContractError
from aitl.ingest.readers import RawRecord
from aitl.shards import session_bucket
from aitl.store.database import bulk_cache
from aitl.store.locks import advisory_lock
from aitl.store.models import Event, LateArrival, Quarantine
from aitl.store.writes import insert_ignore
from aitl.window import HOUR, Window


@dataclass
class IngestReport:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    files: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    # Hours (ISO start) that received new events, and how many each.
    hours: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarantine_key(source: str, locator: str) -> str:
    """The quarantine's identity of a record: a rerun finds the same key, other hours never do."""
    return record_key(source, locator)


def stored_raw(raw: str | bytes) -> tuple[str, str]:
    """``(text, encoding)``: the raw record as a text column can hold it, losslessly.

    UTF-8 without NUL is kept as text; anything else (undecodable bytes, a NUL
    that PostgreSQL text refuses, surrogate-escaped CSV bytes) as base64.
    """
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", errors="surrogateescape")
    if b"\x00" not in data:
        try:
            return data.decode("utf-8"), "text"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), "base64"


# What the reason adds when the raw record is not kept as plain text.
_KEPT_AS = {
    "base64": " (raw record kept as base64: it is not UTF-8 text or holds a NUL)",
    "sha256": " (raw record kept as its SHA-256 only: privacy setting)",
    "dropped": " (raw record not kept: privacy setting)",
}


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


class Privacy:
    """What happens to free text (comments, error messages, quarantined raw records) at ingest.

    ``keep`` stores it; ``hash`` replaces it by its SHA-256 (equal texts stay
    comparable, none readable); ``drop`` removes it. For platforms whose users'
    text may hold personal data or code.
    """

    def __init__(self, mode: str = "keep") -> None:
        if mode not in PRIVACY_MODES:
            raise ValueError(f"privacy {mode!r} is not one of {PRIVACY_MODES}")
        self.mode = mode

    def text(self, value: str | None) -> str | None:
        if value is None or self.mode == "keep":
            return value
        return _digest(value) if self.mode == "hash" else None

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.mode == "keep":
            return row
        row["comment"] = self.text(row.get("comment"))
        if row.get("errors"):
            row["errors"] = [{**error, "message": self.text(error.get("message"))} for error in row["errors"]]
        return row

    def raw(self, raw: str | bytes) -> tuple[str, str]:
        text, encoding = stored_raw(raw)
        if self.mode == "keep":
            return text, encoding
        return (_digest(text), "sha256") if self.mode == "hash" else ("", "dropped")


class Collector:
    """Validates records and writes them in bounded batches through the caller's session.

    All batches go through one transaction: a failure leaves nothing behind,
    and memory stays bounded by ``batch_size`` however large the hour.
    """

    def __init__(
        self,
        session: Session,
        own: Window,
        accept: Window | None,
        ingested_at: datetime,
        *,
        privacy: Privacy | None = None,
        batch_size: int = 50_000,
    ) -> None:
        self.session = session
        self.own = own
        self.accept = accept
        self.ingested_at = ingested_at
        self.privacy = privacy or Privacy()
        self.batch_size = batch_size
        self.report = IngestReport()
        self.rows: dict[str, dict[str, Any]] = {}
        self.quarantine: list[dict[str, Any]] = []
        self.late: dict[datetime, int] = defaultdict(int)  # new events per hour other than its own
        bulk_cache(session, True)

    def add(self, record: RawRecord) -> None:
        row = self.admit(record)
        if row is None:
            return
        if row["event_id"] in self.rows:
            self.report.duplicates += 1
            return
        self.keep(record.source, row)

    def admit(self, record: RawRecord) -> dict[str, Any] | None:
        """Count the record as read; quarantine it (None) or return its row, valid and within ``accept``."""
        self.report.read += 1
        if record.problem is not None:
            self.reject(record, record.problem)
            return None
        row = record.row
        assert row is not None
        ts = row["ts"]
        if self.accept is not None and not self.accept.contains(ts):
            self.reject(record, _out_of_time(ts, self.own, self.accept), Window.hour_of(ts).start)
            return None
        return row

    def keep(self, source: str, row: dict[str, Any]) -> None:
        """Queue a valid row for insertion (the caller has counted it as read)."""
        row = self.complete(source, row)
        self.rows[row["event_id"]] = row
        if len(self.rows) >= self.batch_size:
            self.flush()

    def complete(self, source: str, row: dict[str, Any]) -> dict[str, Any]:
        """A valid row as stored: its source, when, its session's bucket, privacy applied."""
        row["source"] = source
        row["ingested_at"] = self.ingested_at
        row["session_bucket"] = session_bucket(row["session_id"])
        return row if self.privacy.mode == "keep" else self.privacy.row(row)

    def count_batch(self, hour: datetime, offered: int, stored: int) -> None:
        """Count rows of ``hour`` written in bulk (columnar): ``stored`` new, the rest duplicates."""
        self.report.duplicates += offered - stored
        self._count_stored(hour, stored)

    def reject(self, record: RawRecord, problem: ContractError, event_hour: datetime | None = None) -> None:
        raw, encoding = self.privacy.raw(record.raw)
        self.quarantine.append(
            {
                "key": quarantine_key(record.source, record.locator),
                "source": record.source,
                "locator": record.locator,
                "window_start": self.own.start,
                "window_end": self.own.end,
                "field": problem.field[: Quarantine.__table__.c.field.type.length],
                "reason": str(problem) + _KEPT_AS.get(encoding, ""),
                "raw": raw,
                "raw_encoding": encoding,
                "header": record.header,
                "event_hour": event_hour,
            }
        )
        self.report.quarantined += 1
        reasons = self.report.quarantine_reasons
        reasons[problem.field] = reasons.get(problem.field, 0) + 1
        if len(self.quarantine) >= self.batch_size:
            self.flush()

    def close(self) -> IngestReport:
        """Write what is pending, then count the late hours' events in ``late_arrivals``.

        The counts are written last, in ascending hour order: a run then never
        waits for another's lock on a late hour while holding one the other
        needs (see ``aitl.store.locks``).
        """
        self.flush()
        bulk_cache(self.session, False)
        for hour, events in sorted(self.late.items()):
            _mark_late(self.session, hour, events, self.ingested_at)
        self.late.clear()
        return self.report

    def flush(self) -> IngestReport:
        """Write the pending batch, hour by hour; events already stored count as duplicates."""
        by_hour: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
        start, end = self.own.start, self.own.end
        own = by_hour[start] if end - start == HOUR else None  # the usual case: a run of one hour
        for row in self.rows.values():
            ts = row["ts"]
            if own is not None and start <= ts < end:
                own.append(row)
            else:
                by_hour[ts.replace(minute=0, second=0, microsecond=0)].append(row)
        by_hour = {hour: rows for hour, rows in by_hour.items() if rows}
        for hour, rows in sorted(by_hour.items()):
            stored = insert_ignore(self.session, Event.__table__, rows)
            self.report.duplicates += len(rows) - stored
            self._count_stored(hour, stored)
        insert_ignore(self.session, Quarantine.__table__, self.quarantine)
        self.rows, self.quarantine = {}, []
        return self.report

    def _count_stored(self, hour: datetime, stored: int) -> None:
        self.report.stored += stored
        if stored:
            key = hour.isoformat()
            self.report.hours[key] = self.report.hours.get(key, 0) + stored
            if not self.own.contains(hour):
                self.late[hour] += stored


def _out_of_time(ts: datetime, own: Window, accept: Window) -> ContractError:
    hour = Window.hour_of(ts).start
    if ts < accept.start:
        where = f"later than the allowed lateness (it accepts from {accept.start:%Y-%m-%dT%H:%M}Z)"
    else:
        where = f"ahead of this run's hour {own} by more than the allowed lateness"
    replay = f"a run of hour {hour:%Y-%m-%dT%H}Z stores it"
    return ContractError("timestamp", f"{ts.isoformat()} is {where}; {replay}")


def _mark_late(session: Session, hour: datetime, events: int, at: datetime) -> None:
    """Count new events of an hour other than the run's own, for its re-normalization."""
    advisory_lock(session, "late-arrival", hour.isoformat())
    table = LateArrival.__table__
    known = session.execute(select(table.c.events).where(table.c.hour == hour)).scalar_one_or_none()
    if known is None:
        row = {"hour": hour, "events": events, "last_at": at, "normalized_at": None}
        insert_ignore(session, table, [row])
    else:
        session.execute(
            update(table)
            .where(table.c.hour == hour)
            .values(events=table.c.events + events, last_at=at, normalized_at=None)
        )


@contextmanager
def paused_gc() -> Iterator[None]:
    """Cyclic garbage collection off while records stream through.

    Reading an hour creates millions of short-lived objects and no reference
    cycles; the cyclic collector's passes over them cost about a quarter of
    collection time (measured), and reference counting frees them anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def lateness_window(own: Window, lateness: timedelta) -> Window:
    """The event times a run of ``own`` stores: its hours widened by the allowed lateness both ways.

    Late is the usual case (a file that landed after its hour ran); ahead
    covers a producer's clock a little fast at the hour boundary.
    """
    return Window(own.start - lateness, own.end + lateness)
