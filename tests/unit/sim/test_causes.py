"""Planted causes drawn at random: the draws, the traffic they plant, and the truth the loop is scored on."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import select

from aitl.cli.main import main
from aitl.sim.catalogue import BASELINE_PROMPTS, LANGUAGE_P, LANGUAGES, TASK_TYPES
from aitl.sim.causes import INDICATORS, REMEDIES, Cause, random_causes, random_success_effects
from aitl.sim.ground_truth import expected_success_change
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction, upgrade
from aitl.store.models import Insight
from aitl.taxonomy import classify_indicator
from aitl.window import Window
from tests.unit.sim.test_simulate import rate, read_events, start_experiment

CAUSE = Cause(
    task_type="unit_tests",
    indicator="missing docstrings",
    rate=0.25,
    success_drop=0.30,
    cures={"add docstrings": 0.2},
)
PROMPT = "unit_tests-gen"
CURED = BASELINE_PROMPTS[PROMPT] + "\nAlways add docstrings to public functions."


def test_random_causes_are_reproducible_and_drawn_as_documented():
    assert random_causes(3, 8) == random_causes(3, 8)
    assert random_causes(3, 8) != random_causes(4, 8)
    assert random_success_effects(3) == random_success_effects(3)
    causes = [cause for seed in range(60) for cause in random_causes(seed, 8)]
    assert all(0.08 <= c.rate <= 0.30 and 0.10 <= c.success_drop <= 0.30 for c in causes)
    assert all(set(c.cures) <= set(classify_indicator(c.indicator).improvements) for c in causes)
    assert all(0.1 <= f <= 0.7 for c in causes for f in c.cures.values())
    for seed in range(60):
        drawn = [(c.task_type, c.indicator) for c in random_causes(seed, 8)]
        assert len(set(drawn)) == len(drawn)  # never the same indicator twice on one prompt
    n = len(causes)

    def near(observed: float, p: float, trials: int) -> bool:
        return abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / trials)

    assert near(sum(c.language is None for c in causes) / n, 0.5, n)
    cured = sum(len(c.cures) for c in causes)
    remedies = sum(len(classify_indicator(c.indicator).improvements) for c in causes)
    assert near(cured / remedies, 0.65, remedies)
    by_task = Counter(c.task_type for c in causes)
    assert set(by_task) == set(TASK_TYPES) and min(by_task.values()) > n / len(TASK_TYPES) / 2
    assert len({c.indicator for c in causes}) > len(INDICATORS) * 0.8
    effects = [random_success_effects(seed) for seed in range(40)]
    assert all(set(e) <= {r.lower() for r in REMEDIES} for e in effects)
    drawn = sum(len(e) for e in effects)
    assert near(drawn / (40 * len(REMEDIES)), 0.5, 40 * len(REMEDIES))
    values = [v for e in effects for v in e.values()]
    assert all(-0.12 <= v <= 0.12 for v in values) and abs(sum(values) / len(values)) < 0.01


def test_a_cause_is_cured_only_by_its_remedies_and_reaches_only_its_share():
    assert CAUSE.factor("Add DOCSTRINGS please") == 0.2
    assert CAUSE.factor("descriptive names") == 1.0
    both = Cause(
        "refactor", "deep nesting", 0.2, 0.1, cures={"extract functions": 0.5, "reduce complexity": 0.4}
    )
    assert both.factor("extract functions; reduce complexity") == pytest.approx(0.2)
    assert CAUSE.share() == 1.0
    go = Cause("refactor", "deep nesting", 0.2, 0.1, language="go")
    assert go.share() == LANGUAGE_P[TASK_TYPES.index("refactor"), LANGUAGES.index("go")]
    assert not CAUSE.security and Cause("refactor", "xss", 0.2, 0.1).security


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task_type": "nope"}, "unknown task type"),
        ({"language": "cobol"}, "unknown language"),
        ({"indicator": "bad vibes"}, "not a taxonomy indicator"),
        ({"rate": 1.5}, "rate"),
        ({"cures": {"add docstrings": 2.0}}, "must be in"),
        ({"cures": ["add docstrings"]}, "cures must map"),
    ],
)
def test_a_bad_cause_is_refused_naming_what(fields, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Cause(**(CAUSE.as_dict() | fields))


def test_causes_round_trip_through_a_scenario_file(tmp_path):
    drawn = Scenario().with_random_causes(5, seed=9)
    assert len(drawn.causes) == 5 and drawn.success_effects == random_success_effects(9)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(drawn.as_dict()))
    assert Scenario.from_json(path) == drawn
    path.write_text(json.dumps({"causes": [{"task_type": "refactor"}]}))
    with pytest.raises(ValueError, match="causes"):
        Scenario.from_json(path)


def test_a_planted_cause_shows_in_its_prompt_costs_success_and_its_cure_works_as_the_truth_says(tmp_path):
    """Control and variant arms of one day: the indicator's rate, and the success change against the truth."""
    store = f"sqlite:///{tmp_path}/s.db"
    upgrade(store)
    window = Window.parse("2026-11-10T00:00", "2026-11-11T00:00")
    scenario = replace(Scenario.named("null"), causes=(CAUSE,))
    start_experiment(tmp_path, store, window, PROMPT, CURED, id="exp-docs", improvement_id="imp-docs")
    simulate(tmp_path / "landing", window, rate=2500, seed=5, store_url=store, scenario=scenario)
    events = read_events(tmp_path / "landing")
    flagged = lambda e: "missing docstrings" in (e["style_issues"] or [])  # noqa: E731
    control = [e for e in events if e["arm"] == "control"]
    treated = [e for e in events if e["arm"] == "variant"]
    others = [e for e in events if e["prompt_id"] != PROMPT]
    assert min(len(control), len(treated)) > 4000
    se = math.sqrt(0.25 * 0.75 / len(control))
    assert abs(rate(control, flagged) - 0.25) < 4 * se
    assert abs(rate(treated, flagged) - 0.25 * 0.2) < 4 * se
    assert rate(others, flagged) < 0.01  # the background rate only
    success = lambda arm: rate(arm, lambda e: e["success"])  # noqa: E731
    assert success([e for e in control if flagged(e)]) < success([e for e in control if not flagged(e)]) - 0.2
    truth = expected_success_change(scenario, PROMPT, BASELINE_PROMPTS[PROMPT], CURED, window.start)
    assert truth == pytest.approx(0.30 * 0.25 * 0.8)
    measured = success(treated) - success(control)
    se_diff = math.sqrt(0.25 / len(control) + 0.25 / len(treated))
    assert abs(measured - truth) < 4 * se_diff


def test_evaluate_loop_refuses_a_negative_cause_count(capsys):
    assert main(["evaluate", "loop", "--causes", "-1"]) == 2
    assert "--causes: must be at least 0" in capsys.readouterr().err


def test_drawn_causes_are_all_found_by_a_day_of_analysis(tmp_path):
    """A day of null traffic plus drawn causes, through the hourly cycles: each cause becomes a finding."""
    from aitl.sim.evaluate import run_loop

    scenario = Scenario.named("null").with_random_causes(4, seed=21)
    result = run_loop(tmp_path / "loop", days=1, seed=21, rate=1500, scenario=scenario)
    assert [c["indicator"] for c in result["causes"]] == [c.indicator for c in scenario.causes]
    with transaction(connect(f"sqlite:///{tmp_path / 'loop' / 'aitl.db'}")) as session:
        signals = {(i.segment.get("prompt_id"), i.signal) for i in session.scalars(select(Insight))}
    for cause in scenario.causes:
        assert (f"{cause.task_type}-gen", cause.indicator) in signals, cause
