"""The hourly DAG on the CeleryExecutor: a sharded hour split across two workers gives what one process gives.

Airflow is started as ``make airflow EXECUTOR=celery`` starts it
(``scripts/airflow_local.py --executor celery``, in a temporary home): Redis
(Debian's ``redis-server``) as the broker, PostgreSQL (the tests' server,
found by ``scripts/with-postgres.sh``) for the metadata DB and the AITL store,
the api-server, scheduler, dag-processor and triggerer, and two ``airflow
celery worker`` processes, ``worker-1`` and ``worker-2``, each with
concurrency 1.

One simulated hour (a few thousand events, in several landing files so that
each ``collect`` shard has files to read) is processed twice:

* by Airflow: ``aitl_feedback_hourly`` triggered through the REST API for that
  hour with ``{"shards": 2}``, so ``collect`` and ``summarize`` run as two
  mapped task instances each and ``normalize`` merges them;
* in this process, unsharded, into a second PostgreSQL store:
  ``run_cycle``, which is what the LocalExecutor runs task by task.

The run must succeed with task instances on both workers (their
``hostname``), and the two stores must hold the same rows: every derived
table (rollups, summaries, patterns, insights, improvements, experiments,
decisions, the outbox) and the events, leaving out only what differs by
design (run records, the shards' intermediate parts, wall clocks and
autoincrement ids).

Skipped without ``redis-server`` or a PostgreSQL server, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest

from aitl.config import Settings, Thresholds
from aitl.pipeline.runner import run_cycle
from aitl.sim.simulate import simulate
from aitl.store import upgrade
from aitl.window import Window
from tests.conftest import ROOT
from tests.e2e.test_browser import Api, free_port, stop, tail

pytestmark = pytest.mark.airflow

SCRIPT = ROOT / "scripts" / "airflow_local.py"
DAG_ID = "aitl_feedback_hourly"
HOUR = datetime(2026, 11, 20, 14, tzinfo=UTC)  # a weekday afternoon
RATE, SEED = 2500, 13  # about 4,500 events in that hour
FILES = 4  # the hour's landing files: collect's shards split the hour by file
SHARDS = 2
WORKERS = ("worker-1", "worker-2")
PROFILE = "staging"  # the DAG's default profile, for both runs
SHARDED = ("collect", "summarize")  # mapped over the shards
# What the store must hold after the hour for the comparison to mean something.
DERIVED = (
    "hourly_rollups",
    "hourly_signals",
    "hourly_sequences",
    "hourly_users",
    "patterns",
    "insights",
    "improvements",
)
# Differ by design between a sharded run on workers and an unsharded run in one process:
# the run records (one per shard), the shards' intermediate summaries (normalize deletes them)
# and the publisher's circuit breaker (wall clock) ...
NOT_COMPARED = {"pipeline_runs", "summary_parts", "sink_state"}
# ... and columns filled by the wall clock or in arrival order.
VOLATILE = {
    "events": {"ingested_at"},
    "quarantine": {"id"},
    "ingested_files": {"read_at", "mtime_ns"},
    "late_arrivals": {"last_at", "normalized_at"},
    "outbox": {"delivered_at", "attempts", "last_error"},
}
T = TypeVar("T")


def load_script():
    spec = importlib.util.spec_from_file_location("airflow_local", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


airflow_local = load_script()


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 2.0) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return result


def dump(url: str) -> dict[str, list[str]]:
    """Every compared table's rows as sorted JSON lines, without the columns that differ by design."""
    from sqlalchemy import select

    from aitl.store.database import connect, transaction
    from aitl.store.models import Base

    tables = {}
    with transaction(connect(url)) as session:
        for table in Base.metadata.sorted_tables:
            if table.name in NOT_COMPARED:
                continue
            keep = [c for c in table.columns if c.name not in VOLATILE.get(table.name, set())]
            rows = session.execute(select(*keep)).all()
            tables[table.name] = sorted(json.dumps(list(r), default=str, sort_keys=True) for r in rows)
    return tables


@pytest.fixture(scope="module")
def postgres_server() -> str:
    """The tests' PostgreSQL server, with Debian's redis-server beside it; a skip without them
    (a failure in CI)."""
    missing = [] if airflow_local.redis_binary() else ["Debian's redis-server (apt-get install redis-server)"]
    server = airflow_local.postgres_server()
    if server is None:
        missing.append("a PostgreSQL server (Debian's postgresql, as root; or AITL_TEST_PG_URL)")
    elif not airflow_local.admin(server, "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user"):
        missing.append("a PostgreSQL role that may create databases (scripts/with-postgres.sh makes one)")
    if missing:
        message = f"the CeleryExecutor test needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run it")
        pytest.skip(message)
    return server


def land(landing: Path, store_url: str) -> int:
    """The simulated hour into ``landing``, cut into ``FILES`` files; the prompts it serves into the store."""
    report = simulate(
        landing, Window(HOUR, HOUR + timedelta(hours=1)), rate=RATE, seed=SEED, store_url=store_url
    )
    (simulated,) = landing.glob(f"{HOUR:%Y-%m-%d}/{HOUR:%H}/*.jsonl")
    lines = simulated.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // FILES)
    for part in range(FILES):
        (simulated.parent / f"part-{part}.jsonl").write_bytes(
            b"".join(lines[part * size : (part + 1) * size])
        )
    simulated.unlink()
    return report.events


@dataclass
class Celery:
    api: Api
    store_url: str  # the store the DAG's tasks write
    landing: Path
    sink: str
    events: int


