"""One root cause per concentration: a top-down search of the segment lattice.

A failure signal planted in ``api_endpoint x python`` is also concentrated,
more weakly, in ``api_endpoint`` and in ``python``, and in every complexity
band and prompt under the hot pair. Testing only the finest segments reports
it once per band; testing every segment reports it at every level. Neither
is what a person wants: one finding, at the segment that explains it, with
the parts that share it listed under it.

The lattice holds every segment defined by one to four of the pattern keys
(prompt, task type, language, complexity band) that occurs in the window.
Segments holding exactly the same events are one node, described by all
their keys (a prompt used by one task type is that task type). Each node with
at least ``min_frequency`` hits is tested against the rest of the window
(``Lattice.tests``: is its rate more than ``MIN_LIFT`` times the rest's? see
``ratio_p``); the caller puts these p-values into the run's false discovery
rate family and hands back their q-values. Then ``root_causes``:

1. starts from the significant nodes (q < alpha) that have no significant
   ancestor: the most general significant segments; a start widens to its
   most general ancestor that is itself concentrated at the nominal level and
   that the start does not stand out from (the same cause, seen in part);
2. descends from a node S into a descendant C only when C stands out within
   S: its rate is significantly more than ``MIN_LIFT`` times the rest of S's
   (Bonferroni over the significant descendants of S). This is the
   drill-down of Adtributor- and ThirdEye-style root-cause analysis: a child
   is reported only if it differs from its parent;
3. stops where no descendant stands out: that node is a root cause, and its
   finest segments with hits are the sub-segments that share it.

A cause that lies inside another cause is dropped. Method:
docs/statistics.md#root-causes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import binom

from aitl.store.models import PATTERN_SEGMENT

MIN_LIFT = 2.0
# How patterns and insights name the test of ``ratio_p``.
RATIO_TEST = "rate_ratio_above_2"
SHOWN_SUB_SEGMENTS = 12


@dataclass(frozen=True)
class Node:
    """A segment of the lattice: its keys, its finest cells, and its hits and events."""

    segment: dict[str, str]
    members: frozenset[int]
    hits: int
    base: int


@dataclass(frozen=True)
class NodeTest:
    """A node tested against the rest of the window."""

    node: Node
    rest_hits: int
    rest_base: int
    p_value: float

    @property
    def rate(self) -> float:
        return self.node.hits / self.node.base

    @property
    def rest_rate(self) -> float:
        return self.rest_hits / self.rest_base

    @property
    def lift(self) -> float | None:
        """Rate over the rest's rate; None when the signal is absent elsewhere."""
        return self.rate / self.rest_rate if self.rest_hits else None


def ratio_p(hits: np.ndarray, base: np.ndarray, rest_hits: np.ndarray, rest_base: np.ndarray) -> np.ndarray:
    """One-sided p-values of H0: the segment's rate is at most ``MIN_LIFT`` times the rest's.

    The conditional test of a ratio of two Poisson rates: given the hits of
    segment and rest together, the segment's share of them is binomial with
    probability ``MIN_LIFT * base / (MIN_LIFT * base + rest_base)`` at the
    boundary of H0. Testing "at least twice the rest" rather than "above the
    rest" matters for the false discovery rate: a platform is full of real but
    mild concentrations (harder tasks fail a little more, so every error type
    is a little more frequent there). Tested against equality they would be
    discoveries by the hundred, and Benjamini-Hochberg, which scales its
    threshold with the number of discoveries, would let chance findings in
    beside them. For rates that are not small the Poisson test is
    conservative (binomial counts vary less than Poisson ones).
    """
    share = MIN_LIFT * base / (MIN_LIFT * base + rest_base)
    return np.clip(binom.sf(hits - 1, hits + rest_hits, share), 0.0, 1.0)


