"""Cost per success: its estimate, its comparison between two groups, and non-inferiority in success.

Cost per success is the ratio ``R = sum(cost) / sum(success)`` over the
executions that carry a cost. A ratio of two means has no exact small-sample
test; on the log scale its delta-method variance is

    Var(log R) ~ [Var(c) / c^2 + Var(s) / s^2 - 2 Cov(c, s) / (c s)] / n

with ``c`` and ``s`` the mean cost and success rate. The covariance matters:
failures often cost more than successes (retries, long runs), and leaving it
out would misstate the variance in either direction. Everything it needs is
additive (n, sum and sum of squares of cost, successes, sum of cost x success),
so it comes from hourly rollups like every other metric. Two groups are
compared by a z-test on ``log R_variant - log R_control``; the effect is that
log ratio, so ``exp(effect) - 1`` is the relative change, as for durations.

Non-inferiority in success ("no more than ``margin`` worse") is statsmodels'
score test of the difference of two proportions against ``-margin``.

Method: docs/statistics.md#cost-per-success.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.special import ndtr, ndtri
from statsmodels.stats.proportion import test_proportions_2indep

from aitl.stats.hypothesis import TestResult

# The rollup columns that hold ``CostSums``, in its field order (``hourly_rollups``).
COLUMNS = ("cost_n", "cost_sum", "cost_sumsq", "cost_successes", "cost_success_sum")


@dataclass(frozen=True)
class CostSums:
    """Additive sums of the executions that carry a cost."""

    n: int = 0
    cost: float = 0.0
    cost_sq: float = 0.0
    successes: int = 0
    cost_success: float = 0.0  # sum of cost over the successful executions

    @classmethod
    def of(cls, source: Any) -> CostSums:
        """The sums of anything with the rollup's ``COLUMNS`` as attributes (merged stats, a frame row)."""
        return cls(*(getattr(source, name) for name in COLUMNS))

    @property
    def per_success(self) -> float:
        """Cost per success; NaN without a success (or without a cost)."""
        return self.cost / self.successes if self.n and self.successes else math.nan

    @property
    def per_execution(self) -> float:
        return self.cost / self.n if self.n else math.nan

    def log_variance(self) -> float:
        """Delta-method variance of ``log(per_success)``; NaN below two executions or without a success."""
        n = self.n
        if n < 2 or self.successes == 0 or self.cost <= 0:
            return math.nan
        mean_c, mean_s = self.cost / n, self.successes / n
        var_c = max(self.cost_sq - n * mean_c * mean_c, 0.0) / (n - 1)
        var_s = mean_s * (1 - mean_s) * n / (n - 1)
        cov = (self.cost_success - n * mean_c * mean_s) / (n - 1)
        relative = var_c / mean_c**2 + var_s / mean_s**2 - 2 * cov / (mean_c * mean_s)
        return max(relative, 0.0) / n


def cost_per_success(control: CostSums, variant: CostSums, alpha: float = 0.05) -> TestResult:
    """Variant against control on cost per success: z-test of the log ratio, two-sided.

    The estimates are both arms' cost per success; ``effect`` and its interval
    are on the log scale (``exp`` gives the ratio). A comparison the sums do
    not allow (an arm without a success or a cost) has a NaN p-value.
    """
    r_control, r_variant = control.per_success, variant.per_success
    variance = control.log_variance() + variant.log_variance()
    if not (math.isfinite(variance) and r_control > 0 and r_variant > 0):
        nan = math.nan
        return TestResult(
            "cost_log_ratio_z", control.n, variant.n, r_control, r_variant, nan, nan, nan, nan, nan
        )
    effect = math.log(r_variant / r_control)
    se = math.sqrt(variance)
    z = effect / se if se > 0 else math.copysign(math.inf, effect) if effect else 0.0
    margin = float(ndtri(1 - alpha / 2)) * se
    return TestResult(
        "cost_log_ratio_z",
        control.n,
        variant.n,
        r_control,
        r_variant,
        effect,
        effect - margin,
        effect + margin,
        z,
        float(2 * ndtr(-abs(z))),
    )


def cheaper_p(result: TestResult) -> float:
    """One-sided p-value that the variant's cost per success is lower (from ``cost_per_success``)."""
    return float(ndtr(result.statistic)) if math.isfinite(result.statistic) else math.nan


def noninferior_p(
    successes_control: int, n_control: int, successes_variant: int, n_variant: int, margin: float
) -> float:
    """One-sided p-value of H0: the variant's success rate is at least ``margin`` below the control's.

    Rejecting it means the variant is non-inferior: worse by less than
    ``margin`` (absolute). Score test (Farrington-Manning / Miettinen-Nurminen).
    """
    if min(n_control, n_variant) < 1:
        raise ValueError("both arms need at least one execution")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    result = test_proportions_2indep(
        successes_variant,
        n_variant,
        successes_control,
        n_control,
        value=-margin,
        compare="diff",
        alternative="larger",
        method="score",
    )
    return float(result.pvalue)
