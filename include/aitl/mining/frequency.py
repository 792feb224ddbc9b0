"""Pattern extraction: frequent failure signals and where they concentrate.

A *signal* is a validation indicator (``security_warnings``, ``style_issues``)
or an error type. For every signal the extractor counts the events that carry
it in the whole window and in each *pattern segment* (prompt x task type x
language x complexity band: the unit a prompt refinement or a workflow setting
can act on). A segment pattern is kept when it occurs at least
``min_frequency`` times; its rate is compared with the rest of the window by a
one-sided Fisher exact test, so "concentrated here" is a statement with a
p-value, not a guess.

Method: docs/statistics.md#frequency-patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from aitl.mining.pattern import PatternRow
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
    p_value: float

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
    frequencies are sums, with no raw event read again.
    """
    columns = ["hour", "agent_tier", *PATTERN_SEGMENT, "signal_kind", "signal", "count"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    keys = segment_frame(events).assign(
        hour=events["ts"].dt.floor("h").to_numpy(), agent_tier=events["agent_tier"].fillna("").to_numpy()
    )
    sizes = keys.value_counts().rename("count").reset_index().assign(signal_kind=SIZE_KIND, signal="")
    signals = signal_table(events)
    hits = signals.join(keys, on="position").drop(columns="position")
    counts = hits.value_counts().rename("count").reset_index()
    return pd.concat([sizes, counts], ignore_index=True)[columns]


SIZE_KIND = "events"


def _classify(signal_kind: str, signal: str):
    return classify_indicator(signal) if signal_kind == "indicator" else classify_error(signal)


def extract_frequency(counts: pd.DataFrame, min_frequency: int) -> list[FoundPattern]:
    """Frequency patterns from a window's summed ``signal_counts`` (see module docstring)."""
    if counts.empty:
        return []
    segment = list(PATTERN_SEGMENT)
    counts = counts.groupby([*segment, "signal_kind", "signal"], as_index=False)["count"].sum()
    is_size = counts["signal_kind"] == SIZE_KIND
    segment_sizes = counts[is_size].set_index(segment)["count"]
    total = int(segment_sizes.sum())
    hits = counts[~is_size]
    found: list[FoundPattern] = []
    for (kind, signal), group in hits.groupby(["signal_kind", "signal"], sort=True):
        overall = int(group["count"].sum())
        if overall < min_frequency:
            continue
        classification = _classify(kind, signal)
        base_rate = overall / total
        p_global = binomtest(overall, total, BACKGROUND_RATE, alternative="greater").pvalue
        found.append(
            FoundPattern(
                kind,
                signal,
                classification.category,
                classification.subtype,
                {},
                overall,
                total,
                base_rate,
                BACKGROUND_RATE,
                base_rate / BACKGROUND_RATE,
                float(p_global),
            )
        )
        for segment_key, count in zip(
            group[segment].itertuples(index=False, name=None), group["count"], strict=True
        ):
            if count < min_frequency:
                continue
            size = int(segment_sizes[segment_key])
            rest_hits, rest_n = overall - count, total - size
            rate = count / size
            rest_rate = rest_hits / rest_n if rest_n else 0.0
            if rest_n:
                table = [[count, size - count], [rest_hits, rest_n - rest_hits]]
                p_value = float(fisher_exact(table, alternative="greater").pvalue)
            else:
                p_value = 1.0
            lift = rate / rest_rate if rest_rate > 0 else None
            found.append(
                FoundPattern(
                    kind,
                    signal,
                    classification.category,
                    classification.subtype,
                    dict(zip(PATTERN_SEGMENT, segment_key, strict=True)),
                    int(count),
                    size,
                    rate,
                    rest_rate,
                    lift,
                    p_value,
                )
            )
    return found
