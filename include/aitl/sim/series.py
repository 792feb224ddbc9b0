"""Realistic metric series with known anomalies, and the mess real exports add to them.

The anomaly detector's claims (false episodes per series and week, even flag
rates over busy and quiet hours, recall of planted anomalies, the
anomaly-benchmark score) are measured on series whose truth is known. A
clean sine with Gaussian noise would flatter any detector, so the generators
here reproduce what monitoring series do:

* day-night volume (``day_night_volume``): a rate over few events at night
  is far noisier than the same rate at the afternoon peak;
* binomial rates over that volume (``rate_series``) and continuous metrics
  with daily and weekly cycles, persistent (AR(1)) noise and a seasonal
  quiet period where the metric sits near its floor (``metric_series``);
* anomalies of the kinds incidents produce: spikes and dips, level shifts,
  slow drifts, and the simulator's bad hour (``plant_*``);
* the mess of exports (``messy``): lost samples and outages, duplicated
  rows, jittered and uneven timestamps, rows out of order, unreadable cells.

Every function takes a ``numpy.random.Generator``, so a seed reproduces a
series exactly. ``FAMILIES`` names generators of labelled series of
different shapes for benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday, so weekly cycles start on one


@dataclass
class Labelled:
    """A generated series, its volume if it is a rate, and the planted anomalies (inclusive spans)."""

    series: pd.Series
    volume: pd.Series | None = None
    anomalies: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)

    def changed(self, values: np.ndarray) -> None:
        """Replace the values (the planters work on a copy: pandas may not share its buffer)."""
        self.series = pd.Series(values, index=self.series.index)

    def anomalous(self) -> np.ndarray:
        """Whether each sample lies in a planted anomaly."""
        index = self.series.index
        inside = np.zeros(len(index), dtype=bool)
        for start, end in self.anomalies:
            inside |= (index >= start) & (index <= end)
        return inside


def grid(days: float, interval: str = "1h") -> pd.DatetimeIndex:
    """``days`` of samples every ``interval`` from ``START``."""
    step = pd.Timedelta(interval)
    return pd.date_range(START, periods=round(pd.Timedelta(days=days) / step), freq=step)


def _phase(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (fractional) and whether the day is a weekend day."""
    hours = index.hour + index.minute / 60
    return np.asarray(hours, dtype=float), np.asarray(index.day_of_week >= 5)


def day_night_volume(
    rng: np.random.Generator,
    index: pd.DatetimeIndex,
    mean: float,
    amplitude: float = 0.8,
    peak_hour: float = 15.0,
    weekend: float = 0.5,
) -> np.ndarray:
    """Poisson event counts per sample, peaking at ``peak_hour``, quieter on weekends (as the simulator)."""
    hours, weekend_day = _phase(index)
    daily = 1 + amplitude * np.cos(2 * np.pi * (hours - peak_hour) / 24)
    return rng.poisson(mean * daily * np.where(weekend_day, weekend, 1.0)).astype(float)


def rate_series(
    rng: np.random.Generator,
    days: float = 7,
    mean_volume: float = 60,
    base: float = 0.75,
    swing: float = 0.05,
    amplitude: float = 0.8,
) -> Labelled:
    """A success rate: binomial over day-night volume, its probability following the day by ``swing``.

    An hour without events has no rate (NaN) and volume 0.
    """
    index = grid(days)
    volume = day_night_volume(rng, index, mean_volume, amplitude)
    hours, _ = _phase(index)
    p = base + swing * np.sin(2 * np.pi * hours / 24)
    successes = rng.binomial(volume.astype(int), p)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(volume > 0, successes / volume, np.nan)
    return Labelled(pd.Series(rate, index=index), pd.Series(volume, index=index))


