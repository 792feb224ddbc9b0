"""`make bench`: ingest (the `collect` stage) at issue 10's starting point and at HEAD, in one run.

Issue 10 asks that ingest stay within 10% of its starting point (commit
``c890161``, before per-record isolation, the manifest, event-time acceptance
and the lossless quarantine), measured before and after in the same run. So
one run:

1. simulates one hour into a landing folder with HEAD's simulator (flat
   seasonality, as ``bench/run.py``): a *clean* hour of N events (fewer on
   PostgreSQL, whose inserts are 5x slower) and, unless
   0, a *messy* hour (``malformed_rate`` 2 %, a fifth of the valid events
   moved to a CSV file, a few bad CSV rows and JSONL lines, one duplicate);
2. checks the starting point and HEAD (the commit the results are stamped
   with) out in temporary ``git worktree``s and times each one's ``collect``
   (``PYTHONPATH=<worktree>/include``, the same venv python), each in a
   fresh process on a fresh store over the same files,
   alternating them (ABAB...) for ``AITL_BENCH_INGEST_ROUNDS`` rounds, on
   SQLite and, when a server is reachable, PostgreSQL;
3. reports the median events/s of each and their ratio (HEAD / start; the
   target is >= 0.90), and records the run through bench/writer.py
   (BENCHMARKS.md and bench/results/ingest_baseline.jsonl). When a ratio on
   SQLite misses the target (on every store with ``AITL_BENCH_PROFILE=1``),
   one extra run of each version under cProfile shows where the time goes
   (printed and kept in the history's details; the ``.prof`` files too under
   ``AITL_BENCH_PROFILE_DIR``).

The time is the ``run_stage("collect", ...)`` call inside the process, after
imports and after migrating the empty store (as ``bench/run.py`` times ingest).

Environment: ``AITL_BENCH_INGEST_EVENTS`` (300000), ``AITL_BENCH_INGEST_PG_EVENTS`` (the
clean hour on PostgreSQL, 100000), ``AITL_BENCH_INGEST_MESSY_EVENTS``
(60000; 0 skips the messy hour), ``AITL_BENCH_INGEST_ROUNDS`` (3),
``AITL_BENCH_BASELINE`` (c890161), ``AITL_BENCH_PG_URL`` (a PostgreSQL database
the bench may wipe; ``none`` skips PostgreSQL; unset: as root with the local
cluster up, the database ``aitl_bench`` owned by role ``aitl`` is created and used),
``AITL_BENCH_HEAD=tree`` times the working tree's ``include/`` instead of HEAD's commit,
``AITL_BENCH_PROFILE=1`` profiles every store, even when the target is met.
It takes about 6 minutes on 2 cores, half of it PostgreSQL's inserts.

Child steps (each in its own process, importing whichever ``aitl`` PYTHONPATH gives):
``ingest_baseline.py simulate LANDING HOUR EVENTS MALFORMED_RATE`` and
``ingest_baseline.py collect STORE_URL LANDING HOUR [PROFILE_FILE]``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from writer import COMMIT, Column, Target, record

ROOT = Path(__file__).resolve().parent.parent
HOUR = "2026-11-20T05:00:00+00:00"
BASELINE = os.environ.get("AITL_BENCH_BASELINE", "c890161")
# "commit": HEAD is a worktree of the commit the results are stamped with (edits under way are not
# timed, nor commits landing during the run); "tree": the working tree's include/ as it is.
HEAD_SOURCE = os.environ.get("AITL_BENCH_HEAD", "commit")
EVENTS = int(os.environ.get("AITL_BENCH_INGEST_EVENTS", "300000"))
# PostgreSQL's inserts cost ~150 us an event (~5x SQLite's), so its clean hour is smaller.
PG_EVENTS = int(os.environ.get("AITL_BENCH_INGEST_PG_EVENTS", "100000"))
MESSY_EVENTS = int(os.environ.get("AITL_BENCH_INGEST_MESSY_EVENTS", "60000"))
ROUNDS = int(os.environ.get("AITL_BENCH_INGEST_ROUNDS", "3"))
TARGET_RATIO = 0.90
MALFORMED_RATE = 0.02
PG_DATABASE = "aitl_bench"
STEP_TIMEOUT_S = 900


# ---------------------------------------------------------------- child steps


def child_simulate(landing: str, hour: str, events: str, malformed_rate: str) -> None:
    from datetime import timedelta

    from aitl.sim.scenario import Scenario
    from aitl.sim.simulate import simulate
    from aitl.window import Window, parse_utc

    start = parse_utc(hour)
    scenario = Scenario(
        daily_amplitude=0.0, weekend_factor=1.0, anomaly_hours=(), malformed_rate=float(malformed_rate)
    )
    report = simulate(
        Path(landing),
        Window(start, start + timedelta(hours=1)),
        rate=float(events),
        seed=1,
        scenario=scenario,
    )
    print(json.dumps(report.as_dict()))


def child_collect(store_url: str, landing: str, hour: str, profile_file: str = "") -> None:
    """One collect on a fresh store: (PostgreSQL: the schema wiped first) migrate, then time run_stage."""
    import resource
    from datetime import timedelta

    import aitl
    from aitl.config import Settings
    from aitl.pipeline.runner import run_stage, stages_of
    from aitl.store import upgrade
    from aitl.window import Window, parse_utc

    stages_of("hourly")  # the cycle's imports are process start-up, not stage work
    if store_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(store_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(store_url)
    window = Window(parse_utc(hour), parse_utc(hour) + timedelta(hours=1))
    settings = Settings(store_url=store_url, landing_dir=Path(landing))
    profiler = None
    if profile_file:
        import cProfile

        profiler = cProfile.Profile()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = run_stage("collect", window, settings).summary
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.dump_stats(profile_file)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"summary": summary, "seconds": seconds, "peak_mb": peak_mb, "aitl": aitl.__file__}, default=str
        )
    )


# ---------------------------------------------------------------- the parent


def child(args: list[str], include: Path, timeout: float = STEP_TIMEOUT_S) -> dict[str, Any]:
    """Run a child step with ``include`` first on the path; its JSON line and its process seconds."""
    env = {**os.environ, "PYTHONPATH": str(include)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} under {include} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def worktree(commit: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="aitl-bench-baseline-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
        check=True,
        capture_output=True,
        text=True,
    )
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False, capture_output=True
    )
    shutil.rmtree(path, ignore_errors=True)


def postgres_url() -> str | None:
    """A PostgreSQL database the bench may wipe, or None (see the module docstring)."""
    configured = os.environ.get("AITL_BENCH_PG_URL")
    if configured:
        return None if configured.lower() == "none" else configured
    if os.geteuid() != 0 or not shutil.which("psql"):
        return None

    def admin(sql: str) -> str:
        return subprocess.run(
            ["su", "postgres", "-c", f'psql -qtAc "{sql}"'],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

    try:
        if admin("SELECT 1 FROM pg_roles WHERE rolname = 'aitl'") != "1":
            return None
        if admin(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'") != "1":
            admin(f"CREATE DATABASE {PG_DATABASE} OWNER aitl")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"postgresql+psycopg2://aitl:aitl@127.0.0.1:5432/{PG_DATABASE}"


def mess_up(hour_dir: Path) -> dict[str, int]:
    """Move every fifth valid JSONL event to a CSV file and add a few bad records of each kind.

    Only records that the starting point also survives: the classes that
    crashed it (issue 10's poison records) would leave it nothing to time.
    """
    jsonl = hour_dir / "sim-1.jsonl"
    lines = jsonl.read_bytes().splitlines()
    kept: list[bytes] = []
    moved: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if index % 5 == 4 and isinstance(event, dict):
            moved.append(event)
        else:
            kept.append(line)
    bad_jsonl = [
        b"",
        b"not json at all",
        b"[1, 2, 3]",
        b"{}",
        b'{"event_id": 7}',
        kept[0],
    ]  # kept[0]: a duplicate
    jsonl.write_bytes(b"\n".join(kept + bad_jsonl) + b"\n")
    header = list(moved[0])
    with (hour_dir / "sim-1-export.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for event in moved:
            writer.writerow([csv_cell(event.get(name)) for name in header])
        bad = [dict(moved[0], event_id=f"bad-csv-{i}") for i in range(3)]
        bad[0]["quality_score"] = "high"
        bad[1]["success"] = "maybe"
        bad[2]["style_issues"] = "[not json"
        for event in bad:
            writer.writerow([csv_cell(event.get(name)) for name in header])
        writer.writerow([csv_cell(moved[1].get(name)) for name in header] + ["an extra cell"])
    return {"jsonl_lines": len(kept) + len(bad_jsonl), "csv_rows": len(moved) + 4}


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def summary_counts(result: dict[str, Any]) -> dict[str, int]:
    summary = result["summary"]
    return {key: summary.get(key, 0) for key in ("read", "stored", "duplicates", "quarantined", "files")}


def measure(data: str, backend: str, url_of: Any, landing: Path, versions: dict[str, Path]) -> dict[str, Any]:
    """ROUNDS alternating collects of each version over ``landing``; the row of the table."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
    for round_ in range(ROUNDS):
        for name, include in versions.items():
            result = child(["collect", url_of(round_, name), str(landing), HOUR], include)
            if not Path(result["aitl"]).resolve().is_relative_to(include.resolve()):
                raise RuntimeError(f"{name} imported aitl from {result['aitl']}, not from {include}")
            counts = summary_counts(result)
            rate = counts["read"] / result["seconds"]
            runs[name].append(
                {**counts, "seconds": result["seconds"], "rate": rate, "peak_mb": result["peak_mb"]}
            )
            print(
                json.dumps(
                    {
                        "data": data,
                        "backend": backend,
                        "version": name,
                        "round": round_ + 1,
                        **counts,
                        "seconds": round(result["seconds"], 3),
                        "events_per_s": round(rate),
                        "process_s": round(result["process_seconds"], 2),
                        "peak_mb": round(result["peak_mb"]),
                    }
                ),
                flush=True,
            )
    start, head = runs["start"], runs["head"]
    start_rate = statistics.median(r["rate"] for r in start)
    head_rate = statistics.median(r["rate"] for r in head)
    return {
        "data": data,
        "backend": backend,
        "events": start[0]["read"],
        "start_events_per_s": round(start_rate),
        "head_events_per_s": round(head_rate),
        "ratio": round(head_rate / start_rate, 3),
        "start_runs": " ".join(f"{r['rate'] / 1000:.1f}k" for r in start),
        "head_runs": " ".join(f"{r['rate'] / 1000:.1f}k" for r in head),
        "start_s": round(statistics.median(r["seconds"] for r in start), 2),
        "head_s": round(statistics.median(r["seconds"] for r in head), 2),
        "start_stored": start[0]["stored"],
        "head_stored": head[0]["stored"],
        "start_quarantined": start[0]["quarantined"],
        "head_quarantined": head[0]["quarantined"],
        "start_duplicates": start[0]["duplicates"],
        "head_duplicates": head[0]["duplicates"],
        "start_peak_mb": round(max(r["peak_mb"] for r in start)),
        "head_peak_mb": round(max(r["peak_mb"] for r in head)),
    }


def profile(url: str, landing: Path, versions: dict[str, Path], work: Path, label: str) -> dict[str, Any]:
    """One collect of each version under cProfile: the top functions by own time, and aitl's by cumulative."""
    import pstats

    keep = os.environ.get("AITL_BENCH_PROFILE_DIR")
    found: dict[str, Any] = {}
    for name, include in versions.items():
        out = Path(keep or work) / f"collect-{label}-{name}.prof"
        out.parent.mkdir(parents=True, exist_ok=True)
        result = child(["collect", url, str(landing), HOUR, str(out)], include)
        stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]

        def where(key: tuple[str, int, str], include: Path = include) -> str:
            file, line, function = key
            try:
                file = str(Path(file).resolve().relative_to(include.resolve().parent))
            except ValueError:
                file = file.split("site-packages/")[-1]
            return f"{file}:{line}({function})"

        by_own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:20]
        ours = [
            item
            for item in stats.items()
            if str(Path(item[0][0]).resolve()).startswith(str(include.resolve()))
        ]
        by_cumulative = sorted(ours, key=lambda item: item[1][3], reverse=True)[:25]
        found[name] = {
            "profiled_s": round(result["seconds"], 2),
            "read": result["summary"].get("read"),
            "file": str(out) if keep else None,
            "own": [
                {
                    "where": where(key),
                    "calls": value[1],
                    "own_s": round(value[2], 3),
                    "cumulative_s": round(value[3], 3),
                }
                for key, value in by_own
            ],
            "aitl_cumulative": [
                {
                    "where": where(key),
                    "calls": value[1],
                    "own_s": round(value[2], 3),
                    "cumulative_s": round(value[3], 3),
                }
                for key, value in by_cumulative
            ],
        }
        print(json.dumps({"profile": label, "version": name, **found[name]}, indent=1), flush=True)
    return found


