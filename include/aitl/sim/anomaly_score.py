"""The Numenta Anomaly Benchmark's scoring rule, for detectors run on labelled series.

Counting flagged points rewards a detector that flags an incident's every
sample and barely punishes one that cries wolf once a day; what an operator
needs is the opposite: one early alert per incident and few false ones. NAB
(Lavin & Ahmad 2015, "Evaluating Real-time Anomaly Detection Algorithms -
the Numenta Anomaly Benchmark") scores exactly that, and is implemented here
from the paper's definition:

* each labelled anomaly gets a window centred on it, of 10% of the series'
  length divided by the number of anomalies;
* the first detection in a window scores ``A_TP * sigma(y)``, where ``y`` is
  its position relative to the window's end (-1 at its start, 0 at its end)
  and ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (0.987 at the start, 0 at the end):
  the earlier, the better; later detections in the same window count nothing;
* a window without a detection costs ``A_FN``;
* a detection outside every window costs ``A_FP`` times ``-sigma(y)``, ``y``
  its distance past the previous window's end in window lengths (so a late
  detection just after a window costs little), or the full ``A_FP`` before the
  first window;
* the raw score is normalised to 100 for a perfect detector (each window's
  first sample detected, nothing else) and 0 for one that never detects.

Scores are summed over all series of a corpus before normalising, as NAB
does over its data files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Profile:
    """NAB's application profiles: the weights of true positives, false positives and misses."""

    tp: float
    fp: float
    fn: float


PROFILES = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_fp": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_fn": Profile(tp=1.0, fp=0.11, fn=2.0),
}


def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2 / (1 + e^(5y)) - 1; -1 beyond three window lengths past a window."""
    return -1.0 if y > 3 else 2 / (1 + math.exp(5 * y)) - 1


def windows(length: int, anomalies: Sequence[int]) -> list[tuple[int, int]]:
    """Inclusive sample windows centred on each anomaly, 10% of ``length`` shared among them.

    Windows are clipped to the series and merged where they overlap, as NAB's
    labeller does.
    """
    if not anomalies:
        return []
    half = max(int(0.1 * length / len(anomalies)) // 2, 1)
    merged: list[list[int]] = []
    for at in sorted(anomalies):
        start, end = max(at - half, 0), min(at + half, length - 1)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def raw_score(detections: np.ndarray, spans: Sequence[tuple[int, int]], profile: Profile) -> float:
    """The unnormalised NAB score of boolean ``detections`` against inclusive windows."""
    score = 0.0
    found = [False] * len(spans)
    for i in np.flatnonzero(detections):
        inside = next((k for k, (start, end) in enumerate(spans) if start <= i <= end), None)
        if inside is not None:
            start, end = spans[inside]
            if not found[inside]:
                found[inside] = True
                score += profile.tp * scaled_sigmoid(-(end - i + 1) / (end - start + 1))
            continue
        before = [(start, end) for start, end in spans if end < i]
        if before:
            start, end = before[-1]
            score += profile.fp * scaled_sigmoid((i - end) / (end - start + 1))
        else:
            score -= profile.fp
    return score - profile.fn * found.count(False)


@dataclass(frozen=True)
class Labelled:
    """One scored series: its length and the sample positions of its labelled anomalies."""

    length: int
    anomalies: tuple[int, ...]


def normalised(
    corpus: Sequence[Labelled], detections: Sequence[np.ndarray], profile: Profile = PROFILES["standard"]
) -> float:
    """100 x (S - S_null) / (S_perfect - S_null) over a corpus, as NAB reports a detector."""
    raw = perfect = null = 0.0
    for series, detected in zip(corpus, detections, strict=True):
        spans = windows(series.length, series.anomalies)
        raw += raw_score(detected, spans, profile)
        best = np.zeros(series.length, dtype=bool)
        best[[start for start, _ in spans]] = True
        perfect += raw_score(best, spans, profile)
        null -= profile.fn * len(spans)
    return 100 * (raw - null) / (perfect - null) if perfect > null else math.nan
