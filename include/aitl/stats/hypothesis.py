"""Hypothesis tests on sufficient statistics, with the full record of each test.

statsmodels first, scipy where statsmodels has no equivalent (Fisher's exact
test, Welch's t from summary statistics). Every function returns a
``TestResult`` holding what a decision must store: the test's name, both sample
sizes, both estimates, the effect with its confidence interval, the statistic
and the p-value.

Method:
docs/statistics.md#two-proportion-tests-z-and-fisher
docs/statistics.md#welchs-t-test
docs/statistics.md#sample-ratio-mismatch
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats as sps
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
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
