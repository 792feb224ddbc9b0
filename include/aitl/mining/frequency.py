"""Pattern extraction: frequent failure signals and where they concentrate.

A *signal* is a validation indicator (``security_warnings``, ``style_issues``)
or an error type. For every signal the extractor counts the events that carry
it in the whole window and in every *pattern segment*: any combination of
prompt, task type, language and complexity band (the units a prompt
refinement or a workflow setting can act on). Each segment with at least
``min_frequency`` hits is tested against the rest of the window (is its
rate more than twice the rest's?), so "concentrated here" is a statement
with a p-value, not a guess; the run's tests form one false-discovery-rate family
(q-values), and ``aitl.mining.root_cause`` reports each concentration once,
at the segment that explains it.

Method: docs/statistics.md#frequency-patterns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from aitl.mining.pattern import PatternRow
from aitl.mining.root_cause import RATIO_TEST, Lattice, NodeTest, root_causes, sub_segments
from aitl.shards import SESSION_GROUP
from aitl.stats.multiple import q_values
from aitl.store.models import PATTERN_SEGMENT
from aitl.taxonomy import classify_error, classify_indicator, normalize_signal

# A signal seen in more than this share of all events is a platform-wide pattern
# even without a segment to blame (the null rate of the global binomial test).
BACKGROUND_RATE = 0.01


def complexity_band(values: pd.Series) -> pd.Series:
    """low < 0.4 <= medium < 0.7 <= high; unknown stays unknown."""
    bands = pd.cut(
        values.astype(float),
        bins=[-np.inf, 0.4, 0.7, np.inf],
        labels=["low", "medium", "high"],
        right=False,
    )
    return bands.astype(object).where(values.notna(), "unknown")


@dataclass(frozen=True)
class FoundPattern:
    signal_kind: str
    signal: str
    category: str
    subtype: str
    segment: dict[str, Any]
    count: int
    segment_n: int
    rate: float
    baseline_rate: float
    lift: float | None
    p_value: float | None
    q_value: float | None = None
    details: dict[str, Any] | None = None

    def pattern(self) -> PatternRow:
        """This finding as a ``patterns`` row (kind ``frequency``)."""
        return PatternRow(
            kind="frequency",
            signal_kind=self.signal_kind,
            signal=self.signal,
            category=self.category,
            subtype=self.subtype,
            segment=dict(self.segment),
            count=self.count,
            segment_n=self.segment_n,
            rate=self.rate,
            baseline_rate=self.baseline_rate,
            lift=self.lift,
            p_value=self.p_value,
            q_value=self.q_value,
            details=self.details,
        )


def signal_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (event, distinct signal): an event counts once per signal."""
    records: list[tuple[int, str, str]] = []
    for position, (security, style, errors) in enumerate(
        zip(events["security_warnings"], events["style_issues"], events["errors"], strict=True)
    ):
        seen: set[tuple[str, str]] = set()
        for indicator in [*(security or []), *(style or [])]:
            seen.add(("indicator", normalize_signal(indicator)))
        for error in errors or []:
            seen.add(("error_type", normalize_signal(error["type"]).replace(" ", "_")))
        records.extend((position, kind, signal) for kind, signal in seen)
    return pd.DataFrame.from_records(records, columns=["position", "signal_kind", "signal"])


def segment_frame(events: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_id": events["prompt_id"].fillna(""),
            "task_type": events["task_type"].fillna(""),
            "language": events["language"].fillna(""),
            "complexity_band": complexity_band(events["complexity"]),
        }
    )


def signal_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Per hour, agent tier and pattern segment: events per signal, plus the segment's size.

    The size rows have ``signal_kind == "events"`` and an empty signal. This is
    what normalization stores (``hourly_signals``): additive, so any window's
    frequencies are sums, with no raw event read again. Events with a
    ``session_group`` column are counted per group too (normalization's
    partial summaries: ``aitl.mining.summaries``).
    """
    grouped = [SESSION_GROUP] if SESSION_GROUP in events.columns else []
    columns = ["hour", "agent_tier", *PATTERN_SEGMENT, *grouped, "signal_kind", "signal", "count"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    keys = segment_frame(events).assign(
        hour=events["ts"].dt.floor("h").array, agent_tier=events["agent_tier"].fillna("").to_numpy()
    )
    for name in grouped:
        keys[name] = events[name].to_numpy()
    sizes = keys.value_counts().rename("count").reset_index().assign(signal_kind=SIZE_KIND, signal="")
    signals = signal_table(events)
    hits = signals.join(keys, on="position").drop(columns="position")
    counts = hits.value_counts().rename("count").reset_index()
    return pd.concat([sizes, counts], ignore_index=True)[columns]


SIZE_KIND = "events"


def _classify(signal_kind: str, signal: str):
    return classify_indicator(signal) if signal_kind == "indicator" else classify_error(signal)


@dataclass(frozen=True)
class SignalTests:
    """Every test run for one signal: window-wide (indicators only) and on each lattice node."""

    signal_kind: str
    signal: str
    lattice: Lattice
    hits: np.ndarray
    base: np.ndarray
    window_wide: FoundPattern
    nodes: list[NodeTest]

    def p_values(self) -> list[float]:
        """The p-values of this signal's tests, window-wide first, in ``nodes`` order."""
        first = [] if self.window_wide.p_value is None else [self.window_wide.p_value]
        return first + [t.p_value for t in self.nodes]


