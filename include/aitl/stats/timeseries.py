"""Anomalies, trend and forecast on regular metric series.

The platform's hourly metrics (success rate, quality, p95 duration, error
rate, security findings) repeat every day and often every week, drift slowly
and are serially correlated. Each function here takes that into account
rather than treating the points as independent draws:

* ``detect_anomalies`` removes the daily and weekly pattern with STL/MSTL
  before scoring, so an ordinary 3 a.m. dip is not an alarm, scores each
  residual on a scale that follows the hour's volume, so quiet hours are not
  flagged more often than busy ones, and reports episodes with the false
  discovery rate held at ``1 - sensitivity`` (``aitl.stats.episodes``);
* ``trend`` is a Mann-Kendall test with Sen's slope on daily means, so the
  daily cycle and hour-to-hour persistence of a week of hourly points do not
  pass for 168 independent observations;
* ``forecast`` is an exponential-smoothing (ETS) state space model, so its
  95% band comes from a likelihood model rather than a rule of thumb.

Input series are pandas Series on a regular ``DatetimeIndex`` (any fixed
interval: 15 minutes, an hour, a day). A missing sample must be a NaN row,
not a gap in the index: irregular or duplicate timestamps are refused with a
ValueError, because seasonal periods are counted in samples and would
silently shift otherwise (``aitl.stats.messy.regularise`` makes a regular
series of a messy one). Naive timestamps are taken to be UTC.

statsmodels first (STL, MSTL, ETS); scipy for the normal distribution. The
library does not import Airflow.

Method:
docs/statistics.md#anomalies
docs/statistics.md#trends
docs/statistics.md#forecasts
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.tsa.exponential_smoothing.ets import ETSModel, ETSResults
from statsmodels.tsa.seasonal import MSTL, STL

from aitl.stats import episodes
from aitl.stats.checks import check_alpha

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(weeks=1)

# MAD * 1.4826 and mean absolute deviation * sqrt(pi / 2) both estimate the
# standard deviation of normal data, so scores read as standard-normal z.
MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = math.sqrt(math.pi / 2)

# Residuals smaller than this fraction of the series' magnitude are rounding
# noise of the decomposition, not deviations (a constant series must score 0).
RELATIVE_TOLERANCE = math.sqrt(np.finfo(float).eps)

# Points further than this many sigmas from both the robust and the
# least-squares fit are gross outliers, kept out of the refit (see
# ``_residuals``): two-sided p = 0.001.
GROSS_Z = 3.29
# Below three cycles of the longest period no fit can tell an outlier from its
# twin at the same phase, so the outlier refit is skipped.
MIN_ROBUST_CYCLES = 3
# Robustness iterations of the outlier-finding fit: a third of statsmodels'
# default 15, and of its cost, as that fit only has to single out gross
# outliers, not be the final one.
ROBUST_ITERATIONS = 5

# Without a volume, the noise scale of a series with a daily period follows the time of day
# over this many bins of the day, each pooling at least MIN_POOLED points (``_daily_variance``).
DAY_BINS = 24
MIN_POOLED = 48

# Scores are read against Student's t with this many degrees of freedom: on clean day-night
# success rates |score| > 4 came 15 times as often as the normal says, about as t(20) does.
TAIL_DF = 20

TREND_METHOD = "mann_kendall+sen"

FORECAST_LEVEL = 0.95
# A damped trend adds two parameters; below this many points it overfits.
MIN_POINTS_FOR_TREND = 10


# --------------------------------------------------------------------------- input


def _regular(series: pd.Series) -> tuple[pd.Series, pd.Timedelta | None]:
    """The series as floats on a UTC index, and its sampling interval.

    The interval is None below two points, where there is nothing to infer it
    from. Everything downstream counts seasonal periods and horizons in
    samples, which is only meaningful on a strictly regular grid.
    """
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("expected a pandas Series with a DatetimeIndex")
    index = series.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if index.hasnans:
        raise ValueError("the index contains missing timestamps (NaT)")
    try:
        values = series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"series values must be numeric: {error}") from None
    clean = pd.Series(values, index=index, name=series.name)
    if len(index) < 2:
        return clean, None
    problem = _off_grid(index)
    if problem:
        raise ValueError(f"irregular index: {problem[1]}")
    return clean, index[1] - index[0]


def _off_grid(index: pd.DatetimeIndex) -> tuple[int, str] | None:
    """The position of the first timestamp off a strictly increasing fixed grid, and why.

    Order is checked first; the grid's interval is then the most common step,
    so a single bad timestamp is the one blamed even when it is the second.
    A missing sample must be a NaN value on the grid: a gap would silently
    shift every seasonal period.
    """
    steps = (index[1:] - index[:-1]).to_numpy()
    zero = np.timedelta64(0)
    if (steps <= zero).any():
        at = int(np.argmax(steps <= zero)) + 1
        if steps[at - 1] == zero:
            return at, f"duplicate timestamp {index[at]}"
        return at, f"timestamp {index[at]} is before the previous one, {index[at - 1]}"
    interval = pd.Series(steps).mode().iloc[0]
    if (steps == interval).all():
        return None
    at = int(np.argmax(steps != interval)) + 1
    return at, (
        f"timestamp {index[at]} is {pd.Timedelta(steps[at - 1])} after the previous one, but the interval "
        f"is {interval} (a missing sample is a NaN value, not a gap)"
    )


def _interpolated(values: np.ndarray) -> np.ndarray:
    """NaNs filled linearly (held flat at the ends): STL and ETS need complete data."""
    return pd.Series(values).interpolate(limit_direction="both").to_numpy()


def _samples_per(span: pd.Timedelta, interval: pd.Timedelta) -> int:
    """How many samples a calendar span holds, to the nearest whole sample."""
    return round(span / interval)


# ------------------------------------------------------------------------ anomalies


def seasonal_periods(n: int, interval: pd.Timedelta | None) -> list[int]:
    """Seasonal periods, in samples, that ``n`` points at ``interval`` can support.

    A daily period when the series covers at least two days (first to last
    timestamp), plus a weekly one when it covers at least two weeks: one cycle
    alone cannot tell a seasonal pattern from a one-off excursion. A period
    below two samples (daily sampling has no within-day pattern) is no period.
    """
    if interval is None:
        return []
    periods = []
    for span in (DAY, WEEK):
        period = _samples_per(span, interval)
        if period >= 2 and n - 1 >= 2 * period:
            periods.append(period)
    return periods


def _odd(x: float) -> int:
    """Smallest odd integer >= x (LOESS windows must be odd)."""
    k = math.ceil(x)
    return k if k % 2 else k + 1


def _stl_options(n: int, shortest_period: int, robust: bool) -> tuple[int, dict[str, int | bool]]:
    """STL seasonal window and keyword arguments shared by STL and MSTL.

    The seasonal pattern is held fixed over the window (R's
    ``s.window = "periodic"``: degree-0 smoother spanning the whole series).
    Over days to weeks of data a pattern allowed to evolve from cycle to cycle
    would be fitted from two to four points per hour-of-week and absorb the
    noise unevenly, which skews the residual scale the score relies on. The
    LOESS jumps follow R's ``stl`` (a tenth of each window), which makes
    weekly decompositions of 15-minute data affordable.
    """
    seasonal = _odd(10 * n + 1)
    trend_window = _odd(1.5 * shortest_period / (1 - 1.5 / seasonal))
    low_pass_window = _odd(shortest_period + 1)
    return seasonal, {
        "seasonal_deg": 0,
        "robust": robust,
        "seasonal_jump": math.ceil(seasonal / 10),
        "trend_jump": math.ceil(trend_window / 10),
        "low_pass_jump": math.ceil(low_pass_window / 10),
    }


def _decompose(values: np.ndarray, periods: list[int], robust: bool) -> np.ndarray:
    """Trend plus seasonal fit of complete ``values``."""
    seasonal, options = _stl_options(len(values), min(periods), robust)
    iterations = {"outer_iter": ROBUST_ITERATIONS} if robust else {}
    if len(periods) == 1:
        result = STL(values, period=periods[0], seasonal=seasonal, **options).fit(**iterations)
    else:
        result = MSTL(
            values, periods=periods, windows=[seasonal] * len(periods), stl_kwargs=options | iterations
        ).fit()
    return values - np.asarray(result.resid)


def _residuals(values: np.ndarray, periods: list[int]) -> np.ndarray:
    """Deviation of each point from its expected value (NaN where the value is NaN).

    Without a seasonal period the expectation is the series' median. With
    one, it is a least-squares STL/MSTL fit refitted without the gross
    outliers: points that both a robust fit and the least-squares fit put
    beyond ``GROSS_Z`` sigmas are replaced by the robust fit before refitting.
    The robust fit keeps an anomaly from bending the seasonal pattern (a spike
    would otherwise leak into its hour's seasonal value and make the same
    hour on the other days look anomalous too). Its residuals are not scored
    and not trusted alone: a robust fit tracks the bulk of the points tightly
    and lets larger ones stand out, so its residuals are heavier-tailed than
    the noise, grossly so with few cycles per period (two or three weeks of a
    weekly pattern leave two or three points per hour-of-week). Requiring the
    least-squares fit to agree means only points already beyond the 0.999
    threshold are ever refitted, so the false-alarm rate of the least-squares
    residuals, which ``sensitivity`` promises, is kept. Below
    ``MIN_ROBUST_CYCLES`` cycles of the longest period the refit is skipped:
    with two values at each phase no fit can tell which one is the outlier,
    and a wrong pick would hide the anomaly and flag its twin.
    """
    if not periods:
        return values - np.nanmedian(values)
    filled = _interpolated(values)
    fit = _decompose(filled, periods, robust=False)
    if len(values) < MIN_ROBUST_CYCLES * max(periods):
        return values - fit
    sigma = MAD_TO_SIGMA * np.median(_centred(filled - fit))
    robust_fit = _decompose(filled, periods, robust=True)
    gross = (_centred(filled - fit) > GROSS_Z * sigma) & (_centred(filled - robust_fit) > GROSS_Z * sigma)
    if gross.any():
        fit = _decompose(np.where(gross, robust_fit, filled), periods, robust=False)
    return values - fit


def _centred(residuals: np.ndarray) -> np.ndarray:
    """Absolute distance of each residual from the residuals' median."""
    return np.abs(residuals - np.median(residuals))


