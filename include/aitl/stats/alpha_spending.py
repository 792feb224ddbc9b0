"""Group-sequential boundaries: looking at a running A/B experiment more than once.

An experiment that is analysed every day while its sample grows gets several
chances to cross ``p < alpha`` by luck: five looks at the fixed-design 1.96
reject a true null about 14% of the time instead of 5%. Lan-DeMets alpha
spending fixes this by letting each look spend only part of ``alpha``, as a
function of the information fraction ``t`` (the share of the planned sample
seen so far), and setting each look's critical value so that the exact
probability of a first crossing at that look is what it may spend.

The O'Brien-Fleming-type spending function spends almost nothing early (only
an overwhelming early difference stops the experiment) and keeps the last look
close to the fixed-design level, so little power is lost. Since only the
spending function is fixed in advance, the number and the timing of the looks
need not be planned: a look's boundary depends only on the looks before it.

Two-sided tests are symmetric: each tail spends ``alpha / 2`` with Lan and
DeMets' function ``2 - 2 Phi(z_{1 - a/2} / sqrt(t))`` at ``a = alpha / 2``, as
ldbounds, gsDesign and rpact do for two-sided designs, so the boundaries are
the published ones (4.8769, 3.3570, 2.6803, 2.2898, 2.0310 for five equally
spaced looks at ``alpha = 0.05``). Applying the function once to the two-sided
``alpha`` instead would spend about ten times as much early (4.3826 at the first
of those looks) and end at 2.0635.

The boundaries come from the recursive numerical integration of Armitage,
McPherson and Rowe (Jennison & Turnbull 2000, ch. 19): the sub-density of the
score ``S_k = Z_k sqrt(t_k)`` over paths that have not crossed yet is carried on
a Simpson grid over the continuation region, convolved with the normal density
of the increment to the next look, and each boundary is the root (Brent) of
its exact crossing probability. Deterministic, no simulation.

Decision looks separate the two roles of the information fraction
(``sequential_boundaries``, ``next_boundary``): the spending function is read
at the capped fraction, while the correlation between looks comes from the
actual sample sizes, ``sqrt(n_j / n_k)``, however far they pass the planned
size; boundaries already used are taken as they were, and each look spends
what they left. ``crossing_probabilities`` integrates any schedule as it was
run: the type I error of boundaries computed for the wrong correlations.

Method: docs/statistics.md#alpha-spending.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from aitl.stats.checks import check_alpha

# |Z| >= 8 has probability 1.2e-15 under H0: a look with (next to) nothing to
# spend gets this boundary instead of an infinite one.
MAX_BOUNDARY = 8.0
# Looks closer than this in information fraction are the same look: the grid (at
# most _MAX_POINTS nodes per look) resolves increments down to this size within
# 1e-5 in z, and a smaller one adds no information worth a decision.
MIN_INCREMENT = 1e-4
# Looks whose actual information grew less than this (relative) are the same
# look: the same data, give or take a rerun, tested again at the same boundary.
MIN_GROWTH = 1e-3
# Grid nodes per standard deviation of the narrower adjacent increment; Simpson's
# rule on normal kernels at this density puts the boundaries within 1e-6.
_NODES_PER_SD = 8
_MAX_POINTS = 2001
# What the root finder leaves unspent at a look (|Z| to 1e-10): below this, a
# look's share is rounding, not alpha.
_ROUNDING = 1e-12


class LookThreshold(NamedTuple):
    boundary: float  # reject when |z| >= boundary
    nominal_alpha: float  # the same rule as a p-value threshold: reject when p <= nominal_alpha
    alpha_spent: float  # cumulative alpha spent up to and including this look


def obrien_fleming_spent(t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction ``t`` (clipped to [0, 1]).

    ``2 * (2 - 2 Phi(z_{1 - alpha/4} / sqrt(t)))``: Lan-DeMets' O'Brien-Fleming
    function at ``alpha / 2`` in each tail; 0 at ``t = 0`` and ``alpha`` at
    ``t = 1``.
    """
    check_alpha(alpha)
    if math.isnan(t):
        raise ValueError("the information fraction is not a number")
    t = min(max(t, 0.0), 1.0)
    if t == 0:
        return 0.0
    return float(4 * ndtr(-ndtri(1 - alpha / 4) / math.sqrt(t)))


def nominal_alpha(boundary: float) -> float:
    """Two-sided p-value threshold equivalent to ``|z| >= boundary`` at one look."""
    return float(2 * ndtr(-boundary))


