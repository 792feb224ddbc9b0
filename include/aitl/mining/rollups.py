"""Normalization: everything later analyses need, as additive hourly summaries.

From an hour's events, four tables are (re)written (``aitl.mining.summaries``
reads the events a session group at a time and writes the merged result):

* ``hourly_rollups``: per segment (agent tier x task type x language x model x
  prompt version x experiment arm) counts, sums and sums of squares, never
  means, and a duration histogram (quantiles are not additive, histograms
  are), so days merge hours by addition and an experiment's cumulative
  statistics never need the raw events again (the gbstats model);
* ``hourly_signals``: events per indicator / error type per pattern segment;
* ``hourly_sequences``: identical session sequences, counted once;
* ``hourly_users``: per user and task type, the user-level loop's input.

A week of a busy platform is then analysed by summing hours, not rescanning
millions of events.

Method: docs/statistics.md#sufficient-statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aitl.mining.prices import model_prices, priced_cost
from aitl.shards import SESSION_GROUP
from aitl.store.models import SEGMENT_COLUMNS, HourlyRollup

STAT_COLUMNS = tuple(
    c.name
    for c in HourlyRollup.__table__.columns
    if c.name not in ("hour", "duration_hist", *SEGMENT_COLUMNS)
)
# Durations are compared on the log scale, as ratios of geometric means:
# log(duration + 10 ms). The offset only keeps a zero duration finite; the old
# log(1 + duration) understated slowdowns (+25% read as +8.5% at 0.5 s).
LOG_OFFSET_S = 0.01
# Log-spaced bucket edges from 0.1 s to 10,000 s, 8 per decade (about 33% wide):
# bucket i holds durations in [edge[i-1], edge[i]); 0 and the last are open-ended.
DURATION_EDGES = np.logspace(-1, 4, 41)
BUCKETS = len(DURATION_EDGES) + 1
EVENT_COLUMNS = (
    *SEGMENT_COLUMNS,
    "session_id",
    "user_id",
    "complexity",
    "style_issues",
    "success",
    "duration_s",
    "quality_score",
    "errors",
    "security_warnings",
    "syntax_errors",
    "satisfaction",
    "accepted",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)


def _grouped(events: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """``[SESSION_GROUP]``, copied into ``frame``, when the events carry it (partial summaries); else []."""
    if SESSION_GROUP not in events.columns:
        return []
    frame[SESSION_GROUP] = events[SESSION_GROUP].to_numpy()
    return [SESSION_GROUP]


def _list_len(values: pd.Series) -> np.ndarray:
    return np.fromiter((len(v) if v else 0 for v in values), dtype=np.int64, count=len(values))


def rollup_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Aggregate events into one row per (hour, segment) with additive statistics."""
    if events.empty:
        return pd.DataFrame(columns=["hour", *SEGMENT_COLUMNS, *STAT_COLUMNS, "duration_hist"])
    # Each row's statistics are sums over its events: per session group too
    # when the events carry one (aitl.mining.summaries).
    frame = pd.DataFrame({"hour": events["ts"].dt.floor("h")})
    for name in SEGMENT_COLUMNS:
        filler = 0 if name == "prompt_version" else ""
        frame[name] = events[name].fillna(filler).astype("int64" if filler == 0 else "str")
    duration = pd.to_numeric(events["duration_s"], errors="coerce")
    log_duration = np.log(duration + LOG_OFFSET_S)
    quality = pd.to_numeric(events["quality_score"], errors="coerce")
    tokens_in = pd.to_numeric(events["tokens_in"], errors="coerce").astype(float)
    tokens_out = pd.to_numeric(events["tokens_out"], errors="coerce").astype(float)
    # The reported cost, else the tokens at the model's price (aitl.mining.prices).
    cost = pd.to_numeric(events["cost_usd"], errors="coerce").astype(float)
    cost = cost.fillna(priced_cost(events["model"], tokens_in, tokens_out, model_prices()))
    success = events["success"].astype(bool).astype(int)
    n_errors = _list_len(events["errors"])
    satisfaction = pd.to_numeric(events["satisfaction"], errors="coerce")
    accepted = events["accepted"]
    frame = frame.assign(
        n=1,
        successes=success,
        duration_n=duration.notna().astype(int),
        duration_sum=duration.fillna(0.0),
        duration_sumsq=duration.fillna(0.0) ** 2,
        log_duration_sum=log_duration.fillna(0.0),
        log_duration_sumsq=log_duration.fillna(0.0) ** 2,
        quality_n=quality.notna().astype(int),
        quality_sum=quality.fillna(0.0),
        quality_sumsq=quality.fillna(0.0) ** 2,
        error_events=(n_errors > 0).astype(int),
        error_count=n_errors,
        security_events=(_list_len(events["security_warnings"]) > 0).astype(int),
        syntax_error_events=(events["syntax_errors"].fillna(0).astype(int) > 0).astype(int),
        satisfaction_n=satisfaction.notna().astype(int),
        satisfaction_sum=satisfaction.fillna(0.0),
        satisfaction_sumsq=satisfaction.fillna(0.0) ** 2,
        accepted_n=accepted.notna().astype(int),
        accepted_count=accepted.eq(True).astype(int),  # True, or 1 from a driver; missing is not
        # Token sums in floating point: three int64 counts near 2**62 would wrap.
        tokens_in_n=tokens_in.notna().astype(int),
        tokens_in_sum=tokens_in.fillna(0.0),
        tokens_out_n=tokens_out.notna().astype(int),
        tokens_out_sum=tokens_out.fillna(0.0),
        cost_n=cost.notna().astype(int),
        cost_sum=cost.fillna(0.0),
        cost_sumsq=cost.fillna(0.0) ** 2,
        cost_successes=success.where(cost.notna(), 0),
        cost_success_sum=(cost * success).fillna(0.0),
    )
    keys = ["hour", *SEGMENT_COLUMNS, *_grouped(events, frame)]
    sums = frame.groupby(keys, sort=True)[list(STAT_COLUMNS)].sum()
    timed = frame.assign(duration_s=duration)[duration.notna().to_numpy()]
    hist = duration_histograms(timed, keys).reindex(sums.index)
    hist = hist.apply(lambda counts: counts if isinstance(counts, list) else [0] * BUCKETS)
    return sums.join(hist).reset_index()


