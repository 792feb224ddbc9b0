"""Filing findings as insights: one insight per finding, whichever cycle observes it.

A finding is identified by what it is (kind, taxonomy, signal, segment), not
by the run that found it. Each run that finds it adds an *observation* (its
level, its window, its evidence); the ``insights`` row is derived from the
observations: the latest one's title, evidence, severity and confidence, the
first one's time, and how many there were. So the same cause found by the
hourly cycle at 14:00 and by the daily cycle that night is one insight with
both observations, a cause that recurs day after day is one insight counting
its days, and reruns and backfills in any order give the same rows.
"""

from __future__ import annotations

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
    return observed


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
