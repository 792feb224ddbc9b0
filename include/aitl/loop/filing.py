"""Filing findings as insights: one insight per finding, whichever cycle observes it.

A finding is identified by what it is (kind, taxonomy, signal, segment), not
by the run that found it. Each run that finds it adds an *observation* (its
level, its window, its evidence); the ``insights`` row is derived from the
observations: the latest one's title, evidence, severity and confidence, the
first one's time, and how many there were. So the same cause found by the
hourly cycle at 14:00 and by the daily cycle that night is one insight with
both observations, a cause that recurs day after day is one insight counting
its days, and reruns and backfills in any order give the same rows.

An hour holds little data, so its root-cause search sometimes stops at a
neighbouring segment of a cause: the prompt's main language, its parent, the
whole platform. Such a frequency insight, seen only by hourly runs, is
*superseded* by the daily insight that reports the same signal at an
overlapping segment on every day it was seen (``supersede``): the day's data
places the cause. Supersession is derived from the observations like the rest
of the row, so it too does not depend on the order of runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.store.models import Insight, InsightObservation
from aitl.store.writes import insert_ignore
from aitl.window import Window

SPAN = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


def finding_id(finding: dict[str, Any]) -> str:
    """What a finding is, whichever run found it: that is what lets it recur and be seen at both levels.

    (The ``daily`` literal is historical: daily findings were identified this
    way before hourly ones joined them, and existing insights keep their ids.)
    """
    return stable_id(
        "daily",
        finding["kind"],
        finding["category"],
        finding["subtype"],
        finding["signal"],
        sorted(finding["segment"].items()),
    )


def file_findings(
    session: Session, level: str, window: Window, found: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Replace this run's observations with ``found`` and refresh every insight they touch.

    One observation per finding and run: of several (anomalous hours of one
    series, say), the most confident. Returns the observed findings by insight id.
    """
    observed: dict[str, dict[str, Any]] = {}
    for finding in found:
        key = finding_id(finding)
        if key not in observed or finding["confidence"] > observed[key]["confidence"]:
            observed[key] = finding
    table = InsightObservation.__table__
    this_run = (table.c.level == level) & (table.c.window_start == window.start)
    touched = set(session.scalars(select(table.c.insight_id).where(this_run)))
    session.execute(delete(table).where(this_run))
    insert_ignore(
        session,
        table,
        [
            {
                "insight_id": insight_id,
                "level": level,
                "window_start": window.start,
                "title": f["title"],
                "evidence": {**f["evidence"], "finding": f["kind"]},
                "severity": f["severity"],
                "confidence": f["confidence"],
            }
            for insight_id, f in observed.items()
        ],
    )
    for insight_id in touched | set(observed):
        _refresh(session, insight_id, observed.get(insight_id))
    changed = touched | set(observed)  # their own observations changed
    if level == "daily":  # and the day's insights may place every hourly finding of the day
        in_day = (
            (table.c.level == "hourly")
            & (table.c.window_start >= window.start)
            & (table.c.window_start < window.end)
        )
        changed |= set(session.scalars(select(table.c.insight_id).where(in_day)))
    supersede(session, changed)
    return observed


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two segments can hold the same executions: no key they share has different values."""
    return all(b[key] == value for key, value in a.items() if key in b)


def _kind(evidence: dict[str, Any] | None) -> str | None:
    return (evidence or {}).get("finding")


def supersede(session: Session, insight_ids: Iterable[str]) -> None:
    """Set ``superseded_by`` of each insight from the observations as they stand.

    A frequency insight seen only by hourly runs is superseded when, for each
    of its hourly observations, the daily run whose day holds that hour
    observed the same signal (kind, taxonomy, signal) at another, overlapping
    segment: the insight of that daily observation (for the latest hour; the
    most confident that day if several) supersedes it. Otherwise it stands on
    its own: an insight the daily cycle also observed, or one on a day whose
    daily run has not placed it yet (the latest hours, before that night's run).
    """
    for insight_id in sorted(set(insight_ids)):
        insight = session.get(Insight, insight_id)
        if insight is not None:
            insight.superseded_by = _superseder(session, insight)
    session.flush()


def _superseder(session: Session, insight: Insight) -> str | None:
    table = InsightObservation.__table__
    seen = session.execute(select(table).where(table.c.insight_id == insight.id)).mappings().all()
    if not seen or any(o["level"] != "hourly" or _kind(o["evidence"]) != "frequency" for o in seen):
        return None
    hours = sorted(o["window_start"] for o in seen)
    daily = session.execute(
        select(Insight.id, Insight.segment, table.c.window_start, table.c.evidence, table.c.confidence)
        .join(table, table.c.insight_id == Insight.id)
        .where(
            table.c.level == "daily",
            table.c.window_start > hours[0] - SPAN["daily"],
            table.c.window_start <= hours[-1],
            Insight.id != insight.id,
            Insight.category == insight.category,
            Insight.subtype == insight.subtype,
            Insight.signal == insight.signal,
        )
    ).all()
    placed = [
        (start, confidence, other)
        for other, segment, start, evidence, confidence in daily
        if _kind(evidence) == "frequency" and overlap(insight.segment, segment)
    ]
    by_hour = [_placing(placed, hour) for hour in hours]
    return max(by_hour[-1])[1] if all(by_hour) else None


def _placing(placed: list[tuple[datetime, float, str]], hour: datetime) -> list[tuple[float, str]]:
    """The daily observations (confidence, insight) whose day holds ``hour``."""
    day = SPAN["daily"]
    return [(confidence, other) for start, confidence, other in placed if start <= hour < start + day]


def _end(observation: Any) -> datetime:
    return observation["window_start"] + SPAN[observation["level"]]


def _refresh(session: Session, insight_id: str, finding: dict[str, Any] | None) -> None:
    """Derive an insight from its observations (see the module docstring); none left, no insight."""
    table = InsightObservation.__table__
    seen = sorted(
        session.execute(select(table).where(table.c.insight_id == insight_id)).mappings().all(),
        key=lambda o: (_end(o), o["level"]),
    )
    insight = session.get(Insight, insight_id)
    if not seen:
        if insight is not None:
            session.delete(insight)
        return
    if insight is None:
        if finding is None:
            raise RuntimeError(
                f"insight {insight_id} has observations but no row and no finding to create it"
            )
        insight = Insight(
            id=insight_id,
            category=finding["category"],
            subtype=finding["subtype"],
            signal=finding["signal"],
            segment=finding["segment"],
        )
        session.add(insight)
    latest = seen[-1]
    insight.level = latest["level"]
    insight.window_start = latest["window_start"]
    insight.window_end = _end(latest)
    insight.title = latest["title"]
    insight.evidence = latest["evidence"]
    insight.severity = latest["severity"]
    insight.confidence = latest["confidence"]
    insight.first_seen = min(o["window_start"] for o in seen)
    insight.occurrences = len(seen)
    session.flush()


def observed_by(
    session: Session, level: str, window: Window, kind: str | None = None
) -> list[dict[str, Any]]:
    """The insights a run observed, each with that run's evidence: what its planning acts on.

    The ``insights`` row holds a finding's latest observation, which in a
    backfill may be a later run's; planning reads the run's own observation,
    so a backfilled run plans what the live run planned. ``kind`` keeps only
    findings of that kind (``frequency``: those that name a prompt or a
    workflow to change).
    """
    rows = session.execute(
        select(Insight, InsightObservation)
        .join(InsightObservation, InsightObservation.insight_id == Insight.id)
        .where(InsightObservation.level == level, InsightObservation.window_start == window.start)
        .order_by(Insight.id)
    ).all()
    return [
        {
            "id": insight.id,
            "category": insight.category,
            "subtype": insight.subtype,
            "signal": insight.signal,
            "segment": insight.segment,
            "evidence": seen.evidence,
            "severity": seen.severity,
            "confidence": seen.confidence,
            "title": seen.title,
        }
        for insight, seen in rows
        # Observations filed before revision 0005 carry their kind on the insight only.
        if kind is None or (seen.evidence.get("finding") or insight.evidence.get("finding")) == kind
    ]
