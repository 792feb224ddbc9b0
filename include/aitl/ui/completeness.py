"""How complete a window's data was for the loop: late events, skipped landing files, days to rerun.

Events may reach the store after the run of their hour: a later hourly run
stores those within ``allowed_lateness`` and re-builds their hour's
summaries (docs/event-contract.md, "Event time"). The daily cycle reads the
hourly summaries as they are when it runs, so its collect summary records
how many hours of its window were still open for late data (``open_hours``,
``complete``); a day whose hours got events after its daily run is analysed
without them until it is rerun.

``completeness(session, window)`` gathers, for the window shown:

- the latest daily run of a day ending in the window, and how complete its
  window was when it ran (None before a daily run, or for a run recorded
  before the store kept it);
- the days ending in the window whose hours got events after their daily run
  (``late_days``, as now: a rerun takes a day off the list), each with the
  command that reruns it;
- the events of the window's hours stored by a run other than their hour's
  (``late_events`` in ``late_hours``), and those replayed from the
  quarantine by running their hour (``replayed``);
- the landing files the window's hourly runs skipped (FIFOs, directories,
  symlinks leading outside the folder, files too young), by path.

The page (``aitl.ui.page``) and ``aitl report`` (``aitl.ui.report``) both
show it, in the words of ``facts``.
"""

from __future__ import annotations

import json
import shlex
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from aitl.store.models import LateArrival, PipelineRun
from aitl.ui.markup import hour_label
from aitl.window import Window

# The DAG of the daily cycle (dags/aitl_system_daily.py): a manual run with a window override reruns days.
DAILY_DAG = "aitl_system_daily"
MAX_SKIPPED_SHOWN = 50  # skipped files named on the page; all are counted


def empty() -> dict[str, Any]:
    return {
        "daily": None,
        "late_days": [],
        "late_events": 0,
        "late_hours": 0,
        "replayed": 0,
        "skipped": {"count": 0, "files": [], "all_named": True},
    }


def completeness(session: Session, window: Window) -> dict[str, Any]:
    """What the module docstring lists, for ``window``: plain JSON-ready values."""
    late = LateArrival.__table__
    late_hours, late_events = session.execute(
        select(func.count(), func.coalesce(func.sum(late.c.events), 0)).where(
            late.c.hour >= window.start, late.c.hour < window.end
        )
    ).one()
    hourly = _hourly_collect_summaries(session, window)
    return {
        "daily": _latest_daily(session, window),
        "late_days": late_days(session, window),
        "late_events": int(late_events),
        "late_hours": int(late_hours),
        "replayed": sum(int(s.get("replayed") or 0) for s in hourly),
        "skipped": _skipped(hourly),
    }


def _daily_runs(window: Window) -> Any:
    """The daily collect runs of the days ending in ``window`` (a run's window is the day it owns)."""
    runs = PipelineRun.__table__
    return (
        (runs.c.level == "daily")
        & (runs.c.stage == "collect")
        & (runs.c.window_end > window.start)
        & (runs.c.window_end <= window.end)
    )


def _latest_daily(session: Session, window: Window) -> dict[str, Any] | None:
    runs = PipelineRun.__table__
    row = session.execute(
        select(runs.c.window_start, runs.c.finished_at, runs.c.summary, runs.c.settings)
        .where(_daily_runs(window))
        .order_by(runs.c.window_start.desc())
        .limit(1)
    ).first()
    if row is None or "open_hours" not in (row.summary or {}):
        return None
    return {
        "day": row.window_start.date().isoformat(),
        "ran_at": row.finished_at.isoformat(),
        "open_hours": int(row.summary["open_hours"]),
        "complete": bool(row.summary.get("complete")),
        "allowed_lateness": (row.settings or {}).get("allowed_lateness"),
    }


