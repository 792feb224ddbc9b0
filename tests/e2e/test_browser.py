"""The package in a running Airflow, seen through a browser.

Starts Airflow the way ``make airflow`` does (``scripts/airflow_local.py``: the
api-server, scheduler, dag-processor and triggerer as separate processes) on
loopback ports, in a temporary home whose AITL store holds one simulated hour.
Through the REST API it unpauses and triggers ``aitl_feedback_hourly`` for that
hour and waits for the run to succeed; then headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by Selenium) signs in through the
login form, opens the run and the AITL view, both directly at ``/aitl/`` and
through its entry in the navigation bar, and checks what they show against
the run. Screenshots go to ``AITL_BROWSER_SCREENSHOTS`` if set, else
``.ci/artifacts/browser/`` in CI, else the test's temporary directory.

Skipped when Chromium, its driver or Selenium is missing, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "airflow_local.py"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's packages: nothing is ever downloaded for the browser
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DAG_ID = "aitl_feedback_hourly"
TASKS = (
    "shards",
    "collect",
    "summarize",
    "normalize",
    "extract_patterns",
    "generate_insights",
    "plan_actions",
    "implement",
    "verify",
    "publish",
)
BUDGET_S = 8 * 60  # the browser tests, from their Airflow's start to the last screenshot
# When the browser tests' Airflow started (set by the ``airflow`` fixture). Counted from
# then, not from import: the module is imported when the whole suite is collected, and
# the other end-to-end tests use its helpers without its budget.
BUDGET_START: list[float] = []
T = TypeVar("T")


def remaining(limit: float) -> float:
    """``limit`` seconds, or less if the browser tests' budget runs out first."""
    if not BUDGET_START:
        return limit
    return max(min(limit, BUDGET_S - (time.monotonic() - BUDGET_START[0])), 1.0)


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 2.0) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + remaining(timeout)
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} missing)"


