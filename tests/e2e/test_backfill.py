"""``airflow backfill create`` over a simulated week gives what live runs gave; reprocessing changes nothing.

A store holds a simulated week of hourly summaries (what the hourly DAG leaves
behind). A copy of it is analysed day by day the way live daily runs do it, in
order (``run_cycle``). Then Airflow, started as ``make airflow`` starts it
(``scripts/airflow_local.py``: api-server, scheduler, dag-processor,
triggerer), backfills ``aitl_system_daily`` over the same week with
``airflow backfill create``; the two stores must then be identical, table by
table. A second backfill of the last two days with
``--reprocess-behavior completed`` must leave the store as it was: reruns
replace, never double-count.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aitl.config import Settings
from aitl.pipeline.runner import run_cycle, run_window
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.window import Window
from tests.airflow.test_hourly_dag import snapshot
from tests.conftest import fresh_store
from tests.e2e.test_browser import SCRIPT, Api, free_port, local_airflow, wait_for

pytestmark = pytest.mark.airflow

DAG_ID = "aitl_system_daily"
FIRST_DAY = datetime(2026, 11, 13, tzinfo=UTC)
DAYS = 7
HISTORY = timedelta(days=2)  # summaries before the first day, so its 7-day window is not empty


def days(first: datetime, count: int) -> list[Window]:
    return [Window(first + timedelta(days=i), first + timedelta(days=i + 1)) for i in range(count)]


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> tuple[Settings, Settings]:
    """The store to backfill, and a copy of it analysed day by day as live runs would."""
    root = tmp_path_factory.mktemp("backfill")
    url = fresh_store("sqlite", root)
    landing = root / "landing"
    span = Window(FIRST_DAY - HISTORY, FIRST_DAY + timedelta(days=DAYS))
    simulate(landing, span, rate=120, seed=5, store_url=url, scenario=Scenario())
    settings = Settings(store_url=url, landing_dir=landing, sink_url=str(root / "published.jsonl"))
    for _ in run_window(span, settings, ("collect", "normalize")):
        pass
    live_db = root / "live.db"
    # SQLite's backup API: a file copy would miss what is still in the write-ahead log.
    with (
        closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as source,
        closing(sqlite3.connect(live_db)) as copy,
    ):
        source.backup(copy)
    # The same sink (its name is part of the stored state); live deliveries come first in it.
    live = Settings(store_url=f"sqlite:///{live_db}", landing_dir=landing, sink_url=settings.sink_url)
    for day in days(FIRST_DAY, DAYS):
        run_cycle(day, live, "daily")
    return settings, live


def backfill(env: dict[str, str], first: datetime, last: datetime, *extra: str) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    command = [airflow, "backfill", "create", "--dag-id", DAG_ID]
    command += ["--from-date", first.isoformat(), "--to-date", last.isoformat(), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


def local_settings(home: Path, port: int) -> dict[str, str]:
    """The Airflow settings ``scripts/airflow_local.py`` gives its components, for the CLI here."""
    spec = importlib.util.spec_from_file_location("airflow_local", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.settings(home, "127.0.0.1", port)


def backfills_done(api: Api, expected: int) -> list[dict]:
    """The DAG's runs once ``expected`` backfills have completed, else nothing (keep waiting)."""
    backfills = api.ok("GET", f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]
    if len([b for b in backfills if b["completed_at"]]) < expected:
        return []
    return api.ok("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]


def test_backfill_reproduces_live_runs_and_reprocessing_is_idempotent(week, tmp_path):
    store, live = week
    home = tmp_path / "airflow-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITL_", "AIRFLOW"))}
    env.update(
        {
            "AITL_STORE_URL": store.store_url,
            "AITL_LANDING_DIR": str(store.landing_dir),
            "AITL_SINK_URL": store.sink_url,
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the backfill's runs
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    with local_airflow(home, env, tmp_path / "airflow_local.out") as (api, _):
        wait_for(lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, 120, f"{DAG_ID} parsed")
        api.ok("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        cli = local_settings(home, api.port) | env
        last = FIRST_DAY + timedelta(days=DAYS - 1)

        backfill(cli, FIRST_DAY, last, "--max-active-runs", "1")
        runs = wait_for(lambda: backfills_done(api, 1), 600, f"the backfill of {DAYS} days", interval=5)
        assert sorted((r["data_interval_start"][:10], r["state"]) for r in runs) == [
            (f"{d.start:%Y-%m-%d}", "success") for d in days(FIRST_DAY, DAYS)
        ]
        backfilled = snapshot(store.store_url)
        assert backfilled == snapshot(live.store_url)

        backfill(
            cli, last - timedelta(days=1), last, "--max-active-runs", "1", "--reprocess-behavior", "completed"
        )
        runs = wait_for(lambda: backfills_done(api, 2), 300, "the reprocessing of 2 days", interval=5)
        assert {r["state"] for r in runs} == {"success"} and len(runs) == DAYS
        assert snapshot(store.store_url) == backfilled
