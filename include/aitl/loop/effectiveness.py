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
* ``roi``: an estimate in one unit, successes. Each ended experiment's
  success-rate difference (variant minus control, from its arms' rollups,
  whatever metric decided it) is shrunk towards 0 by empirical Bayes:
  ``d * tau^2 / (tau^2 + se^2)``, with ``tau^2`` the spread of true effects
  estimated from all ended experiments (moments: mean ``d^2`` minus mean
  ``se^2``). A promotion is chosen because its estimate came out high, so
  taken at face value it overstates the gain (the winner's curse); shrinking
  undoes that on average. A promoted variant then adds its shrunk effect per
  execution of its prompt; at the last 7 days' traffic that is
  ``extra_successes_per_day``. Every experiment, whatever its end (rolled
  back, stopped, inconclusive), cost or gained ``d x n_variant`` successes
  while it ran: ``successes_lost`` sums the losses. ``roi_7d`` is a week of
  gains over everything lost. Cost joins this in issue 14.

Method: docs/statistics.md#return-on-the-loop.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.loop.decisions import FINAL
from aitl.loop.verification import arm_stats
from aitl.store.models import ConfigVersion, Decision, Experiment, Improvement
from aitl.store.reads import merged_stats, window_totals
from aitl.window import Window

WEEK = timedelta(days=7)


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


@dataclass(frozen=True)
class Outcome:
    """An ended experiment's success-rate difference, its standard error and its variant's traffic."""

    experiment: Experiment
    effect: float
    se: float
    n_variant: int


def _outcomes(session: Session, window: Window) -> list[Outcome]:
    ended = session.scalars(
        select(Experiment)
        .where(Experiment.status.in_(FINAL), Experiment.ended_at <= window.end)
        .order_by(Experiment.id)
    ).all()
    found = []
    for experiment in ended:
        control, variant = arm_stats(session, experiment, experiment.ended_at)
        if min(control.n, variant.n) < 1:
            continue
        p_c, p_v = control.success_rate, variant.success_rate
        se = math.sqrt(p_c * (1 - p_c) / control.n + p_v * (1 - p_v) / variant.n)
        found.append(Outcome(experiment, p_v - p_c, se, variant.n))
    return found


def shrink(effects: list[float], ses: list[float]) -> list[float]:
    """Empirical-Bayes estimates of the true effects: each ``d`` times ``tau^2 / (tau^2 + se^2)``.

    ``tau^2`` (the variance of the true effects around 0) is estimated by the
    method of moments, floored at 0: with effects no larger than their noise,
    every estimate shrinks to 0.
    """
    if not effects:
        return []
    tau2 = max(0.0, float(np.mean(np.square(effects)) - np.mean(np.square(ses))))
    return [
        d * tau2 / (tau2 + se * se) if tau2 + se * se > 0 else 0.0 for d, se in zip(effects, ses, strict=True)
    ]


def _roi(session: Session, window: Window) -> dict[str, float]:
    outcomes = _outcomes(session, window)
    shrunk = shrink([o.effect for o in outcomes], [o.se for o in outcomes])
    week = Window(window.end - WEEK, window.end)
    gained = lost = 0.0
    for outcome, estimate in zip(outcomes, shrunk, strict=True):
        if outcome.experiment.status == "promoted":
            gained += estimate * merged_stats(session, week, prompt_id=outcome.experiment.prompt_id).n / 7
        lost += max(0.0, -outcome.effect * outcome.n_variant)
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
