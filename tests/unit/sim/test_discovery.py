"""Findings on simulated traffic through the real cycles: the short versions of bench/findings.py.

The bench runs a null week and five planted days at 400 events an hour over
seeds not used here; these runs are smaller, with their own seeds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aitl.sim.discovery import null_run, outcome_only_hour, planted_run
from aitl.window import Window


def test_each_planted_cause_is_found_once_at_its_segment():
    causes = planted_run(
        Window(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)), rate=250, seed=61
    )
    assert [c["cause"] for c in causes] == [
        "security hotspot",
        "complex tasks' timeouts",
        "prompt regression (hourly)",
        "anomalous hour",
    ]
    assert all(c["found"] and c["exactly_one_at_segment"] for c in causes), causes


def test_null_traffic_raises_no_frequency_insight_and_launches_nothing():
    """Three quiet days through every hourly cycle, the daily cycle on the third."""
    result = null_run(
        Window(datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)), rate=200, seed=62
    )
    assert result["days"] == 1
    assert not [kind for kind in result["by_kind_per_day"] if kind.endswith("frequency")], result
    assert result["launched"] == 0, result


def test_an_outcome_only_hour_still_plans():
    """Events without error types or indicators: no pattern, and planning still runs on the hour."""
    hour = Window(datetime(2026, 11, 18, 14, tzinfo=UTC), datetime(2026, 11, 18, 15, tzinfo=UTC))
    result = outcome_only_hour(hour, rate=1500, seed=63)
    assert result["stages"]["extract_patterns"] == "no signal reached min_frequency"
    assert "generate_insights" not in result["stages"]
    assert result["stages"]["plan_actions"] == "ok" and result["planned"], result
