"""The harm boundary: known answers, its error bound under no effect, and how fast it acts on clear harm."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from aitl.config import Thresholds
from aitl.loop import harm
from aitl.loop.harm import ALPHA_HARM, harm_at_look, pocock_spent
from aitl.loop.verification import verify
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.stats.cost import CostSums, cost_per_success
from aitl.stats.hypothesis import two_proportions
from aitl.store import connect, transaction
from aitl.store.models import Decision, Experiment, HourlyRollup, OutboxMessage
from aitl.window import Window
from tests.unit.loop.test_decisions import setup_experiment

START = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_pocock_spending_known_answers():
    assert pocock_spent(0.0, 0.01) == 0.0
    assert pocock_spent(1.0, 0.01) == pytest.approx(0.01)
    assert pocock_spent(0.5, 0.01) == pytest.approx(0.01 * math.log(1 + (math.e - 1) / 2))
    assert pocock_spent(2.0, 0.01) == pytest.approx(0.01)  # clipped: never more than alpha
    # Pocock-type spends early: half of alpha at (sqrt(e) - 1) / (e - 1), 38% of the information.
    assert pocock_spent((math.sqrt(math.e) - 1) / (math.e - 1), 0.01) == pytest.approx(0.005)


def test_a_look_that_adds_no_information_cannot_roll_back():
    bad = two_proportions(900, 1000, 500, 1000)  # a huge harm
    assert harm_at_look({"success_rate": bad}, 0.4, 0.4, ALPHA_HARM, 0.2) is None
    found = harm_at_look({"success_rate": bad}, 0.3, 0.4, ALPHA_HARM, 0.2)
    assert found is not None and found.metric == "success_rate" and found.degradation == pytest.approx(4.0)


def test_a_significant_harm_below_the_rollback_threshold_is_not_rolled_back():
    small = two_proportions(9000, 10000, 8900, 10000)  # failures 10% -> 11%: +10%, significant
    assert harm_at_look({"success_rate": small}, 0.0, 0.5, ALPHA_HARM, 0.2) is None


def test_a_dearer_variant_waits_for_the_daily_look():
    """Cost per success is no hourly harm: ALPHA_HARM is split over the four metrics users feel."""
    dear = cost_per_success(CostSums(1000, 10.0, 0.2, 800, 8.0), CostSums(1000, 30.0, 1.8, 800, 24.0))
    assert math.expm1(dear.effect) == pytest.approx(2.0) and dear.p_value < 1e-12  # three times the cost
    assert harm.HARM_METRICS == ("success_rate", "error_rate", "quality_score", "log_duration")
    assert harm_at_look({"cost_per_success": dear}, 0.0, 0.5, ALPHA_HARM, 0.2) is None


def _hourly(p_control: float, p_variant: float, per_hour: int, hours: int, rng) -> tuple[bool, int]:
    planned_total = 3000
    counts = np.zeros(4, dtype=int)
    previous = 0.0
    for hour in range(1, hours + 1):
        counts += [per_hour, rng.binomial(per_hour, p_control), per_hour, rng.binomial(per_hour, p_variant)]
        fraction = min(2 * counts[0] / planned_total, 1.0)
        result = two_proportions(counts[1], counts[0], counts[3], counts[2])
        if harm_at_look({"success_rate": result}, previous, fraction, ALPHA_HARM, 0.2):
            return True, hour
        previous = fraction
    return False, hours


def test_hourly_looks_under_no_effect_stay_within_the_harm_alpha():
    """The union bound holds whatever the number of looks: 200 one-week experiments, 168 looks each."""
    rng = np.random.default_rng(11)
    runs = 200
    false = sum(_hourly(0.9, 0.9, 30, 168, rng)[0] for _ in range(runs))
    assert false / runs <= ALPHA_HARM + 3 * math.sqrt(ALPHA_HARM * (1 - ALPHA_HARM) / runs)


def test_a_ten_point_harm_is_caught_within_hours():
    rng = np.random.default_rng(12)
    hours = [_hourly(0.9, 0.8, 60, 48, rng) for _ in range(60)]
    assert all(found for found, _ in hours)
    assert np.median([hour for _, hour in hours]) <= 12


def test_the_hourly_check_rolls_back_records_and_publishes(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    rng = np.random.default_rng(3)
    rolled = None
    for h in range(12):
        window = Window(START + h * HOUR, START + (h + 1) * HOUR)
        with transaction(connect(sqlite_url)) as session:
            rows = [
                synthetic_rollup(rng, window.start, "exp-1", "control", 60, Traffic(success=0.9)),
                synthetic_rollup(rng, window.start, "exp-1", "variant", 60, Traffic(success=0.7)),
            ]
            session.execute(HourlyRollup.__table__.insert(), rows)
            verify(session, window, 0.05, "hourly")
            summary = harm.check(session, window, Thresholds.resolve(), dry_run=False)
        if summary["rolled_back"]:
            rolled = h
            break
    assert rolled is not None and rolled < 6
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Experiment, "exp-1").status == "rolled_back"
        (decision,) = session.scalars(select(Decision)).all()
        (message,) = session.scalars(select(OutboxMessage)).all()
    assert decision.decision == "rolled_back" and decision.look == 0 and "harm boundary" in decision.reason
    assert message.payload["decision"] == "rolled_back" and message.payload["serve_version"] == 1
