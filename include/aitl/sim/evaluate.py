"""``aitl evaluate``: check the loop's statistics on your own numbers.

Two harnesses, both driving the real decision code against a scratch store:

* ``experiments``: many synthetic experiments with a known effect (none for
  A/A), each sized as a launch sizes it, traffic written as hourly rollups
  hour by hour, the hourly looks (``verification.verify`` and the harm
  boundary, ``aitl.loop.harm``) run after each hour and the daily decision
  look (``aitl.loop.decisions.decide``) after each day, exactly as the
  hourly and daily DAGs run them. A/A gives the false-decision rate
  (promoted or rolled back although nothing differs); a known effect gives
  the power to promote it (or to roll it back), next to the power the
  sample size was planned for, and the time it took.
* ``loop``: the closed loop. The simulator (``aitl.sim.simulate``) serves the
  registry's prompts and splits traffic for every running experiment, with
  ground-truth effects of prompt texts (``Scenario.success_effects`` plus the
  planted security, timeout and regression effects); the real hourly and
  daily cycles ingest, mine, plan, launch and decide, hour by hour, for the
  requested days. Each experiment is then scored against the truth: its
  variant's expected change in success rate (``ground_truth.expected_success_change``)
  is *helpful* at or above ``TRUTH_BAND``, *harmful* at or below minus it,
  *null* in between.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr
from sqlalchemy import select
from sqlalchemy.orm import Session
from statsmodels.stats.proportion import proportion_confint

from aitl.config import Settings, Thresholds
from aitl.durations import format_duration
from aitl.loop import harm, registry
from aitl.loop.decisions import FINAL, MAX_EXPERIMENT_DAYS, decide, promotion_levels
from aitl.loop.harm import HOURLY
from aitl.loop.sizing import MINIMUM_DETECTABLE_EFFECT, POWER, sample_size
from aitl.loop.verification import verify
from aitl.mining.rollups import BUCKETS
from aitl.pipeline.runner import run_cycle
from aitl.sim.ground_truth import expected_success_change
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store.database import connect, transaction, upgrade
from aitl.store.models import Decision, Experiment, HourlyRollup
from aitl.store.reads import merged_stats
from aitl.window import HOUR, Window

DAY = timedelta(days=1)
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
# With ``overrun``, experiments launch at 10:00, so the first daily look comes
# after 14 hours, short of a default ab_test_duration of 24 h (issue 11's audit).
LAUNCH_HOUR = 10
SRM_HARNESS_DAYS = 21  # with a sample-ratio mismatch: long enough to see one that never ends
TRUTH_BAND = 0.01  # |true change in success rate| below this is "null"

# The default ground truth of ``aitl evaluate loop``: besides the planted
# effects (parameterized queries, bounded execution, task clarity), some of the
# taxonomy's remedies help this platform's models and some hurt them. The
# planner proposes them from what it finds; it does not know which is which.
LOOP_SUCCESS_EFFECTS = {
    "reduce complexity": -0.12,  # the model drops requirements to keep code short
    "add caching": -0.10,  # stale-data bugs
    "implement oauth": -0.08,  # unrequested auth code breaks the tests
    "structured format": 0.06,
    "add context": 0.06,
    "descriptive names": 0.05,
}


@dataclass(frozen=True)
class Traffic:
    """One arm's synthetic executions: success, errors, quality and log-duration distributions."""

    success: float = 0.75
    error: float = 0.22
    quality_mean: float = 0.70
    quality_sd: float = 0.12
    log_duration_mean: float = 3.0
    log_duration_sd: float = 0.6
    # Mean cost of an execution (USD, log-normal with COST_LOG_SD), independent of its outcome;
    # None: not reported.
    cost_mean: float | None = None


COST_LOG_SD = 0.8  # a skewed cost: the p99 execution costs about 6x the mean


