"""Sample sizes: how many executions an experiment needs before its verdict can be trusted.

Method: docs/statistics.md#sample-size.
"""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize


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
