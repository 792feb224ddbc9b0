"""The AITL page's markup pieces: escaping, number formats and colours, for the page and its charts.

Every string from the store reaches the page through ``esc``: prompt text,
comments, signals and segment values originate in platform events and are
untrusted. ``Safe`` marks markup built here from escaped parts.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any


class Safe(str):
    """Markup built here from escaped parts: the one kind of text ``_e`` passes through unchanged."""


def esc(value: Any) -> Safe:
    """Escape anything for HTML text or a quoted attribute (``Safe`` markup stays as it is)."""
    return value if isinstance(value, Safe) else Safe(html.escape("" if value is None else str(value)))


def join_safe(parts: Iterable[str]) -> Safe:
    return Safe("".join(parts))


NONE = "-"  # a number that does not exist (no events, no estimate yet)


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def pct(value: Any) -> str:
    return f"{value:.1%}" if finite(value) else NONE


def num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if finite(value) else NONE


def signed(value: Any) -> str:
    return f"{value:+.3f}" if finite(value) else NONE


def p_text(value: Any) -> str:
    if not finite(value):
        return NONE
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def hour_label(iso: str) -> str:
    return iso[:16].replace("T", " ")


COLORS = {
    "planned": "#90a4ae",
    "proposed": "#f9a825",
    "deferred": "#ffcc80",
    "running": "#1e88e5",
    "continue": "#1e88e5",
    "applied": "#00897b",
    "promoted": "#2e7d32",
    "kept": "#558b2f",
    "rolled_back": "#c62828",
    "inconclusive": "#757575",
    "stopped_srm": "#6a1b9a",
    "stopped": "#5d4037",  # by a person
    "rejected": "#424242",
}
ADVERSE = "#d32f2f"  # an anomaly for the worse
FAVOURABLE = "#2e7d32"  # an anomaly for the better: good news
SEVERITY_COLORS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#78909c"}
OTHER = "#9e9e9e"
