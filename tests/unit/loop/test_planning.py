"""Planning with configuration changes: model and tier switches, batch size, concurrency, timeouts.

Known answers computed by hand, a false-positive check over seeds, the
Benjamini-Hochberg correction, and the planner's dedupe, threshold and cap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from aitl.config import Settings, Thresholds
from aitl.ingest.contract import validate
from aitl.loop import registry
from aitl.loop.choices import better_alternatives
from aitl.loop.planning import SKIP_REASONS, plan
from aitl.loop.tuning import ResourcePolicy, configuration_plans, resource_use
from aitl.pipeline.hourly import normalize
from aitl.pipeline.runner import run_cycle
from aitl.shards import session_bucket
from aitl.stats.hypothesis import two_proportions
from aitl.store import connect, transaction
from aitl.store.models import ConfigVersion, Event, Experiment, Improvement
from aitl.store.writes import insert_ignore
from aitl.window import Window
from tests import factories
from tests.factories import event

WINDOW = Window(datetime(2026, 11, 20, 5, tzinfo=UTC), datetime(2026, 11, 20, 6, tzinfo=UTC))
LATER = Window(WINDOW.end, WINDOW.end + timedelta(hours=1))


def executions(n: int, successes: int, **fields: Any) -> list[dict[str, Any]]:
    """``n`` factory events in the window, the first ``successes`` of them successful."""
    return [
        event(WINDOW.start + timedelta(seconds=i % 3600), success=i < successes, **fields) for i in range(n)
    ]


def store_events(session, events: list[dict[str, Any]]) -> None:
    """Store events as ingest does and build the window's rollups from them."""
    rows = [
        validate(e)
        | {"source": "test", "ingested_at": WINDOW.end, "session_bucket": session_bucket(e["session_id"])}
        for e in events
    ]
    insert_ignore(session, Event.__table__, rows)
    normalize(session, WINDOW, Settings(store_url="sqlite://", landing_dir=None))  # the stage itself


def plan_window(session, insights=(), events=None, window=WINDOW, **kw):
    args = {"confidence_threshold": 0.7, "max_per_cycle": 10, "level": "hourly"} | kw
    rows, skipped = plan(session, list(insights), events, window, **args)
    assert all(isinstance(row["change"], dict) and row["change"] for row in rows)
    return rows, skipped


def better_model_and_tier() -> list[dict[str, Any]]:
    """api_endpoint: atlas-small (85%) beats the most-used atlas-large (60%); refactor: T3 (90%), T1 (60%)."""
    return (
        executions(200, 120, task_type="api_endpoint", model="atlas-large")
        + executions(100, 85, task_type="api_endpoint", model="atlas-small")
        + executions(200, 120, task_type="refactor", agent_tier="T1")
        + executions(100, 90, task_type="refactor", agent_tier="T3")
    )


def test_a_clearly_better_model_and_tier_become_configuration_changes(store_url):
    with transaction(connect(store_url)) as session:
        store_events(session, better_model_and_tier())
        rows, skipped = plan_window(session)
        insert_ignore(session, Improvement.__table__, rows)  # storable as planned, change included
        stored = {r.target_id: r.change for r in session.scalars(select(Improvement))}
    assert [(r["type"], r["target_kind"], r["target_id"], r["change"]) for r in rows] == [
        ("agent_configuration", "config", "agent_tier:refactor", {"agent_tier": "T3"}),
        ("model_selection", "config", "model:api_endpoint", {"model": "atlas-small"}),
    ]
    assert stored == {
        "agent_tier:refactor": {"agent_tier": "T3"},
        "model:api_endpoint": {"model": "atlas-small"},
    }
    assert tuple(skipped) == SKIP_REASONS
    assert not any(skipped.values())
    tier, model = rows
    p_tier, p_model = two_proportions(120, 200, 90, 100).p_value, two_proportions(120, 200, 85, 100).p_value
    assert model["dedupe_key"] == "model_selection|model:api_endpoint"
    assert model["insight_id"] and model["status"] == "planned" and model["updated_at"] == WINDOW.end
    # one family of two comparisons: BH keeps the larger p and doubles the smaller (capped by the larger)
    assert model["confidence"] == pytest.approx(1 - p_model, abs=1e-6)
    assert tier["confidence"] == pytest.approx(1 - min(2 * p_tier, p_model), abs=1e-6)
    for text in ("atlas-small", "atlas-large", "85.0% (n=100)", "60.0% (n=200)", "+25.0%", "CI"):
        assert text in model["modification"]
    assert model["priority"] == "high"  # a 25-point gain: 3 x ~1 x 0.75