@dataclass(frozen=True)
class Lattice:
    """The segments of one to four keys over a window's finest segments (``cells``).

    Segments holding the same cells are one node with the union of their
    keys. The whole window is not a node (it has its own, window-wide test).
    The structure depends only on which cells exist, so it is built once per
    window and shared by every signal counted over those cells.
    """

    cells: pd.DataFrame
    segments: tuple[dict[str, str], ...]
    members: tuple[frozenset[int], ...]
    matrix: sparse.csr_array  # nodes x cells, 1 where the cell lies in the node

    @classmethod
    def of(cls, cells: pd.DataFrame) -> Lattice:
        cells = cells[list(PATTERN_SEGMENT)].reset_index(drop=True)
        described: dict[frozenset[int], dict[str, str]] = {}
        for size in range(1, len(PATTERN_SEGMENT) + 1):
            for keys in itertools.combinations(PATTERN_SEGMENT, size):
                for values, rows in cells.groupby(list(keys), sort=True).indices.items():
                    values = values if isinstance(values, tuple) else (values,)
                    described.setdefault(frozenset(rows.tolist()), {}).update(zip(keys, values, strict=True))
        described.pop(frozenset(range(len(cells))), None)
        members = tuple(described)
        rows = [i for i, m in enumerate(members) for _ in m]
        columns = [c for m in members for c in sorted(m)]
        matrix = sparse.csr_array(
            (np.ones(len(rows)), (rows, columns)), shape=(len(members), len(cells)), dtype=np.int64
        )
        segments = tuple(
            {key: segment[key] for key in PATTERN_SEGMENT if key in segment} for segment in described.values()
        )
        return cls(cells, segments, members, matrix)

    def tests(self, hits: np.ndarray, base: np.ndarray, min_frequency: int) -> list[NodeTest]:
        """Each node with at least ``min_frequency`` hits, tested against the rest of the window.

        ``hits`` and ``base`` are per cell, in the order of ``cells``.
        """
        total_hits, total_base = int(hits.sum()), int(base.sum())
        node_hits, node_base = self.matrix @ hits, self.matrix @ base
        chosen = np.flatnonzero((node_hits >= min_frequency) & (node_base < total_base))
        p_values = ratio_p(
            node_hits[chosen],
            node_base[chosen],
            total_hits - node_hits[chosen],
            total_base - node_base[chosen],
        )
        return [
            NodeTest(
                Node(self.segments[i], self.members[i], int(node_hits[i]), int(node_base[i])),
                total_hits - int(node_hits[i]),
                total_base - int(node_base[i]),
                float(p),
            )
            for i, p in zip(chosen, p_values, strict=True)
        ]


def _stands_out(child: Node, parent: Node, tests: int, alpha: float) -> bool:
    """Whether ``child``'s rate is significantly more than ``MIN_LIFT`` times the rest of ``parent``'s."""
    rest = np.array([parent.hits - child.hits]), np.array([parent.base - child.base])
    p = ratio_p(np.array([child.hits]), np.array([child.base]), *rest)[0]
    return bool(p < alpha / tests)


def root_causes(tested: Sequence[NodeTest], q_values: Sequence[float], alpha: float) -> dict[int, float]:
    """The root causes (see the module docstring): index into ``tested`` -> the q-value that carries it.

    A cause's q-value is its own, except where the search widened it (step 1):
    then it is the q-value of the discovery it widened from.
    """
    significant = [i for i, (t, q) in enumerate(zip(tested, q_values, strict=True)) if q < alpha]
    members = [t.node.members for t in tested]
    starts = [i for i in significant if not any(members[i] < members[j] for j in significant)]
    carried = {}
    for start in starts:
        wide = _widest(start, tested, alpha)
        carried[wide] = min(carried.get(wide, 1.0), q_values[start])
    found: dict[int, set[int]] = {}

    def drill(i: int) -> set[int]:
        if i not in found:
            below = [j for j in significant if members[j] < members[i]]
            out = [j for j in below if _stands_out(tested[j].node, tested[i].node, len(below), alpha)]
            widest = [j for j in out if not any(members[j] < members[k] for k in out)]
            found[i] = set().union(*(drill(j) for j in widest)) if widest else {i}
        return found[i]

    causes: dict[int, float] = {}
    for start, q in carried.items():
        for cause in drill(start):
            own = q_values[cause] if q_values[cause] < alpha else q
            causes[cause] = min(causes.get(cause, 1.0), own)
    return {i: q for i, q in causes.items() if not any(members[i] < members[j] for j in causes)}


def _widest(start: int, tested: Sequence[NodeTest], alpha: float) -> int:
    """The most general segment around a discovery that it does not stand out from.

    A discovery at ``refactor x medium`` whose parent ``refactor`` just missed
    the false-discovery threshold is the same cause seen through a smaller
    window: when an ancestor is itself concentrated (nominal p < alpha) and
    the discovery's rate is not significantly above the rest of it, the
    ancestor is the better description.
    """
    node = tested[start].node
    around = [
        j
        for j, t in enumerate(tested)
        if node.members < t.node.members and t.p_value < alpha and not _stands_out(node, t.node, 1, alpha)
    ]
    return max(around, key=lambda j: (len(tested[j].node.members), -tested[j].p_value), default=start)


def sub_segments(node: Node, lattice: Lattice, hits: np.ndarray, base: np.ndarray) -> list[dict[str, Any]]:
    """The finest segments of ``node`` that carry the signal, most hits first (at most a dozen)."""
    inside = [c for c in sorted(node.members) if hits[c] > 0]
    inside.sort(key=lambda c: (-hits[c], base[c]))
    return [
        {
            "segment": dict(lattice.cells.iloc[c]),
            "count": int(hits[c]),
            "segment_n": int(base[c]),
            "rate": float(hits[c] / base[c]),
        }
        for c in inside[:SHOWN_SUB_SEGMENTS]
    ]