def frequency_tests(counts: pd.DataFrame, min_frequency: int) -> list[SignalTests]:
    """The tests of every signal seen ``min_frequency`` times in a window's summed ``signal_counts``."""
    if counts.empty:
        return []
    segment = list(PATTERN_SEGMENT)
    counts = counts.groupby([*segment, "signal_kind", "signal"], as_index=False)["count"].sum()
    is_size = counts["signal_kind"] == SIZE_KIND
    sizes = counts[is_size].set_index(segment)["count"]
    if sizes.empty:
        return []
    lattice = Lattice.of(sizes.reset_index())
    index = pd.MultiIndex.from_frame(lattice.cells)
    base = sizes.reindex(index).to_numpy(dtype=np.int64)
    found: list[SignalTests] = []
    for (kind, signal), group in counts[~is_size].groupby(["signal_kind", "signal"], sort=True):
        overall = int(group["count"].sum())
        if overall < min_frequency:
            continue
        hits = group.set_index(segment)["count"].reindex(index, fill_value=0).to_numpy(dtype=np.int64)
        found.append(
            SignalTests(
                kind,
                signal,
                lattice,
                hits,
                base,
                _window_wide(kind, signal, overall, int(base.sum())),
                lattice.tests(hits, base, min_frequency),
            )
        )
    return found


def _window_wide(kind: str, signal: str, count: int, events: int) -> FoundPattern:
    """The signal over the whole window: for indicators, tested against ``BACKGROUND_RATE``.

    An error type has no window-wide test: every failure reports one, so its
    platform-wide rate says nothing by itself.
    """
    classification = _classify(kind, signal)
    rate = count / events
    p_value = (
        float(binomtest(count, events, BACKGROUND_RATE, alternative="greater").pvalue)
        if kind == "indicator"
        else None
    )
    return FoundPattern(
        kind,
        signal,
        classification.category,
        classification.subtype,
        {},
        count,
        events,
        rate,
        BACKGROUND_RATE,
        rate / BACKGROUND_RATE,
        p_value,
    )


def p_values(tests: list[SignalTests]) -> list[float]:
    """Every p-value of the signals' tests, in the order ``concentrations`` reads their q-values."""
    return [p for signal in tests for p in signal.p_values()]


def concentrations(tests: list[SignalTests], q_values: list[float], alpha: float) -> list[FoundPattern]:
    """The patterns of a window given the q-values of its tests (in ``p_values(tests)`` order).

    Every signal's window-wide pattern, and each segment whose concentration
    is significant (q < alpha) or that is a root cause
    (``aitl.mining.root_cause``): those carry ``details.cause``, the q-value
    of the discovery behind them (``cause_q``: their own unless the search
    widened a discovery to them) and the sub-segments that share them.
    """
    found: list[FoundPattern] = []
    position = 0
    for signal in tests:
        window_wide = signal.window_wide
        if window_wide.p_value is not None:
            window_wide = replace(window_wide, q_value=q_values[position])
            position += 1
        found.append(window_wide)
        node_q = q_values[position : position + len(signal.nodes)]
        position += len(signal.nodes)
        causes = root_causes(signal.nodes, node_q, alpha)
        for i, (tested, q) in enumerate(zip(signal.nodes, node_q, strict=True)):
            if q >= alpha and i not in causes:
                continue
            details: dict[str, Any] = {"test": RATIO_TEST, "cause": i in causes}
            if i in causes:
                details["cause_q"] = causes[i]
                details["sub_segments"] = sub_segments(tested.node, signal.lattice, signal.hits, signal.base)
                details["sub_segment_count"] = int(sum(signal.hits[c] > 0 for c in tested.node.members))
            found.append(
                FoundPattern(
                    signal.signal_kind,
                    signal.signal,
                    window_wide.category,
                    window_wide.subtype,
                    dict(tested.node.segment),
                    tested.node.hits,
                    tested.node.base,
                    tested.rate,
                    tested.rest_rate,
                    tested.lift,
                    tested.p_value,
                    q,
                    details,
                )
            )
    return found


def extract_frequency(counts: pd.DataFrame, min_frequency: int, alpha: float) -> list[FoundPattern]:
    """Frequency patterns of a window, the false discovery rate controlled over their tests alone.

    That is the hourly cycle's family. The daily cycle and ``aitl analyze
    patterns`` put the same tests (``frequency_tests``) into one family with
    their correlation (and user) tests, then call ``concentrations``.
    """
    tests = frequency_tests(counts, min_frequency)
    return concentrations(tests, q_values(p_values(tests), alpha), alpha)
