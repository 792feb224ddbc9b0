"""`make airflow`: this package in a local Airflow, until Ctrl-C.

Starts Airflow's four components as separate processes, as a deployment runs
them (the api-server with the UI, the scheduler with the LocalExecutor, the
dag-processor and the triggerer), on this machine only. ``--executor celery``
(``make airflow EXECUTOR=celery``) runs the tasks on Celery workers instead:
see "The CeleryExecutor" below.

* ``--home DIR`` (default ``.airflow/``) holds everything: ``DIR/airflow`` is
  AIRFLOW_HOME (``airflow.cfg`` with its generated secrets, the SQLite metadata
  DB, task logs, each component's output in ``logs/processes/``) and
  ``DIR/aitl`` is AITL_HOME (the embedded SQLite store ``aitl.db``, the landing
  directory ``landing/`` and the sink ``published.jsonl``). ``--home .demo``
  opens what ``make demo`` ran.
* DAGs from the repository's ``dags/``, plugins (the AITL view) from
  ``plugins/``, ``include/`` on PYTHONPATH.
* Both databases are migrated first (``airflow db migrate``, ``aitl db upgrade``).
  ``AITL_STORE_URL``, ``AITL_LANDING_DIR``, ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``
  and any other ``AIRFLOW__*`` setting in the environment are respected.
* The SQLite metadata DB is shared by four processes and the CLI. Airflow puts
  it in WAL mode (readers do not block the writer), which leaves two ways to
  fail with "database is locked": a writer gives up after Python's 5 s busy
  timeout, and a transaction opened by a SAVEPOINT (``airflow backfill create``
  does that) that reads first cannot upgrade to a writer once someone else has
  written, whatever the timeout. ``AIRFLOW_HOME/config/airflow_local_settings.py``
  (written here; Airflow's documented hook for creating the engine, so the CLI
  gets it too) sets a 30 s busy timeout and starts such a transaction with
  ``BEGIN IMMEDIATE``, which waits for the lock instead. (The AITL store sets
  the same busy timeout on its own connections.)

It prints the URL and where the login is once the API answers and every component
reports healthy, then watches the processes: Ctrl-C (or SIGTERM) stops all
four, and if one of them dies the others are stopped too and its last log
lines are shown.

The CeleryExecutor (``--executor celery``, ``--workers N``, default 2):

* Redis, Debian's ``redis-server``, is the broker: on a free loopback port,
  its working directory ``DIR/redis``, no snapshots (what is queued is the
  scheduler's to send again).
* PostgreSQL holds the metadata DB, the Celery result backend and the AITL
  store: the server ``scripts/with-postgres.sh`` finds for the tests
  (``AITL_TEST_PG_URL``, or as root Debian's cluster, started, with its
  ``aitl`` role), in two databases of its own named after the home
  (``aitl_celery_<digest>_airflow`` and ``..._store``; created at the first
  start, kept like the home). ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``,
  ``AIRFLOW__CELERY__RESULT_BACKEND`` and ``AITL_STORE_URL`` from the
  environment win.
* N ``airflow celery worker`` processes beside the four components, each
  with its own Celery hostname (``-H worker-1``), concurrency 1 (``-c 1``)
  and log server port (``[logging] worker_log_server_port``: on one machine
  they would all take 8793). Task instances record the worker's name as
  their ``hostname`` (``[core] hostname_callable`` in the settings file
  above), as they would on separate machines.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
READY = "Airflow is ready"  # the line tests wait for
WORKER_READY = " ready."  # what a Celery worker logs once it consumes ("celery@worker-1 ready.")
WORKER_ENV = "AIRFLOW_LOCAL_WORKER"  # a Celery worker's name, for its task instances' hostname
HOSTNAME_CALLABLE = "airflow_local_settings.worker_hostname"
WITH_POSTGRES = ROOT / "scripts" / "with-postgres.sh"
# Loaded by every Airflow process and command from AIRFLOW_HOME/config (on Airflow's sys.path).
LOCAL_SETTINGS_MARK = "# Written by scripts/airflow_local.py"
LOCAL_SETTINGS = f'''{LOCAL_SETTINGS_MARK} (make airflow); rewritten at every start.
"""The SQLite metadata DB shared by processes: wait for locks instead of failing "database is locked".
And the hostname task instances record on a Celery worker sharing this machine with others."""

from __future__ import annotations

import os
import socket

from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["create_async_metadata_engine", "create_metadata_engine", "worker_hostname"]

BUSY_TIMEOUT_S = 30  # sqlite3's default is 5


def create_metadata_engine(sql_alchemy_conn, *, engine_args, connect_args):
    if not sql_alchemy_conn.startswith("sqlite"):
        return create_engine(sql_alchemy_conn, connect_args=connect_args, **engine_args, future=True)
    connect_args = {{"timeout": BUSY_TIMEOUT_S, **connect_args}}
    engine = create_engine(sql_alchemy_conn, connect_args=connect_args, **engine_args, future=True)

    @event.listens_for(engine, "savepoint")
    def write_lock_first(connection, _name):
        # A SAVEPOINT outside a transaction opens a deferred one: its first read pins a snapshot,
        # and a write after someone else's fails at once (SQLITE_BUSY_SNAPSHOT, no busy wait).
        # BEGIN IMMEDIATE takes the write lock first, waiting up to the busy timeout for it.
        dbapi_connection = connection.connection.dbapi_connection
        if not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN IMMEDIATE")

    return engine


def create_async_metadata_engine(sql_alchemy_conn_async, *, connect_args, engine_args=None):
    if sql_alchemy_conn_async.startswith("sqlite"):
        connect_args = {{"timeout": BUSY_TIMEOUT_S, **connect_args}}
    return create_async_engine(
        sql_alchemy_conn_async, connect_args=connect_args, **(engine_args or {{}}), future=True
    )


def worker_hostname():
    """[core] hostname_callable of the Celery workers: the worker's name, else this machine's."""
    return os.environ.get("{WORKER_ENV}") or socket.getfqdn()
'''


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".airflow", help="default: .airflow/")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="API and UI port (default: 8080)")
    parser.add_argument(
        "--ready-timeout", type=float, default=300, help="seconds to wait for Airflow to be ready"
    )
    parser.add_argument(
        "--executor",
        choices=sorted(EXECUTORS),
        default="local",
        help="local (default): the scheduler runs the tasks; celery: Celery workers, Redis, PostgreSQL",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="Celery workers, each with concurrency 1 (default: 2)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


class Celery(NamedTuple):
    """Where the CeleryExecutor's broker and databases are (chosen at start). A NamedTuple, not a
    dataclass: tests load this script as a module that is not in sys.modules."""

    broker_url: str
    metadata_url: str  # Airflow's metadata DB (also the result backend's, unless set)
    store_url: str  # the AITL store


def settings(home: Path, host: str, port: int, celery: Celery | None = None) -> dict[str, str]:
    """What the components need beyond the caller's environment (whose AIRFLOW__*/AITL_* values win
    where a default is chosen here). With ``celery``, the CeleryExecutor's."""
    airflow_home, aitl_home = home / "airflow", home / "aitl"
    forced = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        # Tasks talk to the api-server started here, whatever its port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{client_host(host)}:{port}/execution/",
        # Links in logs and alerts (a task's log_url) point at this api-server too.
        "AIRFLOW__API__BASE_URL": f"http://{client_host(host)}:{port}",
        "AITL_HOME": str(aitl_home),
        "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT / "include"), os.environ.get("PYTHONPATH")] if p),
    }
    defaults = {
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # A laptop, not a cluster: few task processes at a time, few writers on SQLite.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AITL_STORE_URL": f"sqlite:///{aitl_home / 'aitl.db'}",
        "AITL_LANDING_DIR": str(aitl_home / "landing"),
    }
    if celery:
        forced |= {
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS["celery"],
            "AIRFLOW__CELERY__BROKER_URL": celery.broker_url,
        }
        defaults |= {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": celery.metadata_url,
            # Celery's SQLAlchemy backend; a bare db+postgresql:// would pick psycopg (3), not installed.
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{psycopg2_url(celery.metadata_url)}",
            "AITL_STORE_URL": celery.store_url,
        }
    return {**{k: os.environ.get(k, v) for k, v in defaults.items()}, **forced}


