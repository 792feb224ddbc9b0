"""The simulated platform's catalogue: what its traffic is made of, and the numbers describing it.

It exists so that the event generator (``aitl.sim.traffic``), the scenario's
validation (``aitl.sim.scenario``), the served prompts (``aitl.sim.serving``)
and the expected effects (``aitl.sim.ground_truth``) share one definition of
the platform, with no generation logic in it:

* agent tiers T0..T3; task types api_endpoint, data_pipeline, refactor,
  unit_tests, ui_component; languages python, typescript, go, java
  (ui_component is ~90% typescript); models atlas-large, atlas-small,
  nova-mid; one prompt per task type, ``f"{task_type}-gen"``, whose baseline
  text is ``BASELINE_PROMPTS`` and whose regression release adds
  ``REGRESSION_LINE`` (``release_text``);
* the taxonomy's security indicators and the background style indicators
  (every quality, performance and prompt_optimization indicator, at fixed
  0.3-0.8% rates ``STYLE_RATES``);
* the traffic mix (session lengths, task types, P(language | task type),
  complexity per task type, P(tier | complexity band), P(model | tier)) and the
  structural effects of tiers, models and task types on success, quality,
  duration, size, tokens and cost;
* the error types failures report, their messages, and users' comments.

Every array is indexed like the tuple of names it describes.
"""

from __future__ import annotations

import numpy as np

from aitl.taxonomy import LEARNING_PATTERNS

TIERS = ("T0", "T1", "T2", "T3")
TASK_TYPES = ("api_endpoint", "data_pipeline", "refactor", "unit_tests", "ui_component")
LANGUAGES = ("python", "typescript", "go", "java")
MODELS = ("atlas-large", "atlas-small", "nova-mid")
PROMPT_IDS = tuple(f"{task}-gen" for task in TASK_TYPES)

BASELINE_PROMPTS: dict[str, str] = {
    "api_endpoint-gen": (
        "You are a senior backend engineer.\n"
        "Write an HTTP API endpoint in {language} that implements the requested operation.\n"
        "Use the project's web framework and return JSON responses with proper status codes.\n"
        "Handle errors explicitly and include unit tests for the happy path."
    ),
    "data_pipeline-gen": (
        "You are a data engineer.\n"
        "Write a data pipeline step in {language} that reads the described source,\n"
        "transforms the records and writes the result to the target.\n"
        "Make the step idempotent, log row counts and keep memory use bounded."
    ),
    "refactor-gen": (
        "You are a careful software engineer.\n"
        "Refactor the given {language} code as requested.\n"
        "Keep the existing behaviour and public interfaces unchanged.\n"
        "Explain each change in a short summary after the code."
    ),
    "unit_tests-gen": (
        "You are a test engineer.\n"
        "Write unit tests in {language} for the given code using the project's test framework.\n"
        "Cover normal cases, edge cases and error paths.\n"
        "Do not modify the code under test."
    ),
    "ui_component-gen": (
        "You are a front-end engineer.\n"
        "Build the requested UI component in {language} with typed props.\n"
        "Follow the design system; keep the component accessible and responsive.\n"
        "Add a short usage note."
    ),
}

# The line the regression release adds: it drops the restatement of the task.
REGRESSION_LINE = "Be brief: go straight to the code without summarising the request."


def release_text(prompt_id: str) -> str:
    """The text of the regression release (v2) of ``prompt_id``."""
    return f"{BASELINE_PROMPTS[prompt_id]}\n{REGRESSION_LINE}"


def _indicators(*categories: str) -> tuple[str, ...]:
    return tuple(
        indicator
        for category in categories
        for spec in LEARNING_PATTERNS[category].values()
        for indicator in spec["indicators"]
    )


# Any integer seed, negative ones too, as numpy's generators take it (seed & SEED_MASK).
SEED_MASK = (1 << 64) - 1
SECURITY_INDICATORS = _indicators("security")
STYLE_INDICATORS = _indicators("quality", "performance", "prompt_optimization")
# Background rates 0.3%..0.8%, fixed per indicator and equal in every segment.
STYLE_RATES = np.array([0.003 + 0.00125 * ((7 * i) % 5) for i in range(len(STYLE_INDICATORS))])

