"""The daily run's anomaly episodes from hourly rollups: one family over every metric and segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from aitl.loop.findings import anomaly_finding
from aitl.mining import performance
from aitl.sim import series as gen
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.window import Window

WINDOW = Window(datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
BAD = datetime(2026, 11, 18, 14, tzinfo=UTC)  # the simulator's default anomaly hour


def week_of_rollups(seed: int, bad_hours: tuple[datetime, ...] = ()) -> pd.DataFrame:
    """Two task types over a week of day-night traffic (400 events an hour on average).

    In a bad hour, as in the simulator, volume doubles and success drops to 0.35.
    """
    rng = np.random.default_rng(seed)
    hours = pd.date_range(WINDOW.start, WINDOW.end, freq="h", inclusive="left")
    volume = gen.day_night_volume(rng, hours, 400, amplitude=0.6)
    rows = []
    for hour, n in zip(hours, volume, strict=True):
        bad = hour.to_pydatetime() in bad_hours
        traffic = Traffic(success=0.35) if bad else Traffic()
        for task_type, share in (("api_endpoint", 0.6), ("refactor", 0.4)):
            row = synthetic_rollup(
                rng, hour.to_pydatetime(), "", "", int(n * share * (2 if bad else 1)), traffic
            )
            rows.append(row | {"task_type": task_type})
    return pd.DataFrame(rows)


def test_the_simulators_bad_hour_is_one_episode_per_series_it_touches():
    found = performance.anomaly_episodes(week_of_rollups(1, (BAD,)), WINDOW, DAY, 0.95)
    success = {f.segment_key: f for f in found if f.metric.name == "success_rate"}
    assert set(success) == {"all", "task_type=api_endpoint", "task_type=refactor"}
    for episode in success.values():
        assert episode.episode.start == episode.episode.peak == pd.Timestamp(BAD)
        assert episode.episode.points == 1 and episode.episode.peak_score < -5
        assert episode.episode.q_value < 1e-6
        assert 0.3 < episode.episode.peak_value < 0.4 and 0.7 < episode.expected < 0.8
        assert episode.hours_scored == 7 * 24


def test_a_clean_week_has_no_episode_in_its_day():
    # 3 segments x 6 metrics x 24 hours flagged as one family: nothing on clean traffic.
    assert performance.anomaly_episodes(week_of_rollups(2), WINDOW, DAY, 0.95) == []


def test_an_episode_becomes_a_finding_with_confidence_one_minus_q():
    found = performance.anomaly_episodes(week_of_rollups(3, (BAD,)), WINDOW, DAY, 0.95)
    episode = next(f for f in found if f.metric.name == "success_rate" and f.segment_key == "all").episode
    pattern = {
        "kind": "anomaly",
        "signal": "success_rate",
        "category": "quality",
        "subtype": "error_handling",
        "segment": {"hour": episode.peak.isoformat()},
        "rate": episode.peak_value,
        "baseline_rate": 0.75,
        "details": {
            "score": episode.peak_score,
            "q_value": 0.004,
            "start": episode.start.isoformat(),
            "end": (episode.end + timedelta(hours=2)).isoformat(),
            "hours": 3,
            "sensitivity": 0.95,
        },
    }
    finding = anomaly_finding(pattern)
    assert finding["confidence"] == 0.996
    assert finding["evidence"]["q_value"] == 0.004 and finding["segment"] == {}
    assert finding["severity"] == "high"  # q at most a tenth of the run's 5%
    assert "from 2026-11-18T14h to 2026-11-18T16h" in finding["title"] and "q=0.004" in finding["title"]
    weaker = anomaly_finding(pattern | {"details": pattern["details"] | {"q_value": 0.03}})
    assert weaker["severity"] == "low" and weaker["confidence"] == 0.97


def test_satisfaction_is_scored_by_its_ratings_not_its_events():
    assert performance.METRIC_BY_NAME["satisfaction"].volume == "satisfaction_n"
    rollups = week_of_rollups(4)
    volumes = performance.hourly_volumes(rollups, WINDOW)
    assert list(volumes.columns) == ["duration_n", "n", "quality_n", "satisfaction_n"]
    assert volumes["n"].sum() == rollups["n"].sum() and (volumes["satisfaction_n"] == 0).all()
    empty = performance.hourly_volumes(rollups.iloc[:0], WINDOW)
    assert len(empty) == 7 * 24 and (empty.to_numpy() == 0).all()
    assert performance.METRIC_BY_NAME["success_rate"].volume == "n"
    assert performance.LOG_DURATION.volume == "duration_n"  # durations are scanned as a mean of logs
    assert performance.METRIC_BY_NAME["mean_quality"].volume == "quality_n"  # over the events reporting one
