"""The page shows anomaly episodes (start to end, peak, metric, segment), not anomalous points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from aitl.mining.pattern import PatternRow
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.store import connect, transaction
from aitl.store.models import HourlyRollup, Pattern
from aitl.ui.dashboard import dashboard
from aitl.ui.markup import ADVERSE
from aitl.ui.page import render_html
from aitl.window import Window

DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))


def episode(metric: str, start: int, end: int, peak: int, value: float, usual: float, score: float, **where):
    """A daily run's anomaly pattern for an episode from hour ``start`` to ``end`` of DAY."""
    at = [DAY.start + timedelta(hours=h) for h in (start, end, peak)]
    return PatternRow(
        kind="anomaly",
        signal_kind="metric",
        signal=metric,
        category="quality",
        subtype="error_handling",
        segment={**where, "hour": at[2].isoformat()},
        count=end - start + 1,
        segment_n=168,
        rate=value,
        baseline_rate=usual,
        details={
            "score": score,
            "q_value": 0.0004,
            "start": at[0].isoformat(),
            "end": at[1].isoformat(),
            "hours": end - start + 1,
            "sensitivity": 0.95,
        },
    ).as_row("daily", DAY)


def test_episodes_are_listed_charted_and_counted_once(sqlite_url):
    rng = np.random.default_rng(0)
    with transaction(connect(sqlite_url)) as session:
        session.execute(
            HourlyRollup.__table__.insert(),
            [synthetic_rollup(rng, h, "", "", 40, Traffic()) for h in DAY.hours()],
        )
        session.execute(
            Pattern.__table__.insert(),
            [
                episode("success_rate", 13, 15, 14, 0.35, 0.75, -9.0),
                episode("error_rate", 20, 20, 20, 0.6, 0.2, 6.0, task_type="api_endpoint"),
            ],
        )
        # A run from before episodes: one row per anomalous hour, no start or end.
        old = episode("mean_quality", 3, 3, 3, 0.4, 0.7, -5.0)
        old["details"] = {"score": -5.0, "sensitivity": 0.95}
        old["id"] = "old-row"
        session.execute(Pattern.__table__.insert(), [old])
    with transaction(connect(sqlite_url)) as session:
        model = dashboard(session, DAY)
    shown = [(a["metric"], a["start"][11:16], a["end"][11:16], a["hour"][11:16]) for a in model["anomalies"]]
    assert shown == [
        ("mean_quality", "03:00", "03:00", "03:00"),
        ("success_rate", "13:00", "15:00", "14:00"),
        ("error_rate", "20:00", "20:00", "20:00"),
    ]
    assert model["anomalies"][1]["hours"] == 3 and model["anomalies"][1]["q_value"] == 0.0004
    assert model["tiles"]["anomaly_episodes"] == 3 and model["tiles"]["good_news_episodes"] == 0
    page = render_html(model)
    assert "3 anomaly episodes for the worse (all segments)" in page
    assert "2026-11-18 13:00 to 15:00" in page
    assert "api_endpoint" in page
    # The platform-wide episode is a band over its three hours and a dot at its peak.
    assert page.count(f'fill="{ADVERSE}" fill-opacity="0.12"') == 2  # success rate, and the old quality row
    assert f'fill="{ADVERSE}"><title>2026-11-18 13:00 to 15:00: success rate, peak 14:00' in page