def psycopg2_url(url: str) -> str:
    """A PostgreSQL URL with its driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg (3)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def without_password(url: str) -> str:
    """A store URL fit to print: its password masked."""
    return make_url(url).render_as_string(hide_password=True)


def environment(chosen: dict[str, str]) -> dict[str, str]:
    """The components' environment; Airflow starts `airflow` subprocesses: this venv's come first on PATH."""
    return {**os.environ, **chosen, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def write_env_file(path: Path, chosen: dict[str, str]) -> None:
    """A shell file to source for `airflow ...` / `aitl ...` commands against this Airflow."""
    lines = [
        "# Written by scripts/airflow_local.py (make airflow). `. THIS_FILE`, then `airflow ...`.",
        *(f"export {name}={shlex.quote(value)}" for name, value in chosen.items()),
        f'export PATH={shlex.quote(str(BIN))}:"$PATH"',
    ]
    path.write_text("\n".join(lines) + "\n")


def client_host(host: str) -> str:
    """Where to reach a server listening on ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen there (as uvicorn does: closed connections do not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Unavailable(Exception):
    """Something the chosen executor needs is not on this machine (the message says what to install)."""


def redis_binary() -> str | None:
    """Debian's ``redis-server``, or None."""
    found = shutil.which("redis-server")
    return found or ("/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def redis_answers(url: str) -> bool:
    """Whether the Redis server at ``url`` answers PING."""
    parsed = urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def postgres_server() -> str | None:
    """The PostgreSQL server the tests use, found by ``scripts/with-postgres.sh``: ``AITL_TEST_PG_URL``,
    or (as root) Debian's packaged cluster, started, with its ``aitl`` role that may create databases.
    None without one."""
    done = subprocess.run(
        [str(WITH_POSTGRES), "printenv", "AITL_TEST_PG_URL"], capture_output=True, text=True, check=False
    )
    lines = done.stdout.split()
    return lines[-1] if done.returncode == 0 and lines else None


def celery_databases(home: Path) -> tuple[str, str]:
    """The names of the metadata DB and the AITL store for ``make airflow EXECUTOR=celery`` in ``home``."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]
    return f"aitl_celery_{digest}_airflow", f"aitl_celery_{digest}_store"


def admin(server_url: str, statement: str, **values: str) -> Any:
    """The first value of ``statement`` run on the server, outside a transaction (as CREATE DATABASE
    must be), or None when it returns no rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(psycopg2_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(statement), values)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def create_database(server_url: str, name: str) -> str:
    """The database ``name`` on the server of ``server_url`` (created by its role if missing); its URL."""
    if not admin(server_url, "SELECT 1 FROM pg_database WHERE datname = :name", name=name):
        admin(server_url, f'CREATE DATABASE "{name}"')
    return psycopg2_url(make_url(server_url).set(database=name).render_as_string(hide_password=False))


def drop_database(server_url: str, name: str) -> None:
    """Drop the database ``name`` (a home's, when the home goes), closing its connections."""
    admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plan_celery(home: Path) -> Celery:
    """The broker's URL on a free loopback port, and the PostgreSQL databases (created if missing)."""
    if redis_binary() is None:
        raise Unavailable(
            "the CeleryExecutor's broker is Debian's redis-server: apt-get install redis-server"
        )
    metadata_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    store_url = os.environ.get("AITL_STORE_URL", "")
    if not (metadata_url and store_url):
        server = postgres_server()
        if server is None:
            raise Unavailable(
                "the CeleryExecutor needs PostgreSQL: Debian's postgresql (as root: scripts/with-postgres.sh "
                "starts its cluster), AITL_TEST_PG_URL, or both AIRFLOW__DATABASE__SQL_ALCHEMY_CONN and "
                "AITL_STORE_URL"
            )
        metadata_name, store_name = celery_databases(home)
        metadata_url = metadata_url or create_database(server, metadata_name)
        store_url = store_url or create_database(server, store_name)
    return Celery(f"redis://127.0.0.1:{free_port()}/0", metadata_url, store_url)


def redis_command(broker_url: str, data: Path) -> list[str]:
    """Debian's redis-server on the broker URL's loopback port, working in ``data``, without snapshots."""
    port = urlsplit(broker_url).port
    data.mkdir(parents=True, exist_ok=True)
    where = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    return [redis_binary() or "redis-server", *where, "--save", "", "--appendonly", "no", "--daemonize", "no"]


def worker_names(count: int) -> list[str]:
    return [f"worker-{i}" for i in range(1, count + 1)]


def worker_settings(
    names: list[str], env: dict[str, str], hostnames: bool, avoid: set[int]
) -> dict[str, dict[str, str]]:
    """Each Celery worker's own settings: a log server port from [logging] worker_log_server_port on
    (skipping ports in use, the triggerer's and ``avoid``), and its name as its tasks' hostname."""
    port = int(env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793"))
    avoid = avoid | {int(env.get("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", "8794"))}
    result = {}
    for name in names:
        while port in avoid or not port_free("0.0.0.0", port):
            port += 1
        result[name] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)}
        if hostnames:
            result[name] |= {"AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE, WORKER_ENV: name}
        port += 1
    return result


def prepare(env: dict[str, str], log: Path) -> bool:
    """Write the engine and hostname settings, then migrate the Airflow metadata DB and the AITL store.
    Whether the settings file is ours (a file someone else wrote is left alone)."""
    local_settings = Path(env["AIRFLOW_HOME"]) / "config" / "airflow_local_settings.py"
    local_settings.parent.mkdir(parents=True, exist_ok=True)
    ours = not local_settings.exists() or local_settings.read_text().startswith(LOCAL_SETTINGS_MARK)
    if ours:
        local_settings.write_text(LOCAL_SETTINGS)
    else:
        say(
            f"{local_settings} is not ours: left as it is (SQLite may report 'database is locked'; "
            "Celery workers' tasks record this machine's hostname)"
        )
    Path(env["AITL_HOME"]).mkdir(parents=True, exist_ok=True)
    Path(env["AITL_LANDING_DIR"]).mkdir(parents=True, exist_ok=True)
    steps = [
        ("Migrating the Airflow metadata DB", [str(BIN / "airflow"), "db", "migrate"]),
        (
            f"Migrating the AITL store {without_password(env['AITL_STORE_URL'])}",
            [str(BIN / "aitl"), "db", "upgrade", "--store", env["AITL_STORE_URL"]],
        ),
    ]
    for title, command in steps:
        say(title)
        with log.open("ab") as out:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode:
            say(f"failed (exit {done.returncode}); the end of {log}:")
            print(tail(log), file=sys.stderr)
            raise SystemExit(1)
    return ours


def say(text: str) -> None:
    print(f"airflow: {text}", flush=True)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Components:
    """The Airflow processes (and Redis), each in its own session: one signal reaches all it spawned."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, command: list[str], extra: dict[str, str] | None = None) -> None:
        with self.log(name).open("ab") as out:
            self.processes[name] = subprocess.Popen(
                command,
                env={**self.env, **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_airflow(self, host: str, port: int, workers: dict[str, dict[str, str]]) -> None:
        """The four components, then the Celery workers (each: its name, concurrency 1, its settings)."""
        for name in COMPONENTS:
            command = [str(BIN / "airflow"), name]
            if name == "api-server":
                command += ["--host", host, "--port", str(port)]
            self.start(name, command)
        for name, extra in workers.items():
            self.start(name, [str(BIN / "airflow"), "celery", "worker", "-H", name, "-c", "1"], extra)

    def dead(self) -> str | None:
        """The name of a component that exited, if any."""
        return next((name for name, p in self.processes.items() if p.poll() is not None), None)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to every component's process group, SIGKILL to what is left after ``timeout`` s;
        the broker last, once nothing needs it."""
        import psutil  # an Airflow dependency

        # Task processes run in process groups of their own: remembered now, killed if still there.
        family: list[psutil.Process] = []
        for process in self.processes.values():
            with contextlib.suppress(psutil.Error):
                family += psutil.Process(process.pid).children(recursive=True)
        airflow = {name: p for name, p in self.processes.items() if name != "redis"}
        broker = {name: p for name, p in self.processes.items() if name == "redis"}
        for processes in (airflow, broker):
            _stop(processes, timeout)
        for leftover in family:
            with contextlib.suppress(psutil.Error):
                leftover.kill()


def _stop(processes: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    for process in processes.values():
        _signal_group(process, signal.SIGTERM)
    started, again = time.monotonic(), False
    while running := [name for name, p in processes.items() if p.poll() is None]:
        waited = time.monotonic() - started
        if waited > timeout:
            say(f"{', '.join(running)} did not stop in {timeout:.0f} s: killing")
            break
        if waited > 5 and not again:
            # The scheduler waits for running tasks (already told to stop) "unless signalled again";
            # a Celery worker, warm-stopping, finishes its task first: a second signal stops it cold.
            for name in running:
                _signal_group(
                    processes[name], signal.SIGQUIT if name.startswith("worker-") else signal.SIGTERM
                )
            again = True
        time.sleep(0.2)
    for process in processes.values():
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def api(base_url: str, path: str, token: str = "", body: object = None) -> Any:
    """A JSON answer from the API, or None when it does not answer (yet) or refuses."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def health(base_url: str) -> dict[str, str]:
    """Each component's status from the API (``{}`` while it does not answer)."""
    body = api(base_url, "/api/v2/monitor/health") or {}
    return {name: (value or {}).get("status", "") for name, value in body.items()}


def wait_parsed(base_url: str, secret: str, timeout: float) -> tuple[list[str], int]:
    """The DAG ids and the number of import errors once every file in dags/ is accounted for
    (or whatever there is after ``timeout`` s)."""
    files = [f for f in (ROOT / "dags").glob("*.py") if not f.name.startswith("_")]
    answer = api(base_url, "/auth/token", body={"username": "admin", "password": secret}) or {}
    token = answer.get("access_token", "")
    deadline = time.monotonic() + timeout
    while True:
        dags = (api(base_url, "/api/v2/dags?limit=100", token) or {}).get("dags", [])
        errors = (api(base_url, "/api/v2/importErrors", token) or {}).get("total_entries", 0)
        if len(dags) + errors >= len(files) or time.monotonic() > deadline or not token:
            return sorted(d["dag_id"] + (" (paused)" if d["is_paused"] else "") for d in dags), errors
        time.sleep(1)


def wait_ready(components: Components, base_url: str, timeout: float, workers: list[str] = ()) -> None:
    """Until the API answers and reports every component healthy, and each Celery worker says it is
    ready; exits if a component dies."""
    deadline = time.monotonic() + timeout
    wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    while True:
        name = components.dead()
        if name:
            raise ComponentDied(name)
        status = health(base_url)
        waiting = [w for w in workers if WORKER_READY not in tail(components.log(w), 200)]
        if status and all(status.get(component) == "healthy" for component in wanted) and not waiting:
            return
        if time.monotonic() > deadline:
            workers_waiting = f"; workers not ready: {', '.join(waiting)}" if waiting else ""
            raise TimeoutError(
                f"not ready after {timeout:.0f} s (health: {status or 'no answer'}{workers_waiting})"
            )
        time.sleep(1)


def wait_broker(components: Components, broker_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not redis_answers(broker_url):
        if components.dead():
            raise ComponentDied(components.dead())
        if time.monotonic() > deadline:
            raise TimeoutError(f"Redis does not answer at {broker_url} after {timeout:.0f} s")
        time.sleep(0.2)


class ComponentDied(Exception):
    pass


def password(airflow_home: Path) -> tuple[str, Path]:
    """The simple auth manager's generated admin password (the api-server writes it at start)."""
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get("admin", ""), path
    except (OSError, ValueError):
        return "", path


def banner(
    env: dict[str, str], base_url: str, home: Path, components: Components, ready_timeout: float
) -> str:
    secret, path = password(Path(env["AIRFLOW_HOME"]))
    dags, errors = wait_parsed(base_url, secret, min(ready_timeout, 60)) if secret else ([], 0)
    workers = [name for name in components.processes if name.startswith("worker-")]
    celery = (
        [
            f"  executor     CeleryExecutor: {', '.join(workers)} (concurrency 1 each)",
            f"  broker       {env['AIRFLOW__CELERY__BROKER_URL']} (Redis)",
            f"  metadata DB  {without_password(env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}",
        ]
        if workers
        else []
    )
    return "\n".join(
        [
            "",
            f"  Airflow UI   {base_url}/",
            # The password stays in its file: a banner ends up in terminals, logs and screenshots.
            f"  login        admin   (password: cat {path})",
            f"  DAGs         {', '.join(dags) or '(none parsed yet)'}",
            *([f"  IMPORT ERRORS {errors}: Browse > Dag Import Errors in the UI"] if errors else []),
            f"  AITL view    {base_url}/aitl/   (in the UI: AITL in the navigation bar)",
            f"  REST API     {base_url}/api/v2/   (token: POST {base_url}/auth/token)",
            *celery,
            f"  AIRFLOW_HOME {env['AIRFLOW_HOME']}",
            f"  AITL store   {without_password(env['AITL_STORE_URL'])}",
            f"  landing dir  {env['AITL_LANDING_DIR']}",
            f"  logs         {components.logs}/{{{','.join(components.processes)}}}.log",
            f"  CLI          . {home / 'env.sh'}   then airflow ..., aitl ... (in another shell)",
            "",
            f"  {READY}. Ctrl-C stops it.",
            "",
        ]
    )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = args.home.resolve()
    base_url = f"http://{client_host(args.host)}:{args.port}"
    if not port_free(args.host, args.port):
        say(f"port {args.port} on {args.host} is in use: stop what uses it, or choose --port")
        return 1
    try:
        celery = plan_celery(home) if args.executor == "celery" else None
    except Unavailable as missing:
        say(str(missing))
        return 1
    chosen = settings(home, args.host, args.port, celery)
    env = environment(chosen)
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "processes"
    logs.mkdir(parents=True, exist_ok=True)
    components = Components(env, logs)
    # SIGTERM (a test, a supervisor, kill) stops it like Ctrl-C; SIGINT even where a shell ignored it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    status = 0
    try:
        if celery:
            say(f"Starting Redis at {celery.broker_url}")
            components.start("redis", redis_command(celery.broker_url, home / "redis"))
            wait_broker(components, celery.broker_url)
        ours = prepare(env, logs / "migrate.log")
        write_env_file(home / "env.sh", chosen)
        names = worker_names(args.workers) if celery else []
        workers = worker_settings(names, env, hostnames=ours, avoid={args.port})
        say(f"Starting {', '.join([*COMPONENTS, *workers])} (output in {logs})")
        started = time.monotonic()
        components.start_airflow(args.host, args.port, workers)
        wait_ready(components, base_url, args.ready_timeout, list(workers))
        text = banner(env, base_url, home, components, args.ready_timeout)
        say(f"ready after {time.monotonic() - started:.0f} s")
        print(text, flush=True)
        while (name := components.dead()) is None:
            time.sleep(1)
        raise ComponentDied(name)
    except KeyboardInterrupt:
        status = 130 if not components.processes else 0
    except ComponentDied as died:
        name = str(died)
        say(f"{name} exited (status {components.processes[name].returncode}); the end of its log:")
        print(tail(components.log(name)), file=sys.stderr)
        status = 1
    except TimeoutError as error:
        say(str(error))
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if components.processes:
            say("Stopping " + ", ".join(sorted(components.processes, key=lambda name: name == "redis")))
            components.stop()
            say("Stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
