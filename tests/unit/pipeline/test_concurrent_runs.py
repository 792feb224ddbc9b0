"""Concurrent runs of one hour (a retry racing a manual trigger) take turns instead of racing."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aitl.config import Settings
from aitl.ingest.readers import landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.window import Window
from tests.airflow.test_hourly_dag import snapshot
from tests.factories import event

H = datetime(2026, 11, 20, 5, tzinfo=UTC)
ROUNDS = 4


def _run_hour(url: str, landing: str, hour: str) -> str:
    """collect then normalize of the hour and the hour before (late data re-normalizes it)."""
    settings = Settings(store_url=url, landing_dir=Path(landing))
    try:
        for start in (datetime.fromisoformat(hour) - timedelta(hours=1), datetime.fromisoformat(hour)):
            window = Window.hour_of(start)
            run_stage("collect", window, settings)
            run_stage("normalize", window, settings)
    except Exception as exc:  # reported to the test, which names it
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _write(landing: Path, hour: datetime, name: str, n: int) -> None:
    path = landing_hour_dir(landing, hour) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        event(hour + timedelta(seconds=7 * i), event_id=f"{name}-{i}", success=i % 4 != 0) for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.mark.postgres
@pytest.mark.parametrize("next_hour", [0, 1], ids=["same hour", "neighbouring hours"])
def test_two_runs_at_once_end_as_runs_one_after_the_other_would(tmp_path, next_hour):
    """Two runs of one hour, or of neighbouring hours (which read the same folders), at once."""
    from tests.conftest import fresh_store

    url = fresh_store("postgresql", tmp_path)
    reference = fresh_store("sqlite", tmp_path)
    landing = tmp_path / "landing"
    context = multiprocessing.get_context("spawn")
    for round_ in range(ROUNDS):
        hour = H + timedelta(hours=2 * round_)
        _write(landing, hour - timedelta(hours=1), f"early-{round_}.jsonl", 300)
        _write(landing, hour, f"a-{round_}.jsonl", 400)
        # A late file for the previous hour, so both runs also re-normalize it.
        _write(landing, hour - timedelta(hours=1), f"late-{round_}.jsonl", 50)
        with context.Pool(2) as pool:
            hours = [hour, hour + timedelta(hours=next_hour)]
            results = pool.starmap(_run_hour, [(url, str(landing), h.isoformat()) for h in hours])
        assert results == ["ok", "ok"], results
        for h in hours:
            assert _run_hour(reference, str(landing), h.isoformat()) == "ok"
    concurrent, single = snapshot(url), snapshot(reference)
    for table in (
        "events",
        "hourly_rollups",
        "hourly_signals",
        "hourly_sequences",
        "hourly_users",
        "quarantine",
    ):
        assert concurrent[table] == single[table], table
