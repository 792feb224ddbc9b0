"""Benchmark: one busy hour split into shards, each shard's collect and summarize timed apart.

Usage: python bench/sharded.py [--events 1000000] [--shards 4]

Simulates an hour of N events dealt over four landing files per shard, then
runs the whole hourly cycle with the ``shards`` threshold in a fresh process on
SQLite, shard after shard (bench/stage.py ``sharded``), timing every shard of
the sharded stages on its own. This machine has two cores, so the shards are
not run in parallel here: "on N workers" is derived from the measured parts (the
slowest shard of each sharded stage plus the stages that run once), the figure
docs/capacity.md uses; what parallel workers really do is checked for
correctness by tests/e2e/test_celery.py. Recorded through bench/writer.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from run import step
from writer import Column, record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aitl-bench-sharded-"))
    try:
        store, landing = f"sqlite:///{work / 'store.db'}", work / "landing"
        # Four files per shard: files go to shards by a hash of their path, even only on average.
        simulated = step("simulate", store, landing, f"{args.events}/{4 * args.shards}")
        sharded = step("sharded", store, landing, args.shards)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = sharded["summary"]
    once = sum(sum(times) for name, times in seconds.items() if len(times) == 1)
    row = {
        "shards": args.shards,
        "events": simulated["summary"]["events"],
        "collect_s": seconds["collect"],
        "summarize_s": seconds["summarize"],
        "normalize_s": seconds["normalize"][0],
        "once_s": round(once, 2),
        "one_worker_s": round(sum(sum(times) for times in seconds.values()), 2),
        "workers_s": round(max(seconds["collect"]) + max(seconds["summarize"]) + once, 2),
        "peak_mb": round(sharded["peak_mb"]),
    }
    print(json.dumps(row), flush=True)
    record(
        "sharded",
        [row],
        title="A sharded hour (`bench/sharded.py`)",
        columns=COLUMNS,
        notes=f"One simulated hour in {4 * args.shards} landing files, the hourly cycle with `shards` = "
        f"{args.shards} on SQLite, every shard of collect and summarize timed apart (one after another: "
        'this machine has 2 cores). "once" is every stage that runs once (normalize\'s merge, then '
        'extract_patterns … publish); "on N workers" is the slowest shard of each sharded stage plus '
        "those, derived, not measured in parallel.",
        params={"events": args.events, "shards": args.shards},
        details={"seconds": seconds},
    )
    return 0


COLUMNS = (
    Column("shards", "{shards}"),
    Column("events", "{events:,}"),
    Column("collect s per shard", "{collect_s}"),
    Column("summarize s per shard", "{summarize_s}"),
    Column("normalize (merge) s", "{normalize_s:.2f}"),
    Column("once s", "{once_s:.2f}"),
    Column("one worker s", "{one_worker_s:.2f}"),
    Column("on N workers s", "{workers_s:.2f}"),
    Column("peak MB", "{peak_mb:,}"),
)


if __name__ == "__main__":
    sys.exit(main())
