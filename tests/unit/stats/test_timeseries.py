"""Anomalies, trend and forecast on metric series: known answers and simulation.

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

from aitl.stats.timeseries import (
    Trend,
    daily_means,
    detect_anomalies,
    forecast,
    mann_kendall,
    read_series,
    seasonal_periods,
    sen_slope,
    threshold,
    trend,
)

SIGMA = 0.01
HOURS_PER_WEEK = 168


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


def plant(rng: np.random.Generator, values: np.ndarray, count: int) -> np.ndarray:
    """Add spikes and dips of 5 to 8 sigma at spaced random positions; return the positions."""
    slots = rng.choice(len(values) // 6, size=count, replace=False)
    positions = np.sort(slots * 6 + rng.integers(0, 6, count))
    values[positions] += rng.choice([-1, 1], count) * rng.uniform(5, 8, count) * SIGMA
    return positions


# --------------------------------------------------------------------- anomalies


def test_seasonal_periods_follow_the_sampling_interval():
    hour, quarter, day = pd.Timedelta(hours=1), pd.Timedelta(minutes=15), pd.Timedelta(days=1)
    assert seasonal_periods(48, hour) == []  # 47 hours: under two days
    assert seasonal_periods(49, hour) == [24]
    assert seasonal_periods(2 * HOURS_PER_WEEK + 1, hour) == [24, 168]
    assert seasonal_periods(3 * 96, quarter) == [96]
    assert seasonal_periods(15 * 96, quarter) == [96, 672]
    assert seasonal_periods(15, day) == [7]  # no within-day period at daily sampling
    assert seasonal_periods(1, None) == []


def test_threshold_is_the_two_sided_normal_quantile():
    assert threshold(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert threshold(0.99) == pytest.approx(2.575829, abs=1e-6)
    assert threshold(0.999) == pytest.approx(3.290527, abs=1e-6)


def test_false_alarm_rate_on_clean_seasonal_series_is_one_minus_sensitivity():
    # 16 series of 22 days hourly (MSTL with daily and weekly period, outlier refit
    # active): 8448 points. The tolerance is 4 standard errors of the mean rate,
    # taken from the spread between series (which includes the correlation of
    # flags within a series) and never below the binomial one.
    rng = np.random.default_rng(20250106)
    n, series_count = 22 * 24, 16
    rates: dict[float, list[float]] = {0.95: [], 0.99: []}
    for _ in range(series_count):
        series = on_grid(noisy_seasonal(rng, n))
        for sensitivity, found in rates.items():
            found.append(detect_anomalies(series, sensitivity)["is_anomaly"].mean())
    for sensitivity, found in rates.items():
        target = 1 - sensitivity
        standard_error = max(
            np.std(found, ddof=1) / math.sqrt(series_count),
            math.sqrt(target * sensitivity / (n * series_count)),
        )
        measured = float(np.mean(found))
        assert abs(measured - target) < 4 * standard_error, (sensitivity, measured, standard_error)


def test_planted_spikes_and_dips_are_found():
    # 4 weeks hourly, 20 anomalies of 5-8 sigma per series, sensitivity 0.99.
    rng = np.random.default_rng(7)
    n = 4 * HOURS_PER_WEEK
    hits = planted = false_alarms = clean_points = 0
    for _ in range(4):
        values = noisy_seasonal(rng, n)
        positions = plant(rng, values, 20)
        flagged = detect_anomalies(on_grid(values), 0.99)["is_anomaly"].to_numpy()
        hits += flagged[positions].sum()
        planted += len(positions)
        false_alarms += flagged.sum() - flagged[positions].sum()
        clean_points += n - len(positions)
    recall = hits / planted
    assert recall >= 0.9, recall
    # The anomalies do not bend the seasonal fit into flagging their neighbours:
    # elsewhere the rate stays near 1% (binomial sd 0.0019 over 2608 points).
    assert false_alarms / clean_points < 0.02, false_alarms / clean_points


@pytest.mark.parametrize(
    ("freq", "per_day", "n"),
    [("15min", 96, 4 * 96), ("15min", 96, 15 * 96), ("D", 1, 10 * 7)],
    ids=["15min-4days", "15min-15days", "daily-10weeks"],
)
def test_other_sampling_intervals(freq: str, per_day: int, n: int):
    rng = np.random.default_rng(per_day + n)
    values = noisy_seasonal(rng, n, per_day)
    positions = plant(rng, values, 6)
    result = detect_anomalies(on_grid(values, freq), 0.99)
    flagged = result["is_anomaly"].to_numpy()
    assert flagged[positions].all()
    assert flagged.sum() - len(positions) <= max(3, 0.03 * n)


def test_a_dip_inside_the_daily_range_is_found():
    # A 10-sigma dip at a daily peak leaves the value well inside the cycle's
    # +-20 sigma range, unremarkable against the median; against the seasonal
    # fit it stands out, and the cycle itself raises no alarm.
    rng = np.random.default_rng(3)
    t = np.arange(4 * 24)
    values = 0.8 + 0.2 * np.sin(2 * np.pi * t / 24) + rng.normal(0, SIGMA, len(t))
    peak = 2 * 24 + 6
    values[peak] -= 10 * SIGMA
    assert values.min() < values[peak] < values.max()
    flagged = detect_anomalies(on_grid(values), 0.99)["is_anomaly"].to_numpy()
    assert flagged[peak]
    assert flagged.sum() <= 3


def test_output_has_one_row_per_point_in_input_order():
    values = [0.9, 0.91, 0.5, 0.9, 0.89, 0.9]
    series = pd.Series(values, index=pd.date_range("2025-01-06", periods=6, freq="h"))  # naive: UTC
    result = detect_anomalies(series)
    assert list(result.columns) == ["timestamp", "value", "score", "is_anomaly"]
    assert result["value"].tolist() == values
    assert result["timestamp"].tolist() == list(series.index.tz_localize("UTC"))
    assert result["is_anomaly"].tolist() == [False, False, True, False, False, False]


def test_short_series_are_scored_against_their_median():
    # Three points: median 2, residuals -1, 0, 8, MAD 1.
    result = detect_anomalies(on_grid([1.0, 2.0, 10.0]))
    assert result["score"].tolist() == pytest.approx([-1 / 1.4826, 0.0, 8 / 1.4826])
    assert result["is_anomaly"].tolist() == [False, False, True]
    single = detect_anomalies(on_grid([0.7]))
    assert single["score"].tolist() == [0.0] and not single["is_anomaly"].any()
    ten = detect_anomalies(on_grid([0.8, 0.81, 0.79, 0.8, 0.82, 0.78, 0.8, 0.81, 0.79, 1.5]))
    assert ten["is_anomaly"].tolist() == [False] * 9 + [True]


@pytest.mark.parametrize("n", [1, 3, 10, 100, 400])
def test_a_constant_series_has_no_anomalies(n: int):
    result = detect_anomalies(on_grid(np.full(n, 0.93)))
    assert (result["score"] == 0).all() and not result["is_anomaly"].any()


@pytest.mark.parametrize("n", [3, 10, 100, 600])
def test_a_lone_deviation_in_a_constant_series_scores_n_over_1_2533(n: int):
    # MAD is 0, so the scale is the mean absolute deviation |d| / n times sqrt(pi/2).
    values = np.full(n, 0.93)
    values[n // 2] = 0.5
    result = detect_anomalies(on_grid(values))
    scores = result["score"].to_numpy()
    assert scores[n // 2] == pytest.approx(-n / math.sqrt(math.pi / 2), rel=1e-6)
    assert np.delete(scores, n // 2) == pytest.approx(0.0)
    assert result["is_anomaly"].tolist() == [i == n // 2 for i in range(n)]


def test_nan_values_are_kept_unscored_and_do_not_break_the_decomposition():
    rng = np.random.default_rng(11)
    values = noisy_seasonal(rng, 3 * HOURS_PER_WEEK)
    values[[0, 1, 50, 51, 52, 200, len(values) - 1]] = np.nan  # edges and a 3-hour hole
    values[300] += 8 * SIGMA
    result = detect_anomalies(on_grid(values), 0.99)
    missing = np.isnan(values)
    assert len(result) == len(values)
    assert result["score"].isna().to_numpy().tolist() == missing.tolist()
    assert not result["is_anomaly"][missing].any()
    assert result["is_anomaly"][300]
    assert result["is_anomaly"][~missing].mean() < 0.03
    all_missing = detect_anomalies(on_grid([np.nan] * 60))
    assert all_missing["score"].isna().all() and not all_missing["is_anomaly"].any()


def test_irregular_or_duplicate_timestamps_are_refused():
    grid = pd.date_range("2025-01-06", periods=6, freq="h", tz="UTC")
    with pytest.raises(ValueError, match="is 0 days 02:00:00 after the previous one"):
        detect_anomalies(pd.Series(np.ones(5), index=grid.delete(3)))
    with pytest.raises(ValueError, match="duplicate timestamp"):
        detect_anomalies(pd.Series(np.ones(7), index=grid.insert(2, grid[2])))
    with pytest.raises(ValueError, match="before the previous one"):
        detect_anomalies(pd.Series(np.ones(6), index=grid[[0, 2, 1, 3, 4, 5]]))
    with pytest.raises(TypeError, match="DatetimeIndex"):
        detect_anomalies(pd.Series([1.0, 2.0]))


@pytest.mark.parametrize("sensitivity", [0, 1, 1.5, -0.1, float("nan")])
def test_sensitivity_must_be_a_probability(sensitivity: float):
    with pytest.raises(ValueError, match="sensitivity"):
        detect_anomalies(on_grid([1.0, 2.0, 3.0]), sensitivity)


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


# ------------------------------------------------------------------------- files


def write(tmp_path, text: str):
    path = tmp_path / "metric.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_series_parses_times_to_utc_and_blanks_to_nan(tmp_path):
    path = write(
        tmp_path,
        "timestamp,value,other\n"
        "2025-01-06T00:00:00Z,0.9,x\n"
        "2025-01-06 01:00,,y\n"
        "2025-01-06T03:00:00+01:00,0.7,z\n",  # 02:00 UTC
    )
    series = read_series(path)
    assert series.name == "value"
    assert list(series.index) == list(pd.date_range("2025-01-06", periods=3, freq="h", tz="UTC"))
    assert series.iloc[0] == 0.9 and math.isnan(series.iloc[1]) and series.iloc[2] == 0.7
    assert len(detect_anomalies(series)) == 3


def test_read_series_with_named_columns(tmp_path):
    path = write(tmp_path, "hour;rate\n2025-01-06;1\n2025-01-07;2\n".replace(";", ","))
    series = read_series(path, time_col="hour", value_col="rate")
    assert series.tolist() == [1.0, 2.0] and series.name == "rate"


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("time,value\n2025-01-06,1\n", 1, "timestamp", "no such column"),
        ("timestamp,v\n2025-01-06,1\n", 1, "value", "no such column"),
        ("timestamp,value\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z,high\n", 3, "value", "high"),
        ("timestamp,value\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z,inf\n", 3, "value", "finite"),
        ("timestamp,value\n2025-01-06T00:00Z,1\n\nnot a time,2\n", 4, "timestamp", "not a time"),
        ("timestamp,value\n2025-01-06T00:00Z,1\n,2\n", 3, "timestamp", "empty timestamp"),
        ("timestamp,value\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z\n", 3, "value", "missing field"),
        (
            "timestamp,value\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z,2\n2025-01-06T01:00Z,3\n",
            4,
            "timestamp",
            "duplicate",
        ),
        (
            "timestamp,value\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z,2\n2025-01-06T03:00Z,3\n"
            "2025-01-06T04:00Z,4\n",
            4,
            "timestamp",
            "2:00:00 after the previous one",
        ),
        ("timestamp,value\n", 2, "timestamp", "no data rows"),
        ("", 1, "timestamp", "no such column"),
    ],
    ids=[
        "no-time-column",
        "no-value-column",
        "bad-number",
        "infinite",
        "bad-time-after-blank-line",
        "empty-time",
        "short-row",
        "duplicate",
        "gap",
        "no-rows",
        "empty-file",
    ],
)
def test_a_bad_file_raises_one_error_naming_file_line_and_column(tmp_path, text, line, column, problem):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as raised:
        read_series(path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line {line}, column {column!r}: "), message
    error = raised.value  # one error, not a chain of parser tracebacks
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
