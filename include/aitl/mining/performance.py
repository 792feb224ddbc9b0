"""Performance analysis: metric series, trends, anomalies, forecasts, recommendations, tracking.

Everything is computed from the hourly rollups (seed: PerformanceTracker,
PerformanceAnalyzer, AgentPerformanceTracker):

* hourly series of success rate, mean quality, p95 duration (from the additive
  duration histograms), error rate, security-finding rate and satisfaction,
  for the whole platform and for every task type whose volume allows;
* per series: the trend over the window (Mann-Kendall with Sen's slope,
  direction by the metric's polarity), anomaly episodes (seasonal
  decomposition, residual scores on a scale that follows each hour's volume,
  false discovery rate held over every series of the run), and a next-day
  forecast with intervals;
* recommendations derived from those;
* the day's tracking by agent tier x task type and quality by language.

Method:
docs/statistics.md#anomalies
docs/statistics.md#trends
docs/statistics.md#forecasts
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aitl.mining.rollups import hist_quantile
from aitl.stats import episodes, timeseries
from aitl.store.reads import merged_histogram
from aitl.window import Window

# Mean events per hour a segment needs before its own series are analysed.
MIN_HOURLY_VOLUME = 20
FORECAST_HOURS = 24
ROLLUP_COLUMNS = [
    "agent_tier",
    "task_type",
    "language",
    "n",
    "successes",
    "quality_sum",
    "quality_n",
    "duration_sum",
    "duration_n",
    "log_duration_sum",
    "error_events",
    "security_events",
    "satisfaction_n",
    "satisfaction_sum",
    "duration_hist",
]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    taxonomy: tuple[str, str]
    compute: Callable[[pd.DataFrame], float]
    # The rollup count the metric is a rate or mean of: its hourly volume, which
    # sets how noisy the hour's value is (``timeseries.score_anomalies``).
    volume: str = "n"


def _ratio(numerator: str, denominator: str = "n") -> Callable[[pd.DataFrame], float]:
    def compute(rows: pd.DataFrame) -> float:
        total = rows[denominator].sum()
        return float(rows[numerator].sum() / total) if total else float("nan")

    return compute


def _p95(rows: pd.DataFrame) -> float:
    return hist_quantile(merged_histogram(rows["duration_hist"]), 0.95) if rows["n"].sum() else float("nan")


METRICS = (
    Metric("success_rate", True, ("quality", "error_handling"), _ratio("successes")),
    Metric(
        "mean_quality",
        True,
        ("quality", "code_structure"),
        _ratio("quality_sum", "quality_n"),
        volume="quality_n",
    ),
    Metric("p95_duration_s", False, ("performance", "scalability"), _p95),
    Metric("error_rate", False, ("quality", "error_handling"), _ratio("error_events")),
    Metric("security_rate", False, ("security", "input_validation"), _ratio("security_events")),
    Metric(
        "satisfaction",
        True,
        ("prompt_optimization", "clarity"),
        _ratio("satisfaction_sum", "satisfaction_n"),
        volume="satisfaction_n",
    ),
)
# The series scanned for anomalies: means and rates, whose noise the hour's volume
# sets (``timeseries.score_anomalies``). Durations are scanned as the mean of
# log(duration + 0.01 s), not as the p95: the p95 of a quiet hour is whether a
# timeout or two happened (the 4th largest of 80 values), a heavy-tailed
# statistic no residual scale fits; on a simulated quiet week it raised four
# false episodes a day, the mean of logs none. An incident that slows every
# execution moves both.
LOG_DURATION = Metric(
    "mean_log_duration",
    False,
    ("performance", "scalability"),
    _ratio("log_duration_sum", "duration_n"),
    volume="duration_n",
)
SCANNED = (*(m for m in METRICS if m.name != "p95_duration_s"), LOG_DURATION)
# Every metric by name: those with trends and forecasts, and those scanned for anomalies.
METRIC_BY_NAME = {m.name: m for m in (*METRICS, *SCANNED)}


VOLUMES = sorted({m.volume for m in SCANNED})


def _hours(window: Window) -> pd.DatetimeIndex:
    return pd.date_range(window.start, window.end, freq="h", inclusive="left", tz="UTC")


def hourly_series(
    rollups: pd.DataFrame, window: Window, metrics: tuple[Metric, ...] = METRICS
) -> pd.DataFrame:
    """One row per hour of the window (empty hours NaN), one column per metric."""
    frame = pd.DataFrame(index=_hours(window), columns=[m.name for m in metrics], dtype=float)
    if rollups.empty:
        return frame
    for hour, rows in rollups.groupby(pd.to_datetime(rollups["hour"], utc=True)):
        frame.loc[hour] = [metric.compute(rows) for metric in metrics]
    return frame


def hourly_volumes(rollups: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Events per hour of the window behind each metric (``Metric.volume`` columns, 0 when empty)."""
    frame = pd.DataFrame(0.0, index=_hours(window), columns=VOLUMES)
    if rollups.empty:
        return frame
    sums = rollups.groupby(pd.to_datetime(rollups["hour"], utc=True))[VOLUMES].sum()
    frame.loc[sums.index, VOLUMES] = sums.to_numpy(dtype=float)
    return frame


