"""Hypothesis tests on sufficient statistics, with the full record of each test.

statsmodels first, scipy where statsmodels has no equivalent (Fisher's exact
test, Welch's t from summary statistics). Every function returns a
``TestResult`` holding what a decision must store: the test's name, both sample
sizes, both estimates, the effect with its confidence interval, the statistic
and the p-value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

# Below this many successes or failures in either arm the normal approximation
# of the z-test is unreliable (the usual np >= 5 rule); use Fisher's exact test.
EXACT_TEST_BELOW = 5


@dataclass(frozen=True)
class TestResult:
    test: str
    n_control: int
    n_variant: int
    value_control: float
    value_variant: float
    effect: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def two_proportions(
    successes_control: int,
    n_control: int,
    successes_variant: int,
    n_variant: int,
    alpha: float = 0.05,
) -> TestResult:
    """Variant minus control difference of two proportions, two-sided.

    Two-sample z-test (pooled variance under H0, statsmodels); Fisher's exact
    test when any cell is below ``EXACT_TEST_BELOW``. The interval is Newcombe's
    hybrid score interval, which stays inside [-1, 1] and behaves at 0 or n.
    """
    if min(n_control, n_variant) < 1:
        raise ValueError("both arms need at least one observation")
    p_control = successes_control / n_control
    p_variant = successes_variant / n_variant
    cells = (
        successes_control,
        n_control - successes_control,
        successes_variant,
        n_variant - successes_variant,
    )
    low, high = confint_proportions_2indep(
        successes_variant,
        n_variant,
        successes_control,
        n_control,
        method="newcomb",
        compare="diff",
        alpha=alpha,
    )
    if min(cells) < EXACT_TEST_BELOW:
        table = [
            [successes_variant, n_variant - successes_variant],
            [successes_control, n_control - successes_control],
        ]
        result = sps.fisher_exact(table, alternative="two-sided")
        test, statistic, p_value = "fisher_exact", float(result.statistic), float(result.pvalue)
    else:
        z, p = proportions_ztest([successes_variant, successes_control], [n_variant, n_control])
        test, statistic, p_value = "two_proportion_z", float(z), float(p)
    return TestResult(
        test,
        n_control,
        n_variant,
        p_control,
        p_variant,
        p_variant - p_control,
        float(low),
        float(high),
        statistic,
        p_value,
    )


def welch_from_stats(
    mean_control: float,
    var_control: float,
    n_control: int,
    mean_variant: float,
    var_variant: float,
    n_variant: int,
    alpha: float = 0.05,
) -> TestResult:
    """Welch's unequal-variance t-test of variant minus control from summary statistics."""
    if min(n_control, n_variant) < 2:
        raise ValueError("Welch's test needs at least two observations per arm")
    result = sps.ttest_ind_from_stats(
        mean_variant,
        math.sqrt(var_variant),
        n_variant,
        mean_control,
        math.sqrt(var_control),
        n_control,
        equal_var=False,
    )
    se_v, se_c = var_variant / n_variant, var_control / n_control
    se = math.sqrt(se_v + se_c)
    effect = mean_variant - mean_control
    if se == 0:
        low = high = effect
    else:
        df = (se_v + se_c) ** 2 / (se_v**2 / (n_variant - 1) + se_c**2 / (n_control - 1))
        margin = sps.t.ppf(1 - alpha / 2, df) * se
        low, high = effect - margin, effect + margin
    return TestResult(
        "welch_t",
        n_control,
        n_variant,
        mean_control,
        mean_variant,
        effect,
        float(low),
        float(high),
        float(result.statistic),
        float(result.pvalue),
    )


# A sample-ratio mismatch means the assignment itself is broken: no comparison of
# the arms can be trusted. Experimentation platforms test it at 0.001 so that a
# false alarm is rare even over many daily looks.
SRM_ALPHA = 0.001


def sample_ratio(n_control: int, n_variant: int, traffic_split: float, alpha: float = 0.05) -> TestResult:
    """Do the arm sizes fit the planned split? Pearson's chi-square goodness of fit (scipy).

    The estimates are the planned and the observed variant share; the interval
    is Wilson's for the observed share, shifted by the planned one.
    """
    total = n_control + n_variant
    if total < 1 or not 0 < traffic_split < 1:
        raise ValueError("need at least one assignment and a split strictly between 0 and 1")
    expected = [total * (1 - traffic_split), total * traffic_split]
    result = sps.chisquare([n_control, n_variant], f_exp=expected)
    observed = n_variant / total
    low, high = proportion_confint(n_variant, total, alpha=alpha, method="wilson")
    return TestResult(
        "srm_chi_square",
        n_control,
        n_variant,
        traffic_split,
        observed,
        observed - traffic_split,
        float(low - traffic_split),
        float(high - traffic_split),
        float(result.statistic),
        float(result.pvalue),
    )


def sample_size_two_proportions(
    baseline: float,
    minimum_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> int:
    """Control-arm size to detect ``baseline -> baseline + minimum_effect`` (two-sided).

    Cohen's h with statsmodels' normal power solver; the variant arm needs
    ``ratio`` times as many.
    """
    target = min(max(baseline + minimum_effect, 1e-6), 1 - 1e-6)
    effect = abs(proportion_effectsize(target, min(max(baseline, 1e-6), 1 - 1e-6)))
    if effect == 0:
        raise ValueError("minimum_effect must be non-zero")
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)
    return math.ceil(n)


# Family-wise error control (Holm) when any false claim is costly; false
# discovery rate control (Benjamini-Hochberg) when many metrics are screened.
ADJUST_METHODS = ("holm", "fdr_bh")


def adjust(p_values: Sequence[float], method: str, alpha: float) -> tuple[list[bool], list[float]]:
    """Rejections and adjusted p-values for a family of tests, in input order.

    Testing several metrics (or variants) at ``alpha`` each makes some false
    positive likely; ``holm`` keeps the chance of any at ``alpha`` (uniformly
    more powerful than Bonferroni), ``fdr_bh`` keeps the expected share of false
    ones among the rejections at ``alpha``. An adjusted p-value is the smallest
    level at which its test would be rejected.

    Computed here (step-down and step-up maxima/minima of the scaled sorted
    p-values, as statsmodels' ``multipletests`` does, which the tests compare
    against) because statsmodels' Holm runs a full garbage collection per
    call: 80 ms in a loaded process, and every daily look calls it.
    """
    if method not in ADJUST_METHODS:
        raise ValueError(f"method must be one of {', '.join(ADJUST_METHODS)}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    if any(not 0 <= p <= 1 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    if len(p_values) == 0:
        return [], []
    values = np.asarray(p_values, dtype=float)
    m = len(values)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    if method == "holm":
        ordered = np.maximum.accumulate(ranked * np.arange(m, 0, -1))
    else:
        ordered = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(ordered, 1.0)
    return [bool(p <= alpha) for p in adjusted], [float(p) for p in adjusted]
