"""Durations as the seed writes them (``15m``, ``24h``, ``7d``): one definition for parsing and for params.

``DURATION_PATTERN`` is the JSON-schema pattern of a duration param, and
``parse_duration`` accepts exactly what it matches, so the trigger form and
the library never disagree about what a duration is.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_PATTERN = r"^\s*(\d+)\s*([mhd])\s*$"
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_duration(text: str) -> timedelta:
    """``"24h"``, ``"15m"``, ``"7d"`` as a timedelta."""
    match = re.fullmatch(DURATION_PATTERN, text)
    if match is None:
        raise ValueError(f"duration {text!r} must look like 15m, 24h or 7d")
    return int(match[1]) * _UNITS[match[2]]


def format_duration(duration: timedelta) -> str:
    """Seed-style text in hours, or minutes where hours are not whole (``timedelta(days=1)`` -> ``"24h"``).

    Hours, not days, because the seed writes its settings that way (``24h``).
    """
    for unit in ("h", "m"):
        count, rest = divmod(duration, _UNITS[unit])
        if not rest:
            return f"{count}{unit}"
    raise ValueError(f"duration {duration} is not a whole number of minutes")
