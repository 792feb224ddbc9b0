"""Anomaly scores, episodes and their error rates: known answers and simulation.

The statistical claims (false episodes per series and week, even flag rates
over busy and quiet hours, recall of the simulator's bad hour) are measured
on series from ``aitl.sim.series`` with fixed seeds; each bound is stated
with the simulation's own spread in mind. The long versions are
bench/anomalies.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aitl.sim import series as gen
from aitl.stats import episodes
from aitl.stats.timeseries import detect_anomalies, score_anomalies, seasonal_periods
from tests.unit.stats.test_timeseries import SIGMA, noisy_seasonal, on_grid

HOURS_PER_WEEK = 168


def plant(
    rng: np.random.Generator, values: np.ndarray, count: int, sigmas: tuple[float, float] = (5, 8)
) -> np.ndarray:
    """Add spikes and dips of ``sigmas`` sigma at spaced random positions; return the positions."""
    slots = rng.choice(len(values) // 6, size=count, replace=False)
    positions = np.sort(slots * 6 + rng.integers(0, 6, count))
    values[positions] += rng.choice([-1, 1], count) * rng.uniform(*sigmas, count) * SIGMA
    return positions


def test_seasonal_periods_follow_the_sampling_interval():
    hour, quarter, day = pd.Timedelta(hours=1), pd.Timedelta(minutes=15), pd.Timedelta(days=1)
    assert seasonal_periods(48, hour) == []  # 47 hours: under two days
    assert seasonal_periods(49, hour) == [24]
    assert seasonal_periods(2 * HOURS_PER_WEEK + 1, hour) == [24, 168]
    assert seasonal_periods(3 * 96, quarter) == [96]
    assert seasonal_periods(15 * 96, quarter) == [96, 672]
    assert seasonal_periods(15, day) == [7]  # no within-day period at daily sampling
    assert seasonal_periods(1, None) == []


# ------------------------------------------------------------- error rates


def test_clean_seasonal_series_raise_at_most_one_false_episode_a_week():
    # 16 series of 22 days hourly (MSTL, outlier refit active). BH at 5% over a
    # series' points flags anything on a clean series with probability about
    # 5%, so the episodes a week stay far below one (0.08 measured).
    rng = np.random.default_rng(20250106)
    found = [detect_anomalies(on_grid(noisy_seasonal(rng, 22 * 24)))["episode"].max() for _ in range(16)]
    per_week = np.sum(found) / (16 * 22 / 7)
    assert per_week <= 0.5, per_week


def day_night_rates(seed: int, count: int, mean_volume: float) -> list[gen.Labelled]:
    """Clean success rates over a week of day-night traffic (quiet hours at a fifth of the mean)."""
    rng = np.random.default_rng(seed)
    return [gen.rate_series(rng, days=7, mean_volume=mean_volume) for _ in range(count)]


def test_day_night_rates_raise_at_most_one_false_episode_a_week():
    # 40 series at 60 events an hour on average, 12 in the quietest hours: one
    # week each, scored with their volume. Measured 0.05 episodes a week (0.58
    # with normal tails instead of t(20)'s); the bound 1 is the issue's.
    found = [detect_anomalies(s.series, 0.95, s.volume)["episode"].max() for s in day_night_rates(5, 40, 60)]
    assert np.mean(found) <= 1, np.mean(found)


def flag_rates(scored: list[pd.DataFrame], volumes: list[pd.Series]) -> tuple[float, float]:
    """Share of points with p < 0.05 among the quietest and the busiest quarter of hours."""
    p = np.concatenate([s["p_value"].to_numpy() for s in scored])
    volume = np.concatenate([v.to_numpy() for v in volumes])
    quiet, busy = volume <= np.quantile(volume, 0.25), volume >= np.quantile(volume, 0.75)
    return float(np.mean(p[quiet] < 0.05)), float(np.mean(p[busy] < 0.05))


def test_flags_fall_evenly_over_quiet_and_busy_hours_with_the_volume():
    # 30 clean weeks: nominal 5% of points at p < 0.05 in every hour. With the
    # volume, quiet and busy hours land near it (measured 4.2% and 4.4%, about
    # 1250 points each); scored on one scale, quiet hours took 12% and busy
    # ones 0.7%, which the second half shows is what the volume fixes.
    series = day_night_rates(9, 30, 60)
    volumes = [s.volume for s in series]
    quiet, busy = flag_rates([score_anomalies(s.series, s.volume) for s in series], volumes)
    assert 0.02 < quiet < 0.09 and 0.02 < busy < 0.09, (quiet, busy)
    assert max(quiet, busy) / min(quiet, busy) < 2, (quiet, busy)
    quiet, busy = flag_rates([score_anomalies(s.series) for s in series], volumes)
    assert quiet > 4 * busy, (quiet, busy)


def run_of(rng: np.random.Generator, volumes: list[float], planted: int) -> tuple[list[pd.DataFrame], list]:
    """The last day of a week of each series, scored; the first ``planted`` series get one bad hour.

    The bad hour is the simulator's: twice the events at success probability
    0.35, at a random hour of the last day. Returns the day's scored rows of
    every series and, per planted series, the bad hour's position in its day.
    """
    frames, truth = [], []
    for k, volume in enumerate(volumes):
        labelled = gen.rate_series(rng, days=7, mean_volume=volume, amplitude=0.6)
        if k < planted:
            hour = int(rng.integers(6 * 24, 7 * 24))
            gen.plant_bad_hours(rng, labelled, [hour], success=0.35, volume=2.0)
            truth.append(hour - 6 * 24)
        frames.append(score_anomalies(labelled.series, labelled.volume).iloc[-24:].reset_index(drop=True))
    return frames, truth


def test_a_run_finds_the_simulators_bad_hours_and_little_else():
    # Ten runs of 12 series flagged as one family, as a daily run flags its
    # metrics and segments: the platform (400 events an hour, as the
    # simulator's default) and task types (80 an hour). Half the series carry
    # a bad hour: 59 of 60 are found. The other hours of the day raise 9 false
    # points in 120 series-days (0.53 a series-week): the true discoveries
    # relax BH's threshold, and the scores' tails are heavier than t(20)'s
    # for some series, so the share of false points among the flagged (13%)
    # is above the nominal 5%.
    rng = np.random.default_rng(7)
    found = planted = false = 0
    for _ in range(10):
        frames, truth = run_of(rng, [400, 80] * 6, planted=6)
        flagged = episodes.flag(frames, 0.95)
        hits = sum(bool(flagged[k]["is_anomaly"].iloc[h]) for k, h in enumerate(truth))
        found, planted = found + hits, planted + len(truth)
        false += sum(int(f["is_anomaly"].sum()) for f in flagged) - hits
    assert found / planted >= 0.9, found / planted
    assert false / (10 * 12) * 7 <= 1, false


def frame_of(p_values: list[float]) -> pd.DataFrame:
    """Scored hourly rows with these p-values (the scores are not read by ``flag``)."""
    index = pd.date_range("2025-01-06", periods=len(p_values), freq="h", tz="UTC")
    return pd.DataFrame({"timestamp": index, "value": 1.0, "score": 0.0, "p_value": p_values})


def test_one_family_needs_stronger_evidence_than_one_series():
    # An hour at p = 0.001 among 24 is an anomaly (BH: 0.001 * 24 <= 0.05);
    # among 31 series' days of ordinary hours it is not (0.001 * 744 > 0.05).
    unusual = frame_of([0.001] + [0.5] * 23)
    ordinary = [frame_of(list(np.linspace(0.04, 1, 24))) for _ in range(30)]
    alone = episodes.flag([unusual], 0.95)[0]
    assert alone["is_anomaly"].tolist() == [True] + [False] * 23
    assert alone["q_value"].iloc[0] == pytest.approx(0.024)
    together = episodes.flag([unusual, *ordinary], 0.95)
    assert not any(frame["is_anomaly"].any() for frame in together)
    assert together[0]["q_value"].iloc[0] == pytest.approx(0.744)


def test_planted_spikes_and_dips_are_found():
    # 4 weeks hourly, 20 anomalies of 5-8 sigma per series, default sensitivity.
    rng = np.random.default_rng(7)
    n = 4 * HOURS_PER_WEEK
    hits = planted = false_alarms = 0
    for _ in range(4):
        values = noisy_seasonal(rng, n)
        positions = plant(rng, values, 20)
        flagged = detect_anomalies(on_grid(values))["is_anomaly"].to_numpy()
        hits += flagged[positions].sum()
        planted += len(positions)
        false_alarms += flagged.sum() - flagged[positions].sum()
    assert hits / planted >= 0.9, hits / planted
    # The anomalies do not bend the seasonal fit into flagging their neighbours.
    assert false_alarms <= 4, false_alarms


@pytest.mark.parametrize(
    ("freq", "per_day", "n"),
    [("15min", 96, 4 * 96), ("15min", 96, 15 * 96), ("D", 1, 10 * 7)],
    ids=["15min-4days", "15min-15days", "daily-10weeks"],
)
def test_other_sampling_intervals(freq: str, per_day: int, n: int):
    # 7 to 10 sigma: BH over 1440 quarter hours at t(20) tails asks for a score near 5.
    rng = np.random.default_rng(per_day + n)
    values = noisy_seasonal(rng, n, per_day)
    positions = plant(rng, values, 6, sigmas=(7, 10))
    flagged = detect_anomalies(on_grid(values, freq))["is_anomaly"].to_numpy()
    assert flagged[positions].mean() >= 5 / 6
    # With two cycles of the weekly period (15 days) a spike leaks into its
    # twin a week away, which may then be flagged: at most one per spike.
    assert flagged.sum() - flagged[positions].sum() <= len(positions)


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
    flagged = detect_anomalies(on_grid(values))["is_anomaly"].to_numpy()
    assert flagged[peak]
    assert flagged.sum() <= 3


# ------------------------------------------------------------------ episodes


def test_consecutive_anomalous_points_are_one_episode_with_its_peak():
    rng = np.random.default_rng(4)
    values = noisy_seasonal(rng, 7 * 24)
    values[50:53] += np.array([8, 14, 9]) * SIGMA  # one incident of three hours
    values[54] = np.nan  # a missing hour does not split the next one off it...
    values[53] += 8 * SIGMA
    values[55] += 8 * SIGMA
    values[80] -= 10 * SIGMA  # ...but a normal hour does
    result = detect_anomalies(on_grid(values))
    stamps = result["timestamp"]
    by_start = {e.start: e for e in episodes.episodes(result)}
    incident, dip = by_start[stamps.iloc[50]], by_start[stamps.iloc[80]]
    assert (incident.end, incident.points, incident.peak) == (stamps.iloc[55], 5, stamps.iloc[51])
    assert incident.peak_score == pytest.approx(result["score"].iloc[51])
    assert incident.q_value == pytest.approx(result["q_value"].iloc[50:56].min())
    assert (dip.end, dip.points) == (stamps.iloc[80], 1)
    assert result["episode"].iloc[50:56].tolist() == [1, 1, 1, 1, 0, 1]
    assert result["episode"].iloc[80] == 2
    assert result.loc[result["episode"] == 0, "is_anomaly"].sum() == 0


def test_output_has_one_row_per_point_in_input_order():
    values = [0.9, 0.91, 0.5, 0.9, 0.89, 0.9]
    series = pd.Series(values, index=pd.date_range("2025-01-06", periods=6, freq="h"))  # naive: UTC
    result = detect_anomalies(series)
    columns = ["timestamp", "value", "expected", "score", "p_value", "q_value", "is_anomaly", "episode"]
    assert list(result.columns) == columns
    assert result["value"].tolist() == values
    assert result["timestamp"].tolist() == list(series.index.tz_localize("UTC"))
    assert result["is_anomaly"].tolist() == [False, False, True, False, False, False]
    assert result["episode"].tolist() == [0, 0, 1, 0, 0, 0]


def test_short_series_are_scored_against_their_median():
    # Three points: median 2, residuals -1, 0, 8, MAD 1.
    result = detect_anomalies(on_grid([1.0, 2.0, 10.0]))
    assert result["score"].tolist() == pytest.approx([-1 / 1.4826, 0.0, 8 / 1.4826])
    assert result["expected"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert result["is_anomaly"].tolist() == [False, False, True]
    single = detect_anomalies(on_grid([0.7]))
    assert single["score"].tolist() == [0.0] and not single["is_anomaly"].any()
    ten = detect_anomalies(on_grid([0.8, 0.81, 0.79, 0.8, 0.82, 0.78, 0.8, 0.81, 0.79, 1.5]))
    assert ten["is_anomaly"].tolist() == [False] * 9 + [True]


@pytest.mark.parametrize("n", [1, 3, 10, 100, 400])
def test_a_constant_series_has_no_anomalies(n: int):
    result = detect_anomalies(on_grid(np.full(n, 0.93)))
    assert (result["score"] == 0).all() and not result["is_anomaly"].any()


@pytest.mark.parametrize("n", [10, 100, 600])
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
    result = detect_anomalies(on_grid(values))
    missing = np.isnan(values)
    assert len(result) == len(values)
    assert result["score"].isna().to_numpy().tolist() == missing.tolist()
    assert result["q_value"].isna().to_numpy().tolist() == missing.tolist()
    assert not result["is_anomaly"][missing].any()
    assert result["is_anomaly"][300]
    assert result["is_anomaly"][~missing].sum() <= 4
    all_missing = detect_anomalies(on_grid([np.nan] * 60))
    assert all_missing["score"].isna().all() and not all_missing["is_anomaly"].any()


def test_a_missing_or_zero_volume_counts_as_the_median():
    rng = np.random.default_rng(12)
    labelled = gen.rate_series(rng, days=3, mean_volume=100)
    volume = labelled.volume.copy()
    volume.iloc[[5, 6]] = [np.nan, 0.0]
    scored = score_anomalies(labelled.series, volume)
    median = labelled.volume.copy()
    median.iloc[[5, 6]] = 1 / np.median(1 / labelled.volume.drop(labelled.volume.index[[5, 6]]))
    assert scored["score"].to_numpy() == pytest.approx(score_anomalies(labelled.series, median)["score"])


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