def _robust_z(
    residuals: np.ndarray, magnitude: float, volume: np.ndarray | None, day: int | None
) -> np.ndarray:
    """(r - median r) / its robust noise scale, which follows ``volume``, or else the time of day.

    A rate or mean over n events varies about as 1 / n, so one scale for
    every point over-flags quiet hours and under-flags busy ones (13% against
    2% at a nominal 5% on the simulator's day-night traffic). With a volume
    each deviation is first divided by the square root of its relative
    variance (``_volume_variance``); without one, when the series has a
    daily period of ``day`` samples, by that of its time of day
    (``_daily_variance``), as traffic, latency and counts are noisier at
    their busy hours. The result is then scaled by its 1.4826 MAD.

    A MAD of zero means more than half the points sit exactly on their
    expected value (a constant or almost constant series). Then the mean
    absolute deviation, scaled by sqrt(pi/2) to estimate a normal sigma, is
    the scale: a single deviation among n otherwise exact points scores
    +-n / 1.2533. When every point is exact all scores are 0.
    """
    deviation = residuals - np.nanmedian(residuals)
    deviation[np.abs(deviation) <= RELATIVE_TOLERANCE * magnitude] = 0.0
    if volume is not None:
        deviation = deviation / np.sqrt(_volume_variance(volume))
    elif day is not None:
        deviation = deviation / np.sqrt(_daily_variance(deviation, day))
    absolute = np.abs(deviation)
    mad = np.nanmedian(absolute)
    if mad > 0:
        return deviation / (MAD_TO_SIGMA * mad)
    mean_ad = np.nanmean(absolute)
    if mean_ad > 0:
        return deviation / (MEAN_AD_TO_SIGMA * mean_ad)
    return deviation