def test_no_difference_no_change(store_url):
    same = executions(200, 140, task_type="api_endpoint", model="atlas-large") + executions(
        100, 70, task_type="api_endpoint", model="atlas-small", agent_tier="T3"
    )
    with transaction(connect(store_url)) as session:
        store_events(session, same)
        rows, _ = plan_window(session)
    assert rows == []


def counts(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["column", "task_type", "value", "n", "successes"])


def test_no_false_switches_across_seeds():
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        rows = [
            (column, f"task{t}", value, n, int(rng.binomial(n, 0.7)))
            for t in range(5)
            for column, values in (("model", ("m1", "m2", "m3")), ("agent_tier", ("T1", "T2", "T3")))
            for value, n in zip(values, (300, 150, 100), strict=True)
        ]
        hits += bool(better_alternatives(counts(rows), alpha=0.05))  # 20 comparisons per seed
    assert hits <= 2


def test_benjamini_hochberg_takes_back_a_marginal_winner():
    marginal = [("model", "api", "old", 500, 350), ("model", "api", "new", 400, 310)]  # 70% vs 77.5%
    p = two_proportions(350, 500, 310, 400).p_value
    assert 0.01 < p < 0.05
    (alone,) = better_alternatives(counts(marginal), alpha=0.05)
    assert (alone.best, alone.p_adjusted, alone.comparisons) == ("new", pytest.approx(p), 1)
    nulls = [("model", f"t{i}", v, 400, 280) for i in range(10) for v in ("a", "b")]  # 10 p-values of 1
    # p x 11 / 1 > 0.05: no longer a discovery among eleven comparisons
    assert better_alternatives(counts(marginal + nulls), alpha=0.05) == []


def test_only_better_alternatives_with_enough_executions_count():
    rows = [
        ("model", "api", "big", 200, 120),
        ("model", "api", "worse", 100, 30),  # significantly worse: not a switch
        ("model", "api", "rare", 29, 29),  # perfect but below the minimum n
        ("model", "api", "", 500, 500),  # unknown model: neither current nor alternative
        ("model", "api", "good", 100, 80),
        ("model", "api", "best", 100, 90),
    ]
    found = better_alternatives(counts(rows), alpha=0.05)
    assert [(f.task_type, f.current, f.best) for f in found] == [("api", "big", "best")]


def resource_frame() -> pd.DataFrame:
    """etl: steady and complex; lint: memory-hungry half the time, complexity 0 or 1; tiny: too few."""
    common = {"success": True, "size": 100}
    rows = [
        {"task_type": "etl", "duration_s": 10.0, "cpu_s": 5.0, "memory_mb": 2048.0, "complexity": 0.8}
        for _ in range(40)
    ]
    rows += [
        {
            "task_type": "lint",
            "duration_s": 20.0,
            "cpu_s": 5.0,
            "memory_mb": 1000.0 if i % 2 else 5000.0,
            "complexity": float(i % 2),
        }
        for i in range(40)
    ]
    rows += [
        {"task_type": "tiny", "duration_s": 1.0, "cpu_s": 1.0, "memory_mb": 9000.0, "complexity": 0.5}
        for _ in range(10)
    ]
    return pd.DataFrame([common | r for r in rows])


def test_resource_use_known_answer():
    etl, lint = resource_use(resource_frame(), ResourcePolicy().min_samples)
    assert (etl.task_type, etl.n, etl.p95_memory_mb, etl.p95_cores) == ("etl", 40, 2048.0, 0.5)
    assert (lint.task_type, lint.p95_memory_mb, lint.p95_cores, lint.uniformity) == (
        "lint",
        5000.0,
        0.25,
        0.0,
    )


