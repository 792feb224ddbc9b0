"""`make demo`: simulated platform traffic through the real hourly and daily DAGs.

Everything lives under ``.demo/`` (wiped at the start, so the demo is
repeatable): an Airflow home with a SQLite metadata DB, and the embedded AITL
defaults (SQLite store, landing directory). For each hour the simulator writes
the platform's traffic, serving whatever experiments the pipeline has launched
so far, and then Airflow runs ``aitl_feedback_hourly`` for that hour
(``dag.test()``: real task instances, recorded in the metadata DB and visible
in the Airflow UI afterwards). The loop closes: a fix launched at hour 1 is
served to half the executions from hour 2 on, and verification measures it.
Two days of earlier traffic are summarised first (as if the platform had
history before the pipeline was switched on), so that the daily DAG has
seasonality to remove: run for the last day of history it finds the planted
anomalous hour, for the demo day the prompt regression. A second day, its
hours run by the library directly, gives the experiments the full day they
need before the daily DAG may promote or roll them back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
START = datetime(2026, 11, 19, 0, tzinfo=UTC)  # the scenario's prompt regression ships at 00:00
HISTORY = timedelta(days=2)  # traffic from before the pipeline was switched on (the anomaly is on Nov 18)
HOURS = int(os.environ.get("AITL_DEMO_HOURS", "24"))
RATE = float(os.environ.get("AITL_DEMO_RATE", "400"))
SEED = 7
MALFORMED_RATE = 0.003  # real producers emit some broken records: watch them land in quarantine


def prepare_environment() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(DEMO / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AITL_HOME": str(DEMO / "aitl"),
            "AITL_STORE_URL": f"sqlite:///{DEMO / 'aitl' / 'aitl.db'}",
            "AITL_LANDING_DIR": str(DEMO / "aitl" / "landing"),
        }
    )
    for name in ("AITL_SOURCE_URL", "AITL_PROFILE"):
        os.environ.pop(name, None)
    airflow = Path(sys.executable).with_name("airflow")
    step("Preparing the Airflow metadata DB (SQLite)")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


@contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send what Airflow prints while running tasks to a file (file descriptors 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def main() -> int:
    prepare_environment()
    # Imported after the environment is set: Airflow reads AIRFLOW_HOME on import.
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    from aitl.config import Settings
    from aitl.pipeline.runner import run_cycle, run_window
    from aitl.sim.scenario import Scenario
    from aitl.sim.simulate import simulate
    from aitl.store import connect, transaction, upgrade
    from aitl.ui.report import render, render_daily, summarize, summarize_daily
    from aitl.window import Window

    task_log = DEMO / "task-logs.txt"
    store_url, landing = os.environ["AITL_STORE_URL"], Path(os.environ["AITL_LANDING_DIR"])
    step(f"Migrating the AITL store: {store_url}")
    upgrade(store_url)
    scenario = Scenario(malformed_rate=MALFORMED_RATE)
    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    dag = dags["aitl_feedback_hourly"]

    step(f"Summarising {HISTORY.days} days of history from before the pipeline was switched on")
    history = Window(START - HISTORY, START)
    events = simulate(landing, history, rate=RATE, seed=SEED, store_url=store_url, scenario=scenario).events
    for _ in run_window(history, Settings.from_env(), ("collect", "normalize")):
        pass
    print(f"  {events} events of {history} ingested and summarised (aitl's collect and normalize stages)")

    def daily(day: Window) -> None:
        step(f"Running aitl_system_daily for {day.start:%Y-%m-%d} (window_days=2: short history)")
        with quiet(task_log):
            run = dags["aitl_system_daily"].test(
                logical_date=pendulum.instance(day.end), run_conf={"window_days": 2}
            )
        print(f"  run {run.state}")
        with transaction(connect(store_url)) as session:
            print(render_daily(summarize_daily(session, day)))

    daily(Window(START - timedelta(days=1), START))

    step(f"Running aitl_feedback_hourly for {HOURS} hours of simulated traffic ({RATE:.0f} events/h)")
    started = time.monotonic()
    for offset in range(HOURS):
        hour = START + timedelta(hours=offset)
        window = Window(hour, hour + timedelta(hours=1))
        traffic = simulate(landing, window, rate=RATE, seed=SEED, store_url=store_url, scenario=scenario)
        with quiet(task_log):
            run = dag.test(logical_date=pendulum.instance(window.end))
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        marks = " ".join(f"{task}:{'ok' if s == 'success' else s}" for task, s in states.items())
        print(f"  {hour:%Y-%m-%d %H:00}Z  {traffic.events:>4} events  run {run.state}  {marks}", flush=True)
        if run.state != "success":
            print(f"The run failed: see the task logs in {task_log}", file=sys.stderr)
            return 1
    print(f"  ({time.monotonic() - started:.0f} s)")

    step("What the feedback cycle did")
    with transaction(connect(store_url)) as session:
        print(render(summarize(session, Window(START, START + timedelta(hours=HOURS)))))
    if HOURS < 24:
        return 0
    daily(Window(START, START + timedelta(days=1)))

    # Experiments need a full day before they can be promoted: one more day,
    # its hours run by the library directly (the same stages, without
    # Airflow's per-run overhead), then the daily DAG decides.
    next_day = Window(START + timedelta(days=1), START + timedelta(days=2))
    step(f"One more simulated day, {next_day.start:%Y-%m-%d}: the hourly cycle through `aitl run`'s code")
    for hour in next_day.hours():
        hour_window = Window(hour, hour + timedelta(hours=1))
        simulate(landing, hour_window, rate=RATE, seed=SEED, store_url=store_url, scenario=scenario)
        run_cycle(hour_window, Settings.from_env())
    daily(next_day)

    step("Look at the runs in the Airflow UI")
    shown = f"start={START - HISTORY:%Y-%m-%dT%H:%MZ}&end={next_day.end:%Y-%m-%dT%H:%MZ}"
    print(
        '  make airflow AIRFLOW_ARGS="--home .demo"   (Airflow on this demo\'s databases; Ctrl-C stops it)\n'
        "  then open http://localhost:8080 (login: admin, with the password file it names),\n"
        "  DAG aitl_feedback_hourly: one run per simulated hour, each task's log ends with its numbers;\n"
        "  DAG aitl_system_daily: the day's analysis;\n"
        f"  AITL in the navigation bar, or http://localhost:8080/aitl/?{shown} for the simulated days.\n"
        f"  The store is {DEMO / 'aitl' / 'aitl.db'}; this summary again:\n"
        f"  .venv/bin/aitl report --start {START:%Y-%m-%dT%H:%M} "
        f"--end {START + timedelta(hours=HOURS):%Y-%m-%dT%H:%M} --store {store_url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