def _volume_variance(volume: np.ndarray) -> np.ndarray:
    """Each point's noise variance relative to a point of median volume: median volume / volume.

    A rate or mean of n events has variance proportional to 1 / n (p(1-p)/n
    for a binomial rate), so dividing a deviation by the square root of this
    ratio puts quiet and busy hours on one scale. A two-parameter a + b / n
    (for variation more events do not average away) was tried and dropped:
    fitted to bins of a week's hours by their MAD, it understated the variance
    of the quietest hours, whose MAD mixes very different volumes, and
    flagged them more often than the plain 1 / n. A missing or non-positive
    volume counts as the median.
    """
    inverse = 1 / np.where(volume > 0, volume, np.nan)
    inverse = np.where(np.isfinite(inverse), inverse, np.nanmedian(inverse))
    return inverse / np.median(inverse)


def _daily_variance(deviation: np.ndarray, day: int) -> np.ndarray:
    """Each point's noise variance relative to the median, by its hour of the day.

    The day is cut into ``DAY_BINS`` bins; each bin's variance is the squared
    1.4826 MAD of the deviations in it and its neighbours, pooled until at
    least ``MIN_POOLED`` values count (a week of hourly data pools a few
    hours on either side), then shrunk halfway towards the whole series'
    with ``MIN_POOLED`` pseudo-points of it. Shrinking keeps the estimation
    noise of a bin's scale from thickening the tails of homoscedastic
    series, which would add false alarms where one scale was right.
    """
    bins = min(DAY_BINS, day)
    phase = (np.arange(len(deviation)) % day) * bins // day
    valid = ~np.isnan(deviation)
    overall = (MAD_TO_SIGMA * np.nanmedian(np.abs(deviation))) ** 2
    variance = np.empty(bins)
    for b in range(bins):
        distance = np.abs((phase - b + bins // 2) % bins - bins // 2)
        for reach in range(bins // 2 + 1):
            pooled = deviation[valid & (distance <= reach)]
            if len(pooled) >= MIN_POOLED:
                break
        local = (MAD_TO_SIGMA * np.median(np.abs(pooled))) ** 2
        variance[b] = (len(pooled) * local + MIN_POOLED * overall) / (len(pooled) + MIN_POOLED)
    typical = float(np.median(variance))
    return variance[phase] / typical if typical > 0 else np.ones(len(deviation))


def score_anomalies(series: pd.Series, volume: pd.Series | None = None) -> pd.DataFrame:
    """Every point's score against its seasonal expectation, and its p-value.

    The expectation removes the daily pattern when the series covers at least
    two days and also the weekly one from two weeks on (STL / MSTL, robust to
    the anomalies themselves, see ``_residuals``); shorter series are compared
    with their median. The score is the robust z of the residual,
    ``(r - median r) / (1.4826 * MAD r)``, which reads as a standard-normal
    deviate for normal noise. ``p_value`` is its two-sided tail under
    Student's t with ``TAIL_DF`` degrees of freedom: the fitted expectation's
    own error and the estimated scale make large scores more common than the
    normal says, and a p-value that ignored it would let false episodes
    through the false discovery rate.

    ``volume`` (events behind each point, on the same index; the hourly event
    count for a rate) makes the scale follow the volume (``_robust_z``), so a
    quiet hour needs a larger deviation than a busy one for the same score.

    Edge cases, by definition: NaN values stay in the output with score and
    p-value NaN (they are interpolated only to fit the decomposition). A
    constant series scores 0 everywhere; a lone deviation in an otherwise
    constant series of n points scores +-n / 1.2533 (see ``_robust_z``). A
    single point scores 0.

    Returns one row per input point, in input order, with columns
    ``timestamp`` (UTC), ``value``, ``expected`` (the seasonal expectation;
    NaN where the value is), ``score`` and ``p_value``.
    """
    clean, interval = _regular(series)
    values = clean.to_numpy()
    weights = None
    if volume is not None:
        weights = volume.reindex(series.index).to_numpy(dtype=float, na_value=np.nan)
    residuals = scores = np.full(len(values), np.nan)
    if not np.isnan(values).all():
        periods = seasonal_periods(len(values), interval)
        residuals = _residuals(values, periods)
        day = min(periods) if periods and min(periods) == _samples_per(DAY, interval) else None
        scores = _robust_z(residuals, float(np.nanmax(np.abs(values))), weights, day)
    return pd.DataFrame(
        {
            "timestamp": clean.index,
            "value": values,
            "expected": values - residuals,
            "score": scores,
            "p_value": 2 * sps.t.sf(np.abs(scores), TAIL_DF),
        }
    )


def detect_anomalies(
    series: pd.Series, sensitivity: float = 0.95, volume: pd.Series | None = None
) -> pd.DataFrame:
    """Score every point (``score_anomalies``) and flag the anomalous ones as episodes.

    ``sensitivity`` is one minus the false discovery rate: Benjamini-Hochberg
    over the series' points keeps the expected share of false anomalous points
    among the flagged ones at ``1 - sensitivity``, and on a clean series
    nothing at all is flagged with probability about ``sensitivity``. The
    series' length is taken into account: the longer it is, the larger a
    score has to be. Consecutive anomalous points are one episode
    (``aitl.stats.episodes``). To hold the rate over several series scanned
    together, score them with ``score_anomalies`` and flag them as one family
    with ``episodes.flag``.

    Returns one row per input point, in input order, with columns
    ``timestamp`` (UTC), ``value``, ``expected``, ``score``, ``p_value``, ``q_value`` (the
    BH-adjusted p-value), ``is_anomaly`` and ``episode`` (1, 2, ... in time
    order on anomalous points, 0 elsewhere).
    """
    episodes.fdr_of(sensitivity)  # a bad sensitivity is refused before any fitting
    return episodes.flag([score_anomalies(series, volume)], sensitivity)[0]


# ---------------------------------------------------------------------------- trend


@dataclass(frozen=True)
class Trend:
    """Outcome of ``trend``: direction by the metric's polarity, and the test record."""

    direction: str  # "improving" | "declining" | "stable"
    slope_per_day: float  # Sen's slope, metric units per day
    p_value: float  # two-sided Mann-Kendall, normal approximation with continuity correction
    method: str
    n: int  # values tested: daily means for sub-daily series
    confidence: float  # 1 - p_value


def sen_slope(days: np.ndarray, values: np.ndarray) -> float:
    """Median of the slopes between all pairs of points (Sen 1968), per unit of ``days``.

    Unlike least squares it ignores a few outliers and needs no normality. It
    uses the real timestamps, so points left out as missing do not distort it.
    Quadratic in the number of points, which ``trend`` keeps to one a day.
    """
    i, j = np.triu_indices(len(values), k=1)
    return float(np.median((values[j] - values[i]) / (days[j] - days[i])))


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """Mann-Kendall S and its variance under no trend, corrected for ties.

    S counts later-minus-earlier pairs that rise minus those that fall.
    ``Var(S) = [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18`` over groups of t tied
    values (Kendall 1975; Gilbert 1987, ch. 16): ties are common in rounded
    rates and counts and shrink the variance.
    """
    n = len(values)
    i, j = np.triu_indices(n, k=1)
    s = float(np.sign(values[j] - values[i]).sum())
    _, ties = np.unique(values, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18
    return s, float(variance)


def _sub_daily(interval: pd.Timedelta | None) -> bool:
    """Whether a day holds more than one sample at this interval."""
    return interval is not None and _samples_per(DAY, interval) > 1


def daily_means(series: pd.Series, interval: pd.Timedelta | None) -> pd.Series:
    """Means of consecutive one-day blocks of samples, aligned to end at the last sample.

    Sub-daily metrics repeat every day and persist for hours; one value per
    day removes the daily pattern exactly and most of the serial correlation,
    which the Mann-Kendall variance assumes away. Blocks end at the last
    sample so the most recent day always counts; a partial block at the start
    is dropped, as it would over-weight the hours it happens to contain.
    Daily or coarser series are returned as they are. NaNs are skipped; an
    all-NaN block is dropped.
    """
    if not _sub_daily(interval):
        return series.dropna()
    per_day = _samples_per(DAY, interval)
    whole = len(series) // per_day * per_day
    blocks = series.iloc[len(series) - whole :]
    means = blocks.groupby(np.arange(whole) // per_day).mean()
    means.index = blocks.index[::per_day]
    return means.dropna()


def trend(series: pd.Series, higher_is_better: bool = True, alpha: float = 0.05) -> Trend:
    """Is the metric improving, declining or stable? Mann-Kendall test with Sen's slope.

    Mann-Kendall is a rank test of a monotonic trend: robust to outliers,
    skewed metrics (durations) and ties. Sub-daily series are tested on
    their daily means (``daily_means``) rather than with a serial-correlation
    correction such as Hamed & Rao (1998): in simulation that correction let
    trendless hourly series with a daily cycle through as trends 30% of the
    time at alpha 0.05 (and autocorrelated noise 15%), because the cycle's
    large negative autocorrelations enter its variance factor; daily means
    hold alpha. The price is that a trend needs days to show: under five
    daily means no pattern reaches p < 0.05.

    The slope is Sen's, per day from the timestamps. ``direction`` is
    "stable" when p >= ``alpha`` (or the slope is 0); otherwise the sign of
    the slope, read through ``higher_is_better`` (False for durations and
    error rates), says "improving" or "declining". NaN points are dropped;
    fewer than three values to test cannot show a trend (stable, p = 1,
    slope NaN). ``n`` is the number of values tested (days, for sub-daily
    data).
    """
    check_alpha(alpha)
    clean, interval = _regular(series)
    tested = daily_means(clean, interval)
    method = TREND_METHOD + " on daily means" if _sub_daily(interval) else TREND_METHOD
    n = len(tested)
    if n < 3:
        return Trend("stable", math.nan, 1.0, method, n, 0.0)
    days = ((tested.index - tested.index[0]) / DAY).to_numpy(dtype=float)
    values = tested.to_numpy()
    slope = sen_slope(days, values)
    s, variance = mann_kendall(values)
    p_value = 1.0 if s == 0 else float(2 * sps.norm.sf((abs(s) - 1) / math.sqrt(variance)))
    return Trend(_direction(slope, p_value, alpha, higher_is_better), slope, p_value, method, n, 1 - p_value)


def _direction(slope: float, p_value: float, alpha: float, higher_is_better: bool) -> str:
    """'stable' unless significant; otherwise the slope's sign read through the polarity."""
    if p_value >= alpha or slope == 0:
        return "stable"
    return "improving" if (slope > 0) == higher_is_better else "declining"


# ------------------------------------------------------------------------- forecast


def _ets_candidates(n: int, interval: pd.Timedelta) -> list[dict[str, object]]:
    """ETS specifications worth fitting to ``n`` points.

    Additive errors throughout: the metrics can be 0 and the exact
    prediction intervals exist only for additive models. Level only always;
    a damped additive trend once there are ``MIN_POINTS_FOR_TREND`` points
    (damped, because an undamped trend extrapolates a few hours' drift
    linearly over the whole horizon); an additive daily seasonal component
    when the history covers at least two days, as for anomalies. Seasonal
    models start from statsmodels' ``heuristic`` initial states, computed
    from the first few cycles: estimating 24 or 96 initial seasonal states
    by maximum likelihood took 1 to 7 seconds a fit for no better forecasts
    in simulation. The heuristic needs ``10 + period`` points, which only
    binds for periods under ten samples.
    """
    period = _samples_per(DAY, interval)
    shape: dict[str, object] = {"initialization_method": "estimated"}
    if period in seasonal_periods(n, interval) and n >= 10 + period:
        shape = {"seasonal": "add", "seasonal_periods": period, "initialization_method": "heuristic"}
    candidates: list[dict[str, object]] = [{"trend": None, **shape}]
    if n >= MIN_POINTS_FOR_TREND:
        candidates.append({"trend": "add", "damped_trend": True, **shape})
    return candidates


def _fit_ets(values: np.ndarray, interval: pd.Timedelta) -> ETSResults:
    """The candidate ETS model with the lowest AICc (the small-sample AIC of Hyndman's ets)."""
    endog = pd.Series(values)  # statsmodels 0.15's get_prediction fails on a bare ndarray
    fits = [
        ETSModel(endog, error="add", **spec).fit(disp=False)
        for spec in _ets_candidates(len(values), interval)
    ]
    return min(fits, key=lambda fit: fit.aicc)


def forecast(series: pd.Series, horizon: int) -> pd.DataFrame:
    """The next ``horizon`` samples with 95% prediction intervals, from exponential smoothing.

    An ETS state space model (statsmodels ``ETSModel``, additive errors,
    parameters by maximum likelihood): level only, or with a damped trend,
    with an additive daily seasonal component when the history covers at
    least two days, chosen by AICc (see ``_ets_candidates``). The intervals
    are the model's exact prediction intervals, which widen with the horizon
    (they take the fitted parameters as known). NaNs in the history are
    interpolated for the fit. A constant history (a count that stayed 0) has
    nothing to estimate a variance from and forecasts itself with a
    zero-width interval.

    Returns ``horizon`` rows with columns ``timestamp`` (UTC, continuing the
    series' interval), ``mean``, ``lower`` and ``upper``.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be a positive number of samples, got {horizon!r}")
    clean, interval = _regular(series)
    if interval is None or clean.count() < 2:
        raise ValueError("forecasting needs at least two non-missing points on a regular index")
    values = _interpolated(clean.to_numpy())
    timestamps = clean.index[-1] + interval * np.arange(1, horizon + 1)
    if np.ptp(values) == 0:
        flat = np.full(horizon, values[0])
        return pd.DataFrame({"timestamp": timestamps, "mean": flat, "lower": flat, "upper": flat})
    n = len(values)
    frame = (
        _fit_ets(values, interval)
        .get_prediction(start=n, end=n + horizon - 1)
        .summary_frame(alpha=1 - FORECAST_LEVEL)
    )
    return pd.DataFrame(
        {
            "timestamp": timestamps,
            "mean": frame["mean"].to_numpy(),
            "lower": frame["pi_lower"].to_numpy(),
            "upper": frame["pi_upper"].to_numpy(),
        }
    )
