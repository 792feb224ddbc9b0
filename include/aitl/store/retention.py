"""Retention: prune raw events and quarantine rows of old hours, keep everything derived.

At a million events an hour the raw tables grow by 720M rows a month, while
everything the loop reads after an hour is summarised comes from its rollups
and summaries. A daily run of day D prunes the hours that ended more than
``retention_days`` before the end of D, and only those that are safe:

* summarised: the hourly ``normalize`` of the hour succeeded and no late
  event waits for it (``late_arrivals`` not re-normalized);
* closed: past ``allowed_lateness`` as of now, so no scheduled run can still
  store an event in it.

Pruning deletes the hour's events and its quarantine rows (the records
quarantined by its run, and the too-late records of it) and records the hour
in ``pruned_hours``. Rollups, summaries, patterns, insights, experiments and
decisions are kept. A rerun or backfill of a pruned hour finds it there: its
``collect`` says so and stops, and ``normalize`` does not rebuild what it
can no longer rebuild.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from aitl.store.intake import Event, LateArrival, PrunedHour, Quarantine
from aitl.store.models import PipelineRun
from aitl.store.writes import insert_ignore
from aitl.window import HOUR, Window


def cutoff(day: Window, retention_days: int, lateness: timedelta, now: datetime) -> datetime:
    """Hours starting before this may be pruned: ``retention_days`` before the day's end, and closed."""
    return min(day.end - timedelta(days=retention_days), now - lateness - HOUR)


def prunable(session: Session, before: datetime) -> list[datetime]:
    """Summarised hours before ``before`` that are not pruned yet and wait for no late event."""
    runs = PipelineRun.__table__
    summarised = select(runs.c.window_start).where(
        runs.c.level == "hourly",
        runs.c.stage == "normalize",
        runs.c.status == "success",
        runs.c.window_start < before,
    )
    pending = {
        hour
        for (hour,) in session.execute(select(LateArrival.hour).where(LateArrival.normalized_at.is_(None)))
    }
    done = set(session.scalars(select(PrunedHour.hour).where(PrunedHour.hour < before)))
    return sorted(set(session.scalars(summarised)) - pending - done)


def prune(session: Session, hours: list[datetime], now: datetime) -> dict[str, Any]:
    """Delete the hours' events and quarantine rows, and record them as pruned."""
    rows = []
    for hour in hours:
        events = session.execute(delete(Event).where(Event.ts >= hour, Event.ts < hour + HOUR)).rowcount
        quarantined = or_(Quarantine.window_start == hour, Quarantine.event_hour == hour)
        refused = session.execute(delete(Quarantine).where(quarantined)).rowcount
        rows.append({"hour": hour, "events": events, "quarantined": refused, "pruned_at": now})
    insert_ignore(session, PrunedHour.__table__, rows)
    return {
        "hours": len(rows),
        "events": sum(r["events"] for r in rows),
        "quarantined": sum(r["quarantined"] for r in rows),
        "oldest": rows[0]["hour"].isoformat() if rows else None,
        "newest": rows[-1]["hour"].isoformat() if rows else None,
    }


def pruned(session: Session, hours: list[datetime]) -> dict[datetime, datetime]:
    """Of ``hours``, those pruned, with when."""
    if not hours:
        return {}
    query = select(PrunedHour.hour, PrunedHour.pruned_at).where(PrunedHour.hour.in_(hours))
    return dict(session.execute(query).all())
