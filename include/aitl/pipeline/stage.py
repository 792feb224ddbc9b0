"""What a stage is: a plain function of (session, window, settings) returning a small summary.

A stage may end the cycle early (``StageResult.stop``): Airflow shows that as
a skip, not a failure. ``aitl.pipeline.runner`` runs stages transactionally.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from aitl import cycles
from aitl.config import Settings
from aitl.window import Window


@dataclass
class StageResult:
    summary: dict[str, Any] = field(default_factory=dict)
    stop: str | None = None


Stage = Callable[[Session, Window, Settings], StageResult]


def count_by(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    """How many rows have each value of ``key``, sorted by value: a stage summary's breakdown."""
    return dict(sorted(Counter(row[key] for row in rows).items()))


def owned_by(model: type, level: str, window: Window) -> ColumnElement[bool]:
    """The rows of ``model`` a run of ``level`` for ``window`` owns, and replaces when rerun."""
    table = model.__table__
    return (table.c.level == level) & (table.c.window_start == window.start)


def bind(level: str, functions: dict[str, Stage]) -> dict[str, Stage]:
    """A cycle's stage functions, checked against ``aitl.cycles``: same names, same order."""
    expected = [stage.name for stage in cycles.stages(level) if stage.in_library]
    if list(functions) != expected:
        raise ValueError(f"the {level} stages {list(functions)} are not aitl.cycles' {expected}")
    return functions
