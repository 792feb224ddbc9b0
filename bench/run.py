"""`make bench`: ingest and the hourly cycle at 100k, 1M and 3M events in one hour.

Each step runs in a fresh process and is timed from the outside (whole-process
wall time, including interpreter start and imports) with the process's peak
RSS. The store is the embedded default, a SQLite file. Results are printed and
recorded through bench/writer.py (BENCHMARKS.md and bench/results/hourly.jsonl).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from writer import Column, Target, record

ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(s) for s in os.environ.get("AITL_BENCH_SIZES", "100000,1000000,3000000").split(",")]
HOUR = "2026-11-20T05:00:00+00:00"


def step(name: str, store: str, landing: Path, rate: float = 0, hour: str = HOUR) -> dict:
    """One bench/stage.py step in a fresh process: its summary, seconds inside, peak MB, process seconds."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stage.py"), name, store, str(landing), hour, str(rate)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        os.environ["AIRFLOW_HOME"] = home
        parse = step("parse", "", Path(home), 0)
    print(json.dumps({"dag_parse_s": round(parse["seconds"], 3), **parse["summary"]}), flush=True)
    rows = []
    for size in SIZES:
        work = Path(tempfile.mkdtemp(prefix="aitl-bench-"))
        try:
            store, landing = f"sqlite:///{work / 'store.db'}", work / "landing"
            simulated = step("simulate", store, landing, size)
            ingest = step("ingest", store, landing)
            cycle = step("cycle", store, landing)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        events = ingest["summary"]["read"]
        row = {
            "target_events": size,
            "events": events,
            "simulate_s": round(simulated["process_seconds"], 2),
            "ingest_s": round(ingest["process_seconds"], 2),
            "ingest_in_process_s": round(ingest["seconds"], 2),
            "ingest_events_per_s": round(events / ingest["seconds"]),
            "ingest_peak_mb": round(ingest["peak_mb"]),
            "cycle_s": round(cycle["process_seconds"], 2),
            "cycle_in_process_s": round(cycle["seconds"], 2),
            "cycle_peak_mb": round(cycle["peak_mb"]),
            "stage_s": {name: stage["s"] for name, stage in cycle["summary"].items()},
        }
        row |= {"normalize_s": row["stage_s"]["normalize"], "plan_s": row["stage_s"]["plan_actions"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    record(
        "hourly",
        rows,
        title="Ingest and the hourly cycle (`bench/run.py`)",
        columns=COLUMNS,
        notes=f"One simulated hour of N events, ingested (`collect`) and run through the other six hourly "
        f"stages, each in a fresh process on SQLite. Parsing `dags/` (DagBag, after Airflow's own "
        f"imports): {parse['seconds']:.3f} s.",
        targets=targets(rows),
        params={"sizes": SIZES, "hour": HOUR},
        details={"dag_parse_s": round(parse["seconds"], 3), "dag_parse": parse["summary"]},
    )
    return 0


COLUMNS = (
    Column("events", "{events:,}"),
    Column("ingest: process s", "{ingest_s:.2f}"),
    Column("in-process s", "{ingest_in_process_s:.2f}"),
    Column("events/s", "{ingest_events_per_s:,}"),
    Column("peak MB", "{ingest_peak_mb:,}"),
    Column("cycle (6 stages): process s", "{cycle_s:.2f}"),
    Column("in-process s", "{cycle_in_process_s:.2f}"),
    Column("peak MB", "{cycle_peak_mb:,}"),
    Column("normalize s", "{normalize_s:.2f}"),
    Column("plan_actions s", "{plan_s:.2f}"),
)


def targets(rows: list[dict]) -> list[Target]:
    """Issue #2: ingest at 200k events/s, the hourly cycle on 100k events within 10 s (whole process).

    Issue #13: the stages after collect on a 1M-event hour within 1 GB and 30 s, and their peak
    memory flat from 100k to 3M events (the largest size's peak at most 1.5x the smallest's, and
    within 1 GB).
    """
    fastest = max(rows, key=lambda r: r["ingest_events_per_s"])
    at_100k = next((r for r in rows if r.get("target_events") == 100_000), None)
    at_1m = next((r for r in rows if r.get("target_events") == 1_000_000), None)
    smallest, largest = min(rows, key=lambda r: r["events"]), max(rows, key=lambda r: r["events"])
    curve = " / ".join(f"{r['cycle_peak_mb']:,} MB at {r['events']:,}" for r in rows)
    return [
        Target(
            "hourly cycle after collect, 1M-event hour: ≤ 1 GB peak and ≤ 30 s",
            "#13",
            f"{at_1m['cycle_peak_mb']:,} MB, {at_1m['cycle_in_process_s']:.1f} s in-process "
            f"({at_1m['cycle_s']:.1f} s whole process; {at_1m['events']:,} events)"
            if at_1m
            else "not run at 1M events",
            at_1m["cycle_peak_mb"] <= 1024 and at_1m["cycle_in_process_s"] <= 30 if at_1m else None,
        ),
        Target(
            "hourly cycle peak memory flat from 100k to 3M events",
            "#13",
            curve,
            largest["cycle_peak_mb"] <= min(1.5 * smallest["cycle_peak_mb"], 1024)
            if largest["events"] >= 10 * smallest["events"]
            else None,
        ),
        Target(
            "ingest ≥ 200k events/s into SQLite",
            "#2",
            f"{fastest['ingest_events_per_s']:,} events/s ({fastest['events']:,} events)",
            fastest["ingest_events_per_s"] >= 200_000,
        ),
        Target(
            "hourly cycle on 100k events ≤ 10 s",
            "#2",
            f"{at_100k['cycle_s']:.2f} s whole process, {at_100k['cycle_in_process_s']:.2f} s in-process "
            f"({at_100k['events']:,} events)"
            if at_100k
            else "not run at 100k events",
            at_100k["cycle_s"] <= 10 if at_100k else None,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
