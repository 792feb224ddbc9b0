"""One benchmark step in its own process, so time and peak memory are the whole process's.

Usage: python bench/stage.py STEP STORE_URL LANDING_DIR HOUR_ISO [RATE]
(STEP: simulate, ingest, cycle, sharded, parse, week or daily)

``simulate`` takes RATE as N or N/F (N events in F files); ``sharded`` takes the
shard count as RATE and runs the whole hourly cycle shard by shard.

``week`` simulates, ingests and normalizes every hour of the 7 days before HOUR
(RATE events an hour) as the hourly DAG would; ``daily`` runs the daily cycle
for the day before HOUR.
Prints one JSON line: the step's summary, wall seconds inside the process, and peak RSS.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from aitl.config import Settings
from aitl.pipeline.runner import run_cycle, run_stage, stages_of
from aitl.store import upgrade
from aitl.window import Window, parse_utc

MAX_SIMULATED = 1_000_000


def main(step: str, store_url: str, landing: str, hour: str, rate: str = "0") -> None:
    for level in ("hourly", "daily"):
        stages_of(level)  # import the cycles now: module imports are process start-up, not stage work
    started = time.perf_counter()
    window = Window(parse_utc(hour), parse_utc(hour) + timedelta(hours=1))
    settings = Settings(store_url=store_url, landing_dir=Path(landing))
    if step == "simulate":
        from aitl.sim.scenario import Scenario
        from aitl.sim.simulate import simulate

        flat = Scenario(daily_amplitude=0.0, weekend_factor=1.0, anomaly_hours=())
        # At most a million events per simulation (its memory grows with the hour): a larger hour
        # is several seeds' files in the hour's folder, as several producers would land it.
        # RATE may be N/F: N events dealt over F files per simulation.
        events, _, files = rate.partition("/")
        parts = max(1, math.ceil(float(events) / MAX_SIMULATED))
        reports = [
            simulate(
                Path(landing),
                window,
                rate=float(events) / parts,
                seed=seed,
                scenario=flat,
                files=int(files or 1),
            ).as_dict()
            for seed in range(1, parts + 1)
        ]
        summary = {key: sum(r[key] for r in reports) for key in ("events", "sessions", "files")}
    elif step == "sharded":
        # rate is the shard count here: the hour, simulated in as many files, collected and
        # summarised shard by shard, then merged; each stage (each shard) timed on its own.
        summary = sharded_hour(settings, window, int(rate))
    elif step == "parse":
        from airflow.dag_processing.dagbag import DagBag

        started = time.perf_counter()  # Airflow's own import is not the DAG files' cost
        bag = DagBag(dag_folder=str(Path(__file__).resolve().parent.parent / "dags"))
        summary = {"dags": sorted(bag.dag_ids), "import_errors": len(bag.import_errors)}
    elif step == "week":
        summary = prepare_week(settings, window.start, float(rate))
    elif step == "daily":
        day = Window(window.start - timedelta(days=1), window.start)
        results = run_cycle(day, settings, level="daily")
        summary = {
            "stages": {name: r.stop or "ok" for name, r in results.items()},
            "events": results["collect"].summary["events"],
            "patterns": results["extract_patterns"].summary["by_kind"],
        }
    elif step == "ingest":
        upgrade(store_url)
        started = time.perf_counter()  # migrating an empty store is not ingest
        summary = run_stage("collect", window, settings).summary
    else:
        summary = {}
        for name in list(stages_of("hourly"))[1:]:
            begun = time.perf_counter()
            stop = run_stage(name, window, settings).stop
            summary[name] = {"stop": stop, "s": round(time.perf_counter() - begun, 3)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"summary": summary, "seconds": time.perf_counter() - started, "peak_mb": peak_mb}))


def sharded_hour(settings: Settings, window: Window, count: int) -> dict[str, list[float]]:
    """The hourly stages of a ``count``-shard hour, one after another, with each shard's seconds."""
    import dataclasses

    from aitl.config import Thresholds
    from aitl.cycles import stage_doc
    from aitl.shards import Shard

    upgrade(settings.store_url)
    settings = dataclasses.replace(settings, thresholds=Thresholds.resolve(overrides={"shards": count}))
    seconds: dict[str, list[float]] = {}
    for name in stages_of("hourly"):
        shards = [Shard(i, count) for i in range(count)] if stage_doc("hourly", name).sharded else [None]
        for shard in shards:
            begun = time.perf_counter()
            run_stage(name, window, dataclasses.replace(settings, shard=shard))
            seconds.setdefault(name, []).append(round(time.perf_counter() - begun, 3))
    return seconds


def prepare_week(settings: Settings, end: datetime, rate: float) -> dict[str, float]:
    """Every hour of the week before ``end``: simulated, collected, normalized (the hourly DAG's work)."""
    from aitl.sim.simulate import simulate

    upgrade(settings.store_url)
    spent = {"events": 0, "simulate": 0.0, "collect": 0.0, "normalize": 0.0}
    hour = end - timedelta(days=7)
    while hour < end:
        window = Window(hour, hour + timedelta(hours=1))
        started = time.perf_counter()
        spent["events"] += simulate(settings.landing_dir, window, rate=rate, seed=1).events
        spent["simulate"] += time.perf_counter() - started
        for stage in ("collect", "normalize"):
            started = time.perf_counter()
            run_stage(stage, window, settings)
            spent[stage] += time.perf_counter() - started
        for path in settings.landing_dir.rglob("*.jsonl"):
            path.unlink()  # ingested: keep the disk small
        hour += timedelta(hours=1)
    return spent


if __name__ == "__main__":
    main(*sys.argv[1:])