def _simpson_grid(half_width: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and Simpson weights on ``[-half_width, half_width]``, at most ``spacing`` apart."""
    intervals = min(max(2, math.ceil(2 * half_width / spacing)), _MAX_POINTS - 1)
    intervals += intervals % 2
    nodes = np.linspace(-half_width, half_width, intervals + 1)
    weights = np.full(intervals + 1, 2.0)
    weights[1::2] = 4.0
    weights[[0, -1]] = 1.0
    return nodes, weights * (2 * half_width / intervals) / 3


def _overspend(
    c: float, spend: float, scale: float, sd: float, nodes: np.ndarray, masses: np.ndarray
) -> float:
    """P(no crossing before, ``|Z| >= c`` now) minus what the look may spend.

    The crossing probability is exact given the running paths' masses at
    ``nodes``: each moves by a normal increment of standard deviation ``sd``
    and crosses beyond ``+-c * scale`` on the score scale.
    """
    edge = c * scale
    return float(masses @ (ndtr((-edge - nodes) / sd) + ndtr((nodes - edge) / sd))) - spend


def _solve(spend: float, scale: float, sd: float, nodes: np.ndarray, masses: np.ndarray) -> float:
    """The boundary whose exact crossing probability at this look is ``spend``."""
    args = (spend, scale, sd, nodes, masses)
    # (Next to) nothing left to spend: a spend within the root finder's rounding
    # of zero (a capped look after another at the same fraction) spends nothing.
    if spend <= _ROUNDING or _overspend(MAX_BOUNDARY, *args) >= 0:
        return MAX_BOUNDARY
    if _overspend(0.0, *args) <= 0:  # no sign change for brentq: alpha within rounding of 1
        return 0.0
    return float(brentq(_overspend, 0.0, MAX_BOUNDARY, args=args, xtol=1e-10))


def _schedule(
    informations: Sequence[float], targets: Sequence[float], given: Sequence[float | None]
) -> tuple[list[float], list[float]]:
    """Boundaries and cumulative crossing probabilities of looks at ``informations``.

    Look ``k`` uses ``given[k]`` when it is not None (a boundary already used),
    else the boundary at which the probability of a first crossing by look
    ``k`` reaches ``targets[k]``: it spends what the earlier looks, with their
    actual boundaries, left of that target. The correlation of looks ``j < k``
    is ``sqrt(I_j / I_k)``, whatever scale the informations are on: the score
    ``S_k = Z_k sqrt(I_k)`` has independent increments of variance
    ``I_k - I_{k-1}``, and the grid scales with them.
    """
    nodes, masses = np.zeros(1), np.ones(1)
    result: list[float] = []
    cumulative: list[float] = []
    crossed, previous = 0.0, 0.0
    for k, information in enumerate(informations):
        sd, scale = math.sqrt(information - previous), math.sqrt(information)
        c = given[k]
        if c is None:
            c = _solve(targets[k] - crossed, scale, sd, nodes, masses)
        crossed += _overspend(c, 0.0, scale, sd, nodes, masses)
        result.append(c)
        cumulative.append(crossed)
        if k + 1 < len(informations):
            next_sd = math.sqrt(informations[k + 1] - information)
            grid, weights = _simpson_grid(c * scale, min(sd, next_sd) / _NODES_PER_SD)
            z = (grid[:, None] - nodes[None, :]) / sd
            kernel = np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))
            nodes, masses = grid, weights * (kernel @ masses)
        previous = information
    return result, cumulative


def boundaries(fractions: Sequence[float], alpha: float) -> list[float]:
    """Two-sided critical ``|z|`` for looks at the given information fractions.

    ``fractions`` increase strictly (by at least ``MIN_INCREMENT``) within
    (0, 1]; the last may be below 1, and the boundary of a look never depends on
    the looks after it. Look ``k`` spends ``obrien_fleming_spent(t_k)`` minus
    what the looks before it spent, so a look at ``t = 1`` spends whatever is
    left of ``alpha``; a look with nothing to spend gets ``MAX_BOUNDARY``. The
    fractions are both the spending fractions and the information: for looks
    whose information differs from their spending fraction, see
    ``sequential_boundaries``.
    """
    check_alpha(alpha)
    fractions = [float(t) for t in fractions]
    if any(not 0 < t <= 1 for t in fractions):
        raise ValueError(f"information fractions must lie in (0, 1], got {fractions}")
    if any(later - earlier < MIN_INCREMENT for earlier, later in pairwise(fractions)):
        raise ValueError(
            f"information fractions must increase by at least {MIN_INCREMENT} from look to look, "
            f"got {fractions}"
        )
    targets = [obrien_fleming_spent(t, alpha) for t in fractions]
    return _schedule(fractions, targets, [None] * len(fractions))[0]


def _check_informations(informations: Sequence[float]) -> list[float]:
    values = [float(i) for i in informations]
    if any(not (i > 0 and math.isfinite(i)) for i in values):
        raise ValueError(f"informations must be positive and finite, got {values}")
    if any(later < earlier * (1 + MIN_GROWTH) for earlier, later in pairwise(values)):
        raise ValueError(
            f"informations must grow by at least {MIN_GROWTH:.0e} (relative) from look to look, got {values}"
        )
    return values


def sequential_boundaries(
    informations: Sequence[float],
    fractions: Sequence[float],
    alpha: float,
    used: Sequence[float | None] = (),
) -> list[float]:
    """Boundaries of looks whose information and spending fraction differ.

    ``informations`` are the looks' actual information on any common scale
    (the sample collected, or its share of the planned sample, which may pass
    1), and set the correlations ``sqrt(I_j / I_k)``; ``fractions`` are where
    the spending function is read (the capped information fraction, 1 at the
    final look; non-decreasing). ``used`` holds the boundaries already used by
    the first looks (None where one was not kept): they are taken as they
    are, never derived again, and the next look spends what they left of its
    target ``obrien_fleming_spent(fraction, alpha)``.
    """
    check_alpha(alpha)
    informations = _check_informations(informations)
    if len(fractions) != len(informations) or len(used) > len(informations):
        raise ValueError("one fraction per look, and at most one used boundary per look")
    targets = [obrien_fleming_spent(t, alpha) for t in fractions]
    given = [*used, *[None] * (len(informations) - len(used))]
    return _schedule(informations, targets, given)[0]


def crossing_probabilities(informations: Sequence[float], bounds: Sequence[float]) -> list[float]:
    """Under no effect, the probability that ``|Z|`` has crossed by each look (cumulative).

    The exact recursive integration of the boundaries ``bounds`` at looks with
    the given actual ``informations``: the type I error of a look schedule as
    it was run, e.g. with boundaries computed for the wrong correlations.
    """
    informations = _check_informations(informations)
    if len(bounds) != len(informations):
        raise ValueError("one boundary per look")
    return _schedule(informations, [0.0] * len(informations), [float(c) for c in bounds])[1]


class SpentLook(NamedTuple):
    """A look already taken, as ``next_boundary`` needs it."""

    information: float  # actual information (the sample's share of the planned size; may pass 1)
    fraction: float  # where the spending function was read: the capped fraction, 1 at the final look
    boundary: float | None = None  # the boundary used; None if it was not kept (derived again)


def next_boundary(history: Sequence[SpentLook], information: float, fraction: float, alpha: float) -> float:
    """The boundary of a look at ``information`` after the looks of ``history``, in order.

    The earlier boundaries are used as they were; this look spends what they
    left of ``obrien_fleming_spent(fraction, alpha)``, with the correlations of
    the actual informations. ``information`` must have grown by ``MIN_GROWTH``
    since the last look: a look that did not is the same look and keeps its
    boundary (the caller's to reuse).
    """
    looks = [*history, SpentLook(information, fraction)]
    return sequential_boundaries(
        [look.information for look in looks],
        [look.fraction for look in looks],
        alpha,
        [look.boundary for look in history],
    )[-1]


def look_threshold(previous_fractions: Sequence[float], fraction: float, alpha: float) -> LookThreshold:
    """Boundary, nominal alpha and cumulative alpha spent for a decision look.

    ``previous_fractions`` are the information fractions of this experiment's
    earlier decision looks, in the order they were taken (may be empty).
    Fractions are clipped to [MIN_INCREMENT, 1]; a fraction less than
    ``MIN_INCREMENT`` past the last distinct look before it (including one at
    or below it) is a repeat of that look and gets its threshold again, so
    rerunning a day's decision, or data that did not grow, spends nothing. A
    fraction of 1 or more is the final look, which spends all remaining alpha.
    """
    check_alpha(alpha)
    if any(math.isnan(t) for t in [*previous_fractions, fraction]):
        raise ValueError("an information fraction is not a number")
    looks: list[float] = []
    for t in [*previous_fractions, fraction]:
        t = min(max(float(t), MIN_INCREMENT), 1.0)
        if not looks or t - looks[-1] >= MIN_INCREMENT:
            looks.append(t)
    boundary = boundaries(looks, alpha)[-1]
    return LookThreshold(boundary, nominal_alpha(boundary), obrien_fleming_spent(looks[-1], alpha))