def synthetic_rollup(
    rng: np.random.Generator, hour: datetime, experiment_id: str, arm: str, n: int, traffic: Traffic
) -> dict[str, Any]:
    """Sufficient statistics of ``n`` executions drawn from ``traffic``, as one rollup row."""
    quality = np.clip(rng.normal(traffic.quality_mean, traffic.quality_sd, n), 0, 1)
    log_duration = rng.normal(traffic.log_duration_mean, traffic.log_duration_sd, n)
    duration = np.exp(log_duration)
    errors = int(rng.binomial(n, traffic.error))
    successes = int(rng.binomial(n, traffic.success))
    return {
        "hour": hour,
        "agent_tier": "",
        "task_type": "",
        "language": "",
        "model": "",
        "prompt_id": experiment_id,
        "prompt_version": 1 if arm == "control" else 2,
        "experiment_id": experiment_id,
        "arm": arm,
        "n": n,
        "successes": successes,
        "duration_n": n,
        "quality_n": n,
        "duration_sum": float(duration.sum()),
        "duration_sumsq": float((duration**2).sum()),
        "log_duration_sum": float(log_duration.sum()),
        "log_duration_sumsq": float((log_duration**2).sum()),
        "quality_sum": float(quality.sum()),
        "quality_sumsq": float((quality**2).sum()),
        "error_events": errors,
        "error_count": errors,
        **dict.fromkeys(("security_events", "syntax_error_events", "satisfaction_n", "accepted_n"), 0),
        **dict.fromkeys(("accepted_count", "tokens_in_n", "tokens_out_n"), 0),
        **dict.fromkeys(("tokens_in_sum", "tokens_out_sum", "satisfaction_sum", "satisfaction_sumsq"), 0.0),
        **_cost_sums(rng, n, successes, traffic.cost_mean),
        "duration_hist": [0] * BUCKETS,
    }


def _cost_sums(rng: np.random.Generator, n: int, successes: int, mean: float | None) -> dict[str, Any]:
    """The cost columns of ``n`` executions costing ``mean`` on average (none reported without a mean).

    Costs are drawn after everything else, so a traffic without cost draws
    exactly what it drew before costs existed. Costs do not depend on the
    outcome, so the first ``successes`` draws may stand for the successful executions.
    """
    if mean is None:
        return dict.fromkeys(("cost_n", "cost_successes"), 0) | dict.fromkeys(
            ("cost_sum", "cost_sumsq", "cost_success_sum"), 0.0
        )
    cost = rng.lognormal(np.log(mean) - COST_LOG_SD**2 / 2, COST_LOG_SD, n)
    return {
        "cost_n": n,
        "cost_sum": float(cost.sum()),
        "cost_sumsq": float((cost**2).sum()),
        "cost_successes": successes,
        "cost_success_sum": float(cost[:successes].sum()),
    }


