"""The hourly cycle: the execution- and session-level loops over the hour that just closed.

Each stage is a plain function of (session, window, settings) returning a
``StageResult``; ``aitl.pipeline.runner`` runs them transactionally and
records them. The stages, their order and what each one does are listed once,
in ``aitl.cycles``; ``STAGES`` binds them to the functions here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.config import Settings
from aitl.ingest import readers
from aitl.ingest.collector import Collector
from aitl.loop import insights
from aitl.mining import frequency, rollups
from aitl.pipeline import acting
from aitl.pipeline.stage import StageResult, bind, count_by, owned_by
from aitl.store import reads
from aitl.store.models import Event, Insight, Pattern
from aitl.store.reads import events_frame
from aitl.store.writes import replace
from aitl.window import Window

LEVEL = "hourly"


def collect(session: Session, window: Window, settings: Settings) -> StageResult:
    collector = Collector(session, window, datetime.now(UTC))
    files = 0
    if settings.landing_dir is not None and settings.landing_dir.is_dir():
        files, records = readers.read_landing(settings.landing_dir, window)
        for record in records:
            collector.add(record)
    if settings.source_url:
        for record in readers.read_sql_source(settings.source_url, settings.source_table, window):
            collector.add(record)
    report = collector.flush()
    report.files = files
    in_window = session.scalar(
        select(func.count()).select_from(Event).where(Event.ts >= window.start, Event.ts < window.end)
    )
    summary = {**report.as_dict(), "events_in_window": in_window}
    return StageResult(summary, stop=None if in_window else f"no events in {window}")


def normalize(session: Session, window: Window, settings: Settings) -> StageResult:
    return StageResult(rollups.build_rollups(session, window))


def _window_rows(session: Session, model: type, window: Window) -> list[dict[str, Any]]:
    query = select(model.__table__).where(owned_by(model, LEVEL, window))
    return [dict(row) for row in session.execute(query).mappings()]


def extract_patterns(session: Session, window: Window, settings: Settings) -> StageResult:
    thresholds = settings.thresholds
    counts = reads.window_signal_counts(session, window)
    patterns_events = int(counts.loc[counts["signal_kind"] == frequency.SIZE_KIND, "count"].sum())
    found = []
    if patterns_events >= thresholds.min_feedback_count:
        found = frequency.extract_frequency(counts, thresholds.min_frequency)
    rows = [p.pattern().as_row(LEVEL, window) for p in found]
    replace(session, Pattern.__table__, owned_by(Pattern, LEVEL, window), rows)
    summary = {
        "events": patterns_events,
        "patterns": len(rows),
        "segment_patterns": sum(1 for r in rows if r["segment"]),
        "by_category": count_by(rows, "category"),
        "top": [
            {
                "signal": r["signal"],
                "segment": r["segment"],
                "count": r["count"],
                "rate": round(r["rate"], 4),
            }
            for r in sorted(rows, key=lambda r: (-r["count"], r["id"]))[:5]
        ],
    }
    if patterns_events < thresholds.min_feedback_count:
        return StageResult(
            summary,
            stop=f"{patterns_events} events < min_feedback_count {thresholds.min_feedback_count}",
        )
    return StageResult(summary, stop=None if rows else "no signal reached min_frequency")


def generate_insights(session: Session, window: Window, settings: Settings) -> StageResult:
    found = _window_rows(session, Pattern, window)
    rows = insights.insight_rows(found, LEVEL, window, settings.thresholds.alpha)
    replace(session, Insight.__table__, owned_by(Insight, LEVEL, window), rows)
    summary = {
        "patterns": len(found),
        "insights": len(rows),
        "by_severity": count_by(rows, "severity"),
        "titles": [r["title"] for r in sorted(rows, key=lambda r: -r["confidence"])[:5]],
    }
    return StageResult(summary, stop=None if rows else "no significant pattern")


def plan_actions(session: Session, window: Window, settings: Settings) -> StageResult:
    found = _window_rows(session, Insight, window)
    events = events_frame(
        session, window, ("task_type", "complexity", "size", "success", "duration_s", "cpu_s", "memory_mb")
    )
    return acting.plan_and_store(session, window, settings, found, events, LEVEL)


STAGES = bind(
    LEVEL,
    {
        "collect": collect,
        "normalize": normalize,
        "extract_patterns": extract_patterns,
        "generate_insights": generate_insights,
        "plan_actions": plan_actions,
        "implement": partial(acting.implement_stage, level=LEVEL),
        "verify": partial(acting.verify_stage, level=LEVEL),
        "publish": partial(acting.publish_stage, level=LEVEL),
    },
)
