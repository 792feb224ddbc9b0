"""`make bench`, part two: the daily analysis of a 7-day window at N events a day.

Sets up what production would have (every hour of the week simulated, ingested
and normalized by the real hourly stages, whose cost per hour is reported too),
then times the daily cycle for the last day in a fresh process: whole-process
wall time and peak RSS. N defaults to 1M events a day (7M in the window).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from run import ROOT, step

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
    lines = [
        f"\n#### Daily analysis: 7-day window at {PER_DAY:,} events a day "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n",
        f"- events in the window: {result['events']:,}",
        f"- daily cycle: {daily['process_seconds']:.1f} s whole process "
        f"({daily['seconds']:.1f} s in the stages), peak RSS {daily['peak_mb']:,.0f} MB",
        f"- stages: {result['stages']}; patterns by kind: {result['patterns']}",
        f"- the hourly stages that prepared it, per hour of {PER_DAY // 24:,} events: "
        f"collect {spent['collect'] / 168:.1f} s, normalize {spent['normalize'] / 168:.1f} s",
    ]
    with (ROOT / "BENCHMARKS.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
