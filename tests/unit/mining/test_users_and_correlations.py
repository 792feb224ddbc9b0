"""The user-level loop and the correlation patterns, on data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from aitl.mining.correlations import MIN_POINTS, correlate, segment_metrics
from aitl.mining.users import declining_satisfaction, failing_users


def users_frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "task_type", "n", "successes"])


def test_a_user_failing_one_task_type_is_found_and_others_are_not():
    rows = [("struggler", "refactor", 40, 8), ("struggler", "api", 40, 30)]  # 80% failures on refactor
    rows += [(f"u{i}", "refactor", 40, 30) for i in range(30)]  # everyone else fails 25%
    rows += [(f"u{i}", "api", 40, 31) for i in range(30)]
    rows += [("newcomer", "refactor", 5, 0)]  # too few attempts to judge
    found = failing_users(users_frame(rows), alpha=0.05)
    assert [(f.user_id, f.task_type) for f in found] == [("struggler", "refactor")]
    finding = found[0]
    assert finding.rate == pytest.approx(0.8)
    assert finding.baseline == pytest.approx((30 * 10 + 5) / (30 * 40 + 5))  # everyone else, newcomer too
    assert finding.p_value < 1e-6


def test_no_user_stands_out_in_homogeneous_traffic():
    rng = np.random.default_rng(4)
    rows = [(f"u{i}", "refactor", 30, int(rng.binomial(30, 0.7))) for i in range(300)]
    # 300 tests at alpha 0.05: without the Benjamini-Hochberg correction about 15 would be "found"
    assert failing_users(users_frame(rows), alpha=0.05) == []


def test_declining_satisfaction():
    days = pd.date_range("2026-11-10", periods=8, freq="D", tz="UTC")
    rows = []
    for i, day in enumerate(days):
        rows.append(("sad", day, 4, (5 - 0.4 * i) * 4))  # from 5 to about 2.2
        rows.append(("steady", day, 4, (4 + 0.1 * (-1) ** i) * 4))
        rows.append(("rare", day, 0, 0.0))
    frame = pd.DataFrame(rows, columns=["user_id", "hour", "satisfaction_n", "satisfaction_sum"])
    found = declining_satisfaction(frame, alpha=0.05)
    assert [f.user_id for f in found] == ["sad"]
    assert found[0].rate == pytest.approx(-0.4)


def test_correlation_known_answer_and_what_is_skipped():
    rng = np.random.default_rng(7)
    x = rng.normal(size=50)
    frame = pd.DataFrame(
        {
            "complexity": x,
            "duration_s": 3 * x + rng.normal(scale=0.5, size=50),
            "noise": rng.normal(size=50),
            "constant": np.ones(50),
        }
    )
    found = correlate(frame, "events", threshold=0.6, alpha=0.05)
    assert [(c.left, c.right) for c in found] == [("complexity", "duration_s")]
    r, p = pearsonr(frame["complexity"], frame["duration_s"])
    assert found[0].r == pytest.approx(r) and found[0].p_value == pytest.approx(p)
    assert found[0].taxonomy == ("performance", "optimization")
    too_few = frame.head(MIN_POINTS - 1)
    assert correlate(too_few, "events", threshold=0.6, alpha=0.05) == []


def test_segment_metrics_drop_small_segments_and_compute_rates():
    rollups = pd.DataFrame(
        {
            "n": [100, 10],
            "successes": [70, 5],
            "quality_sum": [60.0, 5.0],
            "log_duration_sum": [200.0, 20.0],
            "error_events": [30, 5],
            "security_events": [5, 0],
            "syntax_error_events": [3, 0],
            "satisfaction_n": [0, 2],
            "satisfaction_sum": [0.0, 8.0],
            "cost_sum": [2.0, 0.1],
            "tokens_out_sum": [50_000, 5_000],
        }
    )
    metrics = segment_metrics(rollups)
    assert len(metrics) == 1
    row = metrics.iloc[0]
    assert (row["success_rate"], row["mean_quality"], row["error_rate"]) == (0.7, 0.6, 0.3)
    assert np.isnan(row["mean_satisfaction"])
