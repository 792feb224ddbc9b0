"""Hourly rollups: correct sufficient statistics that merge by addition."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from aitl.config import Settings
from aitl.ingest.readers import landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.store import connect, transaction
from aitl.store.models import HourlyRollup
from aitl.store.reads import SegmentStats, merged_stats
from aitl.window import Window
from tests.factories import event

START = datetime(2026, 11, 20, 5, tzinfo=UTC)


def land(landing, events):
    by_hour: dict[datetime, list] = {}
    for e in events:
        ts = datetime.fromisoformat(e["timestamp"])
        by_hour.setdefault(ts.replace(minute=0, second=0), []).append(e)
    for hour, items in by_hour.items():
        path = landing_hour_dir(landing, hour) / "part.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(json.dumps(e) for e in items) + "\n")


@pytest.fixture
def two_hours(store_url, tmp_path):
    rng = np.random.default_rng(5)
    events = [
        event(
            START + timedelta(minutes=int(m)),
            success=bool(rng.random() < 0.7),
            duration_s=float(rng.lognormal(2, 0.5)),
            quality_score=float(rng.uniform(0.3, 1.0)),
            prompt_version=int(rng.integers(1, 3)),
            errors=[{"type": "timeout"}] if rng.random() < 0.2 else [],
            satisfaction=None if rng.random() < 0.5 else int(rng.integers(1, 6)),
        )
        for m in rng.integers(0, 120, 300)
    ]
    landing = tmp_path / "landing"
    land(landing, events)
    settings = Settings(store_url=store_url, landing_dir=landing)
    for hour in (START, START + timedelta(hours=1)):
        window = Window.hour_of(hour)
        run_stage("collect", window, settings)
        run_stage("normalize", window, settings)
    return store_url, events


def test_rollups_hold_exact_sufficient_statistics(two_hours):
    url, events = two_hours
    with transaction(connect(url)) as session:
        rows = session.scalars(select(HourlyRollup)).all()
        merged = merged_stats(session, Window(START, START + timedelta(hours=2)))
    assert sum(r.n for r in rows) == len(events) == merged.n
    assert {r.hour for r in rows} == {START, START + timedelta(hours=1)}
    assert {r.prompt_version for r in rows} == {1, 2}
    assert merged.successes == sum(e["success"] for e in events)
    assert merged.error_events == sum(bool(e["errors"]) for e in events)
    quality = np.array([e["quality_score"] for e in events])
    mean, var = merged.mean_var("quality")
    assert mean == pytest.approx(quality.mean(), rel=1e-9)
    assert var == pytest.approx(quality.var(ddof=1), rel=1e-9)
    assert sum(r.satisfaction_n for r in rows) == sum(e["satisfaction"] is not None for e in events)


def test_hours_merge_by_addition(two_hours):
    url, _ = two_hours
    with transaction(connect(url)) as session:
        first = merged_stats(session, Window.hour_of(START))
        second = merged_stats(session, Window.hour_of(START + timedelta(hours=1)))
        both = merged_stats(session, Window(START, START + timedelta(hours=2)))
        by_version = [
            merged_stats(session, Window(START, START + timedelta(hours=2)), prompt_version=v) for v in (1, 2)
        ]
    # Counts add exactly; sums add up to float rounding (summation order differs).
    for parts in ((first, second), tuple(by_version)):
        total = parts[0] + parts[1]
        assert asdict(total) == pytest.approx(asdict(both), rel=1e-12)
        assert (total.n, total.successes, total.error_events) == (both.n, both.successes, both.error_events)


def test_rerunning_normalize_replaces_rather_than_adds(two_hours):
    url, events = two_hours
    settings = Settings(store_url=url, landing_dir=None)
    run_stage("normalize", Window.hour_of(START), settings)
    with transaction(connect(url)) as session:
        assert merged_stats(session, Window(START, START + timedelta(hours=2))).n == len(events)


def test_segment_stats_edge_cases():
    empty = SegmentStats()
    assert np.isnan(empty.success_rate)
    one = SegmentStats(n=1, quality_sum=0.5, quality_sumsq=0.25, quality_n=1)
    mean, var = one.mean_var("quality")
    assert mean == 0.5 and np.isnan(var)
    # Three events, two with a quality score (0.4 and 0.6): the mean and variance are theirs.
    partly = SegmentStats(n=3, quality_sum=1.0, quality_sumsq=0.52, quality_n=2)
    mean, var = partly.mean_var("quality")
    assert mean == pytest.approx(0.5) and var == pytest.approx(0.02)
    assert all(np.isnan(v) for v in SegmentStats(n=5).mean_var("duration"))  # none reported a duration


def test_duration_histograms_merge_and_give_quantiles_within_a_bucket(two_hours):
    from aitl.mining.rollups import DURATION_EDGES, hist_quantile
    from aitl.store.reads import merged_histogram, rollup_frame_of

    url, events = two_hours
    with transaction(connect(url)) as session:
        frame = rollup_frame_of(session, Window(START, START + timedelta(hours=2)), ["n", "duration_hist"])
    hist = merged_histogram(frame["duration_hist"])
    assert hist.sum() == frame["n"].sum() == len(events)
    durations = np.array([e["duration_s"] for e in events])
    width = DURATION_EDGES[1] / DURATION_EDGES[0]  # one bucket, as a ratio
    for q in (0.5, 0.95):
        estimate, exact = hist_quantile(hist, q), np.quantile(durations, q)
        assert exact / width <= estimate <= exact * width


def test_signal_sequence_and_user_summaries(two_hours):
    from aitl.store.reads import window_sequences, window_signal_counts, window_users

    url, events = two_hours
    window = Window(START, START + timedelta(hours=2))
    with transaction(connect(url)) as session:
        signals = window_signal_counts(session, window)
        sequences = window_sequences(session, window)
        users = window_users(session, window)
    sizes = signals[signals["signal_kind"] == "events"]["count"].sum()
    timeouts = signals[(signals["signal_kind"] == "error_type") & (signals["signal"] == "timeout")]
    assert sizes == len(events)
    assert timeouts["count"].sum() == sum(bool(e["errors"]) for e in events)
    sessions_per_hour = {(e["session_id"], e["timestamp"][:13]) for e in events}
    assert sum(sequences.values()) == len(sessions_per_hour)
    assert all(set(seq) <= {"ok", "fail", "timeout"} for seq in sequences)
    assert users["n"].sum() == len(events)
    assert users["successes"].sum() == sum(e["success"] for e in events)
