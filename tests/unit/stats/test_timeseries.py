"""Trend and forecast on metric series: known answers and simulation (anomalies: test_anomalies.py).

Simulated series are hourly platform metrics: a level near 0.8, a daily
cycle and usually a weekly one, noise with sigma 0.01. Every simulation has a fixed
seed, and each statistical tolerance is stated in standard errors of the
simulation itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import signal
from scipy import stats as sps

from aitl.stats.timeseries import Trend, daily_means, forecast, mann_kendall, sen_slope, trend

SIGMA = 0.01


def on_grid(values, freq: str = "h") -> pd.Series:
    """Values on a regular UTC grid starting Monday 2025-01-06."""
    index = pd.date_range("2025-01-06", periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def seasonal(rng: np.random.Generator, n: int, per_day: int = 24) -> np.ndarray:
    """Level + daily cycle (5 sigma) + weekly cycle (3 sigma) at random phases, no noise."""
    t = np.arange(n)
    daily, weekly = rng.uniform(0, 2 * np.pi, 2)
    return (
        0.8
        + 0.05 * np.sin(2 * np.pi * t / per_day + daily)
        + 0.03 * np.sin(2 * np.pi * t / (7 * per_day) + weekly)
    )


def daily_cycle(rng: np.random.Generator, n: int) -> np.ndarray:
    """Level + daily cycle (5 sigma) at a random phase, no noise."""
    return 0.8 + 0.05 * np.sin(2 * np.pi * np.arange(n) / 24 + rng.uniform(0, 2 * np.pi))


def noisy_seasonal(rng: np.random.Generator, n: int, per_day: int = 24) -> np.ndarray:
    return seasonal(rng, n, per_day) + rng.normal(0, SIGMA, n)


# ------------------------------------------------------------------------- trend


# "A Mann-Kendall Example (By Hand)", J. Little, College of the Holy Cross
# (mathcs.holycross.edu/~little/Montserrat/MannKendallByHand.txt): 14 values,
# one tied pair (12.9), S = 72 - 18 = 54, V = (14*13*33 - 2*1*9) / 18,
# Z = (S - 1) / sqrt(V) = 2.9058, one-sided p = 0.0018.
HOLY_CROSS = [12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7]


def test_mann_kendall_matches_the_worked_example():
    s, variance = mann_kendall(np.array(HOLY_CROSS))
    assert s == 54
    assert variance == pytest.approx((14 * 13 * 33 - 2 * 1 * 9) / 18)  # 332.667
    result = trend(on_grid(HOLY_CROSS, freq="D"))
    z = 53 / math.sqrt(variance)
    assert z == pytest.approx(2.9058, abs=1e-4)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert result.p_value == pytest.approx(2 * 0.0018, abs=1e-4)  # two-sided
    assert (result.direction, result.n, result.method) == ("improving", 14, "mann_kendall+sen")
    assert result.confidence == pytest.approx(1 - result.p_value)


def test_mann_kendall_and_sen_slope_by_hand():
    # 1, 3, 2, 5, 4 on days 0-4. Pairs rising: 8, falling: 2 (3>2, 5>4), so S = 6,
    # Var(S) = 5*4*15/18. The ten slopes: 2, 0.5, 4/3, 0.75, -1, 1, 1/3, 3, 1, -1,
    # sorted -1 -1 1/3 0.5 0.75 | 1 1 4/3 2 3: median (0.75 + 1) / 2 = 0.875.
    values = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert mann_kendall(values) == (6, pytest.approx(5 * 4 * 15 / 18))
    assert sen_slope(np.arange(5.0), values) == pytest.approx(0.875)
    # Ties: 1, 2, 2, 3, 3, 3 has S = 5 + 3 + 3 = 11 and groups of 2 and 3:
    # Var(S) = (6*5*17 - 2*1*9 - 3*2*11) / 18 = 426 / 18.
    assert mann_kendall(np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0])) == (11, pytest.approx(426 / 18))


def test_mann_kendall_and_sen_slope_match_brute_force_on_random_data():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(3, 40))
        values = rng.integers(0, 8, n).astype(float)  # many ties
        days = np.cumsum(rng.uniform(0.5, 2.0, n))
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        s = sum(np.sign(values[j] - values[i]) for i, j in pairs)
        counts = [int((values == v).sum()) for v in set(values.tolist())]
        variance = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
        slopes = [(values[j] - values[i]) / (days[j] - days[i]) for i, j in pairs]
        assert mann_kendall(values) == (s, pytest.approx(variance))
        assert sen_slope(days, values) == pytest.approx(float(np.median(slopes)))
        assert sen_slope(days, values) == pytest.approx(sps.theilslopes(values, days).slope)


def test_sen_slope_is_per_day_from_the_timestamps():
    # 0.3 per hour is 7.2 per day; tested on daily means of 4 days.
    result = trend(on_grid(0.3 * np.arange(4 * 24)))
    assert result.slope_per_day == pytest.approx(7.2)
    assert result.method == "mann_kendall+sen on daily means" and result.n == 4


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise with marginal standard deviation ``sd``."""
    innovations = rng.normal(0, sd * math.sqrt(1 - phi**2), n)
    innovations[0] = rng.normal(0, sd)
    return signal.lfilter([1.0], [1.0, -phi], innovations)


