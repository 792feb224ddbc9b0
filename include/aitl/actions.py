"""The acting half of a cycle, the same at every level: plan, implement, verify, publish.

The hourly and daily cycles differ in what they find; what they do with it
is this. Each function takes the cycle's ``level`` so a daily plan never
replaces an hourly one that started in the same instant. Only the daily
verification decides (promote, roll back, stop) and measures settings before
and after; the hourly one records evidence. Both record the loop's
effectiveness for their window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from aitl import decisions, impact, sinks
from aitl.config import Settings
from aitl.effectiveness import effectiveness
from aitl.implementation import implement
from aitl.planning import plan
from aitl.runner import StageResult, count_by, owned_by
from aitl.store.models import Effectiveness, Improvement
from aitl.store.writes import insert_ignore, replace
from aitl.verification import verify
from aitl.window import Window


def plan_and_store(
    session: Session,
    window: Window,
    settings: Settings,
    insights: list[dict[str, Any]],
    events: pd.DataFrame | None,
    level: str,
) -> StageResult:
    """Plan improvements for the insights and replace this run's untouched plans with them."""
    thresholds = settings.thresholds
    rows, skipped = plan(
        session,
        insights,
        events,
        window,
        confidence_threshold=thresholds.pattern_confidence_threshold,
        max_per_cycle=thresholds.max_improvements_per_cycle,
        level=level,
        alpha=thresholds.alpha,
    )
    table = Improvement.__table__
    # Improvements already acted upon keep their state; only untouched plans are redone.
    session.execute(delete(table).where(owned_by(Improvement, level, window), table.c.status == "planned"))
    insert_ignore(session, table, rows)
    summary = {
        "insights": len(insights),
        "planned": len(rows),
        "skipped": skipped,
        "by_type": count_by(rows, "type"),
    }
    return StageResult(summary, stop=None if rows else "nothing to improve")


def implement_stage(session: Session, window: Window, settings: Settings, *, level: str) -> StageResult:
    summary = implement(session, window, settings.thresholds, dry_run=settings.dry_run, level=level)
    return StageResult(summary, stop=None if summary["considered"] else "no planned improvements")


def verify_stage(session: Session, window: Window, settings: Settings, *, level: str) -> StageResult:
    """Look at every running experiment; at the daily level also decide and measure settings."""
    thresholds, dry_run = settings.thresholds, settings.dry_run
    summary = verify(session, window, thresholds.alpha, level)
    acted = summary["experiments"]
    if level == "daily":
        summary["decisions"] = decisions.decide(session, window, thresholds, dry_run=dry_run)
        summary["impact"] = impact.measure(session, window, thresholds, dry_run=dry_run)
        acted += summary["impact"]["settings"]
    summary["effectiveness"] = effectiveness(session, window, thresholds.window_days)
    if not dry_run:
        table = Effectiveness.__table__
        row = {
            "level": level,
            "window_start": window.start,
            "window_end": window.end,
            "metrics": summary["effectiveness"],
        }
        replace(session, table, owned_by(Effectiveness, level, window), [row])
    return StageResult(summary, stop=None if acted else "no running experiments or changed settings")


def publish_stage(session: Session, window: Window, settings: Settings, *, level: str) -> StageResult:
    """Deliver what the platform must learn of (launches, decisions, settings) through the sink.

    A sink that is down is not a failure of the cycle: the messages stay in
    the outbox and the next run delivers them (see ``aitl.sinks``).
    """
    if settings.dry_run:
        return StageResult({"dry_run": True}, stop="dry run: nothing to publish")
    summary = sinks.publish(session, sinks.sink_from_url(settings.sink_url), datetime.now(UTC))
    return StageResult(summary, stop=None if summary["pending_before"] else "nothing to publish")
