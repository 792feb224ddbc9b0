"""The daily decision look: promote, roll back, stop or continue, with every number stored."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats as sps
from scipy.integrate import quad
from sqlalchemy import select

from aitl.config import Thresholds
from aitl.durations import parse_duration
from aitl.loop import registry
from aitl.loop.decisions import FAMILY, decide, promotion_levels
from aitl.loop.sizing import alpha_share
from aitl.loop.verification import relative_degradation
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.stats.alpha_spending import MAX_BOUNDARY, crossing_probabilities, sequential_boundaries
from aitl.stats.online_fdr import gamma, initial_wealth
from aitl.store import connect, transaction
from aitl.store.models import Decision, Experiment, HourlyRollup, Improvement, OutboxMessage
from aitl.window import Window
from tests import factories

START = datetime(2026, 11, 2, tzinfo=UTC)
DAY = timedelta(days=1)
PLANNED = 1000  # per arm


def day(i: int) -> Window:
    return Window(START + i * DAY, START + (i + 1) * DAY)


def setup_experiment(
    session, experiment_id: str = "exp-1", planned: int = PLANNED, started: datetime = START
) -> None:
    registry.ensure_registered(session, "p", "Write code.", at=START - DAY)
    registry.add_version(
        session, "p", "Write code.\nBe careful.\n", at=START, reason="test", make_current=False
    )
    session.add(
        factories.improvement(
            START,
            id=f"imp-{experiment_id}",
            dedupe_key=experiment_id,
            modification="Be careful.",
            change={"append": "Be careful."},
            confidence=0.95,
            status="running",
            status_reason="launched",
        )
    )
    session.add(
        factories.experiment(
            started, id=experiment_id, improvement_id=f"imp-{experiment_id}", planned_n_per_arm=planned
        )
    )


def add_traffic(session, window: Window, control: Traffic, variant: Traffic, n: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    rows = [
        synthetic_rollup(rng, window.start, "exp-1", "control", n[0], control),
        synthetic_rollup(rng, window.start, "exp-1", "variant", n[1], variant),
    ]
    session.execute(HourlyRollup.__table__.insert(), rows)


def run_days(url: str, variant: Traffic, days: int, n=(250, 250), control=None, thresholds=None):
    thresholds = thresholds or Thresholds.resolve()
    control = control or Traffic()
    outcomes = []
    for i in range(days):
        with transaction(connect(url)) as session:
            add_traffic(session, day(i), control, variant, n, seed=i)
            outcomes.append(decide(session, day(i), thresholds, dry_run=False))
    return outcomes


def stored(url: str) -> list[Decision]:
    with transaction(connect(url)) as session:
        return session.scalars(select(Decision).order_by(Decision.window_end)).all()


def test_relative_degradation_known_answers():
    assert relative_degradation("success_rate", 0.80, -0.10) == pytest.approx(0.5)  # failures 20% -> 30%
    assert relative_degradation("error_rate", 0.10, 0.05) == pytest.approx(0.5)
    assert relative_degradation("quality_score", 0.70, -0.07) == pytest.approx(0.1)
    assert relative_degradation("log_duration", 3.0, math.log(1.3)) == pytest.approx(0.3)
    assert relative_degradation("success_rate", 1.0, -0.01) == math.inf
    assert relative_degradation("success_rate", 0.8, 0.05) < 0


def test_parse_duration():
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="24 hours"):
        parse_duration("24 hours")


def test_clear_improvement_is_promoted_with_its_record(store_url):
    with transaction(connect(store_url)) as session:
        setup_experiment(session)
    outcomes = run_days(store_url, Traffic(success=0.90), days=4)
    decisions = stored(store_url)
    promoted = [d for d in decisions if d.decision == "promoted"]
    assert len(promoted) == 1, [(d.decision, d.reason) for d in decisions]
    record = promoted[0]
    assert record.metric == "success_rate" and record.test == "two_proportion_z"
    assert record.effect == pytest.approx(0.15, abs=0.06)
    assert record.ci_low < record.effect < record.ci_high and record.ci_low > 0
    assert record.p_value <= record.nominal_alpha
    assert record.p_adjusted <= 0.05
    assert 0 < record.information_fraction <= 1 and 0 < record.alpha_spent <= 0.05
    assert set(record.details) == {
        "success_rate",
        "error_rate",
        "quality_score",
        "log_duration",
        "sequential",
    }
    # It stops there: later days have nothing running.
    assert outcomes[-1]["experiments"] == 0 or outcomes[-1]["final"]
    with transaction(connect(store_url)) as session:
        assert registry.current(session, "p").version == 2
        experiment = session.get(Experiment, "exp-1")
        assert experiment.status == "promoted" and experiment.ended_at == record.window_end
        assert session.get(Improvement, "imp-exp-1").status == "promoted"
        messages = session.scalars(select(OutboxMessage)).all()
        assert [m.payload["decision"] for m in messages] == ["promoted"]
        assert messages[0].payload["serve_version"] == 2


def test_no_promotion_before_ab_test_duration(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    thresholds = Thresholds.resolve("staging", {"ab_test_duration": "72h"})
    run_days(sqlite_url, Traffic(success=0.95), days=2, n=(400, 400), thresholds=thresholds)
    assert {d.decision for d in stored(sqlite_url)} == {"continue"}
    assert "promotion after 72h" in stored(sqlite_url)[-1].reason
    # Before the running time no look tests the promotion: none is in the promotion schedule.
    assert all(d.details["sequential"]["promotion"] is None for d in stored(sqlite_url))


def test_harmful_variant_is_rolled_back_and_control_stays(store_url):
    with transaction(connect(store_url)) as session:
        setup_experiment(session)
    run_days(store_url, Traffic(success=0.60), days=3)
    decisions = stored(store_url)
    assert decisions[-1].decision == "rolled_back"
    assert decisions[-1].metric == "success_rate"
    assert "degraded" in decisions[-1].reason
    with transaction(connect(store_url)) as session:
        assert registry.current(session, "p").version == 1
        assert session.get(Improvement, "imp-exp-1").status == "rolled_back"


def test_a_degraded_guardrail_blocks_promotion_and_rolls_back(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    # Success better, but runs 60% longer: beyond rollback_threshold 0.2.
    run_days(sqlite_url, Traffic(success=0.85, log_duration_mean=3.0 + math.log(1.6)), days=3)
    final = stored(sqlite_url)[-1]
    assert final.decision == "rolled_back" and final.metric == "log_duration"


@pytest.mark.parametrize(("success", "reported"), [(0.75, True), (0.85, True), (0.85, False)])
def test_a_variant_that_raises_cost_per_success_by_half_is_not_promoted(sqlite_url, success, reported):
    """Equal success or 10 points better, at +50% cost per success: rolled back. Without costs: promoted."""
    # cost per success = cost per execution / success rate: the variant's is 1.5 x the control's
    control = Traffic(cost_mean=0.04 if reported else None)
    variant = Traffic(success=success, cost_mean=0.04 * 1.5 * success / 0.75 if reported else None)
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, variant, days=6, control=control)
    decisions = stored(sqlite_url)
    final = decisions[-1]
    if not reported:
        assert final.decision == "promoted"
        return
    assert "promoted" not in {d.decision for d in decisions}
    assert final.decision == "rolled_back" and final.metric == "cost_per_success", final.reason
    assert final.details["cost_per_success"]["degradation"] == pytest.approx(0.5, abs=0.2)
    assert "cost_per_success degraded" in final.reason
    with transaction(connect(sqlite_url)) as session:
        assert registry.current(session, "p").version == 1


def test_small_significant_degradation_blocks_promotion_without_rollback(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session, planned=4000)
    # Quality 5% lower (below the 20% rollback threshold) but clearly significant.
    variant = Traffic(success=0.85, quality_mean=0.665, quality_sd=0.05)
    run_days(sqlite_url, variant, days=3, n=(1500, 1500), control=Traffic(quality_sd=0.05))
    decisions = stored(sqlite_url)
    assert {d.decision for d in decisions} <= {"continue", "inconclusive"}
    assert decisions[-1].details["quality_score"]["degradation"] == pytest.approx(0.05, abs=0.01)


def test_null_variant_stops_inconclusive_at_the_planned_size(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=4, n=(300, 300))
    decisions = stored(sqlite_url)
    assert [d.decision for d in decisions] == ["continue", "continue", "continue", "inconclusive"]
    assert [d.look for d in decisions] == [1, 2, 3, 4]
    assert decisions[-1].information_fraction == 1.0
    # The final look spends all of the experiment's own level: the first of the
    # loop's stream gets W0 * gamma_1 = 0.025 * 0.08.
    own = decisions[-1].details["sequential"]["promotion"]["alpha"]
    assert own == pytest.approx(0.002)
    assert decisions[-1].alpha_spent == pytest.approx(own)
    # Early looks are stricter than the last.
    assert decisions[0].nominal_alpha < decisions[-1].nominal_alpha < 0.05
    with transaction(connect(sqlite_url)) as session:
        assert registry.current(session, "p").version == 1
        assert session.get(Experiment, "exp-1").status == "inconclusive"


def test_sample_ratio_mismatch_blocks_without_spending_a_look_then_stops_when_it_persists(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    # Day 1: 280 / 200 (p = 2.6e-4) blocks; day 2 brings 255 / 225, and the
    # mismatch of the whole sample (535 / 425, p = 3.9e-4) persists.
    with transaction(connect(sqlite_url)) as session:
        add_traffic(session, day(0), Traffic(), Traffic(), (280, 200), seed=0)
        decide(session, day(0), Thresholds.resolve(), dry_run=False)
        add_traffic(session, day(1), Traffic(), Traffic(), (255, 225), seed=1)
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
    decisions = stored(sqlite_url)
    assert [d.decision for d in decisions] == ["blocked", "stopped_srm"]
    assert [d.look for d in decisions] == [0, 0]
    assert "sample ratio mismatch" in decisions[0].reason and "again" in decisions[1].reason
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Experiment, "exp-1").status == "stopped_srm"
        assert registry.current(session, "p").version == 1  # the control is served
        (message,) = session.scalars(select(OutboxMessage)).all()
    assert message.payload["decision"] == "stopped_srm"
    assert (message.payload["n_control"], message.payload["n_variant"]) == (535, 425)
    assert message.payload["serve_version"] == 1


def test_a_mismatch_far_beyond_chance_stops_at_once(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=1, n=(300, 180))  # p = 4e-8
    (decision,) = stored(sqlite_url)
    assert decision.decision == "stopped_srm" and "far beyond chance" in decision.reason


def test_a_mismatch_at_the_final_look_stops_at_once(sqlite_url):
    """At the planned size nothing is left to wait for: one mismatched look there ends the experiment.

    Before, it was blocked and ran on (up to 12 days in the 0.46-share harness) until a second look agreed.
    """
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session, planned=250)
    run_days(sqlite_url, Traffic(), days=1, n=(310, 220))  # the planned 500 reached; p = 9e-5
    (decision,) = stored(sqlite_url)
    assert decision.decision == "stopped_srm" and "at the final look" in decision.reason


def test_a_harmful_variant_is_rolled_back_even_under_a_mismatch(sqlite_url):
    """A variant that crashes often also loses events: the guardrail acts before the SRM check."""
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(success=0.5), days=1, n=(300, 180))
    (decision,) = stored(sqlite_url)
    assert decision.decision == "rolled_back" and decision.metric == "success_rate"


def test_too_little_data_waits(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(success=0.99), days=1, n=(10, 10))
    (decision,) = stored(sqlite_url)
    assert decision.decision == "continue" and decision.look == 0 and "waiting" in decision.reason


def test_rerun_replaces_open_looks_and_keeps_final_ones(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=2, n=(300, 300))
    before = [(d.window_end, d.look, d.p_value) for d in stored(sqlite_url)]
    with transaction(connect(sqlite_url)) as session:
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
    assert [(d.window_end, d.look, d.p_value) for d in stored(sqlite_url)] == before


def test_dry_run_decides_nothing(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
        add_traffic(session, day(0), Traffic(), Traffic(success=0.55), (600, 600), seed=1)
    with transaction(connect(sqlite_url)) as session:
        summary = decide(session, day(0), Thresholds.resolve(), dry_run=True)
    assert summary["final"] == {"exp-1": "rolled_back"}
    assert stored(sqlite_url) == []
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Experiment, "exp-1").status == "running"


def test_effectiveness_counts_the_promotion_and_estimates_its_return(sqlite_url):
    from aitl.loop.effectiveness import effectiveness
    from aitl.store.reads import merged_stats

    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(success=0.90), days=2)
    with transaction(connect(sqlite_url)) as session:
        # The prompt's own traffic (outside the experiment): 700 executions in the week.
        rows = [synthetic_rollup(np.random.default_rng(9), START, "", "", 700, Traffic())]
        session.execute(HourlyRollup.__table__.insert(), [rows[0] | {"prompt_id": "p"}])
        decision = session.scalars(select(Decision).where(Decision.decision == "promoted")).one()
        window = Window(decision.window_end - DAY, decision.window_end)
        metrics = effectiveness(session, window, window_days=7)
        week = merged_stats(session, Window(window.end - 7 * DAY, window.end), prompt_id="p")
        ran = Window(START, decision.window_end)
        control = merged_stats(session, ran, experiment_id="exp-1", arm="control")
        variant = merged_stats(session, ran, experiment_id="exp-1", arm="variant")
    assert metrics["promoted"] == 1 and metrics["rolled_back"] == 0
    assert metrics["totals"]["promoted"] == 1 and sum(metrics["totals"].values()) == 1
    assert metrics["improvement_success_rate"] == 1.0
    assert metrics["learning_velocity"] == pytest.approx(1 / 7, abs=1e-4)
    assert metrics["adaptation_speed_h"]["finding_to_launch"] == 0.0
    # One experiment: its success effect shrunk by (d^2 - se^2) / d^2, below face value (the winner's curse).
    d = variant.success_rate - control.success_rate
    se2 = sum(arm.success_rate * (1 - arm.success_rate) / arm.n for arm in (control, variant))
    assert week.n == 700
    expected = d * (d * d - se2) / (d * d) * week.n / 7
    assert metrics["roi"]["extra_successes_per_day"] == pytest.approx(expected, abs=0.01)
    assert expected < d * week.n / 7
    assert metrics["roi"]["successes_lost"] == 0
    assert 0.7 < metrics["success_rate"] < 0.9


def test_a_metric_without_variation_is_left_out_not_nan():
    from aitl.loop.verification import compare_arms
    from aitl.store.reads import SegmentStats

    def arm(n: int, successes: int) -> SegmentStats:
        # every quality score 0 in both arms: Welch's test has no variance to work with
        return SegmentStats(
            n=n, successes=successes, log_duration_sum=2.0 * n, log_duration_sumsq=4.5 * n, duration_n=n
        )

    results = compare_arms(arm(100, 70), arm(100, 80), 0.05)
    assert "quality_score" not in results
    assert set(results) == {"success_rate", "error_rate", "log_duration"}
    assert all(math.isfinite(r.p_value) for r in results.values())


# --------------------------------------------------------------------------- group-sequential bookkeeping

LAUNCH = START + timedelta(hours=10)  # a launch at 10:00: the first daily look comes 14 hours later


def schedule(decisions: list[Decision], family: str = "guardrails") -> tuple[list[float], list[list[float]]]:
    """The stored looks of one family, repeats left out: informations and boundaries (one list per level)."""
    informations, bounds = [], []
    for d in decisions:
        record = d.details["sequential"]
        spent = record[family]
        if spent is None or spent["repeat"]:
            continue
        informations.append(record["information"])
        bounds.append(spent["boundaries"] if family == "guardrails" else [spent["boundary"]])
    return informations, [list(level) for level in zip(*bounds, strict=True)]


def two_look_type_one(c1: float, c2: float, s1: float, s2: float) -> float:
    """P(|Z1| >= c1 or |Z2| >= c2) under no effect, by adaptive quadrature: independent of the grid."""
    rho = math.sqrt(s1 / s2)
    sd = math.sqrt(1 - rho**2)

    def integrand(z1: float) -> float:
        return sps.norm.pdf(z1) * (sps.norm.sf((c2 - rho * z1) / sd) + sps.norm.cdf((-c2 - rho * z1) / sd))

    return 2 * sps.norm.sf(c1) + quad(integrand, -c1, c1, epsabs=1e-13, epsrel=1e-11)[0]


def test_overrun_by_the_first_look_keeps_the_type_one_error(sqlite_url):
    """Issue 11: planned size reached before the first daily look (launch at 10:00), audited at 0.069.

    The first look (14 h) is past the planned size but short of ab_test_duration:
    the guardrails spend up to t = 0.95, the promotion does not look yet. The next
    look is final: the promotion's single look at the fixed-design level, the
    guardrails' boundary from the actual correlation sqrt(n1 / n2). Integrating
    the stored boundaries at the stored informations gives each level exactly.
    """
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session, started=LAUNCH)
        add_traffic(session, Window(LAUNCH, day(0).end), Traffic(), Traffic(), (1000, 1000), seed=0)
        decide(session, day(0), Thresholds.resolve(), dry_run=False, online_fdr=False)
        add_traffic(session, day(1), Traffic(), Traffic(), (1700, 1700), seed=1)
        decide(session, day(1), Thresholds.resolve(), dry_run=False, online_fdr=False)
    first, last = stored(sqlite_url)
    assert (first.look, first.information_fraction) == (1, 0.95)
    assert first.details["sequential"]["promotion"] is None and "promotion after 24h" in first.reason
    assert last.decision == "inconclusive" and last.information_fraction == 1.0
    assert last.details["sequential"]["promotion"]["boundary"] == pytest.approx(Z_975, abs=1e-9)
    informations, bounds = schedule([first, last])
    assert informations == pytest.approx([1.0, 2.7])
    assert len(bounds) == FAMILY
    for d, (c1, c2) in enumerate(bounds, start=1):
        assert crossing_probabilities(informations, [c1, c2])[-1] == pytest.approx(0.05 / d, abs=1e-9)
        assert two_look_type_one(c1, c2, *informations) <= 0.05 / d + 1e-6


Z_975 = float(sps.norm.isf(0.025))


def test_a_long_minimum_running_time_spends_nothing_on_capped_looks(sqlite_url):
    """ab_test_duration 7d with the planned size reached by the first look: audited at 0.118."""
    thresholds = Thresholds.resolve(overrides={"ab_test_duration": "7d"})
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session, started=LAUNCH)
        add_traffic(session, Window(LAUNCH, day(0).end), Traffic(), Traffic(), (1000, 1000), seed=0)
        decide(session, day(0), thresholds, dry_run=False, online_fdr=False)
        for i in range(1, 8):
            add_traffic(session, day(i), Traffic(), Traffic(), (1700, 1700), seed=i)
            decide(session, day(i), thresholds, dry_run=False, online_fdr=False)
    decisions = stored(sqlite_url)
    assert [d.decision for d in decisions] == ["continue"] * 7 + ["inconclusive"]
    assert [d.information_fraction for d in decisions] == [0.95] * 7 + [1.0]
    informations, bounds = schedule(decisions)
    assert all(c == MAX_BOUNDARY for level in bounds for c in level[1:7])  # nothing left before the end
    for d, level in enumerate(bounds, start=1):
        assert crossing_probabilities(informations, level)[-1] == pytest.approx(0.05 / d, abs=1e-9)
        assert crossing_probabilities(informations, level)[-1] <= 0.05 / d + 1e-6
    # The promotion looked once, at the end: the fixed design.
    promotion_informations, (promotion,) = schedule(decisions, "promotion")
    assert promotion_informations == [informations[-1]] and promotion == pytest.approx([Z_975], abs=1e-9)


def test_used_boundaries_are_read_back_not_derived_again(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=1, n=(300, 300))
    with transaction(connect(sqlite_url)) as session:
        row = session.scalars(select(Decision)).one()
        record = copy.deepcopy(row.details["sequential"])
        # The guardrails measure information against the size planned at alpha,
        # the promotion against the size planned at the experiment's own level.
        g = 0.3 / alpha_share(promotion_levels(session, 0.05)["exp-1"], 0.05)
        assert record["information"] == pytest.approx(0.3) and 0.5 < g < 0.95
        assert record["guardrails"]["information"] == pytest.approx(g)
        assert record["guardrails"]["boundaries"] == pytest.approx(
            [sequential_boundaries([g], [g], 0.05 / d)[0] for d in range(1, FAMILY + 1)], abs=1e-12
        )
        # Say the first look had used 8 at every level (spent nothing): the next one must build on that.
        record["guardrails"]["boundaries"] = [MAX_BOUNDARY] * FAMILY
        row.details = {**row.details, "sequential": record}
    with transaction(connect(sqlite_url)) as session:
        add_traffic(session, day(1), Traffic(), Traffic(), (300, 300), seed=1)
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
    second = stored(sqlite_url)[-1].details["sequential"]["guardrails"]["boundaries"]
    for d in range(1, FAMILY + 1):
        looks = [g, min(2 * g, 0.95)]  # the second look is capped short of the final
        kept = sequential_boundaries([g, 2 * g], looks, 0.05 / d, used=[MAX_BOUNDARY])[-1]
        derived = sequential_boundaries([g, 2 * g], looks, 0.05 / d)[-1]
        assert second[d - 1] == pytest.approx(kept, abs=1e-12) and kept < derived


def test_looks_stored_before_boundaries_were_kept_still_count(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=1, n=(300, 300))
    with transaction(connect(sqlite_url)) as session:
        row = session.scalars(select(Decision)).one()
        # As the code before stored it: the look's nominal alpha at level alpha, no boundaries.
        used = row.details["sequential"]["guardrails"]["boundaries"][0]
        row.nominal_alpha = float(2 * sps.norm.sf(used))
        row.details = {k: v for k, v in row.details.items() if k != "sequential"}
        add_traffic(session, day(1), Traffic(), Traffic(), (300, 300), seed=1)
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
        g = 0.3 / alpha_share(promotion_levels(session, 0.05)["exp-1"], 0.05)
    second = stored(sqlite_url)[-1]
    assert second.look == 2
    # The old look spent at its stored fraction (0.3); its information is on the guardrails' scale.
    at_alpha = sequential_boundaries([g, 2 * g], [0.3, min(2 * g, 0.95)], 0.05, used=[used])[-1]
    assert second.details["sequential"]["guardrails"]["boundaries"][0] == pytest.approx(at_alpha, abs=1e-12)


def test_a_look_on_the_same_data_repeats_its_boundaries(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=1, n=(300, 300))
    with transaction(connect(sqlite_url)) as session:  # no traffic on day 2
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
    first, second = stored(sqlite_url)
    assert second.look == first.look == 1
    assert second.details["sequential"]["guardrails"]["repeat"] is True
    assert (
        second.details["sequential"]["guardrails"]["boundaries"]
        == first.details["sequential"]["guardrails"]["boundaries"]
    )
    assert second.details["sequential"]["promotion"]["repeat"] is True


def test_guardrails_use_the_sequential_holm_levels(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    reported = Traffic(cost_mean=0.02)  # every guardrail metric has a test
    run_days(sqlite_url, reported, days=1, n=(300, 300), control=reported)
    (row,) = stored(sqlite_url)
    bounds = row.details["sequential"]["guardrails"]["boundaries"]
    assert len(bounds) == FAMILY == 5
    steps = sorted(float(2 * sps.norm.sf(c)) for c in bounds)  # alpha / 5 first
    metrics = sorted(row.details[m]["p_value"] for m in ("success_rate", "error_rate", "quality_score"))
    ranked = sorted(
        ("success_rate", "error_rate", "quality_score", "log_duration", "cost_per_success"),
        key=lambda m: row.details[m]["p_value"],
    )
    assert [row.details[m]["holm_level"] for m in ranked] == pytest.approx(steps, rel=1e-9)
    assert metrics == sorted(metrics)


# --------------------------------------------------------------------------- online FDR


def test_promotion_levels_come_from_the_stored_decisions_in_order(sqlite_url):
    w0 = initial_wealth(0.05)
    with transaction(connect(sqlite_url)) as session:
        for i, started in enumerate((START, START + DAY, START + 3 * DAY, START + 3 * DAY)):
            session.add(factories.experiment(started, id=f"e{i}", improvement_id=f"i{i}"))
        session.flush()
        before = promotion_levels(session, 0.05)
        assert before == pytest.approx({f"e{i}": gamma(i + 1) * w0 for i in range(4)})
        # e0 promoted at the end of day 2: e2 and e3 (started on day 3) saw it, e1 did not.
        session.add(
            Decision(
                experiment_id="e0",
                window_end=START + 2 * DAY,
                look=2,
                decision="promoted",
                reason="",
                n_control=1,
                n_variant=1,
                information_fraction=0.5,
                alpha_spent=0.0,
                nominal_alpha=0.0,
                details={},
            )
        )
        session.flush()
        after = promotion_levels(session, 0.05)
    assert after["e0"] == before["e0"] and after["e1"] == before["e1"]
    assert after["e2"] == pytest.approx(gamma(3) * w0 + (0.05 - w0) * gamma(1))
    assert after["e3"] == pytest.approx(gamma(4) * w0 + (0.05 - w0) * gamma(2))


def test_an_experiment_keeps_its_level_and_a_rerun_replays_it(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        setup_experiment(session)
    run_days(sqlite_url, Traffic(), days=3, n=(200, 200))
    before = [(d.window_end, d.look, d.details) for d in stored(sqlite_url)]
    levels = [d.details["sequential"]["promotion"]["alpha"] for d in stored(sqlite_url)]
    assert levels == pytest.approx([initial_wealth(0.05) * gamma(1)] * 3)
    with transaction(connect(sqlite_url)) as session:
        decide(session, day(1), Thresholds.resolve(), dry_run=False)
    assert [(d.window_end, d.look, d.details) for d in stored(sqlite_url)] == before


def test_a_joining_experiment_gets_the_level_it_will_have(sqlite_url):
    """``joining`` puts a not-yet-stored experiment into the stream at its start, as a launch will."""
    with transaction(connect(sqlite_url)) as session:
        for i in range(2):
            session.add(factories.experiment(START + i * DAY, id=f"e{i}", improvement_id=f"i{i}"))
        session.flush()
        joined = promotion_levels(session, 0.05, joining=("new", START + 2 * DAY))
        assert set(joined) == {"e0", "e1", "new"}
        session.add(factories.experiment(START + 2 * DAY, id="new", improvement_id="i-new"))
        session.flush()
        assert promotion_levels(session, 0.05) == pytest.approx(joined)
    assert joined["new"] == pytest.approx(gamma(3) * initial_wealth(0.05))
