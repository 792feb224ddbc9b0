"""Statistical tests against published values and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from aitl.stats.hypothesis import SRM_ALPHA, sample_ratio, two_proportions, welch_from_stats
from aitl.stats.multiple import adjust
from aitl.stats.power import sample_size_two_proportions


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def test_two_proportion_z_test_by_hand():
    result = two_proportions(100, 1000, 130, 1000)
    pooled = 230 / 2000
    z = 0.03 / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result.test == "two_proportion_z"
    assert result.statistic == pytest.approx(z, rel=1e-9)  # 2.1027
    assert result.p_value == pytest.approx(normal_two_sided_p(z), rel=1e-9)  # 0.0355
    assert result.effect == pytest.approx(0.03)


def test_newcombe_interval_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80,
    # method 10 (score interval) gives 0.0524 to 0.3339.
    result = two_proportions(48, 80, 56, 70)
    assert result.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert result.ci_high == pytest.approx(0.3339, abs=5e-5)


def test_small_counts_use_fishers_exact_test():
    # Fisher's tea-tasting experiment: 3 of 4 right in each arm, p = 17/35.
    result = two_proportions(1, 4, 3, 4)
    assert result.test == "fisher_exact"
    assert result.p_value == pytest.approx(17 / 35)


def test_zero_counts_are_handled():
    result = two_proportions(0, 50, 0, 50)
    assert result.test == "fisher_exact"
    assert result.p_value == pytest.approx(1.0)
    assert result.ci_low <= 0 <= result.ci_high
    with pytest.raises(ValueError, match="at least one"):
        two_proportions(0, 0, 1, 10)


def test_welch_from_summary_statistics_matches_raw_data():
    rng = np.random.default_rng(3)
    control, variant = rng.normal(0.70, 0.10, 80), rng.normal(0.74, 0.25, 45)
    result = welch_from_stats(
        control.mean(), control.var(ddof=1), len(control), variant.mean(), variant.var(ddof=1), len(variant)
    )
    reference = sps.ttest_ind(variant, control, equal_var=False)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    low, high = CompareMeans(DescrStatsW(variant), DescrStatsW(control)).tconfint_diff(usevar="unequal")
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_welch_matches_the_published_example():
    # Wikipedia, "Welch's t-test", example 1 (unequal sample variances): t = 2.46, p = 0.021.
    a1 = np.array([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4])
    a2 = np.array([27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4])
    result = welch_from_stats(a1.mean(), a1.var(ddof=1), 15, a2.mean(), a2.var(ddof=1), 15)
    assert round(result.statistic, 2) == 2.46
    assert round(result.p_value, 3) == 0.021
    assert result.effect == pytest.approx(a2.mean() - a1.mean())


def test_sample_size_matches_the_textbook_formula():
    # Per arm n = 2 ((z_{1-a/2} + z_{1-b}) / h)^2 with Cohen's h; Cohen (1988), table
    # 6.4.1, gives about 1570 for h = 0.10. 0.50 -> 0.55 is h = 0.1001.
    h = 2 * math.asin(math.sqrt(0.55)) - 2 * math.asin(math.sqrt(0.50))
    expected = math.ceil(2 * ((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) / h) ** 2)
    assert sample_size_two_proportions(0.50, 0.05) == expected == 1565


def test_false_positive_rate_under_no_effect_is_alpha():
    rng = np.random.default_rng(11)
    n, trials = 400, 2000
    control = rng.binomial(n, 0.7, trials)
    variant = rng.binomial(n, 0.7, trials)
    rejections = sum(
        two_proportions(c, n, v, n).p_value < 0.05 for c, v in zip(control, variant, strict=True)
    )
    rate = rejections / trials
    # 2000 trials: the standard error of a 5% rate is 0.5 points.
    assert 0.035 <= rate <= 0.065, rate


def test_power_under_a_known_effect_matches_the_plan():
    rng = np.random.default_rng(12)
    n = sample_size_two_proportions(0.70, 0.05, power=0.8)
    trials = 1000
    control = rng.binomial(n, 0.70, trials)
    variant = rng.binomial(n, 0.75, trials)
    power = np.mean(
        [two_proportions(c, n, v, n).p_value < 0.05 for c, v in zip(control, variant, strict=True)]
    )
    assert 0.76 <= power <= 0.84, power


def test_sample_ratio_chi_square_by_hand():
    result = sample_ratio(5000, 5200, 0.5)
    chi2 = 2 * 100**2 / 5100  # (observed - expected)^2 / expected, both arms
    assert result.test == "srm_chi_square"
    assert result.statistic == pytest.approx(chi2)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))  # chi2 with 1 df
    assert result.effect == pytest.approx(5200 / 10200 - 0.5)
    assert result.ci_low < result.effect < result.ci_high
    uneven = sample_ratio(700, 300, 0.3)  # exactly the planned 30% variant
    assert uneven.statistic == pytest.approx(0.0) and uneven.p_value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="split"):
        sample_ratio(1, 1, 1.0)


def test_sample_ratio_false_alarms_and_power():
    rng = np.random.default_rng(13)
    trials = 20_000
    variant = rng.binomial(4000, 0.5, trials)
    alarms = sum(sample_ratio(4000 - v, v, 0.5).p_value < SRM_ALPHA for v in variant)
    # Expected 20 of 20,000 (0.1%); Poisson's 99.9% range is about 8 to 36.
    assert alarms <= 36, alarms
    skewed = rng.binomial(4000, 0.53, 1000)  # a 53/47 split: a broken assignment
    power = np.mean([sample_ratio(4000 - v, v, 0.5).p_value < SRM_ALPHA for v in skewed])
    shift = 0.03 / math.sqrt(0.25 / 4000)  # the mismatch in standard errors
    expected = sps.norm.sf(sps.norm.isf(SRM_ALPHA / 2) - shift)  # ~0.69
    assert power == pytest.approx(expected, abs=0.05)


# Benjamini & Hochberg (1995), JRSS B 57:289, section 4: 15 p-values from a trial.
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240]
BH_1995 += [0.4262, 0.5719, 0.6528, 0.7590, 1.0000]


def test_adjust_benjamini_hochberg_1995_example():
    # The paper: Bonferroni (p <= 0.05/15 = 0.0033) rejects 3, the step-up FDR procedure 4
    # (0.0095 <= 4/15 * 0.05 = 0.0133, while 0.0201 > 5/15 * 0.05).
    reject, adjusted = adjust(BH_1995, "fdr_bh", 0.05)
    assert reject == [True] * 4 + [False] * 11
    assert adjusted[3] == pytest.approx(0.0095 * 15 / 4)
    # Holm: 0.0001 * 15, 0.0004 * 14 and 0.0019 * 13 = 0.0247 pass, 0.0095 * 12 = 0.114 does not.
    reject, adjusted = adjust(BH_1995, "holm", 0.05)
    assert reject == [True] * 3 + [False] * 12
    assert adjusted[:4] == pytest.approx([0.0015, 0.0056, 0.0247, 0.114])
    for _, adjusted in (adjust(BH_1995, "holm", 0.05), adjust(BH_1995, "fdr_bh", 0.05)):
        assert adjusted == sorted(adjusted)  # monotone in the raw p-values (sorted here)
        assert all(raw <= adj <= 1 for raw, adj in zip(BH_1995, adjusted, strict=True))


def test_adjust_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]  # out of order: results come back in input order
    # Holm, sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04,
    # then the running maximum: 0.02, 0.03, 0.06, 0.06.
    reject, adjusted = adjust(p, "holm", 0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True]
    # BH, sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04, then the running
    # minimum from the largest: unchanged.
    reject, adjusted = adjust(p, "fdr_bh", 0.05)
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert reject == [True, True, True, True]
    assert adjust(p, "fdr_bh", 0.03)[0] == [True, False, False, True]
    assert adjust([], "holm", 0.05) == ([], [])
    with pytest.raises(ValueError, match="holm, fdr_bh"):
        adjust(p, "bonferroni", 0.05)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust([0.2, 1.5], "holm", 0.05)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjust_agrees_with_statsmodels(method):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    for size in (1, 2, 5, 17, 60):
        p_values = np.round(rng.uniform(0, 0.2, size) ** 2, 3)  # rounding makes ties
        rejected, adjusted = adjust(list(p_values), method, 0.05)
        reference = multipletests(p_values, alpha=0.05, method=method)
        assert rejected == list(reference[0])
        assert adjusted == pytest.approx(list(reference[1]), abs=1e-12)
