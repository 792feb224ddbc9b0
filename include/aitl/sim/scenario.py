"""The planted ground truth: which patterns the simulator injects, and how strongly.

A ``Scenario`` holds every knob of what the simulator plants (defaults in
brackets); it exists apart from the generator so that the CLI can load one from
JSON (``Scenario.from_json``) and the ground-truth file can record it
(``Scenario.as_dict``) without generating anything.

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
   string, ``session_id`` missing. ``SimulationReport.malformed`` counts
   them; collection must quarantine exactly these.

6. Causes: ``causes`` [none], any number of further planted failure causes
   (``aitl.sim.causes.Cause``: an indicator in a share of one prompt's
   executions, costing success, cured by some of its remedies);
   ``with_random_causes`` draws them from a seed.

Seasonality (``daily_amplitude`` [0.6], ``peak_hour`` [15], ``weekend_factor``
[0.5]), the user pool (``users`` [400]) and ``success_effects`` (remedy phrase ->
change of success probability) complete it.

``PRESETS`` names ready-made scenarios (``aitl simulate --scenario null``):
``null`` turns every planted effect off (no hotspot, no extra timeouts on
complex tasks, no anomalous hour, no regression), leaving the platform's
ordinary structure (seasonality, harder tasks failing more, tiers and models
differing): what the analysis must not call a finding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aitl.sim.catalogue import BASELINE_PROMPTS, LANGUAGES, SECURITY_INDICATORS, TASK_TYPES
from aitl.sim.causes import Cause, random_causes, random_success_effects
from aitl.window import parse_utc


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{name}: {value!r} has no timezone")
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """``value`` in ISO 8601 with a ``Z``, as scenario and ground-truth files write it."""
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
    causes: tuple[Cause, ...] = ()

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

    def with_random_causes(self, count: int, seed: int) -> Scenario:
        """This scenario plus ``count`` causes drawn from ``seed``, and every remedy's direct effect too."""
        return replace(
            self,
            causes=self.causes + random_causes(seed, count),
            success_effects=random_success_effects(seed),
        )

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
                elif name == "causes":
                    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
                        raise TypeError("expected a list of objects")
                    kwargs[name] = tuple(Cause(**c) for c in value)
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
                value = [iso(h) for h in value]
            elif isinstance(value, datetime):
                value = iso(value)
            elif f.name == "causes":
                value = [cause.as_dict() for cause in value]
            out[f.name] = value
        return out

    @classmethod
    def named(cls, name_or_path: str) -> Scenario:
        """A preset by name (``PRESETS``), or a scenario JSON file by path."""
        if name_or_path in PRESETS:
            return cls(**PRESETS[name_or_path])
        return cls.from_json(Path(name_or_path))

    def seasonality(self, hour: datetime) -> float:
        """Expected volume of ``hour`` relative to the weekly mean (anomalies aside)."""
        hour = hour.astimezone(UTC)
        h = hour.hour + 0.5
        daily = 1.0 + self.daily_amplitude * math.cos(2 * math.pi * (h - self.peak_hour) / 24)
        weekday = 7.0 / (5.0 + 2.0 * self.weekend_factor)
        weekly = weekday * (self.weekend_factor if hour.weekday() >= 5 else 1.0)
        return daily * weekly


# Ready-made scenarios, by name: field overrides of the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "null": {
        "security_rate": Scenario.background_security_rate,
        "timeout_rate": Scenario.background_timeout_rate,
        "anomaly_hours": (),
        "regression_success_drop": 0.0,
        "regression_quality_drop": 0.0,
    },
}
