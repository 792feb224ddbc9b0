"""The hourly cycle: the execution- and session-level loops over the hour that just closed.

Each stage is a plain function of (session, window, settings) returning a
``StageResult``; ``aitl.pipeline.runner`` runs them transactionally and
records them. The stages, their order and what each one does are listed once,
in ``aitl.cycles``; ``STAGES`` binds them to the functions here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from aitl.config import Settings
from aitl.ingest import landing
from aitl.ingest.collector import Collector, Privacy, lateness_window
from aitl.ingest.replay import ReplayReport, replay
from aitl.ingest.source_table import collect_source_table
from aitl.loop import filing, insights
from aitl.mining import frequency, summaries
from aitl.pipeline import acting
from aitl.pipeline.stage import StageResult, bind, count_by, owned_by
from aitl.shards import GROUPS, WHOLE, Shard
from aitl.store import reads, retention
from aitl.store.locks import advisory_lock
from aitl.store.models import (
    Event,
    Insight,
    InsightObservation,
    LateArrival,
    Pattern,
    Quarantine,
    SummaryPart,
)
from aitl.store.reads import events_frame
from aitl.store.writes import replace
from aitl.window import HOUR, Window

LEVEL = "hourly"
SHOWN_SKIPPED = 20  # skipped files named in a summary; all are counted


def collect(session: Session, window: Window, settings: Settings) -> StageResult:
    """Store the new events of the window's folder and of the hours still open for late data.

    First the records of this hour quarantined earlier as too late come back;
    then new and changed landing files of the last ``allowed_lateness`` hours
    are read (each event stored in its own hour), and the source table's rows
    of this hour. Hours other than this one that got events are left to
    ``normalize``.
    """
    now = datetime.now(UTC)
    gone = retention.pruned(session, list(window.hours()))
    if gone:
        when = ", ".join(
            f"{hour.isoformat()} on {at.date().isoformat()}" for hour, at in sorted(gone.items())
        )
        summary = {"pruned": sorted(hour.isoformat() for hour in gone)}
        return StageResult(
            summary, stop=f"pruned by retention ({when}): raw events are gone; rollups and findings are kept"
        )
    thresholds = settings.thresholds
    shard = settings.shard or WHOLE
    privacy = Privacy(settings.privacy)
    replayed = ReplayReport()
    if shard.first:  # the hour's quarantined late records come back once, not once per shard
        late = select(Quarantine.__table__).where(
            Quarantine.event_hour >= window.start, Quarantine.event_hour < window.end
        )
        replayed = replay(
            Collector(session, window, window, now, privacy=privacy), session.execute(late).all()
        )
    collector = Collector(
        session, window, lateness_window(window, thresholds.allowed_lateness), now, privacy=privacy
    )
    skipped: dict[str, str] = {}
    if settings.landing_dir is not None and settings.landing_dir.is_dir():
        skipped = landing.collect_landing(
            session,
            collector,
            settings.landing_dir,
            open_hours(window, thresholds.allowed_lateness),
            min_file_age_s=thresholds.min_file_age_s,
            now=now,
            shard=shard,
        )
    if settings.source_url and shard.first:
        collect_source_table(
            session,
            collector,
            settings.source_url,
            settings.source_table,
            open_hours(window, thresholds.allowed_lateness),
            now,
        )
    report = collector.close()
    in_window = session.scalar(
        select(func.count()).select_from(Event).where(Event.ts >= window.start, Event.ts < window.end)
    )
    summary = {
        **report.as_dict(),
        "replayed": replayed.stored + replayed.duplicates,
        "skipped": dict(sorted(skipped.items())[:SHOWN_SKIPPED]),
        "skipped_files": len(skipped),
        "events_in_window": in_window,
    }
    if shard.count > 1:  # a shard cannot see what the others stored: normalize tells an empty hour
        return StageResult({**summary, "shard": shard.label("collect")})
    pending = _stale_hours(session, window, thresholds.allowed_lateness)
    stop = None if in_window or pending else f"no events in {window}"
    return StageResult(summary, stop=stop)


def open_hours(window: Window, lateness: timedelta) -> list[datetime]:
    """The hours whose folders a run of ``window`` reads: its own and the allowed lateness before it."""
    return list(Window(window.start - lateness, window.end).hours())


def _stale_hours(session: Session, window: Window, lateness: timedelta) -> list[datetime]:
    """Earlier hours within the lateness that got events since they were last normalized."""
    query = select(LateArrival.hour).where(
        LateArrival.hour >= window.start - lateness,
        LateArrival.hour < window.start,
        LateArrival.normalized_at.is_(None),
    )
    return sorted(session.scalars(query))


def _summary_hours(session: Session, window: Window, settings: Settings) -> list[datetime] | StageResult:
    """The hours a run of ``window`` summarises: its own and the earlier ones that got late events.

    A stop instead when the window's own hours were pruned: their events are
    gone, and summarising them again would wipe their rollups, not refresh them.
    """
    gone = retention.pruned(session, list(window.hours()))
    if gone:
        return StageResult({"pruned": sorted(hour.isoformat() for hour in gone)}, stop="pruned by retention")
    stale = _stale_hours(session, window, settings.thresholds.allowed_lateness)
    stale = [hour for hour in stale if hour not in retention.pruned(session, stale)]
    return sorted({*stale, *window.hours()})


def summarize(session: Session, window: Window, settings: Settings) -> StageResult:
    """A shard's partial summaries of the hours to normalize, stored for ``normalize`` to merge.

    Only a sharded run has work here: a run of the whole hour leaves the
    summaries to ``normalize``, which reads the events a chunk at a time itself.
    """
    shard = settings.shard
    if shard is None or shard.count == 1:
        return StageResult({"shards": 1, "summarized_by": "normalize"})
    hours = _summary_hours(session, window, settings)
    if isinstance(hours, StageResult):
        return hours
    counts = summaries.group_counts(session, hours)
    groups = shard.groups()
    part = summaries.summarise(session, hours, groups, counts)
    table = SummaryPart.__table__
    row = {
        "window_start": window.start,
        "shards": shard.count,
        "shard": shard.index,
        "groups": _held(counts, groups),
        "payload": part.to_bytes(),
        "created_at": datetime.now(UTC),
    }
    key = (table.c.window_start == window.start) & (table.c.shards == shard.count)
    replace(session, table, key & (table.c.shard == shard.index), [row])
    return StageResult(
        {
            "shard": shard.label("summarize"),
            "hours": len(hours),
            "events": sum(sum(row["groups"][hour].values()) for hour in row["groups"]),
            "payload_bytes": len(row["payload"]),
        }
    )


def _held(counts: dict[str, dict[int, int]], groups: list[int]) -> dict[str, dict[str, int]]:
    """Per hour, the events of each of ``groups`` that has any (JSON keys): what a part summarised."""
    return {
        hour: {str(g): by_group[g] for g in groups if by_group.get(g)} for hour, by_group in counts.items()
    }


def normalize(session: Session, window: Window, settings: Settings) -> StageResult:
    """Build the window's hourly summaries, and re-build those of earlier hours that got late events.

    A sharded run merges the shards' parts (``summarize``); a part missing, or
    summarised before more events arrived, is summarised here instead.
    """
    hours = _summary_hours(session, window, settings)
    if isinstance(hours, StageResult):
        return hours
    for hour in hours:  # ascending: concurrent runs re-building overlapping hours never deadlock
        advisory_lock(session, "rollup-hour", hour.isoformat())
    count = settings.thresholds.shards
    counts = summaries.group_counts(session, hours)
    table = SummaryPart.__table__
    stored = {
        row.shard: row
        for row in session.execute(
            select(table).where(table.c.window_start == window.start, table.c.shards == count)
        )
    }
    pieces, merged = [], 0
    for shard in (Shard(index, count) for index in range(count)):
        part = stored.get(shard.index)
        if part is not None and part.groups == _held(counts, shard.groups()):
            pieces.append(summaries.Summaries.from_bytes(part.payload))
            merged += 1
        else:
            pieces.append(summaries.summarise(session, hours, shard.groups(), counts))
    written = summaries.write(session, hours, summaries.Summaries.concat(pieces))
    session.execute(delete(table).where(table.c.window_start == window.start))
    session.execute(
        update(LateArrival).where(LateArrival.hour.in_(hours)).values(normalized_at=datetime.now(UTC))
    )
    events = sum(sum(counts[hour.isoformat()].values()) for hour in window.hours())
    stale = [hour.isoformat() for hour in hours if not window.contains(hour)]
    summary = {"events": events, **written, "shards": count, "parts_merged": merged, "renormalized": stale}
    return StageResult(summary, stop=None if events or stale else f"no events in {window}")


def _window_rows(session: Session, model: type, window: Window) -> list[dict[str, Any]]:
    query = select(model.__table__).where(owned_by(model, LEVEL, window))
    return [dict(row) for row in session.execute(query).mappings()]


def extract_patterns(session: Session, window: Window, settings: Settings) -> StageResult:
    thresholds = settings.thresholds
    counts = reads.window_signal_counts(session, window)
    patterns_events = int(counts.loc[counts["signal_kind"] == frequency.SIZE_KIND, "count"].sum())
    found = []
    if patterns_events >= thresholds.min_feedback_count:
        found = frequency.extract_frequency(counts, thresholds.min_frequency, thresholds.alpha)
    rows = [p.pattern().as_row(LEVEL, window) for p in found]
    replace(session, Pattern.__table__, owned_by(Pattern, LEVEL, window), rows)
    summary = {
        "events": patterns_events,
        "patterns": len(rows),
        "segment_patterns": sum(1 for r in rows if r["segment"]),
        "root_causes": sum(1 for r in rows if (r["details"] or {}).get("cause")),
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


HOURS_A_DAY = 24  # hourly runs a day: how many ways an hourly finding's alpha is split


def generate_insights(session: Session, window: Window, settings: Settings) -> StageResult:
    """File the hour's root causes that are strong or confirmed; a cause seen before updates its insight.

    Twenty-four hourly runs a day, each at a false discovery rate of alpha,
    would file about one chance finding a day on a quiet platform. So an
    hourly finding is filed at once only when its q-value would pass even a
    Bonferroni split of alpha over the day's runs (``alpha / 24``); a weaker
    one is filed when it is confirmed: found in the hour before too, or
    already an insight observed in the last day. A real cause keeps being
    found; a chance one rarely repeats.
    """
    alpha = settings.thresholds.alpha
    found = insights.frequency_findings(_window_rows(session, Pattern, window), alpha)
    recent = _recently_found(session, window, alpha)
    filed = [
        f for f in found if f["evidence"]["q_value"] < alpha / HOURS_A_DAY or filing.finding_id(f) in recent
    ]
    observed = filing.file_findings(session, LEVEL, window, filed)
    summary = {
        "findings": len(found),
        "unconfirmed": len(found) - len(filed),
        "insights": len(observed),
        "new": sum(1 for i in observed if session.get(Insight, i).occurrences == 1),
        "by_severity": count_by(filed, "severity"),
        "titles": [f["title"] for f in filed[:5]],  # largest excess first
    }
    return StageResult(summary, stop=None if observed else "no significant pattern")


def _recently_found(session: Session, window: Window, alpha: float) -> set[str]:
    """Findings of the hour before, and insights observed by runs that ended in the day before ``window``."""
    previous = Window(window.start - HOUR, window.start)
    before = insights.frequency_findings(_window_rows(session, Pattern, previous), alpha)
    table = InsightObservation.__table__
    rows = session.execute(
        select(table.c.insight_id, table.c.level, table.c.window_start).where(
            table.c.window_start >= window.start - timedelta(days=1), table.c.window_start < window.start
        )
    )
    ended = {insight for insight, level, start in rows if start + filing.SPAN[level] <= window.start}
    return {filing.finding_id(f) for f in before} | ended


# The events planning reads at most (timeout and resource percentiles): whole
# session groups, up to this many; an hour with fewer is read whole.
PLAN_SAMPLE_EVENTS = 200_000


def plan_actions(session: Session, window: Window, settings: Settings) -> StageResult:
    """Plan improvements from the hour's insights and evidence.

    Timeouts and resource settings come from percentiles of single events;
    on a busy hour they are read from a sample of whole session groups (a
    uniform sample of sessions, ``PLAN_SAMPLE_EVENTS``), so memory stays the
    same however large the hour.
    """
    found = filing.observed_by(session, LEVEL, window)
    counts = summaries.group_counts(session, list(window.hours()))
    sizes = {g: sum(by_group.get(g, 0) for by_group in counts.values()) for g in range(GROUPS)}
    sample = summaries.chunks(sizes, range(GROUPS), PLAN_SAMPLE_EVENTS)
    columns = ("task_type", "complexity", "size", "success", "duration_s", "cpu_s", "memory_mb")
    events = events_frame(session, window, columns, groups=sample[0] if sample else [])
    return acting.plan_and_store(session, window, settings, found, events, LEVEL)


STAGES = bind(
    LEVEL,
    {
        "collect": collect,
        "summarize": summarize,
        "normalize": normalize,
        "extract_patterns": extract_patterns,
        "generate_insights": generate_insights,
        "plan_actions": plan_actions,
        "implement": partial(acting.implement_stage, level=LEVEL),
        "verify": partial(acting.verify_stage, level=LEVEL),
        "publish": partial(acting.publish_stage, level=LEVEL),
    },
)
