"""Multiple testing: many metrics or experiments tested at once without turning noise into claims.

Method: docs/statistics.md#multiple-testing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aitl.stats.checks import check_alpha

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
    check_alpha(alpha)
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