@contextmanager
def celery_airflow(home: Path, env: dict[str, str], output: Path) -> Iterator[Api]:
    """``scripts/airflow_local.py --executor celery`` on a free loopback port, signed in as admin;
    stopped as by Ctrl-C (no process of it may be left)."""
    port = free_port()
    command = [sys.executable, str(SCRIPT), "--executor", "celery", "--workers", str(len(WORKERS))]
    command += ["--home", str(home), "--host", "127.0.0.1", "--port", str(port)]
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"scripts/airflow_local.py exited ({process.returncode}):\n{tail(output)}")
            return "Airflow is ready" in output.read_text(errors="replace")

        wait_for(ready, 240, f"Airflow to start (see {output})", interval=1)
        secrets = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        api = Api(f"http://127.0.0.1:{port}")
        api.sign_in(json.loads(secrets.read_text())["admin"])
        yield api
    finally:
        stop(process, output, home / "airflow")


@pytest.fixture(scope="module")
def celery(postgres_server, tmp_path_factory) -> Iterator[Celery]:
    """Airflow on the CeleryExecutor with two workers, its store holding the simulated hour's prompts."""
    root = tmp_path_factory.mktemp("celery")
    home = root / "airflow-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITL_", "AIRFLOW"))}
    env.update(
        {
            "AITL_TEST_PG_URL": postgres_server,  # the server scripts/with-postgres.sh found
            "AITL_SINK_URL": str(root / "published.jsonl"),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run triggered here
            # Beside a `make airflow` on this machine: its log servers' ports are taken.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    try:
        with celery_airflow(home, env, root / "airflow_local.out") as api:
            # The databases the script created for this home, the store migrated.
            _, store_name = airflow_local.celery_databases(home)
            store_url = airflow_local.create_database(postgres_server, store_name)
            landing = home / "aitl" / "landing"
            events = land(landing, store_url)
            yield Celery(api, store_url, landing, env["AITL_SINK_URL"], events)
    finally:
        for name in airflow_local.celery_databases(home):
            airflow_local.drop_database(postgres_server, name)


@pytest.fixture(scope="module")
def local_store(postgres_server, celery: Celery, tmp_path_factory) -> Iterator[str]:
    """The same hour run in this process, unsharded, into a store of its own on the same server."""
    name = f"aitl_celery_{os.getpid()}_local"
    url = airflow_local.create_database(postgres_server, name)
    try:
        upgrade(url)
        # The same prompts served (simulate registers them); the landing files are the ones Airflow reads.
        simulate(
            tmp_path_factory.mktemp("scratch"),
            Window(HOUR, HOUR + timedelta(hours=1)),
            rate=RATE,
            seed=SEED,
            store_url=url,
        )
        settings = Settings(
            store_url=url,
            landing_dir=celery.landing,
            sink_url=celery.sink,
            profile=PROFILE,
            thresholds=Thresholds.resolve(PROFILE),  # shards: 1
        )
        assert settings.thresholds.shards == 1
        run_cycle(Window(HOUR, HOUR + timedelta(hours=1)), settings, "hourly")
        yield url
    finally:
        airflow_local.drop_database(postgres_server, name)


def test_a_sharded_hour_on_two_celery_workers_equals_the_local_run(celery: Celery, local_store: str):
    api = celery.api
    wait_for(lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, 120, f"{DAG_ID} parsed")
    assert api.ok("GET", "/api/v2/importErrors")["total_entries"] == 0
    api.ok("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})

    start, end = HOUR, HOUR + timedelta(hours=1)
    run = api.ok(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(),
            "conf": {"shards": SHARDS, "profile": PROFILE},
            "note": "tests/e2e/test_celery.py",
        },
    )
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'], safe='')}"

    def finished() -> str:
        state = api.ok("GET", path)["state"]
        return state if state in ("success", "failed") else ""

    state = wait_for(finished, 420, f"run {run['dag_run_id']} to finish", interval=3)
    instances = api.ok("GET", f"{path}/taskInstances?limit=100")["task_instances"]
    states = {(ti["task_id"], ti["map_index"]): (ti["state"], ti["hostname"]) for ti in instances}
    assert state == "success", states

    # Each sharded stage ran as one mapped task instance per shard.
    for task_id in SHARDED:
        assert sorted(m for t, m in states if t == task_id) == list(range(SHARDS)), (task_id, states)
    # Tasks ran on both workers, each recording the worker's name as its hostname.
    ran = [ti for ti in instances if ti["state"] in ("success", "failed")]
    assert {ti["hostname"] for ti in ran} == set(WORKERS), states

    def collected(shard: int) -> int:
        entry = f"{path}/taskInstances/collect/xcomEntries/return_value?map_index={shard}"
        value = api.ok("GET", entry)["value"]
        return (json.loads(value) if isinstance(value, str) else value)["stored"]

    # Each collect shard read its share of the landing files, together all of them.
    stored = [collected(shard) for shard in range(SHARDS)]
    assert all(stored) and sum(stored) == celery.events, (stored, celery.events)

    sharded, local = dump(celery.store_url), dump(local_store)
    assert all(sharded[table] for table in DERIVED), {table: len(sharded[table]) for table in DERIVED}
    assert sharded.keys() == local.keys()
    differing = [table for table in sharded if sharded[table] != local[table]]
    assert differing == [], {t: (len(sharded[t]), len(local[t])) for t in differing}
