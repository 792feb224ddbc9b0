"""Multiple testing: many metrics or experiments tested at once without turning noise into claims.

Method: docs/statistics.md#multiple-testing.
"""

from __future__ import annotations

import math
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


def q_values(p_values: Sequence[float], alpha: float) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values) of one family of tests, in input order.

    A finding with q < alpha is a discovery at a false discovery rate of
    alpha: among all such findings of the family, the expected share of
    false ones is at most alpha (for independent or positively dependent
    tests, which one-sided tests on overlapping segments are).
    """
    return adjust(p_values, "fdr_bh", alpha)[1]


def family_q_values(groups: Sequence[Sequence[float]], alpha: float) -> list[list[float]]:
    """``q_values`` over the union of several groups of tests, returned group by group.

    A run's frequency, correlation and user tests are one family: the false
    discovery rate holds over everything the run reports, not per kind.
    """
    flat = q_values([p for group in groups for p in group], alpha)
    out, start = [], 0
    for group in groups:
        out.append(flat[start : start + len(group)])
        start += len(group)
    return out


def sequential_holm(
    p_values: Sequence[float], step_levels: Sequence[float], alpha: float
) -> tuple[list[bool], list[float]]:
    """Holm within a group-sequential look: the graphical (sequential) Holm of Maurer & Bretz.

    A family of ``m = len(step_levels)`` hypotheses tested at every look of an
    experiment. Step ``j`` (1-based, smallest p-value first) compares its
    p-value with ``step_levels[j - 1]``: this look's nominal level of the
    alpha-spending function run at ``alpha / (m - j + 1)`` over the
    experiment's looks (Maurer & Bretz 2013, "Multiple testing in group
    sequential trials using graphical approaches"; Holm is the graph that
    passes a rejected hypothesis' weight evenly to the others). The steps stop
    at the first p-value above its level. Rescaling p-values by the look's
    level at ``alpha`` (``p * alpha / nominal``) instead is not Holm: early
    looks spend far less than a share ``1 / m`` of what they spend at
    ``alpha``, so early steps would be 4 to 400 times too lenient.

    Fewer p-values than steps (a metric without a test at this look) count as
    never rejected: the family and its levels stay the same at every look.
    The second list is each p-value on the ``alpha`` scale (the running maximum
    of ``p * alpha / level`` along the steps, capped at 1): at most ``alpha``
    exactly when it is rejected, for reports; the levels decide, not it.
    """
    check_alpha(alpha)
    m = len(step_levels)
    if len(p_values) > m:
        raise ValueError(f"{len(p_values)} p-values for a family of {m}")
    if any(not 0 <= p <= 1 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    if any(not 0 <= level <= 1 for level in step_levels):
        raise ValueError(f"step levels must lie in [0, 1], got {list(step_levels)}")
    order = np.argsort(np.asarray(p_values, dtype=float), kind="stable")
    rejected = [False] * len(p_values)
    scores = [1.0] * len(p_values)
    running, going = 0.0, True
    for step, index in enumerate(order):
        p, level = float(p_values[index]), float(step_levels[step])
        going = going and p <= level
        rejected[index] = going
        score = 1.0 if level == 0 else min(1.0, p * alpha / level)
        running = max(running, score)
        # A rejection's score is at most alpha even when rounding would say otherwise.
        scores[index] = min(running, alpha) if going else max(running, math.nextafter(alpha, 1.0))
    return rejected, scores
