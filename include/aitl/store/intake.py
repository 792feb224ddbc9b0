"""The intake tables: what arrived, what was refused, and what was read from where.

``events`` holds valid feedback events exactly as the contract defines them;
``quarantine`` every record that broke it, losslessly, with the reason;
``ingested_files`` the manifest that makes collection exact (a landing file is
read once, a changed one again); ``late_arrivals`` the hours that received
events after their own run, so the next run re-normalizes exactly those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aitl.store.base import Base, Id, Name, UTCDateTime


class Event(Base):
    """A valid feedback event, exactly as the contract defines it."""

    __tablename__ = "events"
    # Windows are read by time, an hour's session groups by time and bucket:
    # one index serves both, its bucket column sparing a chunk's read a table
    # lookup per event of the hour that it does not hold.
    __table_args__ = (Index("ix_events_ts_session_bucket", "ts", "session_bucket"),)

    event_id: Mapped[str] = mapped_column(Name, primary_key=True)
    execution_id: Mapped[str] = mapped_column(Name)
    # Analyses read events by time window only: every extra index would slow
    # bulk ingest (each is another B-tree to update per row) for no query.
    session_id: Mapped[str] = mapped_column(Name)
    # aitl.shards.session_bucket(session_id), stored at ingest: normalization
    # reads an hour one session group at a time (bounded memory) and a sharded
    # run splits it by group, in SQL that SQLite and PostgreSQL both run.
    session_bucket: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(Name)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_tier: Mapped[str | None] = mapped_column(String(64))
    task_type: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(Name)
    prompt_id: Mapped[str | None] = mapped_column(Name)
    # The contract's counts are 64-bit: so are their columns.
    prompt_version: Mapped[int | None] = mapped_column(BigInteger)
    experiment_id: Mapped[str | None] = mapped_column(Name)
    arm: Mapped[str | None] = mapped_column(String(16))
    complexity: Mapped[float | None] = mapped_column(Float)
    size: Mapped[int | None] = mapped_column(BigInteger)
    success: Mapped[bool] = mapped_column(Boolean)
    # Nullable for outcome-only sources, which report no duration or quality.
    duration_s: Mapped[float | None] = mapped_column(Float)
    quality_score: Mapped[float | None] = mapped_column(Float)
    syntax_errors: Mapped[int | None] = mapped_column(BigInteger)
    style_issues: Mapped[list[str] | None] = mapped_column(JSON)
    security_warnings: Mapped[list[str] | None] = mapped_column(JSON)
    test_coverage: Mapped[float | None] = mapped_column(Float)
    doc_score: Mapped[float | None] = mapped_column(Float)
    satisfaction: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    cpu_s: Mapped[float | None] = mapped_column(Float)
    memory_mb: Mapped[float | None] = mapped_column(Float)
    tokens_in: Mapped[int | None] = mapped_column(BigInteger)
    tokens_out: Mapped[int | None] = mapped_column(BigInteger)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(1024))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Quarantine(Base):
    """A record that broke the contract: its raw text, where it was, and why.

    ``key`` (a hash of source and locator) identifies the record, so a file
    read twice quarantines it once however long its locator. ``raw`` is the
    record as read: as text, or base64 (``raw_encoding``) where the bytes are
    not UTF-8 or hold a NUL, which no text column can keep. ``header`` is a
    CSV file's header line, without which a CSV row cannot be re-read.
    ``event_hour`` is set for records refused only for arriving too late: a
    run of that hour stores them.
    """

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(Id, unique=True)
    source: Mapped[str] = mapped_column(String(1024))
    locator: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    field: Mapped[str] = mapped_column(Name)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    raw_encoding: Mapped[str] = mapped_column(String(16), server_default="text")
    header: Mapped[str | None] = mapped_column(Text)
    event_hour: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class IngestedFile(Base):
    """One landing file as collection last read it (the manifest).

    A file whose size and modification time are unchanged is not read again.
    One that grew from an unchanged prefix (``prefix_sha256`` of the first
    ``offset`` bytes) is read from ``offset`` on; any other change re-reads it
    whole, and ``event_id`` keeps that from storing anything twice.
    """

    __tablename__ = "ingested_files"

    path_key: Mapped[str] = mapped_column(Id, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(BigInteger)
    prefix_sha256: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LateArrival(Base):
    """An hour that received events after (or before) the run that owns it.

    Collection counts them here; normalization of a later hour re-builds the
    hour's summaries while it is within ``allowed_lateness`` and stamps
    ``normalized_at``; the daily cycle reports days that got events after it
    analysed them.
    """

    __tablename__ = "late_arrivals"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    normalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PrunedHour(Base):
    """An hour whose raw events and quarantine rows the retention removed (``aitl.store.retention``).

    Its rollups and summaries, and everything derived from them, are kept; a
    rerun or backfill of the hour reads this row and leaves them alone
    instead of rebuilding them from nothing.
    """

    __tablename__ = "pruned_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    quarantined: Mapped[int] = mapped_column(BigInteger)
    pruned_at: Mapped[datetime] = mapped_column(UTCDateTime)
