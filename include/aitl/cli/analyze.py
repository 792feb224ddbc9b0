"""The daily analytics on files, for notebooks and investigations (``aitl analyze``).

Each function reads one file and returns plain data; a bad file raises one
``ValueError`` naming the file, the line and the column or field.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from aitl.config import AITL_CONFIG
from aitl.ingest.contract import ContractError, decode
from aitl.mining import correlations, sequences
from aitl.mining.frequency import extract_frequency, signal_counts
from aitl.mining.rollups import rollup_frame
from aitl.stats import timeseries


def anomalies(path: Path, time_col: str, value_col: str, sensitivity: float) -> pd.DataFrame:
    """Columns timestamp, value, score, is_anomaly for every point of the series."""
    return timeseries.detect_anomalies(timeseries.read_series(path, time_col, value_col), sensitivity)


def trend(path: Path, time_col: str, value_col: str, higher_is_better: bool) -> dict[str, Any]:
    result = timeseries.trend(
        timeseries.read_series(path, time_col, value_col), higher_is_better=higher_is_better
    )
    return {
        k: v for k, v in asdict(result).items() if k in ("direction", "slope_per_day", "p_value", "method")
    }


def sequences_of(path: Path, min_support: float, min_confidence: float) -> dict[str, Any]:
    return sequences.analyze_file(path, min_support=min_support, min_confidence=min_confidence)


def read_events(path: Path) -> pd.DataFrame:
    """A JSONL file of feedback events, every line checked against the contract."""
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
    """Frequency patterns (per pattern segment) and correlations (segments and event features)."""
    events = read_events(path)
    threshold, alpha = AITL_CONFIG["correlation_threshold"], AITL_CONFIG["alpha"]
    rollups = rollup_frame(events).drop(columns=["hour"])
    by_segment = rollups.groupby(
        ["agent_tier", "task_type", "language", "model", "prompt_id", "prompt_version"]
    )
    found = [
        *correlations.correlate(
            correlations.segment_metrics(by_segment.sum(numeric_only=True)), "segments", threshold, alpha
        ),
        *correlations.correlate(
            events[list(correlations.EVENT_FEATURES)].astype({"success": float}), "events", threshold, alpha
        ),
    ]
    return {
        "events": len(events),
        "frequency": [p.pattern().fields() for p in extract_frequency(signal_counts(events), min_frequency)],
        "correlation": [asdict(c) for c in found],
    }