def test_batch_size_and_concurrency_known_answers(store_url):
    # etl: 87.5% CPU and 75% memory free on an 8192 MB / 4-core worker -> 50 x 0.8 = 40,
    #   complexity 0.8 > 0.7 -> int(40 x 0.7) = 28 (default 25: proposed);
    #   min(8192 / 2048, 4 / 0.5) = 4 concurrent = the default: not proposed.
    # lint: 39% memory free -> max(5, 50 x 0.2) = 10, uniformity 1 - 2 x 0.5 = 0 < 0.3 -> 8;
    #   min(8192 / 5000, 4 / 0.25) -> 1 concurrent.
    # tiny: 10 executions < 30: nothing.
    frame = resource_frame()
    expected = {
        "batch_size:etl": {"batch_size": 28},
        "batch_size:lint": {"batch_size": 8},
        "concurrency:lint": {"max_concurrency": 1},
    }
    with transaction(connect(store_url)) as session:
        rows, _ = plan_window(session, events=frame)
        assert {r["target_id"]: r["change"] for r in rows} == expected
        assert {(r["type"], r["target_kind"]) for r in rows} == {("workflow_optimization", "config")}
        assert all(r["confidence"] == pytest.approx(0.95) and r["priority"] != "high" for r in rows)
        assert "Now 25." in next(r for r in rows if r["target_id"] == "batch_size:etl")["modification"]
        # without resource readings (the daily cycle, or an hourly frame without them) nothing is sized
        assert plan_window(session, events=frame.drop(columns=["cpu_s", "memory_mb"]))[0] == []
        # the registry's value in force at the window's end is the current one; later versions are not
        for target, value, at in (
            ("batch_size:etl", {"batch_size": 28}, WINDOW.start),
            ("concurrency:lint", {"max_concurrency": 1}, WINDOW.end),
        ):
            session.add(
                ConfigVersion(
                    target_id=target,
                    version=1,
                    value=value,
                    parent_version=None,
                    diff="",
                    reason="test",
                    improvement_id=None,
                    created_at=at,
                )
            )
        session.flush()
        rows, _ = plan_window(session, events=frame)
    assert {r["target_id"] for r in rows} == {"batch_size:lint", "concurrency:lint"}


def insight(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "ins-sqli",
        "category": "security",
        "subtype": "input_validation",
        "signal": "sql injection",
        "title": "'sql injection' in 30% of prompt_id=hot",
        "segment": {"prompt_id": "hot"},
        "evidence": {"signal_kind": "indicator", "rate": 0.3, "baseline_rate": 0.02},
        "severity": "critical",
        "confidence": 0.99,
    }
    return base | fields


def timeout_insight() -> dict[str, Any]:
    return insight(
        id="ins-timeout",
        category="performance",
        subtype="scalability",
        signal="timeout",
        segment={"prompt_id": "etl", "task_type": "data_pipeline", "complexity_band": "high"},
        evidence={"signal_kind": "error_type", "rate": 0.3, "baseline_rate": 0.05},
        severity="high",
    )


def pipeline_runs(durations: list[float], complexity: float = 0.9, size: float = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task_type": "data_pipeline",
            "complexity": complexity,
            "size": size,
            "success": True,
            "duration_s": durations,
        }
    )


@pytest.mark.parametrize(
    ("durations", "complexity", "size", "seconds", "basis"),
    [
        # p95 of 10..29 s = 10 + 0.95 x 19 = 28.05; x 1.2 = 33.66
        (list(range(10, 30)), 0.9, 100, 34, "p95 x 1.2 over 20 samples"),
        # 4 samples: 120 x (1 + 1.0 x 0.5) x (1 + ln(1) x 0.1) = 180
        ([10.0] * 4, 1.0, 1, 180, "heuristic (only 4 samples)"),
        # heuristic 120 x 1.5 x (1 + 92.1 x 0.1) > 1800: the upper bound
        ([10.0] * 4, 1.0, 1e40, 1800, "heuristic"),
        # p95 x 1.2 = 0.12 s < 30: the lower bound
        ([0.1] * 10, 0.9, 100, 30, "p95 x 1.2"),
    ],
)
def test_adaptive_timeout_change(sqlite_url, durations, complexity, size, seconds, basis):
    with transaction(connect(sqlite_url)) as session:
        (row,), _ = plan_window(session, [timeout_insight()], pipeline_runs(durations, complexity, size))
    assert (row["type"], row["target_kind"], row["target_id"]) == (
        "workflow_optimization",
        "workflow",
        "timeout:data_pipeline:high",
    )
    assert row["change"] == {"timeout_s": seconds}
    assert f"to {seconds} s ({basis}" in row["modification"]
    assert row["dedupe_key"] == "workflow_optimization|timeout:data_pipeline:high"