def main() -> int:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="aitl-bench-ingest-"))
    baseline = worktree(BASELINE)
    head_commit = (COMMIT or "HEAD").removesuffix("+dirty")
    snapshot = worktree(head_commit) if HEAD_SOURCE == "commit" else None
    head_include = (snapshot or ROOT) / "include"
    baseline_commit = subprocess.run(
        ["git", "-C", str(baseline), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    versions = {"start": baseline / "include", "head": head_include}
    pg = postgres_url()
    rows: list[dict[str, Any]] = []
    datasets: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Any] = {}
    try:
        landings: dict[tuple[str, int], Path] = {}

        def landing_for(data: str, events: int) -> Path:
            """The simulated hour of ``data`` at ``events`` events, written once."""
            if (data, events) not in landings:
                landing = work / f"landing-{data}-{events}"
                malformed = MALFORMED_RATE if data == "messy" else 0.0
                simulated = child(["simulate", str(landing), HOUR, str(events), str(malformed)], head_include)
                simulated.pop("process_seconds")
                if data == "messy":
                    simulated["mess"] = mess_up(next(p.parent for p in landing.rglob("sim-1.jsonl")))
                datasets[f"{data}-{events}"] = simulated
                print(json.dumps({"data": data, "simulated": simulated}), flush=True)
                landings[data, events] = landing
            return landings[data, events]

        sqlite = (
            "SQLite",
            lambda r, n: f"sqlite:///{work / f'{n}-{r}.db'}",
            f"sqlite:///{work / 'profile.db'}",
        )
        postgres = ("PostgreSQL", lambda r, n: pg, pg)
        jobs = [("clean", EVENTS, sqlite)] + ([("clean", PG_EVENTS, postgres)] if pg else [])
        if MESSY_EVENTS:
            jobs += [("messy", MESSY_EVENTS, sqlite)] + ([("messy", MESSY_EVENTS, postgres)] if pg else [])
        for data, events, (backend, url_of, profile_url) in jobs:
            landing = landing_for(data, events)
            row = measure(data, backend, url_of, landing, versions)
            rows.append(row)
            print(json.dumps(row), flush=True)
            for db in work.glob("*.db*"):
                db.unlink()
            missed = row["ratio"] < TARGET_RATIO and backend == "SQLite"  # PostgreSQL's take minutes
            if missed or os.environ.get("AITL_BENCH_PROFILE"):
                label = f"{data}-{backend.lower()}"
                profiles[label] = profile(profile_url, landing, versions, work, label)
                for db in work.glob("*.db*"):
                    db.unlink()
    finally:
        remove_worktree(baseline)
        if snapshot is not None:
            remove_worktree(snapshot)
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - began
    record(
        "ingest_baseline",
        rows,
        title="Ingest against issue 10's starting point (`bench/ingest_baseline.py`)",
        columns=COLUMNS,
        notes=notes(
            baseline_commit, head_commit if snapshot else "the working tree", pg is not None, elapsed
        ),
        targets=targets(rows),
        params={
            "baseline": BASELINE,
            "baseline_commit": baseline_commit,
            "head": head_commit if snapshot else "working tree",
            "events": EVENTS,
            "pg_events": PG_EVENTS,
            "messy_events": MESSY_EVENTS,
            "malformed_rate": MALFORMED_RATE,
            "rounds": ROUNDS,
            "hour": HOUR,
            "postgresql": pg is not None,
        },
        details={"datasets": datasets, "profiles": profiles, "bench_s": round(elapsed, 1)},
    )
    return 0


def notes(baseline: str, head: str, postgres: bool, elapsed: float) -> str:
    stores = "SQLite and PostgreSQL" if postgres else "SQLite (no PostgreSQL server reached)"
    return (
        f"`collect` of one simulated hour at issue 10's starting point (`{baseline}`, from a temporary "
        f"`git worktree`) and at HEAD (`{head}`, likewise), each in a fresh process on a fresh store over "
        f"the same files, "
        f"alternated start/HEAD {ROUNDS} times on {stores}; events/s is the median of read events over "
        f"`run_stage` seconds (imports and migrating the empty store excluded), ratio = HEAD / start. "
        f"*clean*: the simulator's hour as it writes it. *messy*: {MALFORMED_RATE:.0%} malformed lines, "
        f"a fifth of the valid events moved to a CSV file, a few bad CSV rows and JSONL lines, a duplicate. "
        f"The whole bench took {elapsed / 60:.1f} min."
    )


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    """Issue 10: ingest within 10 % of the starting point, per data set on every store measured."""
    found = []
    for data in dict.fromkeys(row["data"] for row in rows):
        mine = [row for row in rows if row["data"] == data]
        latest = ", ".join(f"{row['backend']} {row['ratio']:.2f} ({row['events']:,} events)" for row in mine)
        found.append(
            Target(
                f"ingest ≥ 0.90x issue 10's start, {data} hour",
                "#10",
                f"HEAD/start {latest}",
                all(row["ratio"] >= TARGET_RATIO for row in mine),
            )
        )
    return found


COLUMNS = (
    Column("data", "{data}", text=True),
    Column("store", "{backend}", text=True),
    Column("events", "{events:,}"),
    Column("start events/s", "{start_events_per_s:,}"),
    Column("HEAD events/s", "{head_events_per_s:,}"),
    Column("HEAD/start", "{ratio:.3f}"),
    Column("start runs", "{start_runs}"),
    Column("HEAD runs", "{head_runs}"),
    Column("stored start / HEAD", "{start_stored:,} / {head_stored:,}"),
    Column("quarantined start / HEAD", "{start_quarantined:,} / {head_quarantined:,}"),
    Column("peak MB start / HEAD", "{start_peak_mb:,} / {head_peak_mb:,}"),
)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "simulate":
        child_simulate(*sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "collect":
        child_collect(*sys.argv[2:])
    else:
        sys.exit(main())
