"""Cost per success: known answers, the delta-method variance against simulation, error rates and power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats import proportion

from aitl.stats.cost import CostSums, cheaper_p, cost_per_success, noninferior_p


def sums(cost: np.ndarray, success: np.ndarray) -> CostSums:
    return CostSums(
        len(cost), float(cost.sum()), float((cost**2).sum()), int(success.sum()), float(cost[success].sum())
    )


def draw(rng: np.random.Generator, n: int, p: float, mean: float, failure_premium: float = 1.0) -> CostSums:
    """``n`` executions, success with chance ``p``, log-normal cost; a failure costs ``failure_premium`` x."""
    success = rng.random(n) < p
    cost = rng.lognormal(math.log(mean) - 0.32, 0.8, n) * np.where(success, 1.0, failure_premium)
    return sums(cost, success)


def test_known_answer_by_hand():
    cost = np.array([1.0, 2.0, 3.0, 4.0])
    success = np.array([True, False, True, True])
    arm = sums(cost, success)
    assert arm.per_success == pytest.approx(10 / 3)
    assert arm.per_execution == pytest.approx(2.5)
    # Var(c) = 5/3, Var(s) = 0.75 * 0.25 * 4/3 = 0.25, Cov(c, s) = (8 - 4 * 2.5 * 0.75) / 3 = 1/6
    expected = (5 / 3 / 2.5**2 + 0.25 / 0.75**2 - 2 * (1 / 6) / (2.5 * 0.75)) / 4
    assert arm.log_variance() == pytest.approx(expected)
    result = cost_per_success(arm, arm)
    assert (result.effect, result.p_value, result.value_control) == (0.0, 1.0, pytest.approx(10 / 3))


def test_undefined_comparisons_are_nan_not_errors():
    none = CostSums()
    no_success = CostSums(5, 1.0, 0.3, 0, 0.0)
    some = CostSums(5, 1.0, 0.3, 3, 0.6)
    assert math.isnan(none.per_success) and math.isnan(none.log_variance())
    for control, variant in ((none, some), (no_success, some), (some, none)):
        result = cost_per_success(control, variant)
        assert math.isnan(result.p_value) and math.isnan(cheaper_p(result))


@pytest.mark.parametrize("premium", [1.0, 3.0])
def test_delta_variance_matches_the_spread_of_simulated_ratios(premium):
    """With costs independent of success and with failures costing 3x (a strong covariance)."""
    rng = np.random.default_rng(7)
    arms = [draw(rng, 400, 0.6, 0.02, premium) for _ in range(3000)]
    logs = np.log([a.per_success for a in arms])
    assert np.mean([a.log_variance() for a in arms]) == pytest.approx(np.var(logs), rel=0.08)


@pytest.mark.parametrize("premium", [1.0, 3.0])
def test_false_positive_rate_under_no_effect(premium):
    rng = np.random.default_rng(11)
    runs = 2000
    rejected = sum(
        cost_per_success(draw(rng, 300, 0.7, 0.05, premium), draw(rng, 300, 0.7, 0.05, premium)).p_value
        < 0.05
        for _ in range(runs)
    )
    # 5% nominal; the binomial 99.9% band of 2000 runs is about 3.5% to 6.6%
    assert 0.035 <= rejected / runs <= 0.066


def test_power_under_a_known_effect():
    """+50% cost per success at equal success, 500 per arm: the test finds it nearly always."""
    rng = np.random.default_rng(12)
    runs = 500
    found = [cost_per_success(draw(rng, 500, 0.7, 0.02), draw(rng, 500, 0.7, 0.03)) for _ in range(runs)]
    assert sum(r.p_value < 0.05 and r.effect > 0 for r in found) / runs >= 0.95
    assert np.mean([r.effect for r in found]) == pytest.approx(math.log(1.5), abs=0.02)
    inside = sum(r.ci_low <= math.log(1.5) <= r.ci_high for r in found) / runs
    assert inside == pytest.approx(0.95, abs=0.03)


def test_cheaper_p_is_the_one_sided_tail():
    rng = np.random.default_rng(3)
    control, variant = draw(rng, 500, 0.7, 0.03), draw(rng, 500, 0.7, 0.02)
    result = cost_per_success(control, variant)
    assert result.effect < 0
    assert cheaper_p(result) == pytest.approx(result.p_value / 2)
    assert cheaper_p(cost_per_success(variant, control)) == pytest.approx(1 - result.p_value / 2)


def test_noninferiority_is_statsmodels_score_test_and_holds_its_level():
    assert noninferior_p(700, 1000, 690, 1000, 0.02) == pytest.approx(
        proportion.test_proportions_2indep(
            690, 1000, 700, 1000, value=-0.02, alternative="larger", method="score"
        ).pvalue
    )
    assert noninferior_p(700, 1000, 700, 1000, 0.05) < 0.01  # equal rates, 5-point margin
    assert noninferior_p(700, 1000, 640, 1000, 0.02) > 0.9  # 6 points worse
    # At the margin exactly (variant 2 points worse) non-inferiority is claimed at most alpha of the time.
    rng = np.random.default_rng(5)
    runs = 2000
    claimed = sum(
        noninferior_p(int(rng.binomial(800, 0.70)), 800, int(rng.binomial(800, 0.68)), 800, 0.02) < 0.05
        for _ in range(runs)
    )
    assert claimed / runs <= 0.066
    with pytest.raises(ValueError, match="margin"):
        noninferior_p(1, 2, 1, 2, 1.5)
