"""Group-sequential boundaries against published values, exact quadrature and simulation.

The type I error of a look schedule is computed by integration, not simulated."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from scipy import stats as sps
from scipy.integrate import quad

from aitl.stats.alpha_spending import (
    MAX_BOUNDARY,
    MIN_GROWTH,
    MIN_INCREMENT,
    SpentLook,
    boundaries,
    crossing_probabilities,
    look_threshold,
    next_boundary,
    nominal_alpha,
    obrien_fleming_spent,
    sequential_boundaries,
)

Z_975 = sps.norm.isf(0.025)  # 1.959964


def test_published_boundaries():
    # Five equally spaced looks, two-sided alpha = 0.05, Lan-DeMets O'Brien-Fleming
    # (ldbounds, gsDesign's sfLDOF at 0.025 per tail; Jennison & Turnbull 2000).
    published = [4.8769, 3.3569, 2.6803, 2.2898, 2.0310]
    assert boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05) == pytest.approx(published, abs=2e-4)
    assert boundaries([0.5, 1.0], 0.05) == pytest.approx([2.9626, 1.9686], abs=1e-4)
    # A single look at the end is the fixed design.
    assert boundaries([1.0], 0.05) == pytest.approx([Z_975], abs=1e-9)


def two_look_crossing(c1: float, c2: float, t1: float, t2: float) -> float:
    """P(|Z1| < c1, |Z2| >= c2) under H0 by adaptive quadrature, independent of the grid."""
    rho = math.sqrt(t1 / t2)
    sd = math.sqrt(1 - rho**2)

    def integrand(z1: float) -> float:
        return sps.norm.pdf(z1) * (sps.norm.sf((c2 - rho * z1) / sd) + sps.norm.cdf((-c2 - rho * z1) / sd))

    return quad(integrand, -c1, c1, epsabs=1e-13, epsrel=1e-11)[0]


@pytest.mark.parametrize(("t1", "t2"), [(0.3, 0.7), (0.5, 1.0), (0.05, 0.9)])
def test_each_look_spends_exactly_its_share(t1, t2):
    c1, c2 = boundaries([t1, t2], 0.05)
    assert 2 * sps.norm.sf(c1) == pytest.approx(obrien_fleming_spent(t1, 0.05), rel=1e-8)
    spend = obrien_fleming_spent(t2, 0.05) - obrien_fleming_spent(t1, 0.05)
    assert two_look_crossing(c1, c2, t1, t2) == pytest.approx(spend, abs=1e-8)


def test_spending_function():
    # Lan & DeMets' function at level a: 2 - 2 Phi(z_{1-a/2} / sqrt(t)); at a = 0.05 and
    # t = 0.5 it is 0.005574. Each tail of a two-sided test spends it at alpha / 2.
    assert obrien_fleming_spent(0.5, 0.10) / 2 == pytest.approx(0.005574, abs=1e-6)
    per_tail = 2 * sps.norm.sf(sps.norm.isf(0.0125) / math.sqrt(0.5))
    assert obrien_fleming_spent(0.5, 0.05) == pytest.approx(2 * per_tail)
    assert obrien_fleming_spent(0.5, 0.05) == pytest.approx(0.0030506, abs=1e-7)
    assert obrien_fleming_spent(0.0, 0.05) == 0.0
    assert obrien_fleming_spent(-0.3, 0.05) == 0.0
    assert obrien_fleming_spent(1.0, 0.05) == pytest.approx(0.05)
    assert obrien_fleming_spent(1.7, 0.05) == pytest.approx(0.05)
    spent = [obrien_fleming_spent(t, 0.05) for t in np.linspace(0, 1, 21)]
    assert spent == sorted(spent)


def test_nominal_alpha():
    assert nominal_alpha(Z_975) == pytest.approx(0.05)
    assert nominal_alpha(2.0310) == pytest.approx(0.04226, abs=1e-5)
    assert nominal_alpha(MAX_BOUNDARY) < 1e-14


def test_earlier_boundaries_ignore_later_looks():
    full = boundaries([0.15, 0.3, 0.55, 0.8, 1.0], 0.05)
    assert boundaries([0.15, 0.3, 0.55], 0.05) == full[:3]
    # Boundaries fall as information grows, and the last stays near the fixed design's.
    assert full == sorted(full, reverse=True)
    assert Z_975 < full[-1] < 2.05


def test_nothing_to_spend_gets_the_largest_boundary():
    # At t = 1e-6 the spending function is 0 to double precision: no numerical failure,
    # and the final look then spends (all but nothing of) alpha like the fixed design.
    first, last = boundaries([1e-6, 1.0], 0.05)
    assert first == MAX_BOUNDARY
    assert last == pytest.approx(Z_975, abs=1e-6)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="increase"):
        boundaries([0.5, 0.4], 0.05)
    with pytest.raises(ValueError, match="increase"):
        boundaries([0.5, 0.5], 0.05)
    with pytest.raises(ValueError, match="increase"):
        boundaries([0.5, 0.5 + MIN_INCREMENT / 2], 0.05)
    for fractions in ([0.0, 0.5], [0.5, 1.2], [-0.1], [float("nan")]):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            boundaries(fractions, 0.05)
    for alpha in (0.0, 1.0, -0.05, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            boundaries([0.5, 1.0], alpha)
        with pytest.raises(ValueError, match="alpha"):
            obrien_fleming_spent(0.5, alpha)
        with pytest.raises(ValueError, match="alpha"):
            look_threshold([], 0.5, alpha)
    with pytest.raises(ValueError, match="not a number"):
        look_threshold([0.2, float("nan")], 0.5, 0.05)
    assert boundaries([], 0.05) == []


def test_look_threshold():
    first = look_threshold([], 0.3, 0.05)
    assert first.boundary == boundaries([0.3], 0.05)[0]
    assert first.nominal_alpha == pytest.approx(nominal_alpha(first.boundary))
    assert first.alpha_spent == pytest.approx(obrien_fleming_spent(0.3, 0.05))
    second = look_threshold([0.3], 0.6, 0.05)
    assert second.boundary == boundaries([0.3, 0.6], 0.05)[1]
    assert second.alpha_spent == pytest.approx(obrien_fleming_spent(0.6, 0.05))
    boundary, nominal, spent = second  # the plain (boundary, nominal alpha, spent) tuple
    assert (boundary, nominal, spent) == tuple(second)


def test_repeat_looks_spend_nothing():
    done = look_threshold([0.3], 0.6, 0.05)
    # The same fraction again, one that did not grow enough, or one that shrank
    # (data deleted) is a repeat of the last look.
    assert look_threshold([0.3, 0.6], 0.6, 0.05) == done
    assert look_threshold([0.3, 0.6], 0.6 + MIN_INCREMENT / 2, 0.05) == done
    assert look_threshold([0.3, 0.6], 0.5, 0.05) == done
    # Repeats in the history do not count as looks.
    assert look_threshold([0.3, 0.3, 0.6, 0.6, 0.55], 0.8, 0.05) == look_threshold([0.3, 0.6], 0.8, 0.05)
    # An empty experiment: nothing spent, nothing can be rejected.
    empty = look_threshold([], 0.0, 0.05)
    assert empty.boundary == MAX_BOUNDARY and empty.alpha_spent == 0.0


def test_final_look_spends_the_rest():
    final = look_threshold([0.3, 0.6], 1.4, 0.05)
    assert final.alpha_spent == pytest.approx(0.05)
    assert final.boundary == boundaries([0.3, 0.6, 1.0], 0.05)[-1]
    assert look_threshold([0.3, 0.6, 1.4], 1.9, 0.05) == final


def brownian_z(looks: np.ndarray, drift: float, paths: int, rng: np.random.Generator) -> np.ndarray:
    """Z statistics of Brownian motion with ``drift`` (its mean at t = 1) at the looks."""
    increments = np.diff(looks, prepend=0.0)
    steps = rng.standard_normal((paths, len(looks))) * np.sqrt(increments) + drift * increments
    return np.cumsum(steps, axis=1) / np.sqrt(looks)


def test_simulated_false_positives_at_irregular_looks():
    looks = np.array([0.15, 0.3, 0.55, 0.8, 1.0])
    paths = 200_000
    z = np.abs(brownian_z(looks, 0.0, paths, np.random.default_rng(20240501)))
    crossed = np.logical_or.accumulate(z >= boundaries(looks, 0.05), axis=1).sum(axis=0)
    for count, t in zip(crossed, looks, strict=True):
        p = obrien_fleming_spent(t, 0.05)
        assert abs(count - paths * p) <= 4 * math.sqrt(paths * p * (1 - p)) + 1, (t, count / paths, p)
    # What the boundaries prevent: testing at 1.96 at each of the five looks.
    naive = np.logical_or.accumulate(z >= Z_975, axis=1).mean(axis=0)
    assert naive[-1] > 0.13


def test_simulated_power_loss_is_small():
    # Drift z_0.975 + z_0.8 gives a fixed design 80% power at t = 1.
    looks = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    drift = Z_975 + sps.norm.isf(0.2)  # 2.8016
    z = np.abs(brownian_z(looks, drift, 200_000, np.random.default_rng(7)))
    fixed = (z[:, -1] >= Z_975).mean()
    sequential = (z >= boundaries(looks, 0.05)).any(axis=1).mean()
    assert fixed == pytest.approx(0.80, abs=0.004)  # 4 standard errors
    assert 0.78 <= sequential <= 0.80, sequential  # about 0.79: a point of power for five looks


# --------------------------------------------------------------------------- actual information


def two_look_type_one(c1: float, c2: float, s1: float, s2: float) -> float:
    """P(|Z1| >= c1 or |Z2| >= c2) under H0 for looks at informations s1 < s2, by adaptive quadrature."""
    return 2 * sps.norm.sf(c1) + two_look_crossing(c1, c2, s1, s2)


@pytest.mark.parametrize(
    ("s1", "s2", "c1", "c2"),
    [(1.0, 2.0, 2.0243, 2.0625), (0.3, 40.0, 3.0, 2.0), (5.0, 5.005, 3.0, 2.9), (0.001, 1.0, 8.0, 1.96)],
)
def test_crossing_probabilities_match_quadrature(s1, s2, c1, c2):
    # Any scale of information (a share of the planned size past 1, counts): only the ratios matter.
    first, both = crossing_probabilities([s1, s2], [c1, c2])
    assert first == pytest.approx(2 * sps.norm.sf(c1), abs=1e-12)
    assert both == pytest.approx(two_look_type_one(c1, c2, s1, s2), abs=1e-7)
    assert crossing_probabilities([1000 * s1, 1000 * s2], [c1, c2])[-1] == pytest.approx(both, abs=1e-12)


def test_crossing_probabilities_match_a_multivariate_normal():
    # Eight looks with capped ones in between (boundary 8: nothing to spend), against
    # Genz's quasi-Monte Carlo integration of the multivariate normal rectangle.
    s = np.array([0.3, 0.6, 1.0, 1.7, 2.4, 3.1, 3.8, 5.0])
    c = np.array([4.0, 3.2, 2.6, 8.0, 8.0, 8.0, 8.0, 2.3])
    cov = np.sqrt(np.minimum.outer(s, s) / np.maximum.outer(s, s))
    mvn = sps.multivariate_normal(np.zeros(len(s)), cov, abseps=1e-7, releps=0, maxpts=400_000, seed=3)
    assert crossing_probabilities(s, c)[-1] == pytest.approx(1 - mvn.cdf(c, lower_limit=-c), abs=1e-5)


def test_the_audits_inflation_is_the_wrong_correlation():
    # Issue 11: a first look past the planned size counted as t = 0.95, the next as the
    # final t = 1, with boundaries for a correlation sqrt(0.95) where the actual sample
    # sizes (the planned size, then twice it) give sqrt(1/2): two-sided type I error 0.069.
    c1, c2 = boundaries([0.95, 1.0], 0.05)
    assert crossing_probabilities([1.0, 2.0], [c1, c2])[-1] == pytest.approx(0.0689, abs=1e-4)
    assert two_look_type_one(c1, c2, 1.0, 2.0) == pytest.approx(0.0689, abs=1e-4)
    # The capped looks of a 7-day minimum running time, all "the same look", tested
    # at its boundary again each day, then the final look: worse still.
    s = [1.0, 2, 3, 4, 5, 6, 7, 8]
    assert crossing_probabilities(s, [c1] * 7 + [c2])[-1] > 0.15
    # The same looks with boundaries from the actual correlations: exactly alpha.
    fixed = sequential_boundaries([1.0, 2.0], [0.95, 1.0], 0.05)
    assert crossing_probabilities([1.0, 2.0], fixed)[-1] == pytest.approx(0.05, abs=1e-9)
    assert two_look_type_one(*fixed, 1.0, 2.0) <= 0.05 + 1e-6
    capped = sequential_boundaries(s, [0.95] * 7 + [1.0], 0.05)
    assert capped[1:7] == [MAX_BOUNDARY] * 6  # capped again: nothing left to spend before the end
    assert crossing_probabilities(s, capped)[-1] <= 0.05 + 1e-6


def test_sequential_boundaries_spend_by_the_fraction_and_correlate_by_the_information():
    informations, fractions = [0.4, 1.3, 2.9], [0.4, 0.95, 1.0]
    c = sequential_boundaries(informations, fractions, 0.05)
    cumulative = crossing_probabilities(informations, c)
    assert cumulative == pytest.approx([obrien_fleming_spent(t, 0.05) for t in fractions], abs=1e-9)
    # Information equal to the fraction: the plain boundaries.
    assert sequential_boundaries([0.2, 0.4, 0.6], [0.2, 0.4, 0.6], 0.05) == pytest.approx(
        boundaries([0.2, 0.4, 0.6], 0.05), abs=1e-9
    )


def test_used_boundaries_are_taken_as_they_are():
    # An earlier look that used 8 (spent nothing) leaves all its share to the next one;
    # one that overspent leaves less. Either way the total stays alpha.
    derived = sequential_boundaries([0.5, 1.0], [0.5, 1.0], 0.05)
    for first in (MAX_BOUNDARY, 2.5):
        c = sequential_boundaries([0.5, 1.0], [0.5, 1.0], 0.05, used=[first])
        assert c[0] == first
        assert crossing_probabilities([0.5, 1.0], c)[-1] == pytest.approx(0.05, abs=1e-9)
        assert (c[1] < derived[1]) == (first > derived[0])
    # None: not kept, derived again.
    assert sequential_boundaries([0.5, 1.0], [0.5, 1.0], 0.05, used=[None]) == derived
    history = [SpentLook(0.5, 0.5, MAX_BOUNDARY)]
    assert (
        next_boundary(history, 1.0, 1.0, 0.05)
        == sequential_boundaries([0.5, 1.0], [0.5, 1.0], 0.05, used=[MAX_BOUNDARY])[-1]
    )
    # A first look past the planned size that is final: the fixed design.
    assert next_boundary([], 3.0, 1.0, 0.05) == pytest.approx(Z_975, abs=1e-9)


@pytest.mark.parametrize(
    ("informations", "fractions"),
    [([0.2, 0.4, 0.6, 0.8, 1.0], [0.2, 0.4, 0.6, 0.8, 1.0]), ([0.3, 1.2, 2.1, 4.0], [0.3, 0.95, 0.95, 1.0])],
)
def test_boundaries_fall_as_the_level_grows(informations, fractions):
    # Holm's shortcut of the closed test needs it: a larger level never has a larger boundary.
    by_level = [sequential_boundaries(informations, fractions, 0.05 / d) for d in (4, 3, 2, 1)]
    for stricter, looser in pairwise(by_level):
        assert all(a >= b for a, b in zip(stricter, looser, strict=True))


def test_informations_must_grow():
    with pytest.raises(ValueError, match="grow"):
        sequential_boundaries([1.0, 1.0 + MIN_GROWTH / 2], [0.95, 1.0], 0.05)
    with pytest.raises(ValueError, match="positive"):
        crossing_probabilities([0.0, 1.0], [2.0, 2.0])
    with pytest.raises(ValueError, match="one boundary per look"):
        crossing_probabilities([0.5, 1.0], [2.0])
    with pytest.raises(ValueError, match="one fraction per look"):
        sequential_boundaries([0.5, 1.0], [0.5], 0.05)
