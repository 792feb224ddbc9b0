"""Metric series as they come from monitoring exports, made regular for ``aitl.stats.timeseries``.

The analyses count seasonal periods in samples, so they need one value per
step of a fixed grid. Real exports rarely give that: samples go missing,
collectors report twice, rows arrive out of order, timestamps jitter around
their interval, a cell reads ``null``. Refusing such a series leaves the user
with nothing; guessing silently leaves them with a result they cannot judge.
So ``read_series`` keeps every row it can read and counts the rest,
``regularise`` infers the interval, sorts, averages duplicates and puts the
samples on a grid with gaps as missing values, and both say what they did
in words, which the command line prints as one line.

Method: docs/statistics.md#anomalies
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

# Below this many valid values there is no noise scale to estimate, let alone a daily pattern.
MIN_USABLE = 10
# Intervals monitoring systems use. An inferred interval within NICE_TOLERANCE of one is taken
# to be it: the median step of jittered timestamps is rarely exactly the configured interval.
NICE_INTERVALS = tuple(
    pd.Timedelta(seconds=seconds) for seconds in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800)
) + tuple(pd.Timedelta(hours=hours) for hours in (1, 2, 3, 4, 6, 8, 12, 24, 168))
NICE_TOLERANCE = 0.1
# At most this many grid points: a stray timestamp years away from the others would otherwise
# make the analysis fill years of empty slots. A wider grid is coarsened instead of refused.
MAX_GRID = 200_000


@dataclass(frozen=True)
class Reading:
    """The rows of a CSV file that could be read, in file order, and what could not."""

    series: pd.Series  # UTC DatetimeIndex, float values (NaN: missing)
    unreadable_values: int  # values taken as missing (not a finite number)
    skipped_rows: int  # rows without a readable timestamp
    first_problem: str | None  # where the first of those was, for the user to look

    def notes(self) -> list[str]:
        """What reading did, in words (nothing when every row was clean)."""
        notes = []
        if self.unreadable_values:
            notes.append(f"{_count(self.unreadable_values, 'unreadable value')} taken as missing")
        if self.skipped_rows:
            notes.append(f"{_count(self.skipped_rows, 'row')} without a readable timestamp skipped")
        if self.first_problem:
            notes.append(f"first: {self.first_problem}")
        return notes


def read_series(path: Path, time_col: str = "timestamp", value_col: str = "value") -> Reading:
    """A metric series from a CSV file, as it comes.

    Timestamps are ISO-8601-like text; naive ones are taken as UTC, others
    converted to UTC. A blank value is a missing sample, and so is a value
    that is not a finite number (``null``, ``n/a``, ``inf``); a row whose
    timestamp cannot be read is skipped. Both are counted, with the place of
    the first, rather than refused: one bad cell in a month of samples should
    not cost the month. Order, duplicates and intervals are ``regularise``'s
    business. A file without the two columns, or without a single row, raises
    one ValueError naming the file, the line and the column.
    """
    path = Path(path)
    stamps: list[pd.Timestamp] = []
    values: list[float] = []
    unreadable, skipped, first = 0, 0, None
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate a BOM
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for column in (time_col, value_col):
            if column not in header:
                raise _file_error(path, 1, column, f"no such column (header: {', '.join(header) or 'empty'})")
        rows = 0
        for row in reader:
            rows += 1
            stamp, problem = _parse(row.get(time_col), _timestamp)
            if problem:
                skipped += 1
                first = first or f"line {reader.line_num}, column {time_col!r}: {problem}"
                continue
            value, problem = _parse(row.get(value_col), _number)
            if problem:
                unreadable += 1
                first = first or f"line {reader.line_num}, column {value_col!r}: {problem}"
            stamps.append(stamp)
            values.append(math.nan if problem else value)
    if not rows:
        raise _file_error(path, 2, time_col, "no data rows after the header")
    index = pd.DatetimeIndex(stamps, name=time_col, tz="UTC") if stamps else pd.DatetimeIndex([], tz="UTC")
    return Reading(pd.Series(values, index=index, name=value_col, dtype=float), unreadable, skipped, first)


def _file_error(path: Path, line: int, column: str, problem: str) -> ValueError:
    return ValueError(f"{path}, line {line}, column {column!r}: {problem}")


def _parse(text: str | None, parse: Callable[[str], T]) -> tuple[T | None, str | None]:
    """``parse(text)`` and None, or None and why it failed."""
    if text is None:
        return None, "missing field (the row is shorter than the header)"
    try:
        return parse(text.strip()), None
    except ValueError as error:
        return None, f"{text!r}: {error}"


def _timestamp(text: str) -> pd.Timestamp:
    """A UTC timestamp; naive text is taken to be UTC already."""
    if not text:
        raise ValueError("empty timestamp")
    stamp = pd.Timestamp(text)
    if stamp is pd.NaT:
        raise ValueError("not a time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _number(text: str) -> float:
    """A finite float, or NaN for a blank (missing) cell."""
    if not text:
        return math.nan
    number = float(text)
    if math.isinf(number):
        raise ValueError("not a finite number")
    return number


@dataclass(frozen=True)
class Regularised:
    """A series put on a regular grid, and the way back to its own timestamps."""

    grid: pd.Series  # one value per interval from the first sample to the last; gaps NaN
    observed: pd.Series  # one value per distinct input timestamp (duplicates averaged), in time order
    slots: np.ndarray  # the grid position of each ``observed`` timestamp
    interval: pd.Timedelta | None  # None for a single timestamp
    notes: tuple[str, ...]  # what was done to the input, in words

    def on_observed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of a per-grid-point ``frame`` back at the input's timestamps, with the input's values."""
        rows = frame.iloc[self.slots].reset_index(drop=True)
        return rows.assign(timestamp=self.observed.index, value=self.observed.to_numpy())


