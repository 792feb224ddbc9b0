"""Anomaly episodes: scored points turned into alerts a person can act on.

A point-by-point alarm on an hourly series raises one alert per unusual hour
and, tested at a fixed level, a steady trickle of false ones: at 5% per point
more than one a day per series. Here the points of every series scanned
together (one series on the command line; every metric and segment of a daily
run) form one family, the Benjamini-Hochberg procedure keeps the expected share
of false anomalous points among those flagged at ``fdr``, and consecutive
flagged points of a series become one episode, reported once with its start,
end and peak.

Method: docs/statistics.md#anomalies
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aitl.stats.multiple import adjust


def fdr_of(sensitivity: float) -> float:
    """The false discovery rate a ``sensitivity`` stands for: ``1 - sensitivity``."""
    if not 0 < sensitivity < 1:
        raise ValueError(f"sensitivity must be strictly between 0 and 1, got {sensitivity!r}")
    return 1 - sensitivity


def flag(scored: Sequence[pd.DataFrame], sensitivity: float) -> list[pd.DataFrame]:
    """Each scored frame with ``q_value``, ``is_anomaly`` and ``episode`` columns added.

    The frames' ``p_value`` columns are one family: Benjamini-Hochberg over
    every non-missing p-value of every frame, so a run that scans more series
    needs stronger evidence per point, and a run on clean series flags
    nothing with probability about ``sensitivity`` (under no anomaly at all BH
    rejects anything with probability at most its level). A point is anomalous
    when its adjusted value (``q_value``) is at most ``1 - sensitivity``.
    ``episode`` numbers each frame's episodes from 1 in time order (0 on
    points outside any), see ``episode_ids``.
    """
    fdr = fdr_of(sensitivity)
    p_values = np.concatenate([frame["p_value"].to_numpy(dtype=float) for frame in scored] or [np.empty(0)])
    tested = ~np.isnan(p_values)
    q_values = np.full(len(p_values), np.nan)
    if tested.any():
        q_values[tested] = adjust(p_values[tested].tolist(), "fdr_bh", fdr)[1]
    flagged, start = [], 0
    for frame in scored:
        q = q_values[start : start + len(frame)]
        start += len(frame)
        anomalous = q <= fdr  # NaN (a missing value) is never anomalous
        flagged.append(frame.assign(q_value=q, is_anomaly=anomalous, episode=episode_ids(anomalous, frame)))
    return flagged


def episode_ids(anomalous: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """1, 2, ... for the episodes of anomalous points in time order, 0 elsewhere.

    An episode is a run of anomalous points that only missing values (a NaN
    ``value``) may interrupt: a metric that stops reporting in the middle of
    an incident is still one incident. A missing point inside an episode
    belongs to no episode (id 0) itself.
    """
    missing = frame["value"].isna().to_numpy()
    ids = np.zeros(len(anomalous), dtype=int)
    current, open_ = 0, False
    for i, (hit, gap) in enumerate(zip(anomalous, missing, strict=True)):
        if hit:
            if not open_:
                current += 1
                open_ = True
            ids[i] = current
        elif not gap:
            open_ = False
    return ids


@dataclass(frozen=True)
class Episode:
    """One alert: consecutive anomalous points of a series, read at their peak."""

    start: pd.Timestamp  # first anomalous point
    end: pd.Timestamp  # last anomalous point (inclusive)
    peak: pd.Timestamp  # the point with the largest |score|
    peak_score: float
    peak_value: float
    points: int  # anomalous points in the episode
    q_value: float  # the smallest adjusted p-value of its points


def episodes(flagged: pd.DataFrame) -> list[Episode]:
    """The episodes of a frame returned by ``flag``, in time order."""
    found = []
    anomalous = flagged[flagged["episode"] > 0]
    for _, points in anomalous.groupby("episode", sort=True):
        peak = points.loc[points["score"].abs().idxmax()]
        found.append(
            Episode(
                start=pd.Timestamp(points["timestamp"].iloc[0]),
                end=pd.Timestamp(points["timestamp"].iloc[-1]),
                peak=pd.Timestamp(peak["timestamp"]),
                peak_score=float(peak["score"]),
                peak_value=float(peak["value"]),
                points=len(points),
                q_value=float(points["q_value"].min()),
            )
        )
    return found
