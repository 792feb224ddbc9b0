"""Analysis windows: the half-open UTC interval a run owns.

Every stage is a function of its window, which is what makes reruns replace
rather than duplicate, and backfills reproduce what a live run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# What one run of each cycle covers.
UNITS = {"hourly": HOUR, "daily": DAY}


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 instant; a value without an offset is taken as UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"window {name} {value!r} has no timezone")
            utc = value.astimezone(UTC)
            # A plain datetime, even when Airflow hands over pendulum's subclass,
            # whose arithmetic can lose a stdlib timezone.
            plain = datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)
            object.__setattr__(self, name, plain)
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after start {self.start}")

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        return cls(parse_utc(start), parse_utc(end))

    @classmethod
    def hour_of(cls, instant: datetime) -> Window:
        start = instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return cls(start, start + HOUR)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def hours(self) -> Iterator[datetime]:
        """Start of every whole or partial hour the window touches."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        while hour < self.end:
            yield hour
            hour += HOUR

    def units(self, level: str) -> list[Window]:
        """The window cut into the hours (``hourly``) or days (``daily``) a cycle runs on, from its start."""
        unit, start, units = UNITS[level], self.start, []
        while start < self.end:
            units.append(Window(start, start + unit))
            start += unit
        return units

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%M}Z, {self.end:%Y-%m-%dT%H:%M}Z)"
