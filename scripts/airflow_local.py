"""`make airflow`: this package in a local Airflow, until Ctrl-C.

Starts Airflow's four components as separate processes, as a deployment runs
them (the api-server with the UI, the scheduler with the LocalExecutor, the
dag-processor and the triggerer), on this machine only:

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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
READY = "Airflow is ready"  # the line tests wait for
# Loaded by every Airflow process and command from AIRFLOW_HOME/config (on Airflow's sys.path).
LOCAL_SETTINGS_MARK = "# Written by scripts/airflow_local.py"
LOCAL_SETTINGS = f'''{LOCAL_SETTINGS_MARK} (make airflow); rewritten at every start.
"""The SQLite metadata DB shared by processes: wait for locks instead of failing "database is locked"."""

from __future__ import annotations

from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["create_async_metadata_engine", "create_metadata_engine"]

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
'''


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".airflow", help="default: .airflow/")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="API and UI port (default: 8080)")
    parser.add_argument(
        "--ready-timeout", type=float, default=300, help="seconds to wait for Airflow to be ready"
    )
    return parser.parse_args(argv)


def settings(home: Path, host: str, port: int) -> dict[str, str]:
    """What the components need beyond the caller's environment (whose AIRFLOW__*/AITL_* values win
    where a default is chosen here)."""
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
    return {**{k: os.environ.get(k, v) for k, v in defaults.items()}, **forced}


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


def prepare(env: dict[str, str], log: Path) -> None:
    """Write the SQLite engine settings, then migrate the Airflow metadata DB and the AITL store."""
    local_settings = Path(env["AIRFLOW_HOME"]) / "config" / "airflow_local_settings.py"
    local_settings.parent.mkdir(parents=True, exist_ok=True)
    if not local_settings.exists() or local_settings.read_text().startswith(LOCAL_SETTINGS_MARK):
        local_settings.write_text(LOCAL_SETTINGS)
    else:
        say(f"{local_settings} is not ours: left as it is (SQLite may report 'database is locked')")
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


def say(text: str) -> None:
    print(f"airflow: {text}", flush=True)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Components:
    """The four Airflow processes, each in its own session so that one signal reaches all it spawned."""

    def __init__(self, env: dict[str, str], host: str, port: int, logs: Path) -> None:
        self.env, self.host, self.port, self.logs = env, host, port, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self) -> None:
        for name in COMPONENTS:
            command = [str(BIN / "airflow"), name]
            if name == "api-server":
                command += ["--host", self.host, "--port", str(self.port)]
            with self.log(name).open("ab") as out:
                self.processes[name] = subprocess.Popen(
                    command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )

    def dead(self) -> str | None:
        """The name of a component that exited, if any."""
        return next((name for name, p in self.processes.items() if p.poll() is not None), None)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to every component's process group, SIGKILL to what is left after ``timeout`` s."""
        import psutil  # an Airflow dependency

        # Task processes run in process groups of their own: remembered now, killed if still there.
        family: list[psutil.Process] = []
        for process in self.processes.values():
            with contextlib.suppress(psutil.Error):
                family += psutil.Process(process.pid).children(recursive=True)
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        started, again = time.monotonic(), False
        while running := [name for name, p in self.processes.items() if p.poll() is None]:
            waited = time.monotonic() - started
            if waited > timeout:
                say(f"{', '.join(running)} did not stop in {timeout:.0f} s: killing")
                break
            if waited > 5 and not again:
                # The scheduler waits for running tasks (already told to stop) "unless signalled again".
                for name in running:
                    _signal_group(self.processes[name], signal.SIGTERM)
                again = True
            time.sleep(0.2)
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)
            process.wait()
        for leftover in family:
            with contextlib.suppress(psutil.Error):
                leftover.kill()


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


def wait_ready(components: Components, base_url: str, timeout: float) -> None:
    """Until the API answers and reports every component healthy; exits if a component dies."""
    deadline = time.monotonic() + timeout
    wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    while True:
        name = components.dead()
        if name:
            raise ComponentDied(name)
        status = health(base_url)
        if status and all(status.get(component) == "healthy" for component in wanted):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f} s (health: {status or 'no answer'})")
        time.sleep(1)


class ComponentDied(Exception):
    pass


def password(airflow_home: Path) -> tuple[str, Path]:
    """The simple auth manager's generated admin password (the api-server writes it at start)."""
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get("admin", ""), path
    except (OSError, ValueError):
        return "", path


def banner(env: dict[str, str], base_url: str, home: Path, logs: Path, ready_timeout: float) -> str:
    secret, path = password(Path(env["AIRFLOW_HOME"]))
    dags, errors = wait_parsed(base_url, secret, min(ready_timeout, 60)) if secret else ([], 0)
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
            f"  AIRFLOW_HOME {env['AIRFLOW_HOME']}",
            f"  AITL store   {without_password(env['AITL_STORE_URL'])}",
            f"  landing dir  {env['AITL_LANDING_DIR']}",
            f"  logs         {logs}/{{{','.join(COMPONENTS)}}}.log",
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
    chosen = settings(home, args.host, args.port)
    env = environment(chosen)
    base_url = f"http://{client_host(args.host)}:{args.port}"
    if not port_free(args.host, args.port):
        say(f"port {args.port} on {args.host} is in use: stop what uses it, or choose --port")
        return 1
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "processes"
    logs.mkdir(parents=True, exist_ok=True)
    components = Components(env, args.host, args.port, logs)
    # SIGTERM (a test, a supervisor, kill) stops it like Ctrl-C; SIGINT even where a shell ignored it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    status = 0
    try:
        prepare(env, logs / "migrate.log")
        write_env_file(home / "env.sh", chosen)
        say(f"Starting {', '.join(COMPONENTS)} (output in {logs})")
        started = time.monotonic()
        components.start()
        wait_ready(components, base_url, args.ready_timeout)
        text = banner(env, base_url, home, logs, args.ready_timeout)
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
            say("Stopping " + ", ".join(components.processes))
            components.stop()
            say("Stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
