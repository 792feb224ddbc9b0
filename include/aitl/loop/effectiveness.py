"""How well the loop itself works (seed: AITLMetrics), per run and per day.

Counts are of what this run's window saw happen; rates and speeds are over the
trailing week so they move smoothly; everything is read from the store as it
stood at the end of the window, so a backfilled day reports what a live day
would have.

* ``generated`` / ``implemented`` / ``promoted`` / ``rolled_back`` /
  ``inconclusive``: improvements planned, experiments launched plus settings
  applied, and final decisions, in the window; ``totals`` the same since the
  beginning.
* ``improvement_success_rate``: promoted / all final decisions, since the beginning.
* ``learning_velocity``: promotions per day over the last 7 days.
* ``adaptation_speed_h``: median hours from the finding to the launch of its
  experiment, and from launch to its final decision, over the last 7 days.
* ``success_rate``: the platform's success rate in the window.
* ``quality_trend_per_day``: least-squares slope of the daily mean quality
  over the last ``window_days`` days.
* ``roi``: an estimate. Each promoted variant adds ``effect`` successes per
  execution of its prompt; at the last 7 days' traffic that is
  ``extra_successes_per_day``. Losing variants cost ``|effect| x n_variant``
  successes while they ran (``successes_lost``). ``roi_7d`` is a week of gains
  over everything lost (how many times over the experiments paid for themselves).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.store.models import ConfigVersion, Decision, Experiment, Improvement
from aitl.store.reads import merged_stats, window_totals
from aitl.window import Window

WEEK = timedelta(days=7)
FINAL = ("promoted", "rolled_back", "inconclusive")


def _count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _finals(session: Session, until: datetime, since: datetime | None = None) -> dict[str, int]:
    """Final decisions stamped in (since, until]: a look is stamped with its window's end."""
    query = (
        select(Decision.decision, func.count())
        .where(Decision.decision.in_(FINAL), Decision.window_end <= until)
        .group_by(Decision.decision)
    )
    if since is not None:
        query = query.where(Decision.window_end > since)
    found = dict(session.execute(query).all())
    return {decision: int(found.get(decision, 0)) for decision in FINAL}


def _median_hours(deltas: list[timedelta]) -> float | None:
    return round(statistics.median(d.total_seconds() / 3600 for d in deltas), 2) if deltas else None


def _quality_trend(session: Session, window: Window, days: int) -> float | None:
    span = Window(window.end - timedelta(days=days), window.end)
    hourly = window_totals(session, span, ["hour"], ["n", "quality_sum"])
    if hourly.empty:
        return None
    days_of = hourly["hour"].map(lambda hour: hour.date())
    daily = hourly.assign(day=days_of).groupby("day")[["n", "quality_sum"]].sum()
    daily = daily[daily["n"] > 0]
    if len(daily) < 2:
        return None
    slope = np.polyfit(np.arange(len(daily)), (daily["quality_sum"] / daily["n"]).to_numpy(), 1)[0]
    return round(float(slope), 6)


def _roi(session: Session, window: Window) -> dict[str, float]:
    decided = session.execute(
        select(Experiment.prompt_id, Experiment.status, Decision.effect, Decision.n_variant)
        .join(Decision, (Decision.experiment_id == Experiment.id) & (Decision.decision == Experiment.status))
        .where(Experiment.status.in_(FINAL), Experiment.ended_at <= window.end)
    ).all()
    week = Window(window.end - WEEK, window.end)
    gained = lost = 0.0
    for prompt_id, status, effect, n_variant in decided:
        if status == "promoted" and effect is not None:
            gained += effect * merged_stats(session, week, prompt_id=prompt_id).n / 7
        elif effect is not None and effect < 0:
            lost += -effect * n_variant
    return {
        "extra_successes_per_day": round(gained, 2),
        "successes_lost": round(lost, 2),
        "roi_7d": round((7 * gained - lost) / max(lost, 1.0), 3),
    }


def effectiveness(session: Session, window: Window, window_days: int) -> dict[str, Any]:
    """The loop's effectiveness metrics for ``window`` (see the module docstring)."""
    start, end = window.start, window.end
    implemented = _count(
        session, select(Experiment.id).where(Experiment.started_at >= start, Experiment.started_at < end)
    ) + _count(
        session,
        select(ConfigVersion.target_id).where(
            ConfigVersion.improvement_id.is_not(None),
            ConfigVersion.created_at >= start,
            ConfigVersion.created_at < end,
        ),
    )
    totals = _finals(session, end)
    decided = sum(totals.values())
    week = _finals(session, end, since=end - WEEK)
    launched = session.execute(
        select(Experiment.started_at, Improvement.window_end, Experiment.ended_at)
        .join(Improvement, Improvement.id == Experiment.improvement_id)
        .where(Experiment.started_at > end - WEEK, Experiment.started_at <= end)
    ).all()
    platform = merged_stats(session, window)
    generated = select(Improvement.id).where(Improvement.window_start >= start, Improvement.window_end <= end)
    decided_in_week = [e - s for s, _, e in launched if e is not None and e <= end]
    return {
        "generated": _count(session, generated),
        "implemented": implemented,
        **_finals(session, end, since=start),
        "totals": totals,
        "improvement_success_rate": round(totals["promoted"] / decided, 4) if decided else None,
        "learning_velocity": round(week["promoted"] / 7, 4),
        "adaptation_speed_h": {
            "finding_to_launch": _median_hours([s - f for s, f, _ in launched]),
            "launch_to_decision": _median_hours(decided_in_week),
        },
        "success_rate": round(platform.success_rate, 4) if platform.n else None,
        "quality_trend_per_day": _quality_trend(session, window, window_days),
        "roi": _roi(session, window),
    }
