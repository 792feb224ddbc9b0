"""`make bench`: ingest and the hourly cycle at 10k, 100k and 1M events in one hour.

Each step runs in a fresh process and is timed from the outside (whole-process
wall time, including interpreter start and imports) with the process's peak
RSS. The store is the embedded default, a SQLite file. Results are printed and
appended to BENCHMARKS.md with the machine and the date.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(s) for s in os.environ.get("AITL_BENCH_SIZES", "10000,100000,1000000").split(",")]
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


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, Python {platform.python_version()}"


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
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_markdown(rows, parse["seconds"])
    return 0


def write_markdown(rows: list[dict], parse_seconds: float) -> None:
    lines = [
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}\n",
        f"Parsing `dags/` (DagBag, after Airflow's own imports): {parse_seconds:.3f} s.\n",
        "| events | ingest: process s | in-process s | events/s | peak MB "
        "| cycle (6 stages): process s | in-process s | peak MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ingest = (
            r["ingest_s"],
            r["ingest_in_process_s"],
            f"{r['ingest_events_per_s']:,}",
            r["ingest_peak_mb"],
        )
        cycle = (r["cycle_s"], r["cycle_in_process_s"], r["cycle_peak_mb"])
        lines.append(" | ".join(["", f"{r['events']:,}", *map(str, ingest), *map(str, cycle), ""]).strip())
    with (ROOT / "BENCHMARKS.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