def infer_interval(stamps: pd.DatetimeIndex) -> pd.Timedelta:
    """The sampling interval of sorted distinct timestamps: their median step, snapped to a usual one.

    The median ignores gaps (as long as fewer than half the steps are gaps)
    and jitter; within ``NICE_TOLERANCE`` of a usual interval (5 minutes, an
    hour) it is taken to be that interval, otherwise it is rounded to the
    second.
    """
    median = pd.Series(stamps[1:] - stamps[:-1]).median()
    nearest = min(NICE_INTERVALS, key=lambda nice: abs(math.log(median / nice)))
    if abs(median / nearest - 1) <= NICE_TOLERANCE:
        return nearest
    return max(median.round("s"), pd.Timedelta(seconds=1))


def regularise(series: pd.Series) -> Regularised:
    """The series sorted, duplicates averaged, on a regular grid with gaps as missing values.

    The grid starts at the first timestamp and steps by ``infer_interval``;
    each sample goes to its nearest grid point, where several samples that
    land on one point are averaged. Grid points without a sample are NaN,
    which the analyses treat as missing. Raises a ValueError when fewer than
    ``MIN_USABLE`` valid values are left: the only input refused. A grid of
    more than ``MAX_GRID`` points (a stray timestamp far from the others)
    gets a wider interval, a whole multiple of the inferred one.
    """
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("expected a pandas Series with a DatetimeIndex")
    index = series.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame = pd.Series(series.to_numpy(dtype=float), index=index)
    valid = int(frame.notna().sum())
    if valid < MIN_USABLE:
        raise ValueError(f"nothing usable: {valid} valid values, at least {MIN_USABLE} needed")
    notes = [_count(len(frame), "row")]
    backwards = int((np.diff(index.asi8) < 0).sum()) if len(index) > 1 else 0
    if backwards:
        notes.append(f"sorted ({_count(backwards, 'row')} out of order)")
    observed = frame.groupby(level=0, sort=True).mean()
    if len(observed) < len(frame):
        notes.append(f"{_count(len(frame) - len(observed), 'duplicate timestamp')} averaged")
    if len(observed) == 1:
        return Regularised(observed, observed, np.zeros(1, dtype=int), None, tuple(notes))
    interval = infer_interval(observed.index)
    span = observed.index[-1] - observed.index[0]
    interval *= max(1, math.ceil(span / interval / MAX_GRID))
    offsets = (observed.index - observed.index[0]) / interval
    slots = np.rint(offsets.to_numpy()).astype(int)
    size = int(slots[-1]) + 1
    values = observed.groupby(slots).mean()
    grid = pd.Series(np.nan, index=observed.index[0] + interval * np.arange(size), name=series.name)
    grid.iloc[values.index.to_numpy()] = values.to_numpy()
    notes.append(f"interval {_short(interval)}")
    off_grid = int((np.abs(offsets.to_numpy() - slots) > 1e-9).sum())
    if off_grid:
        notes.append(f"{_count(off_grid, 'timestamp')} off the grid taken to the nearest point")
    if len(values) < len(observed):
        notes.append(f"{_count(len(observed) - len(values), 'sample')} merged into a neighbour's point")
    gaps = size - len(values)
    if gaps:
        notes.append(f"{_count(gaps, 'gap')} filled as missing values")
    return Regularised(grid, observed, slots, interval, tuple(notes))


def _short(interval: pd.Timedelta) -> str:
    """'5min', '1h', '1D': the interval as a person writes it."""
    text = pd.tseries.frequencies.to_offset(interval).freqstr
    return text if text[0].isdigit() else f"1{text}"


def _count(n: int, thing: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"