# The traffic mix: events per session (1..5), task types, and what follows from them.
SESSION_LENGTH_P = np.array([0.50, 0.22, 0.14, 0.09, 0.05])
TASK_P = np.array([0.26, 0.17, 0.20, 0.19, 0.18])
# P(language | task type), columns as LANGUAGES.
LANGUAGE_P = np.array(
    [
        [0.45, 0.25, 0.18, 0.12],
        [0.60, 0.05, 0.15, 0.20],
        [0.35, 0.30, 0.15, 0.20],
        [0.40, 0.30, 0.15, 0.15],
        [0.03, 0.90, 0.00, 0.07],
    ]
)
# Complexity ~ Beta(a, b) per task type.
COMPLEXITY_A = np.array([2.2, 3.0, 2.8, 1.8, 2.2])
COMPLEXITY_B = np.array([3.0, 2.6, 2.4, 3.4, 3.0])
# P(tier | complexity band low / medium / high).
TIER_P = np.array(
    [
        [0.40, 0.35, 0.18, 0.07],
        [0.20, 0.35, 0.30, 0.15],
        [0.08, 0.22, 0.40, 0.30],
    ]
)
# P(model | tier), columns as MODELS.
MODEL_P = np.array(
    [
        [0.05, 0.75, 0.20],
        [0.15, 0.45, 0.40],
        [0.40, 0.15, 0.45],
        [0.70, 0.05, 0.25],
    ]
)
# Structural effects of tiers, models and task types.
TIER_SUCCESS = np.array([-0.06, -0.02, 0.01, 0.03])
MODEL_SUCCESS = np.array([0.03, -0.05, 0.0])
MODEL_QUALITY = np.array([0.04, -0.05, 0.0])
MODEL_DURATION = np.array([0.35, -0.30, 0.0])  # log-seconds
MODEL_DOC = np.array([0.05, -0.06, 0.0])
MODEL_CONTEXT = np.array([200_000, 32_000, 64_000])
PRICE_IN = np.array([3.0, 0.25, 1.0])  # USD per million tokens
PRICE_OUT = np.array([15.0, 1.25, 5.0])
SIZE_BASE = np.array([60.0, 90.0, 120.0, 80.0, 100.0])  # lines at complexity 0

# What failures report (``E_*`` index ``ERROR_TYPE_NAMES``) and what users say.
ERROR_TYPE_NAMES = (
    "syntax_error",
    "test_failure",
    "runtime_error",
    "misunderstood_task",
    "context_overflow",
    "validation_error",
    "auth_error",
    "resource_exhausted",
    "timeout",
)
E_SYNTAX, E_TEST, E_RUNTIME, E_MISUNDERSTOOD, E_CONTEXT, E_VALIDATION = range(6)
E_AUTH, E_RESOURCE, E_TIMEOUT = 6, 7, 8
BACKGROUND_ERROR_P = np.array([0.28, 0.24, 0.20, 0.10, 0.05, 0.04, 0.04, 0.05, 0.0])

ERROR_MESSAGES: dict[str, tuple[str, ...]] = {
    "syntax_error": (
        "generated code does not parse: unexpected token",
        "unbalanced brackets in generated code",
        "invalid indentation in generated code",
    ),
    "test_failure": (
        "generated tests fail: assertion error on edge case",
        "2 of 9 tests failed after generation",
        "tests fail on empty input",
    ),
    "runtime_error": (
        "null dereference in generated handler",
        "type error at runtime: undefined is not a function",
        "unhandled exception: key not found",
    ),
    "misunderstood_task": (
        "output does not address the requested change",
        "rewrote unrelated modules instead of the requested one",
        "ignored the stated constraints",
    ),
    "context_overflow": (
        "prompt exceeds the model context window",
        "repository context truncated: input too long",
    ),
    "validation_error": (
        "security validation rejected the generated code",
        "input validation check failed on user-supplied fields",
    ),
    "auth_error": (
        "sandbox could not authenticate to the package registry",
        "401 from the repository service",
    ),
    "resource_exhausted": (
        "sandbox out of memory (limit 4096 MB)",
        "no executor available: worker pool exhausted",
        "model capacity exhausted, request shed",
    ),
    "timeout": ("execution exceeded the time limit", "sandbox killed the run at the deadline"),
}

COMMENTS: dict[str, tuple[str, ...]] = {
    "ok": (
        "Works out of the box.",
        "Good result, minor naming tweaks needed.",
        "Exactly what I asked for \U0001f44d",
        "Solid, but the tests are thin.",
        "Nice \u2014 saved me an hour.",
    ),
    "fail": (
        "Didn't compile.",
        "Wrong approach, it ignored my constraints.",
        'It "fixed" things I never asked it to touch.',
        "Tests fail on edge cases.",
        "Not what I wanted at all.",
    ),
    "security": (
        "The query is built by string concatenation \u2014 that's an injection risk.",
        "Security scan flagged the data access code.",
    ),
    "timeout": ("Timed out again on a big task.", "Ran for five minutes and then died."),
}
