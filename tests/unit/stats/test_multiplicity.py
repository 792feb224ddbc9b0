"""Multiplicity over looks: sequential Holm within an experiment, online FDR across the stream.

The family-wise error of the group-sequential Holm is computed by integration
of the exact boundaries (telling 0.0515 from 0.05 by simulation would take
~80,000 runs); the online FDR ledger is checked against its invariant and
known answers.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from scipy.special import ndtri

from aitl.stats.alpha_spending import boundaries, crossing_probabilities, nominal_alpha
from aitl.stats.multiple import adjust, sequential_holm
from aitl.stats.online_fdr import (
    GAMMA_FLAT,
    false_discovery_bound,
    gamma,
    initial_wealth,
    lord_levels,
)

ALPHA = 0.05
METRICS = 4  # the guardrail family: success rate, error rate, quality, log duration


def looks(k: int) -> list[float]:
    return [i / k for i in range(1, k + 1)]


def holm_levels(fractions: list[float], m: int = METRICS) -> list[list[float]]:
    """Per look, the step levels of the sequential Holm: nominal levels at alpha / m, ..., alpha / 1."""
    by_level = [boundaries(fractions, ALPHA / d) for d in range(m, 0, -1)]
    return [[nominal_alpha(c[k]) for c in by_level] for k in range(len(fractions))]


# --------------------------------------------------------------------------- sequential Holm


def test_sequential_holm_at_a_single_look_is_holm():
    # One look at t = 1 is the fixed design: the level at alpha / d is alpha / d.
    (levels,) = holm_levels([1.0])
    assert levels == pytest.approx([ALPHA / 4, ALPHA / 3, ALPHA / 2, ALPHA], rel=1e-9)
    for p in (
        [0.001, 0.013, 0.02, 0.04],
        [0.2, 0.011, 0.03, 0.001],
        [0.0124, 0.0166, 0.0249, 0.0499],
        [0.0124, 0.03, 0.0249, 0.0499],
    ):
        rejected, scores = sequential_holm(p, levels, ALPHA)
        assert rejected == adjust(p, "holm", ALPHA)[0]
        assert [s <= ALPHA for s in scores] == rejected


def test_p_values_at_the_level_are_rejected():
    # Issue 11, item 6: three p-values of exactly 0.05 were not rejected by Holm
    # (adjusted 0.05000000000000001). Levels compared directly, they are.
    rejected, scores = sequential_holm([0.05, 0.05, 0.05], [0.05, 0.05, 0.05], ALPHA)
    assert rejected == [True, True, True] and scores == [ALPHA] * 3


def test_sequential_holm_steps_down_and_stops():
    levels = [0.001, 0.002, 0.004, 0.01]
    rejected, scores = sequential_holm([0.003, 0.0005, 0.5, 0.0015], levels, ALPHA)
    # 0.0005 <= 0.001, 0.0015 <= 0.002, 0.003 <= 0.004, 0.5 > 0.01.
    assert rejected == [True, True, False, True]
    assert scores[1] == pytest.approx(0.025) and scores[3] == pytest.approx(0.0375)
    assert scores[0] == pytest.approx(0.0375) and scores[2] == 1.0
    # Stops at the first failure: a later small p-value is not rejected.
    assert sequential_holm([0.0015, 0.0016], [0.001, 0.002], ALPHA)[0] == [False, False]
    # A missing metric counts as never rejected: three p-values in a family of four.
    assert sequential_holm([0.0009, 0.0019, 0.0039], levels, ALPHA)[0] == [True, True, True]
    with pytest.raises(ValueError, match="family of 2"):
        sequential_holm([0.1, 0.2, 0.3], [0.01, 0.02], ALPHA)
    with pytest.raises(ValueError, match="p-values"):
        sequential_holm([1.2], [0.01], ALPHA)


def rescaled_holm_first_step(fractions: list[float]) -> list[float]:
    """The boundaries of the old first step: p * alpha / nominal(alpha) <= alpha / m, as |z| boundaries."""
    nominal = [nominal_alpha(c) for c in boundaries(fractions, ALPHA)]
    return [float(ndtri(1 - n / METRICS / 2)) for n in nominal]


@pytest.mark.parametrize(("k", "old_fwer"), [(5, 0.0516), (14, 0.0537)])
def test_family_wise_error_by_integration(k, old_fwer):
    """Four independent metrics with no effect, looked at k times: the chance of any rejection.

    Under the global null Holm rejects something only when its first step does,
    at some look: some metric crosses the boundary of level alpha / 4. For
    independent metrics that is 1 - (1 - q)^4 with q each metric's crossing
    probability, computed by integration.
    """
    fractions = looks(k)
    q_new = crossing_probabilities(fractions, boundaries(fractions, ALPHA / METRICS))[-1]
    assert q_new == pytest.approx(ALPHA / METRICS, abs=1e-9)
    new = 1 - (1 - q_new) ** METRICS
    assert new == pytest.approx(1 - (1 - ALPHA / 4) ** 4, abs=1e-8)  # 0.04907
    assert new <= ALPHA + 1e-6
    # The old rescaled p-values (issue 11: FWER 0.0515 at K = 5, 0.0539 at K = 14).
    q_old = crossing_probabilities(fractions, rescaled_holm_first_step(fractions))[-1]
    assert 1 - (1 - q_old) ** METRICS == pytest.approx(old_fwer, abs=2e-4)
    assert 1 - (1 - q_old) ** METRICS > ALPHA


def test_rescaled_levels_were_far_too_lenient_early():
    # At the first looks of five, alpha / 4's nominal level is a small part of a quarter
    # of alpha's: the rescaled first step was 139 and 6 times too lenient.
    fractions = looks(5)
    per_look = holm_levels(fractions)
    at_alpha = [nominal_alpha(c) for c in boundaries(fractions, ALPHA)]
    ratios = [(a / METRICS) / levels[0] for a, levels in zip(at_alpha, per_look, strict=True)]
    assert ratios[0] > 100 and ratios[1] > 4
    assert ratios[-1] == pytest.approx(1, abs=0.15)


def test_family_wise_error_when_one_metric_really_differs():
    # One metric with a large effect is rejected at the first step of every look;
    # the three null metrics then face alpha / 3 from the start: 1 - (1 - alpha/3)^3.
    fractions = looks(5)
    q = crossing_probabilities(fractions, boundaries(fractions, ALPHA / 3))[-1]
    assert 1 - (1 - q) ** 3 == pytest.approx(1 - (1 - ALPHA / 3) ** 3, abs=1e-8)
    assert 1 - (1 - q) ** 3 <= ALPHA


# --------------------------------------------------------------------------- online FDR


def test_gamma_is_non_increasing_and_sums_to_one():
    values = [gamma(j) for j in range(1, 200_001)]
    assert all(a >= b for a, b in pairwise(values))
    assert values[0] == pytest.approx(0.08) and values[GAMMA_FLAT - 1] == values[0]
    tail = 1 / 200_000  # sum of 1/j^2 beyond n is about 1/n; gamma's tail carries _TAIL of it
    assert math.fsum(values) == pytest.approx(1.0, abs=3 * tail)
    with pytest.raises(ValueError, match="from j = 1"):
        gamma(0)


def test_lord_levels_known_answers():
    # Five tests; the discovery of test 1 is known at time 2.5, so tests 4 and 5
    # (started at 3 and 4) get their share (alpha - W0) gamma_1 and gamma_2.
    w0 = initial_wealth(ALPHA)
    levels = lord_levels([0, 1, 2, 3, 4], [2.5], ALPHA)
    assert levels[:3] == pytest.approx([gamma(t) * w0 for t in (1, 2, 3)])
    assert levels[3] == pytest.approx(gamma(4) * w0 + (ALPHA - w0) * gamma(1))
    assert levels[4] == pytest.approx(gamma(5) * w0 + (ALPHA - w0) * gamma(2))
    # A second discovery earns alpha, not alpha - W0.
    levels = lord_levels([0, 1, 2, 3], [0.5, 1.5], ALPHA)
    assert levels[2] == pytest.approx(gamma(3) * w0 + (ALPHA - w0) * gamma(2) + ALPHA * gamma(1))
    # A test started at the very moment a discovery is made has not seen it.
    assert lord_levels([0, 1], [1], ALPHA)[1] == pytest.approx(gamma(2) * w0)
    with pytest.raises(ValueError, match="order"):
        lord_levels([1, 0], [], ALPHA)


def test_lord_levels_keep_the_invariant_on_random_asynchronous_streams():
    """The estimated false discovery proportion sum(alpha_t) / discoveries stays at most alpha."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        starts = np.sort(rng.uniform(0, 100, 120))
        # Any test may end in a discovery some time after it starts.
        found = [s + rng.exponential(5) for s in starts if rng.random() < 0.3]
        levels = lord_levels(list(starts), found, ALPHA)
        for end in (10, 40, 80, 120):
            known = sum(1 for d in found if d < starts[end - 1])  # discoveries the first `end` tests saw
            assert false_discovery_bound(levels[:end], known) <= ALPHA + 1e-12


def test_without_discoveries_the_whole_stream_spends_at_most_w0():
    # A/A forever: the chance of any false promotion, ever, is at most sum alpha_t <= W0.
    levels = lord_levels(list(range(5000)), [], ALPHA)
    assert math.fsum(levels) <= initial_wealth(ALPHA)
    assert levels[0] == pytest.approx(initial_wealth(ALPHA) * gamma(1))


def test_the_ledger_replays():
    starts = [0, 0, 0, 1, 1, 2, 5, 5, 6]
    found = [1.5, 0.5, 4.0]
    assert lord_levels(starts, found, ALPHA) == lord_levels(starts, list(reversed(found)), ALPHA)
