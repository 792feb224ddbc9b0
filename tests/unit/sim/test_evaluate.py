"""``aitl evaluate``: the decision statistics by simulation, and the closed loop's scoring."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from aitl.cli.main import main
from aitl.config import Thresholds
from aitl.sim.catalogue import BASELINE_PROMPTS, REGRESSION_LINE, release_text
from aitl.sim.evaluate import evaluate_experiments, run_loop
from aitl.sim.ground_truth import expected_success_change
from aitl.sim.scenario import Scenario

AFTER_RELEASE = datetime(2026, 11, 25, tzinfo=UTC)


def test_aa_experiments_rarely_end_in_a_decision(tmp_path):
    """Over 200 A/A experiments looked at daily, at most 5% are promoted or rolled back.

    The hourly harm looks add at most ALPHA_HARM (tests/unit/loop/test_harm.py;
    the bench runs A/A with them).
    """
    result = evaluate_experiments(
        f"sqlite:///{tmp_path / 'aa.db'}", experiments=200, seed=1, hourly_looks=False
    )
    decisions = result["decisions"]
    assert sum(decisions.values()) == 200 and decisions["running"] == 0
    assert result["false_decision_rate"] == (decisions["promoted"] + decisions["rolled_back"]) / 200
    assert result["false_decision_rate"] <= 0.05
    assert not result["hourly_looks"] and result["variant_share"] == 0.5


def within_standard_errors(count: int, n: int, p: float, k: float = 3.0) -> bool:
    """``count`` of ``n`` is within ``k`` binomial standard errors of the exact probability ``p``."""
    return abs(count / n - p) <= k * math.sqrt(p * (1 - p) / n)


def test_aa_overrun_by_the_first_look_is_a_single_fixed_design_look(tmp_path):
    """Issue 11: 3x the planned size by the first look (launch at 10:00), online FDR off.

    The first look is 14 h in, short of ab_test_duration; the next is final, and the
    promotion's only look: the fixed design, so a variant that is not better is
    promoted with probability exactly 0.025 (one tail of alpha). The audit's
    boundaries gave 0.072 two-sided here (0.036 promoted).
    """
    result = evaluate_experiments(
        f"sqlite:///{tmp_path / 'o.db'}",
        experiments=600,
        seed=31,
        overrun=3.0,
        online_fdr=False,
        hourly_looks=False,  # the daily boundaries alone, in less time
    )
    decisions = result["decisions"]
    assert sum(decisions.values()) == 600 and decisions["running"] == 0
    assert within_standard_errors(decisions["promoted"], 600, 0.025), decisions
    assert result["false_decision_rate"] <= 0.05
    assert (result["overrun"], result["online_fdr"]) == (3.0, False)
    # The test as it ran, both directions: exactly alpha (the audit's boundaries, 0.072).
    crossing = result["primary_crossing"]
    assert within_standard_errors(round(crossing["rate"] * 600), 600, 0.05), crossing


def test_aa_long_minimum_running_time_keeps_the_type_one_error(tmp_path):
    """Issue 11: ab_test_duration 7d with the planned size by the first look, online FDR off.

    The audit's boundaries tested the capped looks at the same threshold every
    day: 0.162 two-sided by integration, about 0.08 promoted. Now the promotion
    looks once, at the end (0.025), and the guardrails' capped looks spend nothing.
    """
    thresholds = Thresholds.resolve(overrides={"ab_test_duration": "7d"})
    result = evaluate_experiments(
        f"sqlite:///{tmp_path / 'd.db'}",
        experiments=300,
        seed=32,
        overrun=1.0,
        online_fdr=False,
        thresholds=thresholds,
        hourly_looks=False,
    )
    decisions = result["decisions"]
    assert decisions["running"] == 0
    assert within_standard_errors(decisions["promoted"], 300, 0.025), decisions
    assert result["false_decision_rate"] <= 0.05
    # Both directions, over all the looks: at most alpha (the audit's boundaries, 0.162).
    assert result["primary_crossing"]["rate"] <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 300)
    assert result["ab_test_duration"] == "168h"


def test_power_against_a_known_effect_is_near_the_planned_power(tmp_path):
    """Each experiment sized at its own online FDR level has the planned power at that level."""
    result = evaluate_experiments(
        f"sqlite:///{tmp_path / 'p.db'}", experiments=100, seed=2, effect=0.05, hourly_looks=False
    )
    assert result["planned_power"] == 0.8
    # 100 experiments: a binomial standard error of 0.04 around the planned 0.8.
    assert 0.68 <= result["power"] <= 0.92
    assert result["decisions"]["rolled_back"] <= 2


def test_harm_is_rolled_back_within_hours_by_the_harm_boundary(tmp_path):
    """A -10-point variant: the hourly harm boundary rolls it back well before the daily looks would."""
    hourly = evaluate_experiments(f"sqlite:///{tmp_path / 'h.db'}", experiments=30, seed=3, effect=-0.10)
    daily = evaluate_experiments(
        f"sqlite:///{tmp_path / 'd.db'}", experiments=30, seed=3, effect=-0.10, hourly_looks=False
    )
    for result in (hourly, daily):
        assert result["power"] >= 0.9 and result["decisions"]["promoted"] == 0  # power: share rolled back
    # Daily looks alone: the O'Brien-Fleming guardrail needs about 3 days at this
    # traffic (10 executions an hour per arm). The harm boundary rolls most back
    # between the daily looks, sooner (by hours, not days, at this traffic: a
    # fixed test at 24 h and alpha 0.0025 one-sided would have about 35% power).
    assert 2 <= daily["median_days_to_decision"] <= 4.5
    assert hourly["median_days_to_decision"] < daily["median_days_to_decision"]
    assert hourly["median_days_to_decision"] != round(hourly["median_days_to_decision"])


def test_a_sample_ratio_mismatch_ends_every_experiment(tmp_path):
    """Issue 11: a variant at a 0.46 share (the audit's ran 20 days) stops as stopped_srm, control served.

    At about 480 executions a day the observed share of a 0.46 variant wanders
    enough that the mismatch reaches p < 0.001 after a median of about 6 days;
    the next look stops it, by 14 days at the latest (the audit's ran forever).
    """
    result = evaluate_experiments(
        f"sqlite:///{tmp_path / 's.db'}", experiments=15, seed=4, variant_share=0.46, hourly_looks=False
    )
    decisions = result["decisions"]
    assert decisions["running"] == 0 and decisions["promoted"] == 0
    assert decisions["stopped_srm"] >= 12, decisions  # the rest reach their planned size first
    assert result["median_days_to_decision"] <= 10 and result["max_days_running"] <= 14
    assert result["variant_share"] == 0.46


def test_evaluate_aa_command_writes_the_rate(tmp_path, capsys):
    out = tmp_path / "aa.json"
    assert main(["evaluate", "aa", "--experiments", "10", "--seed", "5", "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["experiments"] == 10 and 0 <= written["false_decision_rate"] <= 1
    assert main(["evaluate", "aa", "--experiments", "0"]) == 2
    assert "--experiments: must be at least 1" in capsys.readouterr().err
    assert main(["evaluate", "power", "--effect", "0.5"]) == 2
    assert "--effect" in capsys.readouterr().err


def test_evaluate_aa_command_takes_the_traffic_conditions(tmp_path, capsys):
    out = tmp_path / "aa.json"
    command = ["evaluate", "aa", "--experiments", "5", "--seed", "5", "--output", str(out)]
    conditions = ["--overrun", "3", "--ab-test-duration", "7d", "--no-online-fdr"]
    assert main([*command, *conditions]) == 0
    written = json.loads(out.read_text())
    assert {"false_decision_rate", "false_decision", "decisions", "planned_n_per_arm"} <= set(written)
    assert 0 <= written["primary_crossing"]["rate"] <= 1
    assert (written["overrun"], written["ab_test_duration"], written["online_fdr"]) == (3.0, "168h", False)
    assert 0 <= written["false_decision_rate"] <= 1 and written["decisions"]["running"] == 0
    assert main(["evaluate", "aa", "--overrun", "0"]) == 2
    assert "--overrun: must be in (0, 100]" in capsys.readouterr().err
    assert main(["evaluate", "aa", "--ab-test-duration", "7 days"]) == 2
    assert "--ab-test-duration" in capsys.readouterr().err


def test_evaluate_aa_command_takes_a_mismatched_share(tmp_path, capsys):
    out = tmp_path / "srm.json"
    command = [
        "evaluate",
        "aa",
        "--experiments",
        "3",
        "--seed",
        "5",
        "--srm-share",
        "0.3",
        "--output",
        str(out),
    ]
    assert main(command) == 0
    written = json.loads(out.read_text())
    assert written["variant_share"] == 0.3 and written["decisions"]["stopped_srm"] == 3
    assert 0 < written["max_days_running"] <= 21
    assert main(["evaluate", "aa", "--srm-share", "1"]) == 2
    assert "--srm-share: must be in (0, 1)" in capsys.readouterr().err


def test_expected_success_change_known_answers():
    scenario = Scenario(success_effects={"reduce complexity": -0.12, "add context": 0.06})

    def change(prompt: str, control: str, variant: str, at: datetime = AFTER_RELEASE) -> float:
        return expected_success_change(scenario, prompt, control, variant, at)

    base = BASELINE_PROMPTS["unit_tests-gen"]
    assert change("unit_tests-gen", base, base + "\nextract functions; reduce complexity") == pytest.approx(
        -0.12
    )
    assert change("unit_tests-gen", base, base + "\nspecific error types; add context") == pytest.approx(0.06)
    assert change("unit_tests-gen", base, base + "\nadd docstrings") == 0
    # Halving timeouts on the complex share: 0.6 x 0.30 x 0.5 x P(complexity >= 0.7 | api_endpoint).
    from scipy.stats import beta

    expected = 0.6 * 0.30 * 0.5 * beta.sf(0.7, 2.2, 3.0)
    assert change("api_endpoint-gen", "x", "x\nset a time limit") == pytest.approx(expected)
    # Parameterized queries: 0.20 x 0.25 x (1 - 0.2) x P(python | api_endpoint).
    assert change("api_endpoint-gen", "x", "x\nparameterize queries") == pytest.approx(
        0.20 * 0.25 * 0.8 * 0.45
    )
    # Task clarity only helps where the regression release is served, after it.
    released = release_text("refactor-gen")
    assert REGRESSION_LINE in released
    clearer = released + "\nadd examples"
    assert change("refactor-gen", released, clearer) == pytest.approx(0.15 * 0.7)
    assert change("refactor-gen", released, clearer, datetime(2026, 11, 10, tzinfo=UTC)) == 0


def test_scenario_success_effects_from_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"success_effects": {"add caching": -0.1}}))
    assert Scenario.from_json(path).success_effects == {"add caching": -0.1}
    path.write_text(json.dumps({"success_effects": {"add caching": "bad"}}))
    with pytest.raises(ValueError, match="success_effects"):
        Scenario.from_json(path)
    with pytest.raises(ValueError, match="must be in"):
        Scenario(success_effects={"x": 2.0})


def test_short_closed_loop_scores_every_experiment(tmp_path):
    result = run_loop(tmp_path / "loop", days=2, seed=11, rate=600)
    assert [d["day"] for d in result["daily_success_rate"]] == ["2026-11-02", "2026-11-03"]
    assert all(0.5 < d["success_rate"] < 0.9 and d["events"] > 5000 for d in result["daily_success_rate"])
    assert result["decisions"], "the loop launched no experiment"
    for item in result["decisions"]:
        assert item["truth"] in ("helpful", "harmful", "null")
        assert item["decision"] in ("promoted", "rolled_back", "inconclusive", "running")
        assert math.isfinite(item["true_change"])
    matrix = result["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == len(result["decisions"])
    wrong = matrix["null"]["promoted"] + matrix["harmful"]["promoted"] + matrix["helpful"]["rolled_back"]
    assert result["wrong_decisions_per_week"] == pytest.approx(wrong / (2 / 7), abs=1e-3)
