"""The acting half of a cycle, the same at every level: plan, implement, verify, publish.

The hourly and daily cycles differ in what they find; what they do with it
is this. Each function takes the cycle's ``level`` so a daily plan never
replaces an hourly one that started in the same instant. Only the daily
verification decides (promote, roll back, stop) and measures settings before
and after; the hourly one records evidence. Both record the loop's
effectiveness for their window.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from aitl.config import SEGMENT_FILTER_KEYS, Settings
from aitl.loop import decisions, harm, impact
from aitl.loop.choices import CostRule
from aitl.loop.effectiveness import effectiveness
from aitl.loop.implementation import PAUSED, implement
from aitl.loop.planning import plan
from aitl.loop.verification import verify
from aitl.pipeline.stage import StageResult, count_by, owned_by
from aitl.publish import alerts, outbox, sinks
from aitl.store.database import connect
from aitl.store.models import Effectiveness, Improvement
from aitl.store.writes import insert_ignore, replace
from aitl.window import Window


def in_segment(scope: dict[str, Any], segment: dict[str, str]) -> bool:
    """Whether an improvement scoped to ``scope`` lies within ``segment``.

    Every key of the filter must be named by the scope with the same value:
    an improvement for a wider population (all languages, say) is not
    within a filter on one language.
    """
    return all(scope.get(key) == value for key, value in segment.items())


def config_scope(row: dict[str, Any]) -> dict[str, Any]:
    """What a configuration change (target ``setting:task_type``) is about.

    The task type of its target, plus the model or agent tier it switches to
    (its ``change``) for model and agent-tier switches.
    """
    _, _, task_type = row["target_id"].partition(":")
    return {"task_type": task_type, **{k: v for k, v in row["change"].items() if k in SEGMENT_FILTER_KEYS}}


def plan_and_store(
    session: Session,
    window: Window,
    settings: Settings,
    insights: list[dict[str, Any]],
    events: pd.DataFrame | None,
    level: str,
) -> StageResult:
    """Plan improvements for the insights and replace this run's untouched plans with them.

    With a segment filter (``settings.segment``, a manual run's ``segment``
    param) only improvements within it are planned: those from insights
    whose segment matches (``in_segment``), and configuration changes whose
    ``config_scope`` matches. The others count as ``outside_segment``; the
    cap applies to what is left.
    """
    thresholds = settings.thresholds
    segment = settings.segment
    considered = [i for i in insights if in_segment(i["segment"], segment)] if segment else insights
    rows, skipped = plan(
        session,
        considered,
        events,
        window,
        confidence_threshold=thresholds.pattern_confidence_threshold,
        # With a filter, cap after filtering (below), not before.
        max_per_cycle=sys.maxsize if segment else thresholds.max_improvements_per_cycle,
        level=level,
        alpha=thresholds.alpha,
        cost_rule=CostRule.of(thresholds),
    )
    if segment:
        within = [r for r in rows if r["target_kind"] != "config" or in_segment(config_scope(r), segment)]
        skipped["outside_segment"] = len(insights) - len(considered) + len(rows) - len(within)
        skipped["over_cap"] = max(0, len(within) - thresholds.max_improvements_per_cycle)
        rows = within[: thresholds.max_improvements_per_cycle]
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
    if segment:
        summary["segment"] = dict(segment)
    stop = f"nothing to improve in segment {segment}" if segment else "nothing to improve"
    return StageResult(summary, stop=None if rows else stop)


def implement_stage(session: Session, window: Window, settings: Settings, *, level: str) -> StageResult:
    """Gate and launch the plans; while ``pause_launches`` is on, defer them and stop with that reason.

    A pause stops launches and setting changes only: ``verify`` (looks,
    decisions, rollbacks of settings) and ``publish`` still run after it.
    """
    summary = implement(session, window, settings.thresholds, dry_run=settings.dry_run, level=level)
    if not summary["considered"]:
        stop = "no planned improvements"
    elif summary["paused"]:
        stop = f"{PAUSED} ({summary['deferred']} deferred)"
    else:
        stop = None
    return StageResult(summary, stop=stop)


def verify_stage(session: Session, window: Window, settings: Settings, *, level: str) -> StageResult:
    """Look at every running experiment: hourly, roll back clear harm; daily, decide and measure settings."""
    thresholds, dry_run = settings.thresholds, settings.dry_run
    summary = verify(session, window, thresholds.alpha, level)
    acted = summary["experiments"]
    if level == "hourly":  # a clear harm is rolled back within hours (aitl.loop.harm)
        summary["harm"] = harm.check(session, window, thresholds, dry_run=dry_run)
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
    """Deliver what the platform must learn of (launches, decisions, settings) through the sink,
    and alert a person to what the run found and did (``aitl.publish.alerts``).

    A sink that is down is not a failure of the cycle: the messages stay in
    the outbox and the next run delivers them (see ``aitl.publish.outbox``).
    The runner's ``session`` is left alone: the outbox commits its own short
    transactions around each send, so a sink that hangs never holds the
    store's write lock, and the runner's transaction holds only this stage's
    ``pipeline_runs`` record.
    """
    if settings.dry_run:
        return StageResult({"dry_run": True}, stop="dry run: nothing to publish")
    now = datetime.now(UTC)
    engine = connect(settings.store_url)
    summary = outbox.publish(engine, sinks.sink_from_url(settings.sink_url), now)
    summary["alerts"] = alerts.notify(engine, settings, level, window, now)
    sent = summary["alerts"].get("new", 0) or summary["alerts"].get("delivered", 0)
    return StageResult(summary, stop=None if summary["pending_before"] or sent else "nothing to publish")