def metric_series(
    rng: np.random.Generator,
    days: float = 14,
    interval: str = "1h",
    level: float = 100.0,
    daily: float = 0.3,
    weekly: float = 0.15,
    noise: float = 0.05,
    persistence: float = 0.5,
    quiet: tuple[float, float] | None = None,
) -> Labelled:
    """A continuous metric (traffic, latency): level x daily x weekly cycle, AR(1) noise, a quiet period.

    ``daily``, ``weekly`` and ``noise`` are relative to ``level``; the noise
    is AR(1) with lag-one correlation ``persistence`` and marginal SD
    ``noise``. ``quiet`` = (from hour, to hour) is a nightly period where
    the metric drops to a tenth of its level (a batch window, a closed
    shop): seasonal, not anomalous.
    """
    index = grid(days, interval)
    hours, weekend_day = _phase(index)
    shape = 1 + daily * np.sin(2 * np.pi * (hours - 9) / 24)
    shape *= np.where(weekend_day, 1 - weekly, 1 + weekly * 2 / 5)
    if quiet is not None:
        shape = np.where((hours >= quiet[0]) & (hours < quiet[1]), 0.1, shape)
    innovations = rng.normal(0, noise * np.sqrt(1 - persistence**2), len(index))
    ar = np.empty(len(index))
    ar[0] = rng.normal(0, noise)
    for i in range(1, len(index)):
        ar[i] = persistence * ar[i - 1] + innovations[i]
    return Labelled(pd.Series(level * shape * (1 + ar), index=index))


# ------------------------------------------------------------------- anomalies


