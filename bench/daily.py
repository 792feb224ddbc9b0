"""`make bench`, part two: the daily analysis of a 7-day window at N events a day.

Sets up what production would have (every hour of the week simulated, ingested
and normalized by the real hourly stages, whose cost per hour is reported too),
then times the daily cycle for the last day in a fresh process: whole-process
wall time and peak RSS. N defaults to 1M events a day (7M in the window).
Recorded through bench/writer.py (BENCHMARKS.md and bench/results/daily.jsonl).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from run import step
from writer import Column, Target, record

PER_DAY = int(os.environ.get("AITL_BENCH_DAILY_EVENTS", "1000000"))
END = "2026-11-20T00:00:00+00:00"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="aitl-bench-daily-"))
    try:
        store, landing = f"sqlite:///{work / 'store.db'}", work / "landing"
        week = step("week", store, landing, PER_DAY / 24, hour=END)
        print(json.dumps({"setup": week}), flush=True)
        daily = step("daily", store, landing, hour=END)
        print(json.dumps({"daily": daily}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    spent, result = week["summary"], daily["summary"]
    row = {
        "events_per_day": PER_DAY,
        "events": result["events"],
        "process_s": round(daily["process_seconds"], 2),
        "in_process_s": round(daily["seconds"], 2),
        "peak_mb": round(daily["peak_mb"]),
        "collect_s_per_hour": round(spent["collect"] / 168, 2),
        "normalize_s_per_hour": round(spent["normalize"] / 168, 2),
    }
    record(
        "daily",
        [row],
        title="Daily analysis of a 7-day window (`bench/daily.py`)",
        columns=COLUMNS,
        notes=notes(result["stages"], result["patterns"]),
        targets=[target(row)],
        params={"events_per_day": PER_DAY, "end": END},
        details={"stages": result["stages"], "patterns": result["patterns"], "setup": spent},
    )
    return 0


COLUMNS = (
    Column("events a day", "{events_per_day:,}"),
    Column("events in the window", "{events:,}"),
    Column("daily cycle: process s", "{process_s:.1f}"),
    Column("in the stages s", "{in_process_s:.1f}"),
    Column("peak MB", "{peak_mb:,.0f}"),
    Column("per hour prepared: collect s", "{collect_s_per_hour:.1f}"),
    Column("normalize s", "{normalize_s_per_hour:.1f}"),
)


def notes(stages: dict[str, str], patterns: dict[str, int]) -> str:
    return (
        "Every hour of the week simulated, collected and normalized by the real hourly stages (their "
        "time per hour in the last two columns), then the daily cycle for the last day in a fresh process. "
        f"Stages: {', '.join(f'{name} {stop}' for name, stop in stages.items())}. "
        f"Patterns by kind: {', '.join(f'{kind} {n:,}' for kind, n in patterns.items())}."
    )


def target(row: dict) -> Target:
    """Issue #3: the daily analysis of 7M events within 5 minutes and 4 GB (measured at 1M events a day)."""
    return Target(
        "daily analysis of 7M events ≤ 5 min and ≤ 4 GB",
        "#3",
        f"{row['process_s']:.1f} s, {row['peak_mb']:,.0f} MB peak ({row['events']:,} events)",
        row["process_s"] <= 300 and row["peak_mb"] <= 4096 if PER_DAY >= 1_000_000 else None,
    )


if __name__ == "__main__":
    sys.exit(main())
