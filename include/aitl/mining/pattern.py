"""One row type for every kind of pattern (frequency, sequence, correlation, anomaly).

Every miner describes what it found as a ``PatternRow``; ``as_row`` turns it
into a ``patterns`` table row whose id derives from what it describes, so a
rerun of the window rewrites the same rows instead of adding new ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aitl.ids import stable_id
from aitl.window import Window


@dataclass(frozen=True)
class PatternRow:
    """A pattern as the ``patterns`` table stores it (all but its id, level and window)."""

    kind: str
    signal_kind: str
    signal: str
    category: str
    subtype: str
    count: int
    segment_n: int
    rate: float
    segment: dict[str, Any] = field(default_factory=dict)
    baseline_rate: float = 0.0
    lift: float | None = None
    p_value: float | None = None
    # The p-value adjusted over every test of the run (Benjamini-Hochberg).
    q_value: float | None = None
    details: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The pattern's columns as a plain dict (JSON-ready for ``aitl analyze``)."""
        return {**dataclasses.asdict(self), "segment": dict(self.segment)}

    def as_row(self, level: str, window: Window) -> dict[str, Any]:
        """The ``patterns`` row of this pattern found by a ``level`` run over ``window``."""
        key = (self.kind, self.signal_kind, self.signal, sorted(self.segment.items()))
        return {
            "id": stable_id(level, window.start.isoformat(), *key),
            "level": level,
            "window_start": window.start,
            "window_end": window.end,
            **self.fields(),
        }
