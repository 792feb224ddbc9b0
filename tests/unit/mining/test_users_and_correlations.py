"""The user-level loop and the correlation patterns, on data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, pearsonr

from aitl.mining.correlations import MIN_POINTS, correlate, segment_metrics, strong
from aitl.mining.users import failing_task_tests, satisfaction_tests
from aitl.stats.multiple import q_values


def discovered(tests, alpha=0.05):
    """The notable tests that are discoveries at FDR alpha over the family, as the daily run keeps them."""
    return [
        t
        for t, q in zip(tests, q_values([t.p_value for t in tests], alpha), strict=True)
        if q < alpha and t.notable
    ]


def users_frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "task_type", "n", "successes"])


def test_a_user_failing_one_task_type_is_found_and_others_are_not():
    rows = [("struggler", "refactor", 40, 8), ("struggler", "api", 40, 30)]  # 80% failures on refactor
    rows += [(f"u{i}", "refactor", 40, 30) for i in range(30)]  # everyone else fails 25%
    rows += [(f"u{i}", "api", 40, 31) for i in range(30)]
    rows += [("newcomer", "refactor", 5, 0)]  # too few attempts to judge
    found = discovered(failing_task_tests(users_frame(rows)))
    assert [(f.user_id, f.task_type) for f in found] == [("struggler", "refactor")]
    finding = found[0]
    assert finding.rate == pytest.approx(0.8)
    assert finding.baseline == pytest.approx((30 * 10 + 5) / (30 * 40 + 5))  # everyone else, newcomer too
    # H0: at most twice everyone else's failure rate
    assert finding.p_value == pytest.approx(
        binomtest(32, 40, 2 * finding.baseline, alternative="greater").pvalue
    )
    assert finding.pattern(1e-5).segment == {"user_id": "struggler", "task_type": "refactor"}


def test_no_user_stands_out_in_homogeneous_traffic():
    rng = np.random.default_rng(4)
    rows = [(f"u{i}", "refactor", 30, int(rng.binomial(30, 0.7))) for i in range(300)]
    # 300 tests at alpha 0.05: without the Benjamini-Hochberg correction about 15 would be "found"
    tests = failing_task_tests(users_frame(rows))
    assert len(tests) == 300 and discovered(tests) == []


def test_declining_satisfaction():
    days = pd.date_range("2026-11-10", periods=8, freq="D", tz="UTC")
    rows = []
    for i, day in enumerate(days):
        rows.append(("sad", day, 4, (5 - 0.4 * i) * 4))  # from 5 to about 2.2
        rows.append(("steady", day, 4, (4 + 0.1 * (-1) ** i) * 4))
        rows.append(("rare", day, 0, 0.0))
    frame = pd.DataFrame(rows, columns=["user_id", "hour", "satisfaction_n", "satisfaction_sum"])
    found = discovered(satisfaction_tests(frame))
    assert [f.user_id for f in found] == ["sad"]
    assert found[0].rate == pytest.approx(-0.4)


def test_correlation_known_answer_and_what_is_skipped():
    rng = np.random.default_rng(7)
    x = rng.normal(size=50)
    frame = pd.DataFrame(
        {
            "complexity": x,
            "duration_s": rng.normal(size=50),
            "quality_score": -3 * x + rng.normal(scale=0.5, size=50),
            "success": np.ones(50),
        }
    )
    tested = correlate(frame, "events")
    # driver x outcome only, and the constant outcome has no correlation to test
    assert [(c.left, c.right) for c in tested] == [
        ("complexity", "quality_score"),
        ("duration_s", "quality_score"),
    ]
    found = strong(tested, q_values([c.p_value for c in tested], 0.05), threshold=0.6, alpha=0.05)
    assert [(c.left, c.right) for c, _ in found] == [("complexity", "quality_score")]
    r, p = pearsonr(frame["complexity"], frame["quality_score"])
    assert found[0][0].r == pytest.approx(r) and found[0][0].p_value == pytest.approx(p)
    assert found[0][1] == pytest.approx(2 * p)  # the smaller of two: q = 2p
    assert found[0][0].taxonomy == ("quality", "code_structure")
    too_few = frame.head(MIN_POINTS - 1)
    assert correlate(too_few, "events") == []


def test_pairs_linked_by_definition_are_not_tested():
    rng = np.random.default_rng(3)
    tokens = rng.integers(100, 5_000, size=60).astype(float)
    frame = pd.DataFrame({"tokens_out": tokens, "size": tokens / 3, "cost_usd": tokens * 2e-6})
    assert correlate(frame, "events") == []  # size ~ tokens_out and cost ~ tokens_out: no finding


def test_segment_metrics_drop_small_segments_and_compute_rates():
    rollups = pd.DataFrame(
        {
            "n": [100, 10],
            "successes": [70, 5],
            "quality_sum": [60.0, 5.0],
            "quality_n": [80, 10],  # 20 events of the first segment reported no quality score
            "log_duration_sum": [200.0, 20.0],
            "duration_n": [100, 10],
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
    assert (row["success_rate"], row["mean_quality"], row["error_rate"]) == (0.7, 0.75, 0.3)
    assert np.isnan(row["mean_satisfaction"])
