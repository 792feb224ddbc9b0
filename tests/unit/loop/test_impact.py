"""Impact of settings with days as the unit (issue 11, item 1): the test, whole days, Holm, the placebo.

The simulations assert at their own standard error: a rate of ``n`` Bernoulli
draws whose target is ``rate`` may exceed it by two standard errors.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq
from sqlalchemy import select

from aitl.cli.main import main
from aitl.config import Thresholds
from aitl.loop import impact
from aitl.loop.impact import (
    BASELINE_DAYS,
    METRICS,
    PERIOD_DAYS,
    TEST,
    Days,
    daily_difference_test,
    information_fraction,
    look,
    measure,
    placebo,
    placebo_looks,
)
from aitl.loop.implementation import apply_setting
from aitl.sim.settings_eval import SEGMENT, START, evaluate_settings, placebo_history, simulate_days
from aitl.stats.alpha_spending import look_threshold
from aitl.store import connect, transaction
from aitl.store.models import HourlyRollup, ImpactMeasurement, Improvement
from aitl.window import HOUR, Window
from tests import factories

DAY = timedelta(days=1)
ALPHA = 0.05


def at_most(rate: float, target: float, n: int) -> bool:
    """``rate`` over ``n`` draws is no more than two standard errors above ``target``."""
    return rate <= target + 2 * math.sqrt(target * (1 - target) / n)


def test_the_daily_test_is_students_two_sample_t_test():
    rng = np.random.default_rng(1)
    before, after = rng.normal(0, 0.02, BASELINE_DAYS), rng.normal(0.01, 0.02, 5)
    result = daily_difference_test(before, after, alpha=0.01)
    reference = stats.ttest_ind(after, before, equal_var=True)
    assert (result.test, result.n_control, result.n_variant) == (TEST, 14, 5)
    assert result.effect == pytest.approx(after.mean() - before.mean())
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    low, high = reference.confidence_interval(0.99)
    assert (result.ci_low, result.ci_high) == (pytest.approx(low), pytest.approx(high))
    # One day after the change is enough once the baseline has two (the pooled variance).
    assert daily_difference_test(before[:2], after[:1]).n_variant == 1
    with pytest.raises(ValueError, match="at least three days"):
        daily_difference_test(before[:1], after[:1])
    flat = daily_difference_test(np.zeros(3), np.full(2, 0.1))
    assert flat.p_value == 0.0 and daily_difference_test(np.zeros(3), np.zeros(2)).p_value == 1.0


def test_the_information_fraction_is_that_of_a_difference_of_two_means():
    fractions = [information_fraction(BASELINE_DAYS, days) for days in range(1, PERIOD_DAYS + 1)]
    assert fractions[0] == pytest.approx((1 / 14 + 1 / 7) / (1 / 14 + 1))  # 0.2
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    # Variance of (mean after - mean before) shrinks as 1/14 + 1/A: the fraction is its inverse ratio.
    assert fractions[2] == pytest.approx((1 / 14 + 1 / 7) / (1 / 14 + 1 / 3))


def _days(differences: dict[str, np.ndarray], levels: dict[str, float]) -> Days:
    """Days whose task-type values are ``levels`` plus the differences (the rest stays level)."""
    k = len(next(iter(differences.values())))
    return Days(
        np.full(k, 1000.0),
        np.full(k, 4000.0),
        {m: levels[m] + differences[m] for m in METRICS},
        {m: differences[m].astype(float) for m in METRICS},
    )


LEVELS = {"success_rate": 0.75, "error_rate": 0.22, "log_duration": 3.0}
BEFORE_PATTERN = np.tile([-1.0, 1.0], 7)
AFTER_PATTERN = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 0.0])


def _shift_for(p_value: float, scale: float, worse_sign: float) -> float:
    """The after-days shift whose t-test has this p-value (on the fixed patterns times ``scale``)."""

    def gap(shift: float) -> float:
        result = daily_difference_test(BEFORE_PATTERN * scale, AFTER_PATTERN * scale + shift)
        return result.p_value - p_value

    return worse_sign * brentq(gap, 0.0, 10 * scale)


@pytest.mark.parametrize("earlier_looks", [0, 6])
def test_holm_across_the_three_metrics_at_the_look_s_group_sequential_levels(earlier_looks):
    """Step j compares the j-th smallest p-value with the look's level for alpha / (m - j + 1).

    At a single final look those levels are alpha/3, alpha/2, alpha: p = 0.005
    and 0.02 are both rejected (Bonferroni would keep the second). After six
    earlier looks the final look's levels are smaller and 0.02 is kept.
    """
    previous = [information_fraction(BASELINE_DAYS, d) for d in range(1, earlier_looks + 1)]
    levels = [look_threshold(previous, 1.0, ALPHA / k).nominal_alpha for k in (3, 2, 1)]
    if earlier_looks:
        assert levels[1] < 0.02 < ALPHA / 2
    scale = {"success_rate": 0.02, "error_rate": 0.02, "log_duration": 0.1}
    targets = {"success_rate": 0.005, "error_rate": 0.02, "log_duration": 0.2}
    worse = {"success_rate": -1.0, "error_rate": 1.0, "log_duration": 1.0}
    before = _days({m: BEFORE_PATTERN * scale[m] for m in METRICS}, LEVELS)
    after = _days(
        {m: AFTER_PATTERN * scale[m] + _shift_for(targets[m], scale[m], worse[m]) for m in METRICS},
        LEVELS,
    )
    result = look(before, after, previous, 1.0, ALPHA, rollback_threshold=0.2)
    verdicts = {m.metric: m.verdict for m in result.metrics}
    p_values = {m.metric: m.result.p_value for m in result.metrics}
    assert p_values == {m: pytest.approx(targets[m]) for m in METRICS}
    assert verdicts["success_rate"] == "degraded" and verdicts["log_duration"] == "no_significant_change"
    assert verdicts["error_rate"] == ("no_significant_change" if earlier_looks else "degraded")
    # Degraded, but by less than rollback_threshold: the failures grew by about 13% (success -3.3 points).
    success = next(m for m in result.metrics if m.metric == "success_rate")
    assert success.degradation == pytest.approx(-success.result.effect / 0.25) and result.rollback is None
    assert look(before, after, previous, 1.0, ALPHA, rollback_threshold=0.1).rollback.metric in (
        "success_rate",
        "error_rate",
    )


def _sim_days(rng: np.random.Generator, k: int, day_sd: float) -> Days:
    """k days of a task type against the rest: own daily swings, errors a share of failures, sampling."""
    swing = rng.normal(0, day_sd, k) + rng.normal(0, math.sqrt(0.19 / 2500), k)
    differences = {
        "success_rate": swing,
        "error_rate": -0.88 * swing + rng.normal(0, math.sqrt(0.17 / 2500), k),
        "log_duration": rng.normal(0, 5 * day_sd, k) + rng.normal(0, 0.6 / 50, k),
    }
    return _days(differences, LEVELS)


def test_placebo_changes_are_rejected_at_most_alpha_of_the_time():
    """The whole sequence of daily looks (alpha spending, Holm over three metrics) where nothing changed.

    Any metric significant at any look, either way, counts as a rejection: at
    most alpha however large the day-to-day variation (the t-test carries it).
    """
    thresholds, rng, n = Thresholds.resolve(), np.random.default_rng(20261111), 1000
    outcomes = [
        placebo_looks(_sim_days(rng, BASELINE_DAYS, 0.02), _sim_days(rng, PERIOD_DAYS, 0.02), thresholds)
        for _ in range(n)
    ]
    rejected = sum(o["rejected"] for o in outcomes) / n
    assert all(o["enough"] for o in outcomes)
    assert at_most(rejected, ALPHA, n), rejected
    assert sum(o["rolled_back"] for o in outcomes) <= sum(o["rejected"] for o in outcomes)


def test_placebo_at_past_dates_of_a_simulated_platform(sqlite_url):
    """The same looks read from the store at 30 past dates of a platform where nothing changed."""
    dates = 30
    history = placebo_history(sqlite_url, days=BASELINE_DAYS + 7 * dates + 1, seed=5, day_sd=0.03)
    changes = [history.start + (BASELINE_DAYS + 7 * i) * DAY + 9 * HOUR for i in range(dates)]
    with transaction(connect(sqlite_url)) as session:
        outcomes = placebo(session, SEGMENT, changes, Thresholds.resolve())
    assert [o["change"] for o in outcomes] == changes and all(o["enough"] for o in outcomes)
    assert at_most(sum(o["rejected"] for o in outcomes) / dates, ALPHA, dates)


def _apply(session, at):
    change = factories.improvement(
        at,
        level="daily",
        type="model_selection",
        target_kind="config",
        target_id=f"model:{SEGMENT}",
        change={"model": "atlas-large"},
        status="applied",
        status_reason="approved",
    )
    session.add(change)
    session.flush()
    apply_setting(session, change, at)


def _rows(session, end):
    query = select(ImpactMeasurement).where(ImpactMeasurement.window_end == end)
    return {r.metric: r for r in session.scalars(query.order_by(ImpactMeasurement.metric))}


def test_a_look_after_a_partial_day_uses_the_whole_days_before_it(store_url):
    """The change's day and the hours of a day not yet over are left out; a look reads whole days only."""
    change_day = START + BASELINE_DAYS * DAY
    applied = change_day + 10 * HOUR
    rng = np.random.default_rng(3)
    rows = simulate_days(rng, START, BASELINE_DAYS + 2, day_sd=0.02)
    # Half a day more in which the changed task type fails everything: not a whole day yet.
    later = simulate_days(rng, change_day + 2 * DAY, 1, day_sd=0.02, effect=-0.7, change_at=change_day)
    rows += [r for r in later if r["hour"] < change_day + 2 * DAY + 12 * HOUR]
    thresholds = Thresholds.resolve()
    with transaction(connect(store_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), rows)
        _apply(session, applied)
    with transaction(connect(store_url)) as session:
        first = measure(session, Window(change_day, change_day + DAY), thresholds, dry_run=False)
        assert first["outcome"] == {"imp-1": "applied"} and _rows(session, change_day + DAY) == {}
    midnight = change_day + 2 * DAY
    with transaction(connect(store_url)) as session:
        measure(session, Window(change_day + DAY, midnight), thresholds, dry_run=False)
    noon = midnight + 12 * HOUR
    with transaction(connect(store_url)) as session:
        outcome = measure(session, Window(noon - HOUR, noon), thresholds, dry_run=False)["outcome"]
        assert outcome == {"imp-1": "applied"}
        at_midnight, at_noon = _rows(session, midnight), _rows(session, noon)
        assert sorted(at_midnight) == sorted(METRICS)
        for metric, row in at_midnight.items():
            assert (row.test, row.n_before, row.n_after) == (TEST, BASELINE_DAYS, 1)
            same = ("effect", "p_value", "ci_low", "value_before", "value_after", "verdict")
            assert [getattr(at_noon[metric], f) for f in same] == [getattr(row, f) for f in same]
        assert session.get(Improvement, "imp-1").status == "applied"


