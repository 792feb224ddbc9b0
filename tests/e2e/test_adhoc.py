"""Ad-hoc runs in a running Airflow, as the docs show them: no logical date, from the REST API and the CLI.

Airflow is started as ``make airflow`` starts it (``scripts/airflow_local.py``),
its store holding the last hours of simulated traffic. Runs are triggered the
ways a platform engineer triggers them: the REST API with ``"logical_date":
null``, ``airflow dags trigger``, with and without a window override, and every
``airflow dags trigger`` command of docs/operations.md, read from the page by
the test so the docs and the test cannot drift. Each must succeed; a misspelt
param must fail the run at once, and the dry runs must leave the store as it
was.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.window import Window
from tests.airflow.test_hourly_dag import snapshot
from tests.conftest import ROOT, fresh_store
from tests.e2e.test_backfill import local_settings
from tests.e2e.test_browser import Api, free_port, local_airflow, wait_for

pytestmark = pytest.mark.airflow

HOURLY, DAILY = "aitl_feedback_hourly", "aitl_system_daily"
TERMINAL = {"success", "failed"}


def documented_triggers() -> list[list[str]]:
    """Every ``airflow dags trigger`` of a cycle DAG in docs/operations.md, as argv (continuations joined)."""
    text = (ROOT / "docs" / "operations.md").read_text().replace("\\\n", " ")
    commands = re.findall(rf"^\s*(airflow dags trigger (?:{HOURLY}|{DAILY})\b.*)$", text, re.M)
    return [shlex.split(command) for command in commands]


def run_state(api: Api, dag_id: str, run_id: str) -> dict:
    return api.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")


def finished(api: Api, dag_id: str, run_id: str, timeout: float = 300) -> dict:
    def done():
        run = run_state(api, dag_id, run_id)
        return run if run["state"] in TERMINAL else None

    return wait_for(done, timeout, f"{dag_id} run {run_id}", interval=2)


def trigger_rest(api: Api, dag_id: str, conf: dict) -> str:
    answer = api.ok("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    assert answer["logical_date"] is None and answer["data_interval_start"] is None
    return answer["dag_run_id"]


def trigger_cli(env: dict[str, str], argv: list[str]) -> str:
    """Run an ``airflow dags trigger`` command line; the new run's id."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, *argv[1:], "--output", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}\n{done.stderr}"
    listing = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("[{"))
    return json.loads(listing)[0]["dag_run_id"]


def task_tries(api: Api, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    answer = api.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    return {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in answer["task_instances"]}


@pytest.fixture(scope="module")
def recent_traffic(tmp_path_factory):
    """A store and landing folder holding the last three closed hours of simulated traffic."""
    root = tmp_path_factory.mktemp("adhoc")
    url = fresh_store("sqlite", root)
    now = datetime.now(UTC)
    closed = now.replace(minute=0, second=0, microsecond=0)
    span = Window(closed - timedelta(hours=3), closed)
    simulate(root / "landing", span, rate=150, seed=3, store_url=url, scenario=Scenario())
    return url, root / "landing", root / "published.jsonl"


def test_adhoc_runs_without_a_logical_date(recent_traffic, tmp_path):
    url, landing, sink = recent_traffic
    home = tmp_path / "airflow-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITL_", "AIRFLOW"))}
    env.update(
        {
            "AITL_STORE_URL": url,
            "AITL_LANDING_DIR": str(landing),
            "AITL_SINK_URL": str(sink),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs triggered here
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    documented = documented_triggers()
    assert len(documented) >= 2, "docs/operations.md shows no `airflow dags trigger` of a cycle DAG"
    with local_airflow(home, env, tmp_path / "airflow_local.out") as (api, _):
        for dag_id in (HOURLY, DAILY):
            wait_for(lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}")[0] == 200, 120, f"{dag_id} parsed")
            api.ok("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        cli = local_settings(home, api.port) | env

        # The scheduled-like run first: it collects the hour that just closed.
        first = finished(api, HOURLY, trigger_rest(api, HOURLY, {}))
        assert first["state"] == "success", task_tries(api, HOURLY, first["dag_run_id"])
        collected = snapshot(url)
        assert collected["events"], "the run collected the hour that had just closed"

        dry = {"dry_run": True, "hours": 2, "thresholds": {"min_frequency": 3}}
        dry_cli = shlex.split(f"airflow dags trigger {HOURLY} --conf '{json.dumps(dry)}'")
        for run_id in (trigger_rest(api, HOURLY, dry), trigger_cli(cli, dry_cli)):
            run = finished(api, HOURLY, run_id)
            assert run["state"] == "success", task_tries(api, HOURLY, run_id)
        misspelt = finished(api, HOURLY, trigger_rest(api, HOURLY, {"dryrun": True}))
        assert misspelt["state"] == "failed"
        assert task_tries(api, HOURLY, misspelt["dag_run_id"])["shards"] == ("failed", 1)  # at once
        assert snapshot(url) == collected, "a dry run or a refused run wrote to the store"

        # Within 20 minutes of midnight a daily run rightly waits for the day's last hourly run.
        now = datetime.now(UTC)
        daily_waits = now - now.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(minutes=25)
        runs = [
            (argv[3], trigger_cli(cli, argv)) for argv in documented if not (daily_waits and argv[3] == DAILY)
        ]
        if not daily_waits:
            runs.append((DAILY, trigger_rest(api, DAILY, {"window_days": 1})))
        for dag_id, run_id in runs:
            state = finished(api, dag_id, run_id)["state"]
            assert state == "success", (dag_id, run_id, task_tries(api, dag_id, run_id))