def segments(rollups: pd.DataFrame, hours: int) -> dict[str, pd.DataFrame]:
    """The platform as a whole and each task type with enough volume, as rollup subsets."""
    chosen = {"all": rollups}
    if rollups.empty:
        return chosen
    for task_type, rows in rollups.groupby("task_type"):
        if task_type and rows["n"].sum() / hours >= MIN_HOURLY_VOLUME:
            chosen[f"task_type={task_type}"] = rows
    return chosen


def segment_of(key: str) -> dict[str, str]:
    return {} if key == "all" else dict([key.split("=", 1)])


@dataclass(frozen=True)
class AnomalyEpisode:
    """An episode of the day in one series: what the daily run files as one anomaly pattern."""

    metric: Metric
    segment_key: str
    episode: episodes.Episode
    expected: float  # the series' seasonal expectation at the peak hour
    hours_scored: int  # the series' non-missing hours over the window


def anomaly_episodes(
    rollups: pd.DataFrame, window: Window, day: Window, sensitivity: float
) -> list[AnomalyEpisode]:
    """The day's anomaly episodes in every metric of every segment, as one family.

    Each series is scored over the whole window with its hourly volume
    (``timeseries.score_anomalies``); the day's hours of all series are then
    flagged together (``episodes.flag``): the more series a run scans, the
    stronger the evidence each hour needs, so the false discovery rate of the
    run is ``1 - sensitivity`` whatever the number of segments.
    """
    hours = round((window.end - window.start) / pd.Timedelta(hours=1))
    start, end = pd.Timestamp(day.start), pd.Timestamp(day.end)
    scanned = []
    for segment_key, subset in segments(rollups, hours).items():
        series, volumes = hourly_series(subset, window, SCANNED), hourly_volumes(subset, window)
        for metric in SCANNED:
            scored = timeseries.score_anomalies(series[metric.name], volumes[metric.volume])
            in_day = scored[(scored["timestamp"] >= start) & (scored["timestamp"] < end)]
            scanned.append((metric, segment_key, int(series[metric.name].notna().sum()), in_day))
    flagged = episodes.flag([frame for *_, frame in scanned], sensitivity)
    found = []
    for (metric, segment_key, observed, _), frame in zip(scanned, flagged, strict=True):
        expected = frame.set_index("timestamp")["expected"]
        for episode in episodes.episodes(frame):
            peak_expected = float(expected[episode.peak])
            found.append(AnomalyEpisode(metric, segment_key, episode, peak_expected, observed))
    return found