def late_days(session: Session, window: Window) -> list[dict[str, Any]]:
    """Days ending in ``window`` whose hours got events after their daily run, oldest first.

    The rule of the daily collect summary's ``late_days``, read now: a day
    rerun since its late events is no longer listed.
    """
    runs, late = PipelineRun.__table__, LateArrival.__table__
    after_the_run = and_(
        late.c.hour >= runs.c.window_start,
        late.c.hour < runs.c.window_end,
        late.c.last_at > runs.c.finished_at,
    )
    rows = session.execute(
        select(runs.c.window_start, runs.c.finished_at, func.count(), func.max(late.c.last_at))
        .join(late, after_the_run)
        .where(_daily_runs(window))
        .group_by(runs.c.window_start, runs.c.finished_at)
        .order_by(runs.c.window_start)
    ).all()
    return [
        {
            "day": day.date().isoformat(),
            "analysed_at": analysed_at.isoformat(),
            "hours": int(hours),
            "last_at": last_at.isoformat(),
            "command": rerun_command(day.date()),
        }
        for day, analysed_at, hours, last_at in rows
    ]


def rerun_command(day: date) -> str:
    """The shell command that reruns the daily cycle for ``day``: a manual run with a window override.

    The params are those of ``dags/aitl_system_daily.py`` (``window_start``,
    ``window_end``, on midnight UTC); the run replaces the day's results.
    """
    conf = json.dumps(
        {"window_start": f"{day.isoformat()}T00:00:00Z", "window_end": f"{day + timedelta(days=1)}T00:00:00Z"}
    )
    return f"airflow dags trigger {DAILY_DAG} --conf {shlex.quote(conf)}"


def _hourly_collect_summaries(session: Session, window: Window) -> list[dict[str, Any]]:
    runs = PipelineRun.__table__
    query = (
        select(runs.c.summary)
        .where(
            runs.c.level == "hourly",
            runs.c.stage == "collect",
            runs.c.window_start >= window.start,
            runs.c.window_start < window.end,
        )
        .order_by(runs.c.window_start)
    )
    return [summary or {} for summary in session.scalars(query)]


def _skipped(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The landing files the runs skipped, each once with its latest reason.

    Each run reads the folders of the hours still open for late data, so one
    file is skipped by several runs; a run names at most a few of the files
    it skipped and counts them all (``skipped_files``), so when some go
    unnamed the count is the least it can be (``all_named`` False).
    """
    reasons: dict[str, str] = {}
    most, all_named = 0, True
    for summary in summaries:
        named = summary.get("skipped") or {}
        reasons.update({str(path): str(reason) for path, reason in named.items()})
        counted = int(summary.get("skipped_files") or 0)
        most, all_named = max(most, counted), all_named and counted <= len(named)
    files = [{"path": p, "reason": reasons[p]} for p in sorted(reasons)[:MAX_SKIPPED_SHOWN]]
    return {"count": max(len(reasons), most), "files": files, "all_named": all_named}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def facts(data: dict[str, Any]) -> list[str]:
    """The facts in a few words each, for the page's line and the report's."""
    said = []
    daily = data["daily"]
    if daily is not None:
        ran = f"daily run of {daily['day']} (at {hour_label(daily['ran_at'])} UTC)"
        if daily["complete"]:
            said.append(f"{ran}: its window was complete")
        else:
            lateness = f", allowed lateness {daily['allowed_lateness']}" if daily["allowed_lateness"] else ""
            hours = _plural(daily["open_hours"], "hour")
            said.append(f"{ran}: {hours} of its window still open for late data{lateness}")
    if data["late_events"]:
        said.append(
            f"{_plural(data['late_events'], 'late event')} in {_plural(data['late_hours'], 'hour')} "
            "(stored by another hour's run)"
        )
    else:
        said.append("no late events")
    if data["replayed"]:
        said.append(f"{_plural(data['replayed'], 'event')} replayed from the quarantine")
    skipped = data["skipped"]
    count = f"{'' if skipped['all_named'] else 'at least '}{_plural(skipped['count'], 'landing file')}"
    said.append(f"{count} skipped" if skipped["count"] else "no landing file skipped")
    if data["late_days"]:
        days = ", ".join(d["day"] for d in data["late_days"])
        said.append(f"days with events since their daily run: {days} (rerun them)")
    return said