def duration_histograms(events: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per group of ``keys``, the list of event counts per duration bucket."""
    buckets = np.searchsorted(DURATION_EDGES, events["duration_s"].to_numpy(dtype=float), side="right")
    counts = events[keys].assign(bucket=buckets).value_counts().unstack("bucket", fill_value=0)
    counts = counts.reindex(columns=range(BUCKETS), fill_value=0)
    return pd.Series(counts.to_numpy().tolist(), index=counts.index, name="duration_hist")


def hist_quantile(hist: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a duration histogram, interpolated geometrically in its bucket."""
    total = hist.sum()
    if total == 0:
        return float("nan")
    cumulative = np.cumsum(hist)
    bucket = int(np.searchsorted(cumulative, q * total, side="left"))
    low = DURATION_EDGES[bucket - 1] if bucket > 0 else DURATION_EDGES[0] / 10
    high = DURATION_EDGES[bucket] if bucket < len(DURATION_EDGES) else DURATION_EDGES[-1] * 10
    before = cumulative[bucket - 1] if bucket > 0 else 0
    within = (q * total - before) / hist[bucket] if hist[bucket] else 0.5
    return float(low * (high / low) ** within)


def outcome_token(success: bool, errors: list[dict[str, Any]] | None) -> str:
    """One event in a session sequence: its first error type, else ok / fail."""
    if errors:
        return str(errors[0]["type"])
    return "ok" if success else "fail"


def session_sequences(events: pd.DataFrame) -> pd.DataFrame:
    """Per hour, each distinct session sequence (tokens in time order) and how many sessions had it.

    Vectorised: each session's tokens are a slice of one array of token codes,
    and its sequence key the bytes of that slice, so grouping half a million
    sessions costs one pass instead of a Python join per session.
    """
    frame = pd.DataFrame({"hour": events["ts"].dt.floor("h"), "session": events["session_id"]})
    grouped = _grouped(events, frame)
    if events.empty:
        return pd.DataFrame(columns=["hour", "sequence", *grouped, "sessions"])
    frame["ts"], frame["position"] = events["ts"], np.arange(len(events))
    ordered = frame.sort_values(["hour", "session", "ts"], kind="stable")
    rows = ordered["position"].to_numpy()
    tokens = [
        outcome_token(ok, errors)
        for ok, errors in zip(
            events["success"].to_numpy()[rows].tolist(),
            events["errors"].to_numpy(dtype=object)[rows].tolist(),
            strict=True,
        )
    ]
    codes, vocabulary = pd.factorize(pd.Series(tokens, dtype=object))
    hour_codes, hours = pd.factorize(ordered["hour"])
    sessions = ordered["session"].to_numpy(dtype=object)
    starts = np.flatnonzero(
        np.r_[True, (hour_codes[1:] != hour_codes[:-1]) | (sessions[1:] != sessions[:-1])]
    )
    ends = np.r_[starts[1:], len(codes)]
    raw = codes.astype(np.int32).tobytes()
    per_session = pd.DataFrame(
        {
            "hour": hour_codes[starts],
            "key": [raw[4 * a : 4 * b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)],
            **{name: ordered[name].to_numpy()[starts] for name in grouped},
        }
    )
    counted = per_session.value_counts().rename("sessions").reset_index()
    words = np.asarray(vocabulary, dtype=object)
    counted["sequence"] = [" ".join(words[np.frombuffer(key, dtype=np.int32)]) for key in counted["key"]]
    counted["hour"] = hours[counted["hour"].to_numpy()]
    columns = ["hour", "sequence", *grouped, "sessions"]
    return counted[columns].sort_values(columns[:-1], ignore_index=True)


def user_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Per hour, user and task type: executions, successes, quality and satisfaction sums."""
    columns = [
        "hour",
        "user_id",
        "task_type",
        "n",
        "successes",
        "quality_sum",
        "quality_n",
        "satisfaction_n",
        "satisfaction_sum",
    ]
    if events.empty:
        return pd.DataFrame(columns=columns)
    satisfaction = pd.to_numeric(events["satisfaction"], errors="coerce")
    quality = pd.to_numeric(events["quality_score"], errors="coerce")
    frame = pd.DataFrame(
        {
            "hour": events["ts"].dt.floor("h"),
            "user_id": events["user_id"],
            "task_type": events["task_type"].fillna(""),
            "n": 1,
            "successes": events["success"].astype(bool).astype(int),
            "quality_sum": quality.fillna(0.0),
            "quality_n": quality.notna().astype(int),
            "satisfaction_n": satisfaction.notna().astype(int),
            "satisfaction_sum": satisfaction.fillna(0.0),
        }
    )
    keys = ["hour", "user_id", "task_type", *_grouped(events, frame)]
    return frame.groupby(keys, as_index=False)[columns[3:]].sum()
