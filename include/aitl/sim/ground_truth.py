"""The truth the simulator plants, in numbers: prompt texts' effects and the ground-truth file.

It exists so that whoever scores the pipeline (``aitl evaluate loop``, the
benchmarks, the tests) reads the same truth the generator applies.

The ground-truth effect of any served version follows from its text, so an
improvement keeps its effect once promoted. ``VARIANT_EFFECTS`` maps remedy
keywords (case-insensitive substrings) to effects:

* parameterized queries ("parameteriz", "prepared statement", "sql injection",
  "bind variable", "add validation", "escape output"): the planted security
  indicator's rate x0.2 (-80%);
* bounded execution ("timeout", "time limit", "split", "smaller steps",
  "incremental", "async", "pagination", "stateless"): timeout rate x0.5;
* task clarity ("clarify", "restate", "acceptance criteria", "specific
  instructions", "clear objectives", "examples"): the regression penalty x0.3;
* "[harmful]": success probability -0.15 (failures report runtime_error).

Text with none of them has no effect (``text_effects`` returns None).
``expected_success_change`` turns two texts into the true change of a prompt's
success rate; ``truth_report`` is what ``ground_truth.json`` says was planted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aitl.sim.catalogue import (
    COMPLEXITY_A,
    COMPLEXITY_B,
    LANGUAGE_P,
    LANGUAGES,
    PROMPT_IDS,
    REGRESSION_LINE,
    TASK_TYPES,
)
from aitl.sim.scenario import Scenario, iso
from aitl.sim.serving import Serving
from aitl.window import Window

VARIANT_EFFECTS: tuple[dict[str, Any], ...] = (
    {
        "name": "parameterized_queries",
        "keywords": (
            "parameteriz",
            "prepared statement",
            "sql injection",
            "bind variable",
            "add validation",
            "escape output",
        ),
        "effect": {"security_rate_factor": 0.2},
        "description": "the planted security indicator's rate x0.2 (-80%)",
    },
    {
        "name": "bounded_execution",
        "keywords": (
            "timeout",
            "time limit",
            "split",
            "smaller steps",
            "incremental",
            "async",
            "pagination",
            "stateless",
        ),
        "effect": {"timeout_rate_factor": 0.5},
        "description": "timeout rate x0.5 (-50%)",
    },
    {
        "name": "task_clarity",
        "keywords": (
            "clarify",
            "restate",
            "acceptance criteria",
            "specific instructions",
            "clear objectives",
            "examples",
        ),
        "effect": {"regression_factor": 0.3},
        "description": "the regression release's penalty x0.3 (no effect without it)",
    },
    {
        "name": "harmful",
        "keywords": ("[harmful]",),
        "effect": {"success_delta": -0.15},
        "description": "success probability -0.15",
    },
)


def text_effects(text: str) -> dict[str, float] | None:
    """The ``VARIANT_EFFECTS`` a prompt text triggers, merged; None for none."""
    folded = text.lower()
    merged: dict[str, float] = {}
    for spec in VARIANT_EFFECTS:
        if any(keyword in folded for keyword in spec["keywords"]):
            merged.update(spec["effect"])
    return merged or None


# Success probability of a complex execution, roughly, for the timeout term of
# ``expected_success_change`` (the mix of tiers, models and users averages near it).
_COMPLEX_SUCCESS = 0.6


def expected_success_change(
    scenario: Scenario, prompt_id: str, control_text: str, variant_text: str, at: datetime
) -> float:
    """The true change in a prompt's success rate from serving ``variant_text`` instead of ``control_text``.

    The ground truth ``aitl evaluate loop`` scores decisions against: the
    effects of both texts on that prompt's traffic (security fix on the
    planted segment's share, fewer timeouts on the complex share, the
    regression's penalty after its release, each planted cause of the prompt
    cured on its share, direct success effects), to first order: clipping of
    probabilities is ignored.
    """
    from scipy.stats import beta

    task = PROMPT_IDS.index(prompt_id)
    released = prompt_id == scenario.regression_prompt and at >= scenario.regression_at

    def success_of(text: str) -> float:
        effects = text_effects(text) or {}
        value = effects.get("success_delta", 0.0) + scenario.success_effect(text)
        if TASK_TYPES[task] == scenario.security_task_type:
            hot_share = LANGUAGE_P[task, LANGUAGES.index(scenario.security_language)]
            planted = scenario.security_rate * effects.get("security_rate_factor", 1.0)
            value -= 0.20 * planted * hot_share
        complex_share = float(beta.sf(scenario.timeout_complexity, COMPLEXITY_A[task], COMPLEXITY_B[task]))
        timeouts = scenario.timeout_rate * effects.get("timeout_rate_factor", 1.0)
        value -= _COMPLEX_SUCCESS * timeouts * complex_share
        if released and REGRESSION_LINE in text:
            value -= scenario.regression_success_drop * effects.get("regression_factor", 1.0)
        for cause in scenario.causes:
            if cause.task_type == TASK_TYPES[task]:
                value -= cause.success_drop * cause.rate * cause.share() * cause.factor(text)
        return value

    return success_of(variant_text) - success_of(control_text)


def truth_report(
    scenario: Scenario, serving: Serving, window: Window, rate: float, seed: int
) -> dict[str, Any]:
    """The contents of ``ground_truth.json``: the scenario, the planted patterns, what was served."""
    sc = scenario
    patterns = [
        {
            "name": "security_hotspot",
            "kind": "indicator",
            "signal": sc.security_indicator,
            "segment": {
                "task_type": sc.security_task_type,
                "language": sc.security_language,
                "prompt_id": f"{sc.security_task_type}-gen",
            },
            "rate": sc.security_rate,
            "background_rate": sc.background_security_rate,
            "description": (
                f"{sc.security_indicator!r} in {sc.security_rate:.0%} of "
                f"{sc.security_task_type}/{sc.security_language} events and "
                f"{sc.background_security_rate:.1%} elsewhere; events with a security "
                "warning succeed 0.20 less often (validation_error) and score 0.15 lower"
            ),
        },
        {
            "name": "complex_task_timeouts",
            "kind": "error_type",
            "signal": "timeout",
            "segment": {
                "complexity_min": sc.timeout_complexity,
                # aitl.mining.frequency' band: low < 0.4 <= medium < 0.7 <= high.
                **({"complexity_band": "high"} if sc.timeout_complexity == 0.7 else {}),
            },
            "rate": sc.timeout_rate,
            "background_rate": sc.background_timeout_rate,
            "description": (
                f"events with complexity >= {sc.timeout_complexity} time out in "
                f"{sc.timeout_rate:.0%} of cases (failing, duration just over "
                f"{sc.timeout_s:g} s), {sc.background_timeout_rate:.0%} elsewhere"
            ),
        },
        *(
            {
                "name": "anomalous_hour",
                "kind": "anomaly",
                "hour": iso(hour),
                "success_probability": sc.anomaly_success,
                "volume_factor": sc.anomaly_volume,
                "signal": "resource_exhausted",
                "description": (
                    f"hour {iso(hour)}: volume x{sc.anomaly_volume:g}, success "
                    f"probability {sc.anomaly_success:.0%}, 75% of failures "
                    "resource_exhausted, durations x1.6, memory x2.5"
                ),
            }
            for hour in sc.anomaly_hours
        ),
        *(
            {
                "name": "planted_cause",
                "kind": "indicator",
                "signal": cause.indicator,
                "segment": {
                    "task_type": cause.task_type,
                    "prompt_id": f"{cause.task_type}-gen",
                    **({"language": cause.language} if cause.language else {}),
                },
                "rate": cause.rate,
                "description": (
                    f"{cause.indicator!r} in {cause.rate:.0%} of {cause.where} events; those succeed "
                    f"{cause.success_drop:.2f} less often and score 0.10 lower; cures {cause.cures}"
                ),
            }
            for cause in sc.causes
        ),
        {
            "name": "prompt_regression",
            "kind": "regression",
            "prompt_id": sc.regression_prompt,
            "at": iso(sc.regression_at),
            "version_before": serving.before_regression.version,
            "success_drop": sc.regression_success_drop,
            "quality_drop": sc.regression_quality_drop,
            "signal": "misunderstood_task",
            "release_line": REGRESSION_LINE,
            "description": (
                f"from {iso(sc.regression_at)} {sc.regression_prompt} is served as a "
                f"release adding {REGRESSION_LINE!r}: success -{sc.regression_success_drop:g} "
                f"(misunderstood_task), quality -{sc.regression_quality_drop:g}"
            ),
        },
    ]
    experiments = {
        running.experiment_id: {
            "prompt_id": pid,
            "control_version": running.control.version,
            "variant_version": running.variant.version,
            "traffic_split": running.split,
            "started_at": iso(running.started_at),
            "control_effect": text_effects(running.control.text),
            "variant_effect": text_effects(running.variant.text),
        }
        for pid, running in serving.experiments.items()
    }
    return {
        **sc.as_dict(),
        "simulation": {
            "seed": seed,
            "rate": rate,
            "window_start": iso(window.start),
            "window_end": iso(window.end),
        },
        "patterns": patterns,
        "structural_effects": [
            "success falls with complexity (-0.30 per unit) and on retries (x0.75 for "
            "non-final events of a session)",
            "success by tier T0 -0.06, T1 -0.02, T2 +0.01, T3 +0.03 and by model "
            "atlas-small -0.05, atlas-large +0.03; higher tiers and large models get the "
            "complex tasks",
            "duration, size and tokens grow with complexity; background error types of "
            "failures therefore concentrate where failures do",
            "style and security indicators other than the planted one: equal background "
            "rates (<1%) in every segment",
        ],
        "variant_effects": [{**spec, "keywords": list(spec["keywords"])} for spec in VARIANT_EFFECTS],
        "served_versions": {pid: v.version for pid, v in serving.current.items()},
        "experiments": experiments,
    }