def test_a_timeout_waits_for_the_hourly_events(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        rows, skipped = plan_window(session, [timeout_insight()], None, level="daily")
    assert rows == [] and skipped["no_target"] == 1


def test_prompt_refinement_change_is_the_appended_instruction(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        (row,), _ = plan_window(session, [insight()])
    assert (row["type"], row["target_id"]) == ("prompt_refinement", "hot")
    assert row["change"] == {"append": row["modification"]}
    # one remedy per experiment, the taxonomy's first for the subtype
    assert "avoid sql injection" in row["change"]["append"]
    assert ": add validation." in row["change"]["append"]
    assert "parameterize queries" not in row["change"]["append"]


def test_a_persistent_finding_gets_its_next_remedy_once_the_last_has_ended(sqlite_url):
    """add validation -> parameterize queries (promoted) -> escape output -> add validation again -> none.

    After the promotion a remedy tested against the old control may be
    retested, but only once no finding of the prompt has a remedy never tested.
    """
    finding = insight()
    documentation = insight(
        id="ins-docs",
        category="quality",
        subtype="documentation",
        signal="missing docstrings",
        severity="medium",
        evidence={"signal_kind": "indicator", "rate": 0.1, "baseline_rate": 0.02},
    )

    def remedies(window: Window, *findings: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
        rows, skipped = plan_window(session, list(findings or [finding]), window=window)
        return [row["change"]["append"].split(": ")[1].split(".")[0] for row in rows], skipped

    def tried(window: Window, status: str, control: int, *findings: dict[str, Any]) -> dict[str, Any]:
        row = plan_window(session, list(findings or [finding]), window=window)[0][0]
        session.add(Improvement(**row | {"status": status}))
        session.add(
            factories.experiment(
                row["window_end"],
                id=f"exp-{row['id']}",
                improvement_id=row["id"],
                prompt_id="hot",
                control_version=control,
                variant_version=control + 1,
                status=status,
            )
        )
        session.flush()
        return row

    hours = [Window(WINDOW.start + timedelta(hours=h), WINDOW.end + timedelta(hours=h)) for h in range(8)]
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "hot", "Write an endpoint.", at=WINDOW.start)
        assert remedies(hours[0])[0] == ["add validation"]
        first = tried(hours[0], "running", 1)
        # a rerun of the hour that launched it plans the same: its own experiment leaves the prompt free
        assert remedies(hours[0])[0] == ["add validation"]
        # while one remedy is tested, no other remedy of the finding is planned (nor the same one),
        # and no other finding's remedy for the busy prompt either
        planned, skipped = remedies(hours[1], finding, documentation)
        assert planned == [] and skipped["already_active"] == 1 and skipped["prompt_busy"] == 1
        session.get(Improvement, first["id"]).status = "inconclusive"
        session.get(Experiment, f"exp-{first['id']}").status = "inconclusive"
        session.flush()
        assert remedies(hours[2])[0] == ["parameterize queries"]
        tried(hours[2], "promoted", 1)
        registry.ensure_registered(session, "hot", "Write an endpoint. v2", at=hours[2].end)
        # a new control: the remedy never tested comes before the inconclusive one
        assert remedies(hours[3])[0] == ["escape output"]
        tried(hours[3], "rolled_back", 2)
        # only a retest is left for the security finding; while the prompt's
        # documentation finding has a remedy never tested, the retest waits
        planned, skipped = remedies(hours[4], finding, documentation)
        assert planned == ["add docstrings"] and skipped["retest_later"] == 1
        assert remedies(hours[4])[0] == ["add validation"]  # alone, the retest goes ahead
        tried(hours[5], "inconclusive", 2)
        planned, skipped = remedies(hours[6])
        assert planned == [] and skipped["already_active"] == 1  # every remedy tried against this control


def test_candidates_rank_together_under_one_threshold_and_cap(store_url):
    documentation = insight(
        id="ins-docs",
        category="quality",
        subtype="documentation",
        signal="missing docstrings",
        segment={"prompt_id": "docs"},
        evidence={"signal_kind": "indicator", "rate": 0.1, "baseline_rate": 0.02},
        severity="medium",
        confidence=0.9,
    )
    weak = insight(id="ins-weak", segment={"prompt_id": "weak"}, confidence=0.5)
    findings = [documentation, weak, insight()]
    with transaction(connect(store_url)) as session:
        store_events(session, better_model_and_tier())
        rows, skipped = plan_window(session, findings)
        # security 4 x 0.99 x 0.8 = 3.17 > tier 3 x ~1 x 0.8 = 2.4 > model 3 x ~1 x 0.75 = 2.25
        # > docs 2 x 0.9 x 0.6 = 1.08
        assert [r["target_id"] for r in rows] == ["hot", "agent_tier:refactor", "model:api_endpoint", "docs"]
        assert skipped["low_confidence"] == 1
        scores = [r["priority_score"] for r in rows]
        assert scores == sorted(scores, reverse=True)
        capped, skipped = plan_window(session, findings, max_per_cycle=2)
        assert capped == rows[:2] and skipped["over_cap"] == 2
        # the threshold holds configuration changes back like insights: resource settings carry 0.95
        strict, skipped = plan_window(session, findings, resource_frame(), confidence_threshold=0.96)
        assert [r["target_id"] for r in strict] == ["hot", "agent_tier:refactor", "model:api_endpoint"]
        assert skipped["low_confidence"] == 2 + 3


@pytest.mark.parametrize("status", ["planned", "proposed", "running", "applied"])
def test_an_active_change_to_a_setting_blocks_another(store_url, status):
    with transaction(connect(store_url)) as session:
        store_events(session, better_model_and_tier())
        rows, _ = plan_window(session)
        model = next(r for r in rows if r["type"] == "model_selection")
        # an earlier run's change of the same setting, to another value
        earlier = model | {"id": "earlier", "window_start": WINDOW.start - timedelta(hours=1)}
        session.add(Improvement(**earlier | {"status": status, "change": {"model": "atlas-medium"}}))
        session.flush()
        rows, skipped = plan_window(session)
        assert [r["target_id"] for r in rows] == ["agent_tier:refactor"]
        assert skipped["already_active"] == 1
        # the same run rerun still plans what it planned (its own rows do not block it)
        session.get(Improvement, "earlier").window_start = WINDOW.start
        session.flush()
        assert len(plan_window(session)[0]) == 2


def test_configuration_plans_are_improvement_rows(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        store_events(session, better_model_and_tier())
        rows = configuration_plans(session, WINDOW, "daily", resource_frame(), alpha=0.05)
    columns = {c.name for c in Improvement.__table__.columns}
    assert rows and all(set(r) == columns for r in rows)
    assert {r["level"] for r in rows} == {"daily"}
    assert len({r["id"] for r in rows}) == len(rows) == 5


def test_an_hour_without_signals_still_compares_models_and_tiers(sqlite_url, tmp_path):
    """Outcome-only events (no error types, no indicators): no pattern, yet the better model is planned.

    Pattern extraction stops ("no signal reached min_frequency"), and that ends
    only the insights that depend on it: planning runs on the hour's evidence.
    """
    with transaction(connect(sqlite_url)) as session:
        store_events(session, better_model_and_tier())
    settings = Settings(
        store_url=sqlite_url, landing_dir=tmp_path / "landing", thresholds=Thresholds.resolve()
    )
    results = run_cycle(WINDOW, settings)
    assert results["extract_patterns"].stop == "no signal reached min_frequency"
    assert "generate_insights" not in results
    assert results["plan_actions"].stop is None
    assert results["plan_actions"].summary["by_type"] == {"agent_configuration": 1, "model_selection": 1}
    assert results["implement"].summary["considered"] == 2


# --------------------------------------------------------------------------- cost: the cost-success frontier


def priced_runs(rng: np.random.Generator, model: str, n: int, p: float, **cost: Any) -> list[dict[str, Any]]:
    """``n`` simulated api_endpoint runs of ``model`` in the window, successful with chance ``p``.

    ``cost`` is either ``cost_usd=<mean>`` (reported, log-normal) or
    ``tokens=<mean input tokens>`` (no cost reported: priced from the tokens).
    """
    success = rng.random(n) < p
    runs = []
    for i in range(n):
        if "cost_usd" in cost:
            fields = {"cost_usd": float(rng.lognormal(np.log(cost["cost_usd"]) - 0.32, 0.8))}
        else:
            tokens_in = int(rng.lognormal(np.log(cost["tokens"]), 0.5))
            fields = {"cost_usd": None, "tokens_in": tokens_in, "tokens_out": tokens_in // 4}
        at = WINDOW.start + timedelta(seconds=int(rng.integers(3600)))
        runs.append(event(at, task_type="api_endpoint", model=model, success=bool(success[i]), **fields))
    return runs


def test_an_equally_good_cheaper_model_is_recommended_with_its_saving(store_url, tmp_path, monkeypatch):
    """nova-mid succeeds as often as the most-used atlas-large at about 40% of its cost per success.

    atlas-large reports its cost; nova-mid reports only tokens, priced by the
    deployment's price table (AITL_MODEL_PRICES).
    """
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."nova-mid"]\ninput_per_mtok = 10.0\noutput_per_mtok = 40.0\n')
    monkeypatch.setenv("AITL_MODEL_PRICES", str(prices))
    rng = np.random.default_rng(2024)
    # Non-inferiority at 2 points needs thousands of runs a side: a busy hour.
    runs = priced_runs(rng, "atlas-large", 12000, 0.72, cost_usd=0.05)
    runs += priced_runs(rng, "nova-mid", 10000, 0.72, tokens=1000)  # 1000 x 10 + 250 x 40 per 1M: $0.02
    with transaction(connect(store_url)) as session:
        store_events(session, runs)
        rows, _ = plan_window(session)
    (row,) = [r for r in rows if r["type"] == "model_selection"]
    assert row["change"] == {"model": "nova-mid"}
    assert "non-inferior at a margin of 2%" in row["modification"]
    large = [r["cost_usd"] for r in runs if r["model"] == "atlas-large"]
    nova = [(r["tokens_in"] * 10.0 + r["tokens_out"] * 40.0) / 1e6 for r in runs if r["model"] == "nova-mid"]
    per_day = 12000 * 24  # the window is one hour
    saving = (np.mean(large) - np.mean(nova)) * per_day
    assert saving > 500
    assert f"saves about ${saving:,.2f} a day" in row["modification"]
    assert f"about ${saving:,.2f} a day" in row["expected_effect"]
    assert row["confidence"] > 0.99 and row["priority"] in ("medium", "high")


def frontier_counts(rng: np.random.Generator, arms: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """The counts frame of simulated api_endpoint model arms: (value, n, success rate, mean cost)."""
    rows = []
    for value, n, p, mean in arms:
        success = rng.random(n) < p
        cost = rng.lognormal(np.log(mean) - 0.32, 0.8, n)
        rows.append(
            {
                "column": "model",
                "task_type": "api",
                "value": value,
                "n": n,
                "successes": int(success.sum()),
                "cost_n": n,
                "cost_sum": cost.sum(),
                "cost_sumsq": (cost**2).sum(),
                "cost_successes": int(success.sum()),
                "cost_success_sum": cost[success].sum(),
            }
        )
    return pd.DataFrame(rows)


def test_no_switch_when_price_and_success_are_the_same_across_seeds():
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        arms = [("big", 1000, 0.7, 0.03), ("mid", 600, 0.7, 0.03), ("small", 400, 0.7, 0.03)]
        hits += bool(better_alternatives(frontier_counts(rng, arms), alpha=0.05))
    assert hits <= 3  # 40 seeds x 4 claims at FDR 5%


def test_a_cheaper_model_that_is_clearly_worse_is_not_recommended():
    rng = np.random.default_rng(8)
    arms = [("big", 10000, 0.72, 0.05), ("cheap", 10000, 0.68, 0.02)]  # 60% cheaper, 4 points worse
    assert better_alternatives(frontier_counts(rng, arms), alpha=0.05) == []
    # The same price cut at equal success is a switch, and says so.
    equal = [arms[0], ("cheap", 10000, 0.72, 0.02)]
    (found,) = better_alternatives(frontier_counts(rng, equal), alpha=0.05)
    assert (found.best, found.claim) == ("cheap", "cheaper")
    assert found.daily_saving == pytest.approx(10000 * (0.05 - 0.02), rel=0.1)  # a one-day window


def test_a_better_model_at_a_much_higher_cost_per_success_is_not_recommended():
    rng = np.random.default_rng(9)
    dear = [("big", 2000, 0.70, 0.02), ("premium", 2000, 0.78, 0.04)]  # +8 points, cost per success +80%
    assert better_alternatives(frontier_counts(rng, dear), alpha=0.05) == []
    fair = [("big", 2000, 0.70, 0.02), ("premium", 2000, 0.78, 0.0225)]  # cost per success about +1%
    (found,) = better_alternatives(frontier_counts(rng, fair), alpha=0.05)
    assert (found.best, found.claim) == ("premium", "better")
    assert found.daily_gain == pytest.approx(2000 * 0.08, abs=60)