def _spaced(rng: np.random.Generator, n: int, count: int, margin: int, gap: int) -> np.ndarray:
    """``count`` sorted positions in [margin, n - margin) at least ``gap`` apart."""
    slots = (n - 2 * margin) // gap
    chosen = rng.choice(slots, size=min(count, slots), replace=False)
    return np.sort(margin + chosen * gap + rng.integers(0, max(gap // 2, 1), len(chosen)))


def _robust_sd(values: np.ndarray) -> float:
    """1.4826 MAD of the first differences / sqrt 2: the noise SD, cycles and shifts aside."""
    steps = np.diff(values[~np.isnan(values)])
    return float(1.4826 * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2))


def plant_spikes(
    rng: np.random.Generator, labelled: Labelled, count: int, sigmas: tuple[float, float]
) -> None:
    """Single-sample spikes and dips of ``sigmas`` noise SDs, spaced at least a day apart where possible."""
    values = labelled.series.to_numpy(copy=True)
    sd = _robust_sd(values)
    per_day = _per_day(labelled.series.index)
    for i in _spaced(rng, len(values), count, per_day, per_day):
        values[i] += rng.choice([-1, 1]) * rng.uniform(*sigmas) * sd
        labelled.anomalies.append((labelled.series.index[i], labelled.series.index[i]))
    labelled.changed(values)


def plant_level_shift(rng: np.random.Generator, labelled: Labelled, sigmas: tuple[float, float]) -> None:
    """From a random point in the second half on, the level moves by ``sigmas`` noise SDs for good.

    The anomaly is the change, labelled as its first sample: what an
    operator wants to hear about is that the level moved, not every sample
    at the new level.
    """
    values = labelled.series.to_numpy(copy=True)
    at = int(rng.integers(len(values) // 2, len(values) - _per_day(labelled.series.index) // 2))
    values[at:] += rng.choice([-1, 1]) * rng.uniform(*sigmas) * _robust_sd(values)
    labelled.anomalies.append((labelled.series.index[at], labelled.series.index[at]))
    labelled.changed(values)


def plant_drift(rng: np.random.Generator, labelled: Labelled, sigmas: tuple[float, float]) -> None:
    """A slow linear drift from the second half on, reaching ``sigmas`` noise SDs at the end.

    Labelled where it is half done: before, it hides in the noise; the
    label's window (``aitl.sim.anomaly_score.windows``) rewards noticing it
    from there on.
    """
    values = labelled.series.to_numpy(copy=True)
    n = len(values)
    start = int(rng.integers(n // 2, 2 * n // 3))
    size = rng.choice([-1, 1]) * rng.uniform(*sigmas) * _robust_sd(values)
    values[start:] += size * np.arange(n - start) / (n - 1 - start)
    half = start + (n - 1 - start) // 2
    labelled.anomalies.append((labelled.series.index[half], labelled.series.index[half]))
    labelled.changed(values)


def plant_bad_hours(
    rng: np.random.Generator, labelled: Labelled, hours: list[int], success: float, volume: float
) -> None:
    """The simulator's bad hour in a ``rate_series``: ``volume`` x the events, at probability ``success``."""
    if labelled.volume is None:
        raise ValueError("bad hours are planted in a rate series, which has a volume")
    counts = labelled.volume.to_numpy(copy=True)
    rates = labelled.series.to_numpy(copy=True)
    for i in hours:
        counts[i] = rng.poisson(counts[i] * volume)
        rates[i] = rng.binomial(int(counts[i]), success) / counts[i] if counts[i] else np.nan
        labelled.anomalies.append((labelled.series.index[i], labelled.series.index[i]))
    labelled.volume = pd.Series(counts, index=labelled.series.index)
    labelled.changed(rates)


def _per_day(index: pd.DatetimeIndex) -> int:
    return max(round(pd.Timedelta(days=1) / (index[1] - index[0])), 1)


# ------------------------------------------------------------------------ mess


def messy(
    rng: np.random.Generator,
    series: pd.Series,
    lost: float = 0.02,
    outages: int = 1,
    duplicated: float = 0.01,
    jitter: float = 0.1,
    swapped: float = 0.005,
    unreadable: float = 0.002,
) -> pd.DataFrame:
    """The rows a monitoring export of ``series`` might hold, in file order.

    A share ``lost`` of samples is missing, plus ``outages`` runs of 2 to 12
    consecutive samples; ``duplicated`` of the rows appear twice (the copy
    reads slightly differently, as a second collector would report it);
    timestamps move by up to ``jitter`` of the interval; ``swapped`` of the
    rows change place with their successor; ``unreadable`` of the values read
    ``null``. Columns ``timestamp`` (ISO text) and ``value`` (text).
    """
    n = len(series)
    step = series.index[1] - series.index[0]
    keep = rng.random(n) >= lost
    for start in rng.integers(0, n, outages):
        keep[start : start + int(rng.integers(2, 13))] = False
    keep[0] = keep[-1] = True  # the span stays the series'
    stamps = series.index[keep] + step * rng.uniform(-jitter, jitter, keep.sum())
    values = series.to_numpy()[keep]
    copies = np.flatnonzero(rng.random(len(values)) < duplicated)
    stamps = stamps.append(stamps[copies])
    values = np.concatenate([values, values[copies] * (1 + rng.normal(0, 0.001, len(copies)))])
    order = np.argsort(stamps.asi8, kind="stable")
    for i in np.flatnonzero(rng.random(len(order) - 1) < swapped):
        order[i], order[i + 1] = order[i + 1], order[i]
    text = np.array([repr(float(v)) for v in values[order]], dtype=object)
    text[rng.random(len(text)) < unreadable] = "null"
    text[np.isnan(values[order])] = ""
    return pd.DataFrame({"timestamp": [s.isoformat() for s in stamps[order]], "value": text})


# -------------------------------------------------------------------- families


def _traffic(rng: np.random.Generator) -> Labelled:
    """Requests per 5 minutes over two weeks: strong day and week cycles, spikes and one level shift."""
    labelled = metric_series(rng, days=14, interval="5min", daily=0.5, weekly=0.2, noise=0.04)
    plant_spikes(rng, labelled, count=3, sigmas=(8, 14))
    plant_level_shift(rng, labelled, sigmas=(5, 8))
    return labelled


def _latency(rng: np.random.Generator) -> Labelled:
    """Hourly p95 latency over three weeks: lognormal-ish noise, a nightly batch window, spikes."""
    labelled = metric_series(
        rng, days=21, interval="1h", daily=0.2, noise=0.08, persistence=0.3, quiet=(1, 4)
    )
    labelled.changed(np.exp(labelled.series.to_numpy() / labelled.series.mean()))
    plant_spikes(rng, labelled, count=4, sigmas=(8, 14))
    return labelled


def _drifting(rng: np.random.Generator) -> Labelled:
    """15-minute queue depth over ten days with a slow drift and spikes."""
    labelled = metric_series(rng, days=10, interval="15min", daily=0.25, weekly=0.0, noise=0.05)
    plant_spikes(rng, labelled, count=2, sigmas=(8, 14))
    plant_drift(rng, labelled, sigmas=(8, 12))
    return labelled


def _success(rng: np.random.Generator) -> Labelled:
    """An hourly success rate over a week of day-night traffic with two bad hours (the simulator's)."""
    labelled = rate_series(rng, days=7, mean_volume=float(rng.uniform(40, 400)))
    hours = _spaced(rng, len(labelled.series), 2, 24, 24)
    plant_bad_hours(rng, labelled, list(hours), success=0.35, volume=2.0)
    return labelled


FAMILIES: dict[str, Callable[[np.random.Generator], Labelled]] = {
    "traffic": _traffic,
    "latency": _latency,
    "drifting": _drifting,
    "success": _success,
}
