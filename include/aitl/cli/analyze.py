"""The daily analytics on files, for notebooks and investigations (``aitl analyze``).

Each function reads one file and returns plain data; a bad file raises one
``ValueError`` naming the file, the line and the column or field.

Each imports what its analysis needs when it runs: ``aitl analyze sequences``
loads the sequence miner and numpy, not pandas, SciPy or the store.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from aitl.stats import messy

# What ``aitl analyze anomalies`` writes, one row per distinct input timestamp.
ANOMALY_COLUMNS = ["timestamp", "value", "score", "is_anomaly", "episode"]


def _regular_series(path: Path, time_col: str, value_col: str) -> tuple[messy.Regularised, str]:
    """The file's series on a regular grid, and one line saying what it took to get there.

    Real exports are read as they come (``aitl.stats.messy``); only a file
    with fewer than ``messy.MIN_USABLE`` valid values is refused.
    """
    from aitl.stats import messy

    reading = messy.read_series(path, time_col, value_col)
    try:
        regular = messy.regularise(reading.series)
    except ValueError as error:
        raise ValueError("; ".join([f"{path}: {error}", *reading.notes()])) from None
    return regular, "; ".join([f"{path}: {regular.notes[0]}", *regular.notes[1:], *reading.notes()])


def anomalies(path: Path, time_col: str, value_col: str, sensitivity: float) -> tuple[pd.DataFrame, str]:
    """Every distinct timestamp of the file scored and flagged, and what was done to the input.

    The analysis runs on the regularised series (gaps as missing values) and
    its rows are written back at the input's own timestamps, in time order:
    ``value`` is the input value (duplicates averaged), ``episode`` the
    anomaly episode's number on anomalous rows and empty elsewhere. Grid
    points filled for the analysis are not written.
    """
    from aitl.stats import timeseries

    regular, note = _regular_series(path, time_col, value_col)
    flagged = regular.on_observed(timeseries.detect_anomalies(regular.grid, sensitivity))
    episode = flagged["episode"].astype("Int64").where(flagged["is_anomaly"])
    return flagged.assign(episode=episode)[ANOMALY_COLUMNS], note


def trend(path: Path, time_col: str, value_col: str, higher_is_better: bool) -> tuple[dict[str, Any], str]:
    """The series' trend (direction, slope, p-value, method), and what was done to the input."""
    from aitl.stats import timeseries

    regular, note = _regular_series(path, time_col, value_col)
    result = timeseries.trend(regular.grid, higher_is_better=higher_is_better)
    kept = ("direction", "slope_per_day", "p_value", "method")
    return {k: v for k, v in asdict(result).items() if k in kept}, note


def sequences_of(path: Path, min_support: float, min_confidence: float) -> dict[str, Any]:
    from aitl.mining import sequences

    return sequences.analyze_file(path, min_support=min_support, min_confidence=min_confidence)


def read_events(path: Path) -> pd.DataFrame:
    """A JSONL file of feedback events, every line checked against the contract."""
    import pandas as pd

    from aitl.ingest.contract import ContractError, decode

    rows = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(decode(line))
            except ContractError as exc:
                raise ValueError(f"{path}: line {number}, field {exc.field}: {exc.message}") from None
    if not rows:
        raise ValueError(f"{path}: no events")
    return pd.DataFrame(rows).assign(ts=lambda f: pd.to_datetime(f["ts"], utc=True))


def patterns(path: Path, min_frequency: int = 5) -> dict[str, Any]:
    """Frequency patterns (root causes marked) and correlations: one false-discovery family, as daily."""
    from aitl.config import AITL_CONFIG
    from aitl.mining import correlations, frequency
    from aitl.mining.frequency import signal_counts
    from aitl.mining.rollups import rollup_frame
    from aitl.stats.multiple import family_q_values

    events = read_events(path)
    threshold, alpha = AITL_CONFIG["correlation_threshold"], AITL_CONFIG["alpha"]
    rollups = rollup_frame(events).drop(columns=["hour"])
    by_segment = rollups.groupby(
        ["agent_tier", "task_type", "language", "model", "prompt_id", "prompt_version"]
    )
    frequency_tests = frequency.frequency_tests(signal_counts(events), min_frequency)
    pair_tests = [
        *correlations.correlate(correlations.segment_metrics(by_segment.sum(numeric_only=True)), "segments"),
        *correlations.correlate(
            events[list(correlations.EVENT_FEATURES)].astype({"success": float}), "events"
        ),
    ]
    q_frequency, q_pairs = family_q_values(
        [frequency.p_values(frequency_tests), [c.p_value for c in pair_tests]], alpha
    )
    strong = correlations.strong(pair_tests, q_pairs, threshold, alpha)
    return {
        "events": len(events),
        "tests": len(q_frequency) + len(q_pairs),
        "frequency": [
            p.pattern().fields() for p in frequency.concentrations(frequency_tests, q_frequency, alpha)
        ],
        "correlation": [asdict(c) | {"q_value": q} for c, q in strong],
    }