@pytest.fixture(scope="module")
def browser_available() -> None:
    """Chromium, chromedriver and Selenium, or a skip (a failure in CI)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver; make test)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the browser test")
        pytest.skip(message)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    if os.environ.get("AITL_BROWSER_SCREENSHOTS"):
        folder = Path(os.environ["AITL_BROWSER_SCREENSHOTS"])
    elif os.environ.get("CI") == "true":
        folder = ROOT / ".ci" / "artifacts" / "browser"
    else:
        folder = tmp_path_factory.mktemp("screenshots")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Api:
    """Airflow's REST API with a bearer token from ``POST /auth/token``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = ""

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def call(self, method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except OSError:
            return 0, None
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert 200 <= status < 300, f"{method} {path}: {status} {answer}"
        return answer

    def sign_in(self, password: str) -> None:
        status, answer = self.call(
            "POST", "/auth/token", {"username": "admin", "password": password}, auth=False
        )
        assert status == 201, f"POST /auth/token: {status} {answer}"
        self.token = answer["access_token"]


@dataclass
class Airflow:
    base_url: str
    home: Path
    password: str
    api: Api
    hour: datetime  # the simulated hour: the run's data interval
    simulated_events: int


@pytest.fixture(scope="module")
def airflow(browser_available, tmp_path_factory) -> Iterator[Airflow]:
    """``scripts/airflow_local.py`` on free loopback ports, its AITL store holding one simulated hour."""
    BUDGET_START[:] = [time.monotonic()]
    home = tmp_path_factory.mktemp("airflow-local")
    aitl_home = home / "aitl"
    store = f"sqlite:///{aitl_home / 'aitl.db'}"
    # A recent hour: inside the AITL view's default window (the last 7 days) as well.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    aitl = str(Path(sys.executable).with_name("aitl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITL_", "AIRFLOW"))}
    env.update(
        {
            # Only the run triggered here: no scheduled run of the current hour competing with it
            # (max_active_runs=1) when the DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Beside a `make airflow` on this machine: its log servers' ports are taken.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    subprocess.run([aitl, "db", "upgrade", "--store", store], env=env, check=True, capture_output=True)
    window = ["--start", f"{hour:%Y-%m-%dT%H:%M}", "--end", f"{hour + timedelta(hours=1):%Y-%m-%dT%H:%M}"]
    where = ["--landing", str(aitl_home / "landing"), "--store", store]
    simulated = subprocess.run(
        [aitl, "simulate", *window, "--rate", "600", "--seed", "11", *where],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    events = json.loads(simulated.stdout)["events"]
    assert events > 0

    output = home / "airflow_local.out"
    with local_airflow(home, env, output) as (api, password):
        banner = output.read_text()
        assert "simple_auth_manager_passwords.json.generated" in banner, "the banner says where the login is"
        assert password not in banner, "no password is printed"
        yield Airflow(api.base_url, home, password, api, hour, events)


@contextmanager
def local_airflow(home: Path, env: dict[str, str], output: Path) -> Iterator[tuple[Api, str]]:
    """``scripts/airflow_local.py`` on a free loopback port, signed in as admin; stopped as by Ctrl-C."""
    port = free_port()
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--home", str(home), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"scripts/airflow_local.py exited ({process.returncode}):\n{tail(output)}")
            return "Airflow is ready" in output.read_text(errors="replace")

        wait_for(ready, 240, f"Airflow to start (see {output})", interval=1)
        secrets = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(secrets.read_text())["admin"]
        api = Api(f"http://127.0.0.1:{port}")
        api.sign_in(password)
        yield api, password
    finally:
        stop(process, output, home / "airflow")


def stop(process: subprocess.Popen[bytes], output: Path, airflow_home: Path) -> None:
    """Ctrl-C, as a user would stop ``make airflow``; then no process of this Airflow may be left."""
    import psutil

    process.send_signal(signal.SIGINT)
    try:
        process.wait(90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

    def ours(candidate: psutil.Process) -> bool:
        try:
            return candidate.environ().get("AIRFLOW_HOME") == str(airflow_home)
        except (psutil.Error, OSError):  # gone, a zombie, or not readable
            return False

    # Found by their environment, so even components orphaned by a crashed script are stopped.
    leftovers = [p for p in psutil.process_iter() if p.pid != os.getpid() and ours(p)]
    for leftover in leftovers:
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    assert "Stopped" in output.read_text(errors="replace"), f"not stopped cleanly:\n{tail(output)}"
    assert not leftovers, f"processes left running: {[p.pid for p in leftovers]}"


@dataclass
class Run:
    run_id: str
    collect: dict[str, Any]


@pytest.fixture(scope="module")
def finished_run(airflow: Airflow) -> Run:
    """``aitl_feedback_hourly`` unpaused and triggered for the simulated hour, run to success."""
    api = airflow.api

    def parsed() -> bool:
        return api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200

    wait_for(parsed, 120, f"the dag-processor to parse {DAG_ID}")
    errors = api.ok("GET", "/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors
    assert api.ok("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})["is_paused"] is False

    start, end = airflow.hour, airflow.hour + timedelta(hours=1)
    run = api.ok(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {
            # A CronDataIntervalTimetable run owns [logical_date, +1 h): stated explicitly.
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(),
            "conf": {"profile": "development"},
            "note": "tests/test_browser.py",
        },
    )
    run_id = run["dag_run_id"]
    assert run["data_interval_start"].startswith(f"{start:%Y-%m-%dT%H:%M}")
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

    def finished() -> str:
        state = api.ok("GET", path)["state"]
        return state if state in ("success", "failed") else ""

    state = wait_for(finished, 360, f"run {run_id} to finish", interval=3)
    instances = api.ok("GET", f"{path}/taskInstances")["task_instances"]
    states = {ti["task_id"]: ti["state"] for ti in instances}
    assert state == "success", f"run {run_id} {state}: {states}"
    assert set(states) == set(TASKS)
    assert states["collect"] == "success"
    # collect is mapped over the hour's shards (one, by default): its XCom is its instance 0's.
    collect = api.ok("GET", f"{path}/taskInstances/collect/xcomEntries/return_value?map_index=0")["value"]
    if isinstance(collect, str):
        collect = json.loads(collect)
    assert collect["stored"] == airflow.simulated_events, collect
    return Run(run_id, collect)


@pytest.fixture(scope="module")
def browser(airflow: Airflow, tmp_path_factory) -> Iterator[Any]:
    """Headless Debian Chromium through Debian's chromedriver (Selenium Manager never runs)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    # The driver's path is given, so Selenium Manager is skipped; offline in case anything asks it.
    os.environ["SE_OFFLINE"] = "true"
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, timeout: float = 60):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The React UI re-renders while it loads: a vanished element means "not yet".
    return WebDriverWait(
        driver,
        remaining(timeout),
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def test_api_is_protected_and_healthy(airflow: Airflow):
    status, health = airflow.api.call("GET", "/api/v2/monitor/health", auth=False)
    assert status == 200
    assert {health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "healthy"
    }
    assert airflow.api.call("GET", "/aitl/", auth=False)[0] == 401
    assert airflow.api.call("GET", f"/api/v2/dags/{DAG_ID}", auth=False)[0] == 401


def test_the_rest_api_refuses_a_bad_param_naming_it(airflow: Airflow, finished_run: Run):
    """Params are validated by Airflow for API triggers as for the form: 400, the param named."""
    for conf, name in (({"profile": "prod"}, "profile"), ({"hours": 0}, "hours")):
        status, answer = airflow.api.call(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf}
        )
        assert status == 400, (conf, status, answer)
        assert name in json.dumps(answer), answer


def test_sign_in_through_the_login_form(airflow: Airflow, browser, screenshots: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser.get(f"{airflow.base_url}/")
    username = wait(browser).until(ec.visibility_of_element_located((By.NAME, "username")))
    assert "/auth/login" in browser.current_url, "an anonymous visitor is sent to the login page"
    username.send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(airflow.password)
    wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[type=submit]"))).click()
    wait(browser).until(lambda d: d.get_cookie("_token") and "/auth/login" not in d.current_url)
    # The home page's health panel, once loaded, names the four components `make airflow` starts.
    components = ("MetaDatabase", "Scheduler", "Triggerer", "Dag Processor")
    wait(browser).until(lambda d: all(c in d.find_element(By.TAG_NAME, "body").text for c in components))
    assert browser.find_elements(By.CSS_SELECTOR, "a[href$='/plugin/aitl']"), "the AITL navigation entry"
    browser.save_screenshot(str(screenshots / "01-home.png"))


def test_the_runs_grid_shows_the_dags_tasks(airflow: Airflow, finished_run: Run, browser, screenshots: Path):
    from selenium.webdriver.common.by import By

    browser.get(f"{airflow.base_url}/dags/{DAG_ID}/runs/{quote(finished_run.run_id, safe='')}")

    def shown(driver) -> bool:
        text = driver.find_element(By.TAG_NAME, "body").text
        return finished_run.run_id in text and "Success" in text and all(task in text for task in TASKS)

    wait(browser).until(shown)
    for task in TASKS:
        assert browser.find_elements(By.XPATH, f"//*[normalize-space(text())='{task}']"), task
    assert f"{airflow.hour:%Y-%m-%d %H:%M}" in browser.find_element(By.TAG_NAME, "body").text  # logical date
    browser.save_screenshot(str(screenshots / "02-run-grid.png"))


def tile(driver, label: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//div[@class='tile'][span[text()='{label}']]/b").text


def test_the_aitl_view_shows_the_runs_hour(airflow: Airflow, finished_run: Run, browser, screenshots: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    start, end = airflow.hour, airflow.hour + timedelta(hours=1)
    window = f"start={start:%Y-%m-%dT%H:%MZ}&end={end:%Y-%m-%dT%H:%MZ}"
    browser.get(f"{airflow.base_url}/aitl/?{window}")
    heading = wait(browser).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    title = f"AITL: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    assert heading.text == title
    assert browser.title == title
    sections = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    for section in ("Hourly trends", "Improvement pipeline", "Experiments", "Top patterns", "Insights"):
        assert any(s.startswith(section) for s in sections), (section, sections)
    assert tile(browser, "events") == f"{finished_run.collect['stored']:,}"
    chart = browser.find_element(By.CSS_SELECTOR, "svg[aria-label='events per hour']")
    bars = chart.find_elements(By.TAG_NAME, "rect")
    assert len(bars) == 1  # one hour, one bar
    assert f"{finished_run.collect['stored']:,} events" in bars[0].get_attribute("textContent")
    browser.save_screenshot(str(screenshots / "03-aitl-view.png"))


def test_the_aitl_nav_entry_shows_the_view_inside_the_ui(
    airflow: Airflow, finished_run: Run, browser, screenshots: Path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser.get(f"{airflow.base_url}/")
    entry = wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a[href$='/plugin/aitl']")))
    entry.click()
    wait(browser).until(ec.url_contains("/plugin/aitl"))
    wait(browser).until(ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
    heading = wait(browser).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    assert heading.text.startswith("AITL: ")  # the default window, the last 7 days
    # The store holds only the simulated hour, and that hour is in the window.
    assert tile(browser, "events") == f"{finished_run.collect['stored']:,}"
    assert browser.find_elements(By.CSS_SELECTOR, "svg[aria-label='events per hour']")
    browser.switch_to.default_content()
    browser.save_screenshot(str(screenshots / "04-aitl-in-the-ui.png"))
    print(f"screenshots: {screenshots}")
