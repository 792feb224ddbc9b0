"""Failure causes drawn at random: many planted findings whose cures nobody chose.

The default scenario plants three causes, and their cures are written into the
simulator (``aitl.sim.ground_truth.VARIANT_EFFECTS``); a closed loop scored on
them measures a handful of experiments whose answers we designed. A
``Cause`` plants any taxonomy indicator in a share of one prompt's executions
(optionally one language), costing each execution that shows it some success
probability; each remedy of the indicator's subtype cures it by a factor
drawn from the seed, or not at all. ``random_causes`` draws them, and
``random_success_effects`` a direct effect of every remedy phrase on the
executions served it (most nil, some helpful, some harmful), so whether an
experiment helps is the sum of two draws the planner cannot see.

Draws, per cause: a prompt (task type) uniformly; a language (by the task's
language mix) in half of them, else every language; an indicator uniformly from
the whole taxonomy, not one already planted on that prompt; a rate in
U(0.08, 0.30) and a success drop in U(0.10, 0.30); per remedy, no cure with
probability 0.35, else a rate factor in U(0.1, 0.7). Per remedy phrase of the
taxonomy, a direct effect of 0 with probability 0.5, else N(0, 0.04) cut to
[-0.12, 0.12].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aitl.sim.catalogue import (
    LANGUAGE_P,
    LANGUAGES,
    SECURITY_INDICATORS,
    SEED_MASK,
    STYLE_INDICATORS,
    TASK_TYPES,
)
from aitl.taxonomy import LEARNING_PATTERNS, classify_indicator

INDICATORS = SECURITY_INDICATORS + STYLE_INDICATORS  # the whole taxonomy's, in its order
REMEDIES = tuple(
    str(remedy)
    for subtypes in LEARNING_PATTERNS.values()
    for spec in subtypes.values()
    for remedy in spec["improvements"]
)
_SALT = 0x43415553  # "CAUS": the draws of causes, apart from the traffic's


@dataclass(frozen=True)
class Cause:
    """One planted failure cause: ``indicator`` in ``rate`` of a prompt's executions, and its cures.

    ``language`` None plants it in every language of ``task_type``. An
    execution that shows the indicator succeeds ``success_drop`` less often.
    ``cures`` maps remedy phrases (case-insensitive substrings of a served
    prompt text) to the factor on ``rate`` they bring; factors multiply.
    """

    task_type: str
    indicator: str
    rate: float
    success_drop: float
    language: str | None = None
    cures: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"causes: unknown task type {self.task_type!r}")
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"causes: unknown language {self.language!r}")
        if self.indicator not in INDICATORS:
            raise ValueError(f"causes: {self.indicator!r} is not a taxonomy indicator")
        for name in ("rate", "success_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"causes: {name} {getattr(self, name)!r} is not in [0, 1]")
        if not isinstance(self.cures, dict):
            raise TypeError(f"causes: cures must map remedy phrases to factors, got {self.cures!r}")
        for phrase, factor in self.cures.items():
            if not phrase.strip() or not 0.0 <= factor <= 1.0:
                raise ValueError(f"causes: cure {phrase!r}: factor {factor!r} must be in [0, 1]")

    @property
    def where(self) -> str:
        """Its task type, and its language if it has one (``api_endpoint/python``)."""
        return f"{self.task_type}/{self.language}" if self.language else self.task_type

    @property
    def security(self) -> bool:
        """Reported in ``security_warnings`` (else in ``style_issues``)."""
        return classify_indicator(self.indicator).category == "security"

    def factor(self, text: str) -> float:
        """The rate factor of serving ``text``: the product of the cures it contains."""
        folded = text.lower()
        return float(np.prod([f for phrase, f in self.cures.items() if phrase.lower() in folded] or [1.0]))

    def share(self) -> float:
        """The share of its prompt's executions the cause can reach (its language's, or all)."""
        if self.language is None:
            return 1.0
        return float(LANGUAGE_P[TASK_TYPES.index(self.task_type), LANGUAGES.index(self.language)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_type": self.task_type,
            "language": self.language,
            "indicator": self.indicator,
            "rate": self.rate,
            "success_drop": self.success_drop,
            "cures": dict(self.cures),
        }


def random_causes(seed: int, count: int) -> tuple[Cause, ...]:
    """``count`` causes drawn from ``seed`` (module docstring for the distributions)."""
    rng = np.random.default_rng([seed & SEED_MASK, _SALT])
    causes: list[Cause] = []
    while len(causes) < count:
        task = int(rng.integers(len(TASK_TYPES)))
        taken = {c.indicator for c in causes if c.task_type == TASK_TYPES[task]}
        free = [i for i in INDICATORS if i not in taken]
        indicator = free[int(rng.integers(len(free)))]
        language = None
        if rng.random() < 0.5:
            language = LANGUAGES[int(rng.choice(len(LANGUAGES), p=LANGUAGE_P[task]))]
        cures = {}
        for remedy in classify_indicator(indicator).improvements:
            cures[remedy] = 1.0 if rng.random() < 0.35 else round(float(rng.uniform(0.1, 0.7)), 3)
        causes.append(
            Cause(
                task_type=TASK_TYPES[task],
                indicator=indicator,
                rate=round(float(rng.uniform(0.08, 0.30)), 3),
                success_drop=round(float(rng.uniform(0.10, 0.30)), 3),
                language=language,
                cures={r: f for r, f in cures.items() if f < 1.0},
            )
        )
    return tuple(causes)


def random_success_effects(seed: int) -> dict[str, float]:
    """A direct success effect per taxonomy remedy phrase, drawn from ``seed`` (0 for about half)."""
    rng = np.random.default_rng([seed & SEED_MASK, _SALT, 1])
    effects = {}
    for remedy in REMEDIES:
        nil, value = rng.random() < 0.5, float(np.clip(rng.normal(0.0, 0.04), -0.12, 0.12))
        if not nil:
            effects[remedy.lower()] = round(value, 4)
    return effects
