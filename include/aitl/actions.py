"""The acting half of a cycle, the same at every level: plan, implement, verify.

The hourly and daily cycles differ in what they find; what they do with it
is this. Each function takes the cycle's ``level`` so a daily plan never
replaces an hourly one that started in the same instant.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from aitl.config import Settings
from aitl.implementation import implement
from aitl.planning import plan
from aitl.runner import StageResult, count_by, owned_by
from aitl.store.models import Improvement
from aitl.store.writes import insert_ignore
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
    summary = verify(session, window, settings.thresholds.alpha, level)
    return StageResult(summary, stop=None if summary["experiments"] else "no running experiments")
