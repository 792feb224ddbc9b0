"""Pattern extraction, insight selection, planning and the implementation gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sqlalchemy import select

from aitl.config import Thresholds
from aitl.loop import registry
from aitl.loop.filing import finding_id
from aitl.loop.implementation import implement
from aitl.loop.insights import frequency_findings
from aitl.loop.planning import TimeoutPolicy, plan
from aitl.mining.frequency import complexity_band, extract_frequency, signal_counts
from aitl.store import connect, transaction
from aitl.store.models import Experiment, Improvement
from aitl.window import Window
from tests import factories

WINDOW = Window(datetime(2026, 11, 20, 5, tzinfo=UTC), datetime(2026, 11, 20, 6, tzinfo=UTC))


def frame(rows: list[dict]) -> pd.DataFrame:
    defaults = {
        "event_id": None,
        "agent_tier": "T1",
        "prompt_id": "p",
        "task_type": "t",
        "language": "python",
        "complexity": 0.2,
        "security_warnings": [],
        "style_issues": [],
        "errors": [],
        "success": True,
        "duration_s": 10.0,
        "size": 100,
    }
    events = pd.DataFrame([{**defaults, "event_id": f"e{i}", **r} for i, r in enumerate(rows)])
    return events.assign(ts=pd.Timestamp(WINDOW.start)) if len(events) else events.assign(ts=[])


def freq(events: pd.DataFrame, min_frequency: int = 5):
    """Frequency patterns as the pipeline computes them: via the hourly signal counts."""
    return extract_frequency(signal_counts(events), min_frequency, alpha=0.05)


def planted(hot_hits: int = 8, hot_n: int = 20, cold_hits: int = 2, cold_n: int = 180) -> pd.DataFrame:
    rows = [
        {"prompt_id": "hot", "security_warnings": ["SQL_Injection"] if i < hot_hits else []}
        for i in range(hot_n)
    ]
    rows += [
        {"prompt_id": "cold", "security_warnings": ["sql injection"] if i < cold_hits else []}
        for i in range(cold_n)
    ]
    return frame(rows)


def test_frequency_pattern_counts_rates_and_rate_ratio_p_value():
    found = freq(planted())
    by_segment = {p.segment.get("prompt_id", "*"): p for p in found}
    assert set(by_segment) == {"*", "hot"}  # cold has 2 < min_frequency occurrences
    hot = by_segment["hot"]
    assert (hot.signal, hot.category, hot.subtype) == ("sql injection", "security", "input_validation")
    assert (hot.count, hot.segment_n, hot.rate, hot.baseline_rate) == (8, 20, 0.4, 2 / 180)
    # H0: hot's rate is at most twice the rest's; given the 10 hits, hot's share is
    # binomial with probability 2 x 20 / (2 x 20 + 180) at the boundary
    expected = binomtest(8, 10, 40 / 220, alternative="greater").pvalue
    assert hot.p_value == pytest.approx(expected)
    assert hot.lift == pytest.approx(0.4 / (2 / 180))
    overall = by_segment["*"]
    assert (overall.count, overall.segment_n) == (10, 200)
    # one family of two tests (window-wide, hot): Benjamini-Hochberg by hand
    low, high = sorted([overall.p_value, hot.p_value])
    q_low, q_high = min(2 * low, high), high
    assert hot.q_value == pytest.approx(q_low if hot.p_value == low else q_high)
    assert hot.details["cause"] and hot.details["sub_segments"][0]["count"] == 8


def test_error_types_and_unknown_signals_are_kept():
    rows = [{"errors": [{"type": "Timeout"}, {"type": "timeout"}]} for _ in range(6)]
    rows += [{"style_issues": ["brand new smell"]} for _ in range(6)]
    found = {(p.signal_kind, p.signal): p for p in freq(frame(rows)) if not p.segment}
    assert found[("error_type", "timeout")].count == 6  # counted once per event
    assert found[("error_type", "timeout")].category == "performance"
    assert found[("indicator", "brand new smell")].category == "unclassified"


def test_nothing_below_min_frequency_and_empty_input():
    assert freq(planted(hot_hits=4, cold_hits=0)) == []
    assert freq(frame([])) == []


def test_complexity_bands():
    bands = complexity_band(pd.Series([0.0, 0.39, 0.4, 0.69, 0.7, 1.0, None]))
    assert list(bands) == ["low", "low", "medium", "medium", "high", "high", "unknown"]


def pattern_dicts(events: pd.DataFrame) -> list[dict]:
    return [p.pattern().as_row("hourly", WINDOW) for p in freq(events)]


def test_insights_need_significance_and_lift():
    rows = frequency_findings(pattern_dicts(planted()), alpha=0.05)
    assert len(rows) == 1  # the segment explains the window-wide pattern
    insight = rows[0]
    assert insight["segment"]["prompt_id"] == "hot"
    assert (insight["severity"], insight["category"]) == ("critical", "security")
    assert insight["confidence"] == pytest.approx(1 - insight["evidence"]["q_value"], abs=1e-6)
    # spread evenly: no segment stands out, and a 10% indicator rate is platform-wide
    even = planted(hot_hits=2, hot_n=20, cold_hits=18, cold_n=180)
    rows = frequency_findings(pattern_dicts(even), alpha=0.05)
    assert [r["segment"] for r in rows] == [{}]


def test_error_types_raise_no_window_wide_insight():
    rows = [
        {"prompt_id": f"p{i % 5}", "errors": [{"type": "syntax_error"}] if i % 7 == 0 else []}
        for i in range(400)
    ]
    assert frequency_findings(pattern_dicts(frame(rows)), alpha=0.05) == []


def test_adaptive_timeout_policy():
    policy = TimeoutPolicy()
    durations = np.arange(1, 101, dtype=float)
    seconds, basis = policy.timeout(durations, complexity=0.9, size=100)
    assert seconds == pytest.approx(np.percentile(durations, 95) * 1.2)
    assert basis.startswith("p95")
    seconds, basis = policy.timeout(durations[:4], complexity=1.0, size=1)
    assert seconds == pytest.approx(120 * 1.5) and basis.startswith("heuristic")
    assert policy.timeout(np.full(10, 1.0), 0.5, 10)[0] == policy.min_s
    assert policy.timeout(np.full(10, 1e5), 0.5, 10)[0] == policy.max_s


def planned_rows(session, events, window=WINDOW, **kw):
    insights = [{"id": finding_id(f), **f} for f in frequency_findings(pattern_dicts(events), alpha=0.05)]
    args = {"confidence_threshold": 0.7, "max_per_cycle": 10, "level": "hourly"} | kw
    return plan(session, insights, events, window, **args)


def test_planning_refines_the_blamed_prompt_and_never_repeats_an_active_plan(sqlite_url):
    events = planted()
    with transaction(connect(sqlite_url)) as session:
        rows, skipped = planned_rows(session, events)
        assert [(r["type"], r["target_id"], r["status"]) for r in rows] == [
            ("prompt_refinement", "hot", "planned")
        ]
        assert ": add validation." in rows[0]["modification"]
        session.add(Improvement(**rows[0]))
        later = Window(WINDOW.end, WINDOW.end + timedelta(hours=1))
        again, skipped = planned_rows(session, events, window=later)
        assert again == [] and skipped["already_active"] == 1
        capped, skipped = planned_rows(session, events, max_per_cycle=0)
        assert capped == [] and skipped["over_cap"] == 1


def test_timeouts_become_workflow_settings(sqlite_url):
    rows = [
        {
            "prompt_id": "etl",
            "task_type": "data_pipeline",
            "complexity": 0.9,
            "errors": [{"type": "timeout"}] if i < 10 else [],
            "success": i >= 10,
            "duration_s": float(i),
        }
        for i in range(30)
    ]
    rows += [{"prompt_id": "other", "complexity": 0.1} for _ in range(200)]
    with transaction(connect(sqlite_url)) as session:
        plans, _ = planned_rows(session, frame(rows))
    assert [(p["type"], p["target_id"]) for p in plans] == [
        ("workflow_optimization", "timeout:data_pipeline:high")
    ]
    expected = np.percentile(np.arange(10, 30, dtype=float), 95) * 1.2
    assert f"{expected:.0f} s" in plans[0]["modification"]


def improvement(**fields) -> Improvement:
    return factories.improvement(WINDOW.end, **({"target_id": "hot"} | fields))


SETTING = {
    "type": "workflow_optimization",
    "target_kind": "config",
    "target_id": "timeout:x:high",
    "change": {"timeout_s": 90},
}


@pytest.mark.parametrize(
    ("fields", "thresholds", "status", "reason"),
    [
        ({"confidence": 0.5}, {}, "rejected", "improvement_confidence_threshold"),
        ({**SETTING}, {}, "proposed", "never changes settings unattended"),
        ({**SETTING}, {"safety_mode": False}, "applied", "timeout:x:high v2 applied"),
        ({"confidence": 0.85}, {}, "proposed", "auto_implement_threshold"),
        ({}, {"max_concurrent_improvements": 0}, "deferred", "safety mode"),
        ({}, {"improvement_budget": 5}, "deferred", "budget: 0 of improvement_budget 5"),
        ({"target_id": "unregistered"}, {}, "deferred", "not registered"),
        ({}, {}, "running", "launched"),
    ],
)
def test_implementation_gates(sqlite_url, fields, thresholds, status, reason):
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "hot", "Write an endpoint.", at=WINDOW.start)
        session.add(improvement(**fields))
    with transaction(connect(sqlite_url)) as session:
        summary = implement(
            session, WINDOW, Thresholds.resolve("staging", thresholds), dry_run=False, level="hourly"
        )
    with transaction(connect(sqlite_url)) as session:
        stored = session.get(Improvement, "imp-1")
        assert stored.status == status
        assert reason in stored.status_reason
        experiments = session.scalars(select(Experiment)).all()
    assert summary["launched"] == (1 if status == "running" else 0)
    assert len(experiments) == summary["launched"]


def test_a_second_experiment_on_the_same_prompt_waits(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "hot", "Write an endpoint.", at=WINDOW.start)
        session.add(improvement(id="a", dedupe_key="a", priority_score=3.0))
        session.add(improvement(id="b", dedupe_key="b", priority_score=2.0))
    with transaction(connect(sqlite_url)) as session:
        implement(session, WINDOW, Thresholds.resolve(), dry_run=False, level="hourly")
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "a").status == "running"
        assert "conflict" in session.get(Improvement, "b").status_reason


def test_dry_run_changes_nothing(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "hot", "Write an endpoint.", at=WINDOW.start)
        session.add(improvement())
    with transaction(connect(sqlite_url)) as session:
        summary = implement(session, WINDOW, Thresholds.resolve(), dry_run=True, level="hourly")
    assert summary["launched"] == 1 and summary["dry_run"]
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-1").status == "planned"
        assert session.scalars(select(Experiment)).all() == []


def test_development_profile_relaxes_and_unknown_overrides_are_refused():
    assert Thresholds.resolve("development").auto_implement_threshold == 0.7
    assert Thresholds.resolve("production").safety_mode is True
    from aitl.config import ConfigError

    with pytest.raises(ConfigError, match="nonsense"):
        Thresholds.resolve("staging", {"nonsense": 1})
    with pytest.raises(ConfigError, match="alpha"):
        Thresholds.resolve("staging", {"alpha": "high"})
    with pytest.raises(ConfigError, match="profile 'prod'"):
        Thresholds.resolve("prod")


def rollup(arm: str, n: int, successes: int, hour) -> dict:
    from aitl.mining.rollups import BUCKETS

    return {
        "hour": hour,
        "agent_tier": "T1",
        "task_type": "t",
        "language": "python",
        "model": "m",
        "prompt_id": "hot",
        "prompt_version": 1 if arm == "control" else 2,
        "experiment_id": "exp-1",
        "arm": arm,
        "n": n,
        "successes": successes,
        "duration_n": n,
        "quality_n": n,
        "duration_sum": 10.0 * n,
        "duration_sumsq": 100.0 * n,
        "log_duration_sum": 2.0 * n,
        "log_duration_sumsq": 4.5 * n,
        "quality_sum": 0.7 * n,
        "quality_sumsq": 0.5 * n,
        "error_events": 0,
        "error_count": 0,
        "security_events": 0,
        "syntax_error_events": 0,
        "satisfaction_n": 0,
        "satisfaction_sum": 0.0,
        "satisfaction_sumsq": 0.0,
        "accepted_n": 0,
        "accepted_count": 0,
        "tokens_in_n": 0,
        "tokens_in_sum": 0.0,
        "tokens_out_n": 0,
        "tokens_out_sum": 0.0,
        "cost_n": 0,
        "cost_sum": 0.0,
        "cost_sumsq": 0.0,
        "cost_successes": 0,
        "cost_success_sum": 0.0,
        "duration_hist": [0] * BUCKETS,
    }


@pytest.mark.parametrize(
    ("control_n", "variant_n", "verdict"), [(500, 500, "ok"), (600, 400, "sample_ratio_mismatch")]
)
def test_a_sample_ratio_mismatch_blocks_every_verdict_of_the_look(sqlite_url, control_n, variant_n, verdict):
    from aitl.loop.verification import verify
    from aitl.store.models import ExperimentResult, HourlyRollup

    started = WINDOW.start - timedelta(hours=1)
    with transaction(connect(sqlite_url)) as session:
        session.add(factories.experiment(started, prompt_id="hot"))
        for arm, n in (("control", control_n), ("variant", variant_n)):
            session.add(HourlyRollup(**rollup(arm, n, int(n * (0.6 if arm == "control" else 0.8)), started)))
    with transaction(connect(sqlite_url)) as session:
        verify(session, WINDOW, alpha=0.05, level="hourly")
        verdicts = {r.metric: r.verdict for r in session.scalars(select(ExperimentResult))}
    assert verdicts["sample_ratio"] == verdict
    if verdict == "ok":
        assert verdicts["success_rate"] == "variant_better"
    else:
        assert verdicts["success_rate"] == verdicts["quality_score"] == "blocked_by_srm"


def test_a_failed_change_is_retested_only_against_a_new_control(sqlite_url):
    from aitl.loop.planning import _blocked

    later = Window(WINDOW.start + timedelta(days=2), WINDOW.end + timedelta(days=2))
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "hot", "Write an endpoint.", at=WINDOW.start)
        session.add(improvement(status="inconclusive", dedupe_key="k"))
        session.add(
            factories.experiment(
                WINDOW.end, prompt_id="hot", status="inconclusive", ended_at=WINDOW.end + timedelta(days=1)
            )
        )
    with transaction(connect(sqlite_url)) as session:
        assert _blocked(session, "k", later, "hourly")  # same control: not again for 30 days
        registry.ensure_registered(session, "hot", "Write an endpoint. v2", at=later.start)
        assert not _blocked(session, "k", later, "hourly")  # a release since: a new question


def test_a_deferred_improvement_does_not_block_planning_it_again(sqlite_url):
    from aitl.loop.planning import _blocked

    with transaction(connect(sqlite_url)) as session:
        session.add(improvement(status="deferred", dedupe_key="k", status_reason="budget: ..."))
        session.add(improvement(id="imp-2", status="proposed", dedupe_key="k2"))
    later = Window(WINDOW.start + timedelta(hours=3), WINDOW.end + timedelta(hours=3))
    with transaction(connect(sqlite_url)) as session:
        assert not _blocked(session, "k", later, "hourly")
        assert _blocked(session, "k2", later, "hourly")  # waiting for a person: not planned twice
