"""Online false discovery rate control: a level for every experiment the loop ever runs.

The loop launches experiments for as long as it runs. Correcting only the
experiments that decide on the same day (Benjamini-Hochberg per look) keeps no
promise over that stream: every day is a fresh family, and over a year the
false promotions add up without bound. Online FDR control gives each test a
level when it starts, from what is known by then, such that over the whole
stream the expected share of false discoveries (promotions of a variant that
is not better) stays at most ``alpha``, at every moment.

Experiments overlap: one starts while others are still running, so their
outcomes cannot inform its level. This is LORD under asynchrony (LORD*, Zrnic,
Ramdas & Jordan, "Asynchronous online testing of multiple hypotheses", JMLR
2021; LORD++ of Ramdas et al. 2017 when tests do not overlap): test ``t`` (in
order of start) gets

    alpha_t = gamma_t W0 + (alpha - W0) gamma_{t - rho_1 + 1} + alpha sum_{j >= 2} gamma_{t - rho_j + 1}

where ``rho_j`` is the first test that started after the ``j``-th discovery
was known, and only discoveries known before test ``t`` started count. Each
discovery earns new wealth, spread over the tests after it by ``gamma``. The
levels depend on the order of starts and on when discoveries became known,
nothing else: recomputing them from the stored decisions in order gives the
same levels again (a rerun of an old day replays the ledger).

Each experiment's own test (a group-sequential test over its daily looks)
must keep its type I error at ``alpha_t``: its boundaries are those of the
alpha-spending function run at ``alpha_t`` (``aitl.stats.alpha_spending``).
The guarantee (Zrnic et al., with the conflict set of a test being the tests
still running when it starts): mFDR <= alpha, and FDR <= alpha when the
experiments' data are independent. When every hypothesis is null, FDR is the probability of any
false promotion at all, over the whole life of the loop: at most ``W0 = alpha / 2``.

``gamma`` is flat over the first ``GAMMA_FLAT`` tests after a discovery, then
decays as ``1 / j^2``: experiments launched together share a discovery's
wealth evenly (a steep gamma would give nearly all of it to whichever
started first), and the tail keeps the stream testing after a long run of
null results. Method: docs/statistics.md#promotion-and-inconclusive-stops.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from itertools import pairwise
from typing import TypeVar

from scipy.special import polygamma

from aitl.stats.checks import check_alpha

GAMMA_FLAT = 10  # tests after a discovery that share its wealth evenly
GAMMA_TAIL = 0.2  # share of the wealth spread over the tests after those, as 1 / j^2
# The flat part's level, and the tail's constant so that gamma sums to exactly 1.
_FLAT = (1 - GAMMA_TAIL) / GAMMA_FLAT
_TAIL = GAMMA_TAIL / float(polygamma(1, GAMMA_FLAT + 1))  # sum_{j > GAMMA_FLAT} 1 / j^2 = trigamma(L + 1)

T = TypeVar("T")


def gamma(j: int) -> float:
    """The share of a discovery's wealth given to the ``j``-th test after it (``j >= 1``).

    Non-increasing, and summing to 1 over ``j = 1, 2, ...``.
    """
    if j < 1:
        raise ValueError(f"gamma is defined from j = 1, got {j}")
    return _FLAT if j <= GAMMA_FLAT else _TAIL / (j * j)


def initial_wealth(alpha: float) -> float:
    """``W0``: the wealth before any discovery, half of ``alpha`` (LORD++'s usual choice)."""
    check_alpha(alpha)
    return alpha / 2


def lord_levels(starts: Sequence[T], discoveries: Sequence[T], alpha: float) -> list[float]:
    """The LORD* level of every test of the stream.

    ``starts`` are the tests' start times in stream order (non-decreasing);
    ``discoveries`` the times at which the discoveries became known (in any
    order). A discovery counts for a test that started strictly after it: a
    test started at the very moment may not have seen it. Times are anything
    ordered (datetimes, numbers).
    """
    check_alpha(alpha)
    if any(later < earlier for earlier, later in pairwise(starts)):
        raise ValueError("tests must be given in the order they started")
    w0 = initial_wealth(alpha)
    # rho: the 1-based index of the first test that started after each discovery.
    rhos = sorted(bisect.bisect_right(starts, known) + 1 for known in discoveries)  # type: ignore[arg-type]
    levels = []
    for t in range(1, len(starts) + 1):
        level = gamma(t) * w0
        for j, rho in enumerate(rhos):
            if rho > t:
                break
            level += (alpha - w0 if j == 0 else alpha) * gamma(t - rho + 1)
        levels.append(level)
    return levels


def false_discovery_bound(levels: Sequence[float], discoveries: int) -> float:
    """LORD's estimate of the false discovery proportion: the levels spent per discovery.

    At most ``alpha`` at every point of a LORD stream (the invariant its FDR
    guarantee rests on), counting the discoveries known to the last test.
    """
    return math.fsum(levels) / max(discoveries, 1)
