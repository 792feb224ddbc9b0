"""Messy exports: read as they come, regularised, and what was done said in words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aitl.sim import series as gen
from aitl.stats import messy


def write(tmp_path, text: str):
    path = tmp_path / "metric.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_series_parses_times_to_utc_and_blanks_to_nan(tmp_path):
    path = write(
        tmp_path,
        "timestamp,value,other\n"
        "2025-01-06T00:00:00Z,0.9,x\n"
        "2025-01-06 01:00,,y\n"
        "2025-01-06T03:00:00+01:00,0.7,z\n",  # 02:00 UTC
    )
    reading = messy.read_series(path)
    series = reading.series
    assert series.name == "value"
    assert list(series.index) == list(pd.date_range("2025-01-06", periods=3, freq="h", tz="UTC"))
    assert series.iloc[0] == 0.9 and math.isnan(series.iloc[1]) and series.iloc[2] == 0.7
    assert reading.notes() == []


def test_unreadable_cells_are_counted_not_refused(tmp_path):
    path = write(
        tmp_path,
        "hour,rate\n2025-01-06T00:00Z,1\n2025-01-06T01:00Z,high\n\nnot a time,2\n"
        "2025-01-06T02:00Z,inf\n,3\n2025-01-06T03:00Z\n2025-01-06T04:00Z,4\n",
    )
    reading = messy.read_series(path, time_col="hour", value_col="rate")
    assert reading.series.name == "rate"
    assert reading.series.fillna(-1).tolist() == [1.0, -1, -1, -1, 4.0]
    assert (reading.unreadable_values, reading.skipped_rows) == (3, 2)
    assert reading.notes() == [
        "3 unreadable values taken as missing",
        "2 rows without a readable timestamp skipped",
        "first: line 3, column 'rate': 'high': could not convert string to float: 'high'",
    ]


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("time,value\n2025-01-06,1\n", 1, "timestamp", "no such column"),
        ("timestamp,v\n2025-01-06,1\n", 1, "value", "no such column"),
        ("timestamp,value\n", 2, "timestamp", "no data rows"),
        ("", 1, "timestamp", "no such column"),
    ],
    ids=["no-time-column", "no-value-column", "no-rows", "empty-file"],
)
def test_a_file_without_the_columns_or_rows_raises_one_error(tmp_path, text, line, column, problem):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as raised:
        messy.read_series(path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line {line}, column {column!r}: "), message
    error = raised.value  # one error, not a chain of parser tracebacks
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def on(stamps: list[str], values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex(stamps, tz="UTC"), dtype=float)


def test_regularise_sorts_averages_duplicates_and_fills_gaps():
    stamps = [f"2025-01-06T{h:02d}:00" for h in (2, 0, 1, 1, 3, 6, 7, 8, 9, 10, 11, 12)]
    values = [3.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    regular = messy.regularise(on(stamps, values))
    assert regular.interval == pd.Timedelta(hours=1)
    assert len(regular.grid) == 13
    assert regular.grid.iloc[:4].tolist() == [1.0, 3.0, 3.0, 5.0]
    assert regular.grid.iloc[4:6].isna().all()
    assert regular.observed.index.is_monotonic_increasing and len(regular.observed) == 11
    assert regular.slots.tolist() == [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12]
    assert regular.notes == (
        "12 rows",
        "sorted (1 row out of order)",
        "1 duplicate timestamp averaged",
        "interval 1h",
        "2 gaps filled as missing values",
    )


def test_jittered_timestamps_snap_to_the_usual_interval():
    rng = np.random.default_rng(1)
    grid = pd.date_range("2025-01-06", periods=200, freq="5min", tz="UTC")
    jittered = grid + pd.to_timedelta(rng.uniform(-20, 20, 200), unit="s")
    regular = messy.regularise(pd.Series(np.arange(200.0), index=jittered))
    assert regular.interval == pd.Timedelta(minutes=5)
    assert regular.grid.tolist() == list(np.arange(200.0))
    assert "199 timestamps off the grid taken to the nearest point" in regular.notes


def test_an_unusual_interval_is_kept_to_the_second():
    index = pd.date_range("2025-01-06", periods=30, freq="7min", tz="UTC")
    assert messy.regularise(pd.Series(np.ones(30), index=index)).interval == pd.Timedelta(minutes=7)


def test_a_stray_timestamp_far_away_widens_the_grid_instead_of_exhausting_memory():
    index = pd.date_range("2025-01-06", periods=50, freq="1min", tz="UTC").append(
        pd.DatetimeIndex(["2035-01-06"], tz="UTC")
    )
    regular = messy.regularise(pd.Series(np.ones(51), index=index))
    assert len(regular.grid) <= messy.MAX_GRID
    assert regular.interval > pd.Timedelta(minutes=1)


def test_nothing_usable_is_the_only_refusal():
    index = pd.date_range("2025-01-06", periods=20, freq="h", tz="UTC")
    values = np.full(20, np.nan)
    values[:9] = 1.0
    with pytest.raises(ValueError, match="nothing usable: 9 valid values, at least 10 needed"):
        messy.regularise(pd.Series(values, index=index))
    values[9] = 1.0
    assert messy.regularise(pd.Series(values, index=index)).grid.count() == 10


def test_generated_messy_exports_come_back_to_their_grid():
    # Every generator family through the export mess and back: the grid has the
    # clean series' interval and span, and each kept sample sits at its slot.
    for seed, family in enumerate(gen.FAMILIES.values()):
        rng = np.random.default_rng(100 + seed)
        clean = family(rng).series
        rows = gen.messy(rng, clean)
        values = pd.to_numeric(rows["value"].replace({"null": "", "": None}), errors="coerce")
        raw = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(rows["timestamp"])))
        regular = messy.regularise(raw)
        assert regular.interval == clean.index[1] - clean.index[0]
        assert len(regular.grid) == len(clean)
        present = regular.grid.notna().to_numpy()
        assert 0.9 < present.mean() < 1
        assert regular.grid[present].to_numpy() == pytest.approx(clean[present].to_numpy(), rel=0.01)