@dataclass(frozen=True)
class SeriesFindings:
    metric: Metric
    segment_key: str
    trend: timeseries.Trend | None
    # The day's anomaly episodes as extract_patterns filed them: ISO "start", "end" and "peak" hours.
    anomalies: list[dict[str, str]]
    forecast: pd.DataFrame | None

    def recommendation(self) -> str | None:
        where = "the platform" if self.segment_key == "all" else self.segment_key.replace("=", " ")
        if self.trend is not None and self.trend.direction == "declining":
            return (
                f"{self.metric.name} of {where} is declining ({self.trend.slope_per_day:+.4g}/day, "
                f"p={self.trend.p_value:.2g}): review recent prompt and model changes there."
            )
        if self.anomalies:
            spans = ", ".join(_span(a) for a in sorted(self.anomalies, key=lambda a: a["start"]))
            return f"{self.metric.name} of {where} was anomalous {spans} UTC: check incidents then."
        return None


def _span(episode: dict[str, str]) -> str:
    """'at 14:00' for a one-hour episode, '13:00-15:00' (last hour inclusive) otherwise."""
    start, end = episode["start"][11:16], episode["end"][11:16]
    return f"at {start}" if start == end else f"{start}-{end}"


def analyse_series(
    series: pd.Series, metric: Metric, segment_key: str, anomalies: list[dict[str, str]], alpha: float
) -> SeriesFindings:
    """Trend over the window and, platform-wide, a next-day forecast for one series."""
    observed = series.dropna()
    trend = None
    if len(observed) >= 3:
        trend = timeseries.trend(series, higher_is_better=metric.higher_is_better, alpha=alpha)
    forecast = None
    if segment_key == "all" and len(observed) >= 2 * 24:
        forecast = timeseries.forecast(series.interpolate(limit_direction="both"), FORECAST_HOURS)
    return SeriesFindings(metric, segment_key, trend, anomalies, forecast)


def trend_row(findings: SeriesFindings, day: Window) -> dict[str, Any]:
    """A ``performance_trends`` row."""
    trend = findings.trend
    forecast = []
    if findings.forecast is not None:
        forecast = [
            {
                "timestamp": pd.Timestamp(r.timestamp).isoformat(),
                "mean": _num(r.mean),
                "lower": _num(r.lower),
                "upper": _num(r.upper),
            }
            for r in findings.forecast.itertuples(index=False)
        ]
    return {
        "day": day.start,
        "metric": findings.metric.name,
        "segment_key": findings.segment_key,
        "segment": segment_of(findings.segment_key),
        "direction": trend.direction if trend else "insufficient_data",
        "slope_per_day": _num(trend.slope_per_day) if trend else None,
        "p_value": _num(trend.p_value) if trend else None,
        "method": trend.method if trend else "none",
        "n": trend.n if trend else 0,
        "anomalies": len(findings.anomalies),  # episodes
        "forecast": forecast,
        "recommendation": findings.recommendation(),
    }


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def tracking_rows(rollups: pd.DataFrame, signals: pd.DataFrame, day: Window) -> list[dict[str, Any]]:
    """The day's attempts, successes, mean time, quality and error types.

    By agent tier x task type (seed: AgentPerformanceTracker) and by language.
    """
    rows: list[dict[str, Any]] = []
    errors = signals[signals["signal_kind"] == "error_type"]
    for dimension, keys in (("tier_task", ["agent_tier", "task_type"]), ("language", ["language"])):
        error_types = errors.groupby([*keys, "signal"])["count"].sum()
        for key, group in rollups.groupby(keys):
            n = int(group["n"].sum())
            if not n:
                continue
            prefix = key if len(keys) > 1 else key[0]
            known = error_types.index.droplevel("signal")
            by_type = error_types.loc[prefix] if prefix in known else pd.Series(dtype=int)
            rows.append(
                {
                    "day": day.start,
                    "dimension": dimension,
                    "key": "|".join(str(k) for k in key),
                    "attempts": n,
                    "successes": int(group["successes"].sum()),
                    "success_rate": float(group["successes"].sum() / n),
                    "mean_duration_s": float(group["duration_sum"].sum() / n),
                    "mean_quality": float(group["quality_sum"].sum() / n),
                    "error_types": {str(k): int(v) for k, v in by_type.items()},
                }
            )
    return rows