@pytest.mark.parametrize(("history", "outcome"), [(4, "applied"), (2, "insufficient_data")])
def test_a_platform_younger_than_the_baseline_uses_the_days_it_has(sqlite_url, history, outcome):
    change_day = START + history * DAY
    days = simulate_days(np.random.default_rng(4), START, history + 1, day_sd=0.01)
    with transaction(connect(sqlite_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), days)
        _apply(session, change_day)
    window = Window(change_day, change_day + DAY)
    with transaction(connect(sqlite_url)) as session:
        assert measure(session, window, Thresholds.resolve(), dry_run=False)["outcome"] == {"imp-1": outcome}
        rows = _rows(session, window.end)
    expected = {(history, 1)} if history >= impact.MIN_BASELINE_DAYS else set()
    assert {(r.n_before, r.n_after) for r in rows.values()} == expected


def test_settings_evaluation_rolls_back_harm_and_rarely_a_harmless_change(tmp_path):
    """Smaller versions of `make bench`'s runs (bench/settings.py): day SD 3 points."""
    null = evaluate_settings(f"sqlite:///{tmp_path / 'null.db'}", experiments=12, seed=31, day_sd=0.03)
    assert null["decisions"]["applied"] == 0  # every change is decided within the period
    assert null["false_rollback_rate"] == null["rollback_rate"]
    assert at_most(null["rollback_rate"], ALPHA, 12)
    harm = evaluate_settings(
        f"sqlite:///{tmp_path / 'harm.db'}", experiments=8, seed=32, day_sd=0.03, effect=-0.10
    )
    assert harm["false_rollback_rate"] is None
    # At least 90% rolled back, within two standard errors of 8 draws.
    assert harm["rollback_rate"] >= 0.9 - 2 * math.sqrt(0.9 * 0.1 / 8)
    assert harm["median_days_to_rollback"] <= PERIOD_DAYS + 1


def test_evaluate_settings_command(tmp_path):
    out = tmp_path / "settings.json"
    args = ["evaluate", "settings", "--experiments", "2", "--seed", "3", "--day-sd", "0.01"]
    assert main([*args, "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["experiments"] == 2 and result["day_sd"] == 0.01 and result["duration_day_sd"] == 0.05
    assert result["false_rollback_rate"] == result["rollback_rate"]
    assert set(result["rollback"]) == {"rate", "ci95"}
    assert main([*args, "--effect", "-0.9"]) == 2
    assert main(["evaluate", "settings", "--experiments", "0"]) == 2