def evaluate_experiments(
    store_url: str,
    *,
    experiments: int,
    seed: int,
    effect: float = 0.0,
    control: Traffic | None = None,
    days_to_plan: int = 5,
    concurrent: int = 5,
    thresholds: Thresholds | None = None,
    overrun: float | None = None,
    online_fdr: bool = True,
    variant_share: float | None = None,
    hourly_looks: bool = True,
) -> dict[str, Any]:
    """Run ``experiments`` synthetic experiments with a known success-rate ``effect`` to their decision.

    ``concurrent`` experiments run side by side, batch after batch: each
    batch starts once the one before has ended, so its promotion levels
    (online FDR over the whole stream) know all earlier decisions. Each is
    sized as a launch sizes it (``sizing.sample_size`` at its own
    promotion level) and gets the platform's traffic, which reaches the size
    planned at ``alpha`` in ``days_to_plan`` days (an experiment at a lower
    level runs longer), hour by hour: after every hour the hourly cycle's
    looks run (``verification.verify`` and the harm boundary, ``harm.check``),
    after every day the daily decision look (``decisions.decide``). With
    ``overrun``, experiments launch at ``LAUNCH_HOUR`` instead and traffic
    reaches ``overrun`` times the planned size by the first daily look, at
    the same hourly rate after it. ``online_fdr`` off tests each promotion at
    ``alpha`` itself. ``variant_share`` gives the variant that share of the
    traffic instead of the split (a sample-ratio mismatch), and the harness
    then runs up to ``SRM_HARNESS_DAYS``. ``hourly_looks`` off leaves the
    daily looks alone (to check their boundaries in less time).
    """
    if experiments < 1 or concurrent < 1 or days_to_plan < 1:
        raise ValueError("experiments, concurrent and days_to_plan must be at least 1")
    if overrun is not None and not 0 < overrun <= 100:
        raise ValueError(f"overrun must be in (0, 100], got {overrun}")
    if variant_share is not None and not 0 < variant_share < 1:
        raise ValueError(f"variant_share must be in (0, 1), got {variant_share}")
    if not 0 < (control or Traffic()).success + effect < 1:
        raise ValueError(f"effect {effect} takes the success rate outside (0, 1)")
    thresholds = thresholds or Thresholds.resolve()
    control = control or Traffic()
    variant = Traffic(**{**control.__dict__, "success": control.success + effect})
    split = thresholds.traffic_split
    share = split if variant_share is None else variant_share
    # Looks until the harness ends; with an overrun the first window holds 14 hours,
    # so the look at the end of day 14 is the 14-day one.
    days = SRM_HARNESS_DAYS if variant_share is not None else MAX_EXPERIMENT_DAYS
    launch = timedelta(0)
    if overrun is not None:
        launch, days = timedelta(hours=LAUNCH_HOUR), days + 1
    span = days + 1  # days between batches
    # Executions per hour, the same for every experiment (a platform's traffic does not grow
    # with an experiment's planned size): the first window's, then the rest's.
    total = sample_size(control.success, split, thresholds.alpha) / (1 - split)
    first = math.ceil((overrun or 1 / days_to_plan) * total)
    looks = thresholds if hourly_looks else None
    rng = np.random.default_rng(seed)
    upgrade(store_url)
    engine = connect(store_url)
    outcomes: dict[str, dict[str, Any]] = {}
    planned: list[int] = []
    crossed = 0
    for batch_start in range(0, experiments, concurrent):
        ids = [f"eval-{seed}-{i:05d}" for i in range(batch_start, min(batch_start + concurrent, experiments))]
        midnight = START + timedelta(days=batch_start // concurrent * span)
        began = midnight + launch
        with transaction(engine) as session:
            sizes = _launch(session, ids, began, control.success, thresholds, online_fdr)
        planned += sizes.values()
        rates = dict.fromkeys(sizes, (first / ((DAY - launch) / HOUR), total / days_to_plan / 24))
        for day in range(days):
            window = Window(midnight + day * DAY, midnight + (day + 1) * DAY)
            with transaction(engine) as session:
                if not _traffic_day(session, rng, window, began, rates, (control, variant), share, looks):
                    break
                decide(session, window, thresholds, dry_run=False, online_fdr=online_fdr)
        with transaction(engine) as session:
            for experiment in session.scalars(select(Experiment).where(Experiment.id.in_(ids))):
                # Fractional days from launch to the final decision; undecided: the harness's end.
                ended = experiment.ended_at or midnight + span * DAY
                outcomes[experiment.id] = {
                    "decision": experiment.status,
                    "days": (ended - began).total_seconds() / DAY.total_seconds(),
                }
            crossed += _crossed(session, ids)
    counts = Counter(o["decision"] for o in outcomes.values())
    summary = _experiment_summary(counts, experiments, effect, round(statistics.median(planned)), thresholds)
    summary["median_days_to_decision"] = round(statistics.median(o["days"] for o in outcomes.values()), 3)
    summary["max_days_running"] = round(max(o["days"] for o in outcomes.values()), 3)
    if effect == 0:
        # The promotion test's two-sided type I error as it ran: its level
        # (alpha with online FDR off) when every experiment reaches its final look.
        summary["primary_crossing"] = _rate(crossed, experiments)
    # The conditions of the run, next to the rates they produced.
    summary["overrun"] = overrun
    summary["ab_test_duration"] = format_duration(thresholds.ab_test_duration)
    summary["online_fdr"] = online_fdr
    summary["variant_share"] = share
    summary["hourly_looks"] = hourly_looks
    return summary


def _launch(
    session: Session,
    ids: list[str],
    began: datetime,
    baseline: float,
    thresholds: Thresholds,
    online_fdr: bool,
) -> dict[str, int]:
    """Start a batch of experiments, each sized at its promotion level; their planned control-arm sizes."""
    sizes = {}
    for experiment_id in ids:
        level = thresholds.alpha
        if online_fdr:
            level = promotion_levels(session, thresholds.alpha, joining=(experiment_id, began))[experiment_id]
        sizes[experiment_id] = sample_size(baseline, thresholds.traffic_split, level)
        session.add(
            Experiment(
                id=experiment_id,
                improvement_id=experiment_id,
                prompt_id=experiment_id,
                control_version=1,
                variant_version=2,
                assignment_unit="user_id",
                traffic_split=thresholds.traffic_split,
                primary_metric="success_rate",
                guardrail_metrics=None,
                planned_n_per_arm=sizes[experiment_id],
                status="running",
                started_at=began,
                ended_at=None,
            )
        )
        session.flush()
    return sizes


def _traffic_day(
    session: Session,
    rng: np.random.Generator,
    window: Window,
    began: datetime,
    rates: dict[str, tuple[float, float]],
    arms: tuple[Traffic, Traffic],
    share: float,
    looks: Thresholds | None,
) -> bool:
    """One day of the batch's traffic, each hour followed by the hourly looks; False once none runs.

    An experiment's executions in an hour are Poisson around its rate
    (``rates``: the first window's, then the rest's), split between the arms
    with the variant's ``share``. The hourly looks run under the thresholds
    ``looks``; without them there are none, and the day's traffic is one
    rollup at its start (or at launch).
    """
    # Without hourly looks, the day's traffic is one rollup per arm (the daily look reads only sums).
    open_hours = [hour for hour in window.hours() if hour >= began]
    starts = open_hours if looks is not None else open_hours[:1]
    hours = len(open_hours) / len(starts)
    for hour in starts:
        running = session.scalars(
            select(Experiment.id).where(Experiment.id.in_(list(rates)), Experiment.status == "running")
        ).all()
        if not running:
            return False
        rows = []
        for experiment_id in running:
            size = int(rng.poisson(hours * rates[experiment_id][0 if window.start <= began else 1]))
            n_variant = int(rng.binomial(size, share))
            rows.append(synthetic_rollup(rng, hour, experiment_id, "control", size - n_variant, arms[0]))
            rows.append(synthetic_rollup(rng, hour, experiment_id, "variant", n_variant, arms[1]))
        session.execute(HourlyRollup.__table__.insert(), rows)
        if looks is not None:
            look = Window(hour, hour + HOUR)
            verify(session, look, looks.alpha, HOURLY)
            harm.check(session, look, looks, dry_run=False)
    return True


def _crossed(session: Session, ids: list[str]) -> int:
    """How many of the experiments had their primary metric cross the promotion boundary, either way."""
    found = set()
    rows = session.execute(
        select(Decision.experiment_id, Decision.details).where(Decision.experiment_id.in_(ids))
    ).all()
    for experiment_id, details in rows:
        tested = ((details or {}).get("sequential") or {}).get("promotion")
        primary = (details or {}).get("success_rate")
        if tested and primary and primary["p_value"] <= 2 * float(ndtr(-tested["boundary"])):
            found.add(experiment_id)
    return len(found)


def _rate(count: int, n: int) -> dict[str, Any]:
    """A share with its Wilson interval and binomial standard error."""
    low, high = proportion_confint(count, n, method="wilson")
    rate = count / n
    return {
        "rate": round(rate, 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
        "se": round(math.sqrt(rate * (1 - rate) / n), 4),
    }


def _experiment_summary(
    counts: Counter, n: int, effect: float, planned: int, thresholds: Thresholds
) -> dict[str, Any]:
    decisions = {d: counts.get(d, 0) for d in (*FINAL, "running")}
    summary: dict[str, Any] = {
        "experiments": n,
        "effect": effect,
        "alpha": thresholds.alpha,
        "planned_n_per_arm": planned,  # the median: each experiment is sized at its own level
        # The size is planned for promoting a +5-point improvement; a harm is
        # rolled back by the guardrail rule, which has no planned power.
        "planned_power": POWER if effect >= MINIMUM_DETECTABLE_EFFECT else None,
        "decisions": decisions,
    }
    wrong = decisions["promoted"] + decisions["rolled_back"]
    if effect == 0:
        summary["false_decision_rate"] = round(wrong / n, 4)
        summary["false_decision"] = _rate(wrong, n)
    else:
        right = decisions["promoted"] if effect > 0 else decisions["rolled_back"]
        summary["power"] = round(right / n, 4)
        summary["power_detail"] = _rate(right, n)
    return summary


# --------------------------------------------------------------------------- closed loop


def _truth(change: float) -> str:
    if change >= TRUTH_BAND:
        return "helpful"
    if change <= -TRUTH_BAND:
        return "harmful"
    return "null"


def run_loop(
    home: Path,
    *,
    days: int,
    seed: int,
    rate: float = 1000.0,
    scenario: Scenario | None = None,
    profile: str = "development",
    start: datetime = START,
    progress: Any = None,
) -> dict[str, Any]:
    """The closed loop for ``days`` simulated days in a fresh store under ``home``; scored decisions."""
    scenario = scenario or Scenario(success_effects=LOOP_SUCCESS_EFFECTS)
    home.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{home / 'aitl.db'}"
    upgrade(store_url)
    settings = Settings(
        store_url=store_url,
        landing_dir=home / "landing",
        profile=profile,
        thresholds=Thresholds.resolve(profile),
        sink_url=str(home / "published.jsonl"),
    )
    daily_success: list[dict[str, Any]] = []
    for day in range(days):
        day_window = Window(start + day * DAY, start + (day + 1) * DAY)
        for hour in day_window.hours():
            hour_window = Window(hour, hour + HOUR)
            simulate(
                settings.landing_dir,
                hour_window,
                rate=rate,
                seed=seed,
                store_url=store_url,
                scenario=scenario,
            )
            run_cycle(hour_window, settings, "hourly")
        run_cycle(day_window, settings, "daily")
        with transaction(connect(store_url)) as session:
            stats = merged_stats(session, day_window)
        daily_success.append(
            {
                "day": day_window.start.date().isoformat(),
                "events": stats.n,
                "success_rate": round(stats.success_rate, 4),
            }
        )
        if progress is not None:
            progress(daily_success[-1])
    return {
        "daily_success_rate": daily_success,
        "causes": [cause.as_dict() for cause in scenario.causes],
        **score(store_url, scenario, days=days),
    }


def score(store_url: str, scenario: Scenario, *, days: int) -> dict[str, Any]:
    """Every experiment in the store with its true effect and the loop's decision; the confusion matrix.

    ``wrong_decisions_per_week``: variants promoted that do not help (null or
    harmful) plus helpful ones rolled back, per week of the ``days`` simulated.
    """
    decisions = []
    with transaction(connect(store_url)) as session:
        for experiment in session.scalars(select(Experiment).order_by(Experiment.started_at, Experiment.id)):
            control = registry.get_version(session, experiment.prompt_id, experiment.control_version).text
            variant = registry.get_version(session, experiment.prompt_id, experiment.variant_version).text
            change = expected_success_change(
                scenario, experiment.prompt_id, control, variant, experiment.started_at
            )
            decisions.append(
                {
                    "experiment_id": experiment.id,
                    "prompt_id": experiment.prompt_id,
                    "started_at": experiment.started_at.isoformat(),
                    "ended_at": experiment.ended_at.isoformat() if experiment.ended_at else None,
                    "true_change": round(change, 4),
                    "truth": _truth(change),
                    "decision": experiment.status,
                }
            )
    matrix = {truth: dict.fromkeys((*FINAL, "running"), 0) for truth in ("helpful", "harmful", "null")}
    for item in decisions:
        matrix[item["truth"]][item["decision"]] += 1
    wrong = matrix["null"]["promoted"] + matrix["harmful"]["promoted"] + matrix["helpful"]["rolled_back"]
    return {
        "decisions": decisions,
        "confusion_matrix": matrix,
        "wrong_decisions_per_week": round(wrong / (days / 7), 3),
    }
