"""A deterministic simulator of the code-generation platform's feedback traffic.

``simulate(landing, window, rate=..., seed=...)`` writes one JSONL file per hour
of the window to ``landing_hour_dir(landing, hour) / f"sim-{seed}.jsonl"``
(written to a temporary file and renamed, so re-simulating an hour replaces it
atomically) and ``landing / "ground_truth.json"`` describing what was planted.
Every event satisfies the feedback-event contract.

Determinism
    Each hour draws from its own ``numpy`` generator seeded by ``(seed, hour)``,
    and the user pool from ``seed`` alone, so the same (window, rate, seed,
    scenario, registry state) gives byte-identical files and simulating hours one
    at a time equals simulating them together. The unit of simulation is the
    whole hour: a window that starts or ends inside an hour simulates all of it.

Traffic
    * Catalogue: agent tiers T0..T3; task types api_endpoint, data_pipeline,
      refactor, unit_tests, ui_component; languages python, typescript, go, java
      (ui_component is ~90% typescript); models atlas-large, atlas-small,
      nova-mid; one prompt per task type, ``f"{task_type}-gen"``, whose baseline
      text is ``BASELINE_PROMPTS``.
    * Users: a pool of ``scenario.users`` (400) ids ``user-NNNN`` with a skill in
      [0, 1] (Beta(5, 3)) and a log-normal activity weight.
    * Volume: events per hour ~ Poisson(rate x daily x weekly [x anomaly]).
      daily = 1 + 0.6 cos(2 pi (h + 0.5 - 15) / 24) (peak 15:00 UTC, trough
      03:00); weekly = 7 / 6 on weekdays and 0.5 x that on Saturday/Sunday, so
      ``rate`` is the mean events per hour over a week.
    * Sessions of 1-5 events (P = .50 .22 .14 .09 .05) share session, user, task
      type, language, complexity, tier, model and prompt; they lie inside the
      simulated hour, in order, each event finishing its duration plus a think
      time after the previous one. A non-final event is a retry: its success
      probability is x0.75 and it is never accepted.
    * Structural (not planted, but real) effects: success falls with complexity
      (-0.30 per unit) and rises with tier (T0 -0.06 .. T3 +0.03), model
      (atlas-small -0.05, atlas-large +0.03) and user skill; duration is
      log-normal, longer for complex tasks and large models; failed events carry
      one background error type (syntax_error, test_failure, runtime_error,
      misunderstood_task, context_overflow, validation_error, auth_error,
      resource_exhausted). Background indicators (every taxonomy quality,
      performance and prompt_optimization indicator in ``style_issues`` at
      0.3-0.8%, every security indicator at 0.3%) are the same in every
      segment, below the 1% platform-wide threshold of ``aitl.mining.frequency``.

Planted ground truth (``Scenario``; defaults in brackets)
    1. Security: ``security_indicator`` ["sql injection"] in ``security_rate``
       [25%] of events with task_type ``security_task_type`` [api_endpoint] and
       language ``security_language`` [python] (prompt api_endpoint-gen), in
       ``background_security_rate`` [0.3%] elsewhere. Events with any security
       warning have success probability -0.20 (the extra failures report
       ``validation_error``) and quality -0.15.
    2. Timeouts: events with complexity >= ``timeout_complexity`` [0.7] time out
       in ``timeout_rate`` [30%] of cases, others in ``background_timeout_rate``
       [1%]. A timeout fails with error {"type": "timeout"} and a duration just
       over ``timeout_s`` [300 s].
    3. Anomalous hours: in each of ``anomaly_hours`` [2026-11-18T14:00Z] volume
       is x``anomaly_volume`` [2], the success probability is
       ``anomaly_success`` [0.35] (timeouts come on top, so ~33% observed),
       75% of failures report ``resource_exhausted``, durations are x1.6 and
       memory x2.5.
    4. Regression: from ``regression_at`` [2026-11-19T00:00Z] prompt
       ``regression_prompt`` [refactor-gen] is served as a new release (v2,
       ``release_text``: the baseline plus ``REGRESSION_LINE``). Any served text
       containing that line has success probability -``regression_success_drop``
       [0.15] (those failures report ``misunderstood_task``) and quality
       -``regression_quality_drop`` [0.10] (plus the knock-on of more failures).
    5. Broken records: ``malformed_rate`` [0] of the lines (their own seeded
       draw) are corrupted in turn: cut short (malformed JSON), ``success`` as a
       string, ``quality_score`` missing. ``SimulationReport.malformed`` counts
       them; collection must quarantine exactly these.

Registry (the closed loop)
    Without a store every prompt is served at its baseline version 1 (the
    regression prompt at 2 from ``regression_at``) and there are no experiments.
    With ``store_url`` the simulator first publishes what the platform serves:
    ``ensure_registered`` for every catalogue prompt the registry does not know
    yet (at the window start; the regression prompt's v1 no later than
    ``regression_at``) and, when the window reaches ``regression_at``, the
    release text at ``regression_at`` unless a version with that text exists. It
    never re-registers a baseline over a newer current version, so a version
    promoted by an experiment stays served. It then serves, per hour, the
    registry's current version (the regression prompt's baseline version before
    ``regression_at``); for a running experiment, from the hour of its
    ``started_at`` on, executions are split by ``registry.assign_arm`` on their
    ``execution_id`` and events get ``experiment_id``, ``arm`` and the arm's version.

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
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import select

from aitl.ingest.readers import landing_hour_dir
from aitl.loop.registry import assign_arm, ensure_registered, get_version, served
from aitl.store.database import connect, transaction
from aitl.store.models import Experiment, Prompt, PromptVersion
from aitl.taxonomy import LEARNING_PATTERNS
from aitl.window import HOUR, Window, parse_utc

# --------------------------------------------------------------------------- catalogue

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


def _indicators(*categories: str) -> tuple[str, ...]:
    return tuple(
        indicator
        for category in categories
        for spec in LEARNING_PATTERNS[category].values()
        for indicator in spec["indicators"]
    )


SECURITY_INDICATORS = _indicators("security")
STYLE_INDICATORS = _indicators("quality", "performance", "prompt_optimization")
# Background rates 0.3%..0.8%, fixed per indicator and equal in every segment.
STYLE_RATES = np.array([0.003 + 0.00125 * ((7 * i) % 5) for i in range(len(STYLE_INDICATORS))])

# ----------------------------------------------------------------------- the scenario

_MASK64 = (1 << 64) - 1


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{name}: {value!r} has no timezone")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Scenario:
    """The injected ground truth (see the module docstring for each knob)."""

    anomaly_hours: tuple[datetime, ...] = (datetime(2026, 11, 18, 14, tzinfo=UTC),)
    anomaly_success: float = 0.35
    anomaly_volume: float = 2.0
    regression_prompt: str = "refactor-gen"
    regression_at: datetime = datetime(2026, 11, 19, tzinfo=UTC)
    regression_success_drop: float = 0.15
    regression_quality_drop: float = 0.10
    security_task_type: str = "api_endpoint"
    security_language: str = "python"
    security_indicator: str = "sql injection"
    security_rate: float = 0.25
    background_security_rate: float = 0.003
    timeout_complexity: float = 0.7
    timeout_rate: float = 0.30
    background_timeout_rate: float = 0.01
    timeout_s: float = 300.0
    daily_amplitude: float = 0.6
    peak_hour: float = 15.0
    weekend_factor: float = 0.5
    users: int = 400
    malformed_rate: float = 0.0
    # Remedy phrase (case-insensitive substring of a served prompt text) ->
    # change of success probability: the platform's ground truth of which
    # instructions help and which hurt, for ``aitl evaluate loop``.
    success_effects: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        hours = tuple(
            _utc(h, "anomaly_hours").replace(minute=0, second=0, microsecond=0) for h in self.anomaly_hours
        )
        object.__setattr__(self, "anomaly_hours", hours)
        object.__setattr__(self, "regression_at", _utc(self.regression_at, "regression_at"))
        if self.regression_prompt not in BASELINE_PROMPTS:
            raise ValueError(f"regression_prompt: unknown prompt {self.regression_prompt!r}")
        if self.security_task_type not in TASK_TYPES:
            raise ValueError(f"security_task_type: unknown task type {self.security_task_type!r}")
        if self.security_language not in LANGUAGES:
            raise ValueError(f"security_language: unknown language {self.security_language!r}")
        if self.security_indicator not in SECURITY_INDICATORS:
            raise ValueError(
                f"security_indicator: {self.security_indicator!r} is not a taxonomy "
                f"security indicator {SECURITY_INDICATORS}"
            )
        for name in (
            "anomaly_success",
            "security_rate",
            "background_security_rate",
            "timeout_complexity",
            "timeout_rate",
            "background_timeout_rate",
            "daily_amplitude",
            "regression_success_drop",
            "regression_quality_drop",
            "malformed_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: {value!r} is not in [0, 1]")
        for name in ("anomaly_volume", "timeout_s", "weekend_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive")
        if int(self.users) < 1:
            raise ValueError("users: must be at least 1")
        for phrase, delta in self.success_effects.items():
            if not phrase.strip() or not -1.0 <= delta <= 1.0:
                raise ValueError(f"success_effects: {phrase!r}: {delta!r} must be in [-1, 1]")

    def success_effect(self, text: str) -> float:
        """The summed ``success_effects`` of the phrases ``text`` contains."""
        folded = text.lower()
        return sum(delta for phrase, delta in self.success_effects.items() if phrase.lower() in folded)

    @classmethod
    def from_json(cls, path: Path) -> Scenario:
        """Read a JSON object with any of the fields (ISO 8601 timestamps)."""
        data = json.loads(Path(path).read_text("utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a scenario is a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{path}: unknown scenario key(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            try:
                if name == "anomaly_hours":
                    if isinstance(value, str) or not isinstance(value, list):
                        raise TypeError("expected a list of timestamps")
                    kwargs[name] = tuple(parse_utc(v) for v in value)
                elif name == "regression_at":
                    kwargs[name] = parse_utc(value)
                elif name == "success_effects":
                    if not isinstance(value, dict) or not all(
                        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
                    ):
                        raise TypeError("expected an object of phrase -> number")
                    kwargs[name] = {str(k): float(v) for k, v in value.items()}
                elif name == "users":
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise TypeError("expected an integer")
                    kwargs[name] = value
                elif isinstance(known[name].default, str):
                    if not isinstance(value, str):
                        raise TypeError("expected a string")
                    kwargs[name] = value
                else:
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        raise TypeError("expected a number")
                    kwargs[name] = float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: {name}: {exc}") from None
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "anomaly_hours":
                value = [_iso(h) for h in value]
            elif isinstance(value, datetime):
                value = _iso(value)
            out[f.name] = value
        return out

    def seasonality(self, hour: datetime) -> float:
        """Expected volume of ``hour`` relative to the weekly mean (anomalies aside)."""
        hour = hour.astimezone(UTC)
        h = hour.hour + 0.5
        daily = 1.0 + self.daily_amplitude * math.cos(2 * math.pi * (h - self.peak_hour) / 24)
        weekday = 7.0 / (5.0 + 2.0 * self.weekend_factor)
        weekly = weekday * (self.weekend_factor if hour.weekday() >= 5 else 1.0)
        return daily * weekly


@dataclass
class SimulationReport:
    events: int = 0
    malformed: int = 0
    sessions: int = 0
    files: int = 0
    hours: int = 0
    experiment_events: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- serving (registry)


@dataclass(frozen=True)
class _Version:
    version: int
    text: str


@dataclass(frozen=True)
class _Running:
    experiment_id: str
    control: _Version
    variant: _Version
    split: float
    started_at: datetime


@dataclass(frozen=True)
class _Serving:
    """What each catalogue prompt serves: now, and the regression prompt before."""

    current: dict[str, _Version]
    before_regression: _Version
    experiments: dict[str, _Running]

    def plan(self, prompt_id: str, hour: datetime, scenario: Scenario) -> tuple[_Version, _Running | None]:
        """(control, running experiment or None) served in ``hour``."""
        running = self.experiments.get(prompt_id)
        if running is not None and hour + HOUR > running.started_at:
            return running.control, running
        if prompt_id == scenario.regression_prompt and hour < scenario.regression_at:
            return self.before_regression, None
        return self.current[prompt_id], None


def _default_serving(scenario: Scenario) -> _Serving:
    current = {pid: _Version(1, text) for pid, text in BASELINE_PROMPTS.items()}
    reg = scenario.regression_prompt
    before = current[reg]
    current[reg] = _Version(2, release_text(reg))
    return _Serving(current, before, {})


def _version_with_text(session, prompt_id: str, text: str) -> int | None:
    return session.scalar(
        select(PromptVersion.version)
        .where(PromptVersion.prompt_id == prompt_id, PromptVersion.text == text)
        .order_by(PromptVersion.version)
        .limit(1)
    )


def _store_serving(store_url: str, window: Window, scenario: Scenario) -> _Serving:
    reg = scenario.regression_prompt
    with transaction(connect(store_url)) as session:
        for pid, text in BASELINE_PROMPTS.items():
            if session.get(Prompt, pid) is None:
                at = min(window.start, scenario.regression_at) if pid == reg else window.start
                ensure_registered(session, pid, text, at=at)
        if window.end > scenario.regression_at and (
            _version_with_text(session, reg, release_text(reg)) is None
        ):
            ensure_registered(session, reg, release_text(reg), at=scenario.regression_at)
        now = served(session)

        def version(pid: str, number: int) -> _Version:
            return _Version(number, get_version(session, pid, number).text)

        current: dict[str, _Version] = {}
        experiments: dict[str, _Running] = {}
        for pid in PROMPT_IDS:
            info = now[pid]
            current[pid] = version(pid, info.current_version)
            if info.experiment_id is not None and info.variant_version is not None:
                experiment = session.get(Experiment, info.experiment_id)
                experiments[pid] = _Running(
                    info.experiment_id,
                    current[pid],
                    version(pid, info.variant_version),
                    float(info.traffic_split),
                    experiment.started_at if experiment is not None else window.start,
                )
        v1 = _version_with_text(session, reg, BASELINE_PROMPTS[reg])
        before = version(reg, v1) if v1 is not None else current[reg]
    return _Serving(current, before, experiments)


# ------------------------------------------------------------------------ generation

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
TIER_SUCCESS = np.array([-0.06, -0.02, 0.01, 0.03])
MODEL_SUCCESS = np.array([0.03, -0.05, 0.0])
MODEL_QUALITY = np.array([0.04, -0.05, 0.0])
MODEL_DURATION = np.array([0.35, -0.30, 0.0])  # log-seconds
MODEL_DOC = np.array([0.05, -0.06, 0.0])
MODEL_CONTEXT = np.array([200_000, 32_000, 64_000])
PRICE_IN = np.array([3.0, 0.25, 1.0])  # USD per million tokens
PRICE_OUT = np.array([15.0, 1.25, 5.0])
SIZE_BASE = np.array([60.0, 90.0, 120.0, 80.0, 100.0])  # lines at complexity 0

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
_ERROR_OBJECTS = [
    [{"type": name, "message": message} for message in ERROR_MESSAGES[name]] for name in ERROR_TYPE_NAMES
]

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
_COMMENT_KINDS = ("ok", "fail", "security", "timeout")

_EMPTY: list[Any] = []  # shared, never mutated: "no indicators / errors"
_ARMS = (None, "control", "variant")


def _pick(rng: np.random.Generator, probabilities: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per element, from the row ``rows[i]`` of ``probabilities``."""
    cdf = np.cumsum(probabilities, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return np.minimum((u[:, None] >= cdf[rows]).sum(axis=1), probabilities.shape[1] - 1)


def _flag_lists(hits: np.ndarray, names: tuple[str, ...], n: int) -> list[list[str]]:
    lists: list[list[str]] = [_EMPTY] * n
    rows, cols = np.nonzero(hits)
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        if lists[row] is _EMPTY:
            lists[row] = [names[col]]
        else:
            lists[row].append(names[col])
    return lists


@dataclass
class _Context:
    seed: int
    rate: float
    scenario: Scenario
    serving: _Serving
    user_ids: list[str]
    user_p: np.ndarray
    skill: np.ndarray


def _effect_arrays(ctx: _Context, hour: datetime):
    """Per (prompt, arm) effect tables; arm 0 = no experiment, 1 control, 2 variant."""
    sc = ctx.scenario
    shape = (len(PROMPT_IDS), 3)
    version = np.ones(shape, dtype=np.int64)
    security = np.ones(shape)
    timeout = np.ones(shape)
    success = np.zeros(shape)
    regression = np.zeros(shape)
    experiments: list[_Running | None] = []
    for p, pid in enumerate(PROMPT_IDS):
        control, running = ctx.serving.plan(pid, hour, sc)
        experiments.append(running)
        arms = [(0, control), (1, control)]
        if running is not None:
            arms.append((2, running.variant))
        for arm, served_version in arms:
            effects = text_effects(served_version.text) or {}
            version[p, arm] = served_version.version
            security[p, arm] = effects.get("security_rate_factor", 1.0)
            timeout[p, arm] = effects.get("timeout_rate_factor", 1.0)
            success[p, arm] = effects.get("success_delta", 0.0) + sc.success_effect(served_version.text)
            if REGRESSION_LINE in served_version.text:
                regression[p, arm] = effects.get("regression_factor", 1.0)
    return version, security, timeout, success, regression, experiments


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
    regression's penalty after its release, direct success effects), to first
    order: clipping of probabilities is ignored.
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
        return value

    return success_of(variant_text) - success_of(control_text)


def _hour_seed(seed: int, hour: datetime) -> np.random.Generator:
    index = int(hour.timestamp()) // 3600
    return np.random.default_rng([seed & _MASK64, index & _MASK64, 0x484F5552])


def _simulate_hour(ctx: _Context, hour: datetime) -> tuple[bytes, int, int, dict[str, list[int]]]:
    """The hour's JSONL bytes, event and session counts, and per-experiment arm counts."""
    sc = ctx.scenario
    rng = _hour_seed(ctx.seed, hour)
    anomalous = hour in sc.anomaly_hours
    lam = ctx.rate * sc.seasonality(hour) * (sc.anomaly_volume if anomalous else 1.0)
    n = int(rng.poisson(lam))
    if n == 0:
        return b"", 0, 0, {}

    # Sessions: lengths 1..5 cut so that they hold exactly n events.
    lengths = rng.choice(5, size=n, p=SESSION_LENGTH_P) + 1
    ends = np.cumsum(lengths)
    m = int(np.searchsorted(ends, n)) + 1
    lengths = lengths[:m].copy()
    lengths[-1] -= int(ends[m - 1]) - n
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sess = np.repeat(np.arange(m), lengths)
    pos = np.arange(n) - starts[sess]
    last = pos == lengths[sess] - 1

    # Session attributes.
    user_s = rng.choice(len(ctx.user_ids), size=m, p=ctx.user_p)
    task_s = rng.choice(len(TASK_TYPES), size=m, p=TASK_P)
    lang_s = _pick(rng, LANGUAGE_P, task_s)
    cx_s = np.round(rng.beta(COMPLEXITY_A[task_s], COMPLEXITY_B[task_s]), 3)
    band_s = (cx_s >= 0.4).astype(np.int64) + (cx_s >= 0.7)
    tier_s = _pick(rng, TIER_P, band_s)
    model_s = _pick(rng, MODEL_P, tier_s)

    version_t, security_t, timeout_t, success_t, regression_t, experiments = _effect_arrays(ctx, hour)
    # Events. Execution ids number the events as generated (``exec_prefix`` +
    # index), so each execution's arm is known before its outcome is drawn.
    user, task, lang, cx = user_s[sess], task_s[sess], lang_s[sess], cx_s[sess]
    tier, model = tier_s[sess], model_s[sess]
    exec_prefix = f"exe-{ctx.seed}-{hour:%Y%m%d%H}-"
    arm = np.zeros(n, dtype=np.int64)
    for p, running in enumerate(experiments):
        if running is not None:
            for i in np.flatnonzero(task == p).tolist():
                variant = assign_arm(running.experiment_id, f"{exec_prefix}{i:06d}", running.split)
                arm[i] = 2 if variant == "variant" else 1
    skill = ctx.skill[user]

    hot = (task == TASK_TYPES.index(sc.security_task_type)) & (lang == LANGUAGES.index(sc.security_language))
    planted_p = np.where(hot, sc.security_rate, sc.background_security_rate)
    planted = rng.random(n) < planted_p * security_t[task, arm]
    others = tuple(i for i in SECURITY_INDICATORS if i != sc.security_indicator)
    other_hits = rng.random((n, len(others))) < sc.background_security_rate
    style_hits = rng.random((n, len(STYLE_INDICATORS))) < STYLE_RATES
    any_security = planted | other_hits.any(axis=1)

    timeout_p = (
        np.where(cx >= sc.timeout_complexity, sc.timeout_rate, sc.background_timeout_rate)
        * timeout_t[task, arm]
    )
    timed_out = rng.random(n) < timeout_p

    if anomalous:
        p0 = np.full(n, sc.anomaly_success)
    else:
        p0 = 1.0 - 0.30 * cx + TIER_SUCCESS[tier] + MODEL_SUCCESS[model] + 0.12 * (skill - 0.5)
        p0 = np.where(last, p0, 0.75 * p0)
    security_drop = np.where(any_security, 0.20, 0.0)
    harm_drop = -success_t[task, arm]
    regression_scale = regression_t[task, arm]
    regression_drop = sc.regression_success_drop * regression_scale
    p = np.clip(p0 - security_drop - harm_drop - regression_drop, 0.02, 0.99)
    u = rng.random(n)
    success = (u < p) & ~timed_out
    failed = ~success & ~timed_out

    # Why it failed: the band of u a planted effect added to the failures, else background.
    band1 = p + security_drop
    band2 = band1 + harm_drop
    band3 = band2 + regression_drop
    cause_security = failed & (security_drop > 0) & (u < band1)
    cause_harm = failed & ~cause_security & (harm_drop > 0) & (u < band2)
    cause_regression = failed & ~cause_security & ~cause_harm & (regression_drop > 0) & (u < band3)
    primary = np.where(failed, rng.choice(len(ERROR_TYPE_NAMES), size=n, p=BACKGROUND_ERROR_P), -1)
    if anomalous:
        primary[failed & (rng.random(n) < 0.75)] = E_RESOURCE
    primary[cause_harm] = E_RUNTIME
    primary[cause_security] = E_VALIDATION
    primary[cause_regression] = E_MISUNDERSTOOD
    primary[timed_out] = E_TIMEOUT
    secondary = failed & (primary != E_TEST) & (rng.random(n) < 0.08)
    message_k = rng.integers(0, 6, size=n)

    duration = rng.lognormal(np.log(7.0) + 2.3 * cx + MODEL_DURATION[model], 0.5)
    if anomalous:
        duration *= 1.6
    duration = np.minimum(duration, 0.97 * sc.timeout_s)
    duration = np.where(timed_out, sc.timeout_s + rng.exponential(1.5, n), duration)

    quality_mean = (
        0.84
        - 0.22 * cx
        + MODEL_QUALITY[model]
        + 0.10 * (skill - 0.5)
        - 0.15 * any_security
        - sc.regression_quality_drop * regression_scale
        - 0.05 * (harm_drop > 0)
        - 0.18 * ~success
    )
    quality = np.clip(quality_mean + rng.normal(0.0, 0.07, n), 0.0, 1.0)

    size = rng.lognormal(np.log(SIZE_BASE[task]) + 0.9 * cx, 0.45)
    size = np.where(timed_out, size * rng.uniform(0.2, 0.6, n), size)
    size = np.maximum(size, 1.0).astype(np.int64)
    syntax = np.where(primary == E_SYNTAX, 1 + rng.poisson(0.8, n), 0)

    tokens_in = rng.lognormal(np.log(1400.0) + 0.9 * cx + 0.15 * pos, 0.35)
    overflow = primary == E_CONTEXT
    tokens_in = np.where(
        overflow, MODEL_CONTEXT[model] + rng.lognormal(np.log(4000.0), 0.5, n), tokens_in
    ).astype(np.int64)
    tokens_out = (size * rng.uniform(9.0, 13.0, n)).astype(np.int64)
    cost = (tokens_in * PRICE_IN[model] + tokens_out * PRICE_OUT[model]) / 1e6
    cpu = duration * rng.uniform(0.25, 0.9, n)
    memory = rng.lognormal(np.log(320.0) + 0.9 * cx, 0.3) * (2.5 if anomalous else 1.0)
    memory = np.where(primary == E_RESOURCE, 4096.0, memory)

    coverage = np.clip(rng.normal(0.55 + 0.25 * (task == 3) + 0.15 * (skill - 0.5) - 0.1 * cx, 0.12), 0, 1)
    coverage_null = timed_out | (rng.random(n) < 0.12)
    doc = np.clip(rng.normal(0.62 - 0.15 * cx + MODEL_DOC[model], 0.15), 0, 1)
    doc_null = rng.random(n) < 0.05
    rated = rng.random(n) < np.where(last, 0.6, 0.25)
    satisfaction = np.clip(
        np.rint(1 + 4 * (0.55 * quality + 0.45 * success) + rng.normal(0, 0.6, n)), 1, 5
    ).astype(np.int64)
    accepted_null = rng.random(n) < 0.15
    accepted = last & success & (rng.random(n) < 0.3 + 0.65 * quality)
    commented = rng.random(n) < np.where(success, 0.03, 0.06)
    comment_kind = np.where(timed_out, 3, np.where(planted, 2, np.where(success, 0, 1)))
    comment_k = rng.integers(0, 5, size=n)

    # Timestamps: in order within the session, the session placed inside the hour.
    gap = np.where(pos == 0, 0.0, 3.0 + rng.exponential(25.0, n))
    step = duration + gap
    cumulative = np.cumsum(step)
    offset = cumulative - (cumulative[starts] - step[starts])[sess]
    span = offset[starts + lengths - 1]
    session_start = rng.random(m) * np.maximum(0.0, 3599.0 - span)
    millis = np.minimum(np.floor((session_start[sess] + offset) * 1000), 3_599_999)
    millis = millis.astype(np.int64)
    order = np.argsort(millis, kind="stable")
    base = np.datetime64(hour.replace(tzinfo=None), "ms")
    stamps = np.datetime_as_string(base + millis[order], unit="ms").tolist()

    # Columns in time order.
    def col(values: np.ndarray, decimals: int | None = None) -> list[Any]:
        values = values[order]
        return (np.round(values, decimals) if decimals is not None else values).tolist()

    security_lists = _flag_lists(
        np.column_stack([planted, other_hits])[order], (sc.security_indicator, *others), n
    )
    style_lists = _flag_lists(style_hits[order], STYLE_INDICATORS, n)
    primary_o, secondary_o, message_o = col(primary), col(secondary), col(message_k)
    errors: list[list[dict[str, Any]]] = []
    for kind, extra, k in zip(primary_o, secondary_o, message_o, strict=True):
        if kind < 0:
            errors.append(_EMPTY)
            continue
        options = _ERROR_OBJECTS[kind]
        listed = [options[k % len(options)]]
        if extra:
            tests = _ERROR_OBJECTS[E_TEST]
            listed.append(tests[k % len(tests)])
        errors.append(listed)
    comments: list[str | None] = [None] * n
    for i in np.flatnonzero(commented[order]).tolist():
        pool = COMMENTS[_COMMENT_KINDS[comment_kind[order[i]]]]
        comments[i] = pool[int(comment_k[order[i]]) % len(pool)]
    sats = [s if r else None for s, r in zip(col(satisfaction), col(rated), strict=True)]
    accepts = [None if x else a for a, x in zip(col(accepted), col(accepted_null), strict=True)]
    coverages = [None if x else c for c, x in zip(col(coverage, 3), col(coverage_null), strict=True)]
    docs = [None if x else d for d, x in zip(col(doc, 3), col(doc_null), strict=True)]

    tiers = np.array(TIERS, dtype=object)[tier[order]].tolist()
    tasks = np.array(TASK_TYPES, dtype=object)[task[order]].tolist()
    langs = np.array(LANGUAGES, dtype=object)[lang[order]].tolist()
    models = np.array(MODELS, dtype=object)[model[order]].tolist()
    prompts = np.array(PROMPT_IDS, dtype=object)[task[order]].tolist()
    versions = version_t[task, arm][order].tolist()
    exp_names = np.array([r.experiment_id if r is not None else None for r in experiments], dtype=object)
    exp_ids = np.where(arm[order] > 0, exp_names[task[order]], None).tolist()
    arms = np.array(_ARMS, dtype=object)[arm[order]].tolist()
    users = np.array(ctx.user_ids, dtype=object)[user[order]].tolist()
    sessions = sess[order].tolist()

    tag = f"{hour:%Y%m%d%H}"
    event_prefix = f"sim-{ctx.seed}-{tag}-"
    executions = order.tolist()
    session_prefix = f"ses-{ctx.seed}-{tag}-"
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    lines = []
    for i, row in enumerate(
        zip(
            sessions,
            users,
            stamps,
            tiers,
            tasks,
            langs,
            models,
            prompts,
            versions,
            exp_ids,
            arms,
            col(cx, 3),
            col(size),
            col(success),
            col(duration, 3),
            col(quality, 3),
            col(syntax),
            style_lists,
            security_lists,
            coverages,
            docs,
            sats,
            accepts,
            comments,
            errors,
            col(cpu, 3),
            col(memory, 1),
            col(tokens_in),
            col(tokens_out),
            col(cost, 6),
            strict=True,
        )
    ):
        lines.append(
            dumps(
                {
                    "event_id": f"{event_prefix}{i:06d}",
                    "execution_id": f"{exec_prefix}{executions[i]:06d}",
                    "session_id": f"{session_prefix}{row[0]:05d}",
                    "user_id": row[1],
                    "timestamp": f"{row[2]}Z",
                    "agent_tier": row[3],
                    "task_type": row[4],
                    "language": row[5],
                    "model": row[6],
                    "prompt_id": row[7],
                    "prompt_version": row[8],
                    "experiment_id": row[9],
                    "arm": row[10],
                    "complexity": row[11],
                    "size": row[12],
                    "success": row[13],
                    "duration_s": row[14],
                    "quality_score": row[15],
                    "syntax_errors": row[16],
                    "style_issues": row[17],
                    "security_warnings": row[18],
                    "test_coverage": row[19],
                    "doc_score": row[20],
                    "satisfaction": row[21],
                    "accepted": row[22],
                    "comment": row[23],
                    "errors": row[24],
                    "cpu_s": row[25],
                    "memory_mb": row[26],
                    "tokens_in": row[27],
                    "tokens_out": row[28],
                    "cost_usd": row[29],
                },
                option=newline,
            )
        )

    arm_counts: dict[str, list[int]] = {}
    for p, running in enumerate(experiments):
        if running is not None:
            in_prompt = task == p
            arm_counts[running.experiment_id] = [
                int(np.count_nonzero(in_prompt & (arm == 1))),
                int(np.count_nonzero(in_prompt & (arm == 2))),
            ]
    return b"".join(lines), n, m, arm_counts


# ----------------------------------------------------------------------------- output

# How producers really break the contract: a line cut short, a value of the
# wrong type, a required field missing.
_CORRUPTIONS = (
    lambda line: line[: len(line) // 2],
    lambda line: line.replace(b'"success":true', b'"success":"yes"').replace(
        b'"success":false', b'"success":"no"'
    ),
    lambda line: orjson.dumps({k: v for k, v in orjson.loads(line).items() if k != "quality_score"}),
)


def _corrupt(data: bytes, rate: float, seed: int, hour: datetime) -> tuple[bytes, int]:
    """Break ``rate`` of the hour's lines (chosen by their own seeded generator)."""
    if rate <= 0 or not data:
        return data, 0
    lines = data.splitlines()
    index = int(hour.timestamp()) // 3600
    rng = np.random.default_rng([seed & _MASK64, index & _MASK64, 0x4241_4421])
    broken = np.flatnonzero(rng.random(len(lines)) < rate)
    for position in broken:
        lines[position] = _CORRUPTIONS[position % len(_CORRUPTIONS)](lines[position])
    return b"\n".join(lines) + b"\n", len(broken)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _ground_truth(
    scenario: Scenario, serving: _Serving, window: Window, rate: float, seed: int
) -> dict[str, Any]:
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
                "hour": _iso(hour),
                "success_probability": sc.anomaly_success,
                "volume_factor": sc.anomaly_volume,
                "signal": "resource_exhausted",
                "description": (
                    f"hour {_iso(hour)}: volume x{sc.anomaly_volume:g}, success "
                    f"probability {sc.anomaly_success:.0%}, 75% of failures "
                    "resource_exhausted, durations x1.6, memory x2.5"
                ),
            }
            for hour in sc.anomaly_hours
        ),
        {
            "name": "prompt_regression",
            "kind": "regression",
            "prompt_id": sc.regression_prompt,
            "at": _iso(sc.regression_at),
            "version_before": serving.before_regression.version,
            "success_drop": sc.regression_success_drop,
            "quality_drop": sc.regression_quality_drop,
            "signal": "misunderstood_task",
            "release_line": REGRESSION_LINE,
            "description": (
                f"from {_iso(sc.regression_at)} {sc.regression_prompt} is served as a "
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
            "started_at": _iso(running.started_at),
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
            "window_start": _iso(window.start),
            "window_end": _iso(window.end),
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


def simulate(
    landing: Path,
    window: Window,
    *,
    rate: float,
    seed: int,
    store_url: str | None = None,
    scenario: Scenario | None = None,
) -> SimulationReport:
    """Write the window's simulated traffic into ``landing`` (see the module docstring)."""
    if not rate >= 0 or math.isinf(rate):
        raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
    scenario = scenario or Scenario()
    landing = Path(landing)
    serving = (
        _store_serving(store_url, window, scenario) if store_url is not None else _default_serving(scenario)
    )
    users = np.random.default_rng([seed & _MASK64, 0x55534552])
    skill = users.beta(5.0, 3.0, size=scenario.users)
    activity = users.lognormal(0.0, 0.9, size=scenario.users)
    ctx = _Context(
        seed=seed,
        rate=float(rate),
        scenario=scenario,
        serving=serving,
        user_ids=[f"user-{k:04d}" for k in range(scenario.users)],
        user_p=activity / activity.sum(),
        skill=skill,
    )

    report = SimulationReport()
    for hour in window.hours():
        data, events, sessions, arm_counts = _simulate_hour(ctx, hour)
        data, malformed = _corrupt(data, scenario.malformed_rate, seed, hour)
        report.malformed += malformed
        _write_atomic(landing_hour_dir(landing, hour) / f"sim-{seed}.jsonl", data)
        report.hours += 1
        report.files += 1
        report.events += events
        report.sessions += sessions
        for experiment_id, (control, variant) in arm_counts.items():
            counts = report.experiment_events.setdefault(experiment_id, {"control": 0, "variant": 0})
            counts["control"] += control
            counts["variant"] += variant

    truth = _ground_truth(scenario, serving, window, float(rate), seed)
    _write_atomic(landing / "ground_truth.json", orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    return report