def test_false_positive_rate_on_trendless_hourly_series_is_alpha():
    # 28 days of hourly values with a daily cycle and hour-to-hour persistence
    # (AR(1), phi 0.5), no trend. Tested on daily means the rejection rate is
    # alpha (Mann-Kendall's exact size at n = 28 with the continuity
    # correction is about 0.046); within 3.5 binomial standard errors.
    rng = np.random.default_rng(2024)
    runs, alpha, n = 1000, 0.05, 28 * 24
    rejected = 0
    for _ in range(runs):
        values = daily_cycle(rng, n) + ar1(rng, n, 0.5, SIGMA)
        rejected += trend(on_grid(values), alpha=alpha).p_value < alpha
    assert abs(rejected / runs - alpha) < 3.5 * math.sqrt(alpha * (1 - alpha) / runs), rejected / runs


def test_hour_by_hour_the_same_persistence_passes_for_a_trend():
    # Why ``trend`` tests daily means: the plain test on the hourly points, as
    # if independent, rejects trendless AR(1) noise several times too often.
    rng = np.random.default_rng(2025)
    runs, alpha, n = 200, 0.05, 28 * 24
    rejected = 0
    for _ in range(runs):
        s, variance = mann_kendall(ar1(rng, n, 0.5, SIGMA))
        rejected += 2 * sps.norm.sf((abs(s) - 1) / math.sqrt(variance)) < alpha
    assert rejected / runs > 3 * alpha, rejected / runs


def test_power_and_slope_on_a_known_linear_trend():
    # Two weeks hourly, a drift of 0.1 sigma a day under the daily cycle and
    # noise: daily means have sd sigma / sqrt(24), so the drift shows.
    rng = np.random.default_rng(8)
    runs, drift, n = 200, 0.1 * SIGMA, 14 * 24
    days = np.arange(n) / 24
    results = [
        trend(on_grid(daily_cycle(rng, n) + rng.normal(0, SIGMA, n) + drift * days)) for _ in range(runs)
    ]
    power = np.mean([r.direction == "improving" for r in results])
    slopes = np.array([r.slope_per_day for r in results])
    assert power >= 0.9, power
    assert slopes.mean() == pytest.approx(drift, rel=0.1)


def test_direction_follows_polarity():
    rising = on_grid(np.arange(10.0), freq="D")
    assert trend(rising).direction == "improving"
    assert trend(rising, higher_is_better=False).direction == "declining"
    assert trend(on_grid(-np.arange(10.0), freq="D")).direction == "declining"
    assert trend(rising, alpha=1e-9).direction == "stable"  # p = 2.2e-5 is not below 1e-9


