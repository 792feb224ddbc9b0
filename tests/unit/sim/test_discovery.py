"""Findings on simulated traffic through the real cycles: the short versions of bench/findings.py.

The bench runs a null week and five planted days at 400 events an hour over
seeds not used here; these runs are smaller, with their own seeds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aitl.sim.discovery import null_run, planted_run
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