def test_trend_edge_cases():
    short = trend(on_grid([1.0, 2.0], freq="D"))
    assert isinstance(short, Trend)
    assert (short.direction, short.p_value, short.confidence, short.n) == ("stable", 1.0, 0.0, 2)
    assert math.isnan(short.slope_per_day)
    assert trend(on_grid(np.arange(47.0))).n == 1  # under two whole days of hourly data
    constant = trend(on_grid(np.full(30, 0.9), freq="D"))
    assert (constant.direction, constant.p_value, constant.slope_per_day) == ("stable", 1.0, 0.0)
    # Values equal to the day number: slope 1 from the timestamps (not 1.5 from positions).
    with_gaps = trend(on_grid([0.0, np.nan, 2.0, 3.0, np.nan, 5.0, 6.0], freq="D"))
    assert with_gaps.n == 5 and with_gaps.slope_per_day == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alpha"):
        trend(on_grid([1.0, 2.0, 3.0]), alpha=0)


def test_daily_means_end_at_the_last_sample():
    # 50 hourly points: two whole days end at the last one; the first two hours are dropped.
    series = on_grid(np.arange(50.0))
    means = daily_means(series, pd.Timedelta(hours=1))
    assert means.tolist() == [np.mean(np.arange(2, 26)), np.mean(np.arange(26, 50))]
    assert list(means.index) == [series.index[2], series.index[26]]


# ---------------------------------------------------------------------- forecast


def test_forecast_covers_the_next_day_and_tracks_the_daily_shape():
    # Three weeks of a daily cycle (5 sigma) plus noise, then the next 24 hours
    # drawn from the same process. (The forecast models the daily cycle only;
    # a weekly cycle would be an unmodelled drift.)
    rng = np.random.default_rng(12)
    n, horizon = 21 * 24, 24
    inside, shape_correlations, errors = [], [], []
    for _ in range(3):
        expected = daily_cycle(rng, n + horizon)
        observed = expected + rng.normal(0, SIGMA, n + horizon)
        result = forecast(on_grid(observed[:n]), horizon)
        future = observed[n:]
        inside.extend((result["lower"] <= future) & (future <= result["upper"]))
        shape_correlations.append(np.corrcoef(result["mean"], expected[n:])[0, 1])
        errors.append(np.sqrt(np.mean((result["mean"] - expected[n:]) ** 2)))
    coverage = np.mean(inside)
    assert coverage >= 0.85, coverage
    assert min(shape_correlations) > 0.97, shape_correlations
    assert max(errors) < 0.5 * SIGMA, errors  # the mean is closer to the truth than the noise is


def test_forecast_frame_continues_the_grid():
    rng = np.random.default_rng(4)
    history = on_grid(noisy_seasonal(rng, 3 * 96, per_day=96), freq="15min")
    result = forecast(history, 8)
    assert list(result.columns) == ["timestamp", "mean", "lower", "upper"]
    expected = pd.date_range(history.index[-1], periods=9, freq="15min", tz="UTC")[1:]
    assert list(result["timestamp"]) == list(expected)
    assert (result["lower"] < result["mean"]).all() and (result["mean"] < result["upper"]).all()
    width = (result["upper"] - result["lower"]).to_numpy()
    assert (np.diff(width) >= -1e-12).all()  # uncertainty grows with the horizon


def test_forecast_of_a_short_history_is_a_level():
    result = forecast(on_grid([0.8, 0.82, 0.79, 0.81, 0.8]), 4)
    assert np.ptp(result["mean"]) == pytest.approx(0.0, abs=1e-12)
    assert 0.79 <= result["mean"][0] <= 0.82


def test_forecast_edge_cases():
    flat = forecast(on_grid(np.zeros(60)), 3)
    assert (flat[["mean", "lower", "upper"]].to_numpy() == 0).all()
    with_gaps = forecast(on_grid([0.8, np.nan, 0.81, 0.79, np.nan, 0.8, 0.82, 0.8, 0.79, 0.81, 0.8]), 2)
    assert with_gaps[["mean", "lower", "upper"]].notna().all().all()
    for horizon in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="horizon"):
            forecast(on_grid([1.0, 2.0, 3.0]), horizon)
    with pytest.raises(ValueError, match="two non-missing points"):
        forecast(on_grid([1.0]), 2)
