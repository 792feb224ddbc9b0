"""docker-compose.yml: well-formed, and consistent with the repository it deploys.

No Docker engine runs in CI, so nothing here starts a container. The file is
parsed and held against what the repository itself defines: the Airflow pin,
the Python version, the paths it mounts, the database init script, the store
connection as the DAG's own code reads it, and the official image's Celery
layout (Redis, workers, an optional Flower) against the pinned Celery provider.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

AIRFLOW_HOME = "/opt/airflow"  # the official image's
IMAGE = "aitl-airflow:local"
COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
    "flower": ["celery", "flower"],
}
AIRFLOW_SERVICES = {"airflow-init", *COMMANDS}
LONG_RUNNING = set(COMMANDS)
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"  # what `celery --app` pings


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def init_sql() -> tuple[dict[str, str], dict[str, str]]:
    """Roles (name -> password) and databases (name -> owner) the postgres init script creates."""
    sql = (ROOT / "docker" / "postgres-init.sql").read_text()
    sql = re.sub(r"--[^\n]*", "", sql)
    roles = dict(re.findall(r"CREATE ROLE (\w+) (?:WITH )?LOGIN PASSWORD '([^']*)'", sql, re.IGNORECASE))
    databases = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", sql, re.IGNORECASE))
    return roles, databases


def env(service: dict) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) for item in value)
    return {k: str(v) for k, v in value.items()}


def command(service: dict) -> list[str]:
    value = service.get("command") or []
    words = shlex.split(value) if isinstance(value, str) else [str(w) for w in value]
    return words[1:] if words[:1] == ["airflow"] else words


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of every volume; a bind's source starts with . or /."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            result.append((volume["source"], volume["target"]))
        else:
            source, target, *_ = volume.split(":")
            result.append((source, target))
    return result


def binds(service: dict) -> list[tuple[str, str]]:
    return [(s, t) for s, t in mounts(service) if s.startswith((".", "/"))]


def airflow_pin() -> str:
    (version,) = re.findall(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    return version


def python_minor() -> str:
    """The one Python minor version pyproject's requires-python allows."""
    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    (minor,) = [f"3.{m}" for m in range(8, 20) if f"3.{m}.0" in spec]
    return minor


def airflow_config_default(section: str, option: str) -> str:
    """An option's default from the installed Airflow's config.yml, in the image's AIRFLOW_HOME."""
    (package,) = importlib.util.find_spec("airflow").submodule_search_locations
    config = yaml.safe_load((Path(package) / "config_templates" / "config.yml").read_text())
    return config[section]["options"][option]["default"].replace("{AIRFLOW_HOME}", AIRFLOW_HOME)


def test_services_and_their_airflow_subcommands(services):
    assert set(services) == {"postgres", "redis", *AIRFLOW_SERVICES}
    for name, expected in COMMANDS.items():
        assert command(services[name]) == expected, name
    init = command(services["airflow-init"])
    assert init[:2] == ["bash", "-c"], init
    script = [line.strip() for line in init[2].splitlines()]
    assert "airflow db migrate" in script
    assert "python -m aitl.cli db upgrade" in script
    assert script.index("airflow db migrate") < script.index("python -m aitl.cli db upgrade")
    assert "set -euo pipefail" in script  # a failed step fails the init, and nothing starts
    assert not any(re.search(r"\busers create\b", line) for line in script)


def test_airflow_services_share_one_built_image(compose, services):
    common = compose["x-airflow-common"]
    assert common["build"]["context"] == "."
    assert (ROOT / common["build"]["dockerfile"]).resolve() == DOCKERFILE
    for name in AIRFLOW_SERVICES:
        assert services[name]["image"] == IMAGE, name
        assert services[name]["build"] == common["build"], name
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env(services[name]), name


def test_airflow_image_matches_the_pins(compose):
    image = compose["x-airflow-common"]["build"]["args"]["AIRFLOW_IMAGE"]
    assert image == f"apache/airflow:{airflow_pin()}-python{python_minor()}"
    assert image == "apache/airflow:3.3.2-python3.11"
    dockerfile = DOCKERFILE.read_text()
    (default,) = re.findall(r"^ARG AIRFLOW_IMAGE=(\S+)$", dockerfile, re.M)
    assert default == image
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert base in {image, "${AIRFLOW_IMAGE}"}


def test_dockerfile_installs_the_pinned_requirements():
    dockerfile = DOCKERFILE.read_text()
    copy = re.search(r"^COPY (requirements\.txt) (constraints\.txt) (\S+)/$", dockerfile, re.M)
    assert copy, "Dockerfile must COPY requirements.txt and constraints.txt"
    target = copy[3]
    assert re.search(
        rf"^RUN pip install --no-cache-dir -r {target}/requirements\.txt -c {target}/constraints\.txt$",
        dockerfile,
        re.M,
    )
    # The build context is the repository; the Dockerfile's own ignore file keeps it to the pin files.
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert {"!requirements.txt", "!constraints.txt"} <= set(ignore)


def test_bind_mounts_exist_and_land_where_airflow_looks(services):
    for name, service in services.items():
        for source, _ in binds(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
    expected = {
        "./dags": airflow_config_default("core", "dags_folder"),
        "./plugins": airflow_config_default("core", "plugins_folder"),
        "./include": f"{AIRFLOW_HOME}/include",
    }
    assert expected["./dags"] == "/opt/airflow/dags"
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert expected.items() <= dict(binds(service)).items(), name
        variables = env(service)
        # Nothing moves the folders away from the mounts.
        for option in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
            assert option not in variables, (name, option)
        assert variables["PYTHONPATH"] == expected["./include"]
        targets = {t for _, t in mounts(service)}
        assert variables["AITL_LANDING_DIR"] in targets, name
        assert airflow_config_default("logging", "base_log_folder") in targets, name


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for service in services.values():
        for source, _ in mounts(service):
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_postgres_creates_both_databases_with_their_own_roles(services, init_sql):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    scripts = [s for s, t in binds(postgres) if t.startswith("/docker-entrypoint-initdb.d/")]
    assert [(ROOT / s).resolve() for s in scripts] == [ROOT / "docker" / "postgres-init.sql"]
    roles, databases = init_sql
    assert databases == {"airflow": "airflow", "aitl": "aitl"}
    assert set(roles) == {"airflow", "aitl"}
    assert "ports" not in postgres  # reached on the compose network only


def assert_reaches_created_database(url: str, init_sql) -> str:
    roles, databases = init_sql
    parsed = make_url(url)
    assert parsed.host == "postgres" and parsed.port == 5432, url
    assert parsed.database in databases, url
    assert parsed.username == databases[parsed.database], url
    assert parsed.password == roles[parsed.username], url
    return parsed.database


def test_metadata_db_is_the_airflow_database(services, init_sql):
    for name in AIRFLOW_SERVICES:
        url = env(services[name])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert make_url(url).drivername == "postgresql+psycopg2"
        assert assert_reaches_created_database(url, init_sql) == "airflow"


def test_store_connection_is_the_aitl_database(services, init_sql):
    metadata = {env(services[n])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] for n in AIRFLOW_SERVICES}
    for name in AIRFLOW_SERVICES:
        variables = env(services[name])
        uri = variables["AIRFLOW_CONN_AITL_STORE"]
        assert assert_reaches_created_database(uri, init_sql) == "aitl"
        assert make_url(uri).username not in {make_url(m).username for m in metadata}
        # `aitl db upgrade` in airflow-init and the `aitl` command use AITL_STORE_URL.
        assert make_url(variables["AITL_STORE_URL"]) == make_url(uri).set(drivername="postgresql+psycopg2")


def test_dag_reads_the_store_connection_as_the_same_url(services, monkeypatch):
    """The connection goes through ``aitl_airflow.tasks.store_url``, as in a task."""
    variables = env(services["airflow-scheduler"])
    monkeypatch.setenv("AIRFLOW_CONN_AITL_STORE", variables["AIRFLOW_CONN_AITL_STORE"])
    from aitl.store.database import engine_url
    from aitl_airflow.connections import store_url

    # Airflow hands over postgres://...; the library connects to it with psycopg2, as to AITL_STORE_URL.
    url = engine_url(store_url())
    assert url == make_url(variables["AITL_STORE_URL"])
    assert url.get_dialect().driver == "psycopg2"


def test_airflow_services_wait_for_postgres_and_the_init(services):
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    assert set(services["airflow-init"]["depends_on"]) == {"postgres"}
    assert services["airflow-init"].get("restart", "no") == "no"
    for name in LONG_RUNNING:
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert services[name]["restart"] == "always", name
        assert "healthcheck" in services[name], name


def test_components_find_and_trust_each_other(services):
    ports = services["airflow-apiserver"]["ports"]
    assert "8080:8080" in ports
    shared = None
    for name in AIRFLOW_SERVICES:
        variables = env(services[name])
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert variables["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert (
            variables["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        )
        secret_names = ("JWT_SECRET", "SECRET_KEY", "FERNET_KEY")
        secrets = {k: v for k, v in variables.items() if k.endswith(secret_names)}
        assert set(secrets) == {
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__CORE__FERNET_KEY",
        }
        for value in secrets.values():
            # Required from the environment (.env): never a default baked into the file.
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), value
        shared = shared or secrets
        assert secrets == shared, name
    # The workers run the tasks, and they report to the api-server.
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}


def test_auth_manager_is_importable_in_this_airflow(services):
    auth_manager = env(services["airflow-apiserver"])["AIRFLOW__CORE__AUTH_MANAGER"]
    module, _, cls = auth_manager.rpartition(".")
    assert importlib.util.find_spec(module) is not None, module
    assert f"class {cls}" in Path(importlib.util.find_spec(module).origin).read_text()


def test_redis_is_the_celery_broker_on_the_compose_network(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["restart"] == "always"
    assert "ports" not in redis  # reached on the compose network only
    for name in AIRFLOW_SERVICES:
        broker = urlsplit(env(services[name])["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379), name
        assert [str(port) for port in redis["expose"]] == [str(broker.port)]


def test_celery_results_go_to_the_metadata_db_through_psycopg2(services):
    """FACTS: a bare ``db+postgresql://`` makes SQLAlchemy 2.1 pick psycopg 3, which is not installed."""
    for name in AIRFLOW_SERVICES:
        variables = env(services[name])
        backend = variables["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert backend.startswith("db+"), backend
        assert make_url(backend.removeprefix("db+")) == make_url(
            variables["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        )
        assert make_url(backend.removeprefix("db+")).drivername == "postgresql+psycopg2"


def test_workers_run_the_tasks_and_report_healthy(services):
    worker = services["airflow-worker"]
    assert worker["deploy"]["replicas"] >= 2  # more: docker compose up --scale airflow-worker=N
    assert int(env(worker)["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) >= 1
    assert env(worker)["DUMB_INIT_SETSID"] == "0"  # the official image's warm shutdown
    probe = worker["healthcheck"]["test"]
    assert probe[0] == "CMD-SHELL"
    assert shlex.split(probe[1]) == [
        "celery",
        "--app",
        CELERY_APP,
        "inspect",
        "ping",
        "-d",
        "celery@$${HOSTNAME}",
    ]
    # The app the probe names exists in the pinned provider.
    module, _, attribute = CELERY_APP.rpartition(".")
    assert hasattr(importlib.import_module(module), attribute)


def test_flower_is_optional_and_local(services):
    flower = services["flower"]
    assert flower["profiles"] == ["flower"]  # docker compose --profile flower up
    assert flower["ports"] == ["127.0.0.1:5555:5555"]  # no login by default: this machine only
    assert "5555" in " ".join(flower["healthcheck"]["test"])
    for name, service in services.items():
        if name != "flower":
            assert "profiles" not in service, name  # everything else starts by default


def test_celery_subcommands_exist_in_the_pinned_provider():
    from airflow.providers.celery.cli.definition import CELERY_COMMANDS

    names = {cli.name for cli in CELERY_COMMANDS}
    assert {"worker", "flower"} <= names
    for name, expected in COMMANDS.items():
        if expected[0] == "celery":
            assert expected[1] in names, name


def test_the_celery_pins(services):
    """FACTS: provider 3.26.0 imports what celery 5.7 removed; Airflow opens an async engine on PostgreSQL."""
    requirements = (ROOT / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", requirements, re.M))
    assert pins["apache-airflow-providers-celery"] == "3.26.0"
    assert Version(pins["celery"]) < Version("5.7")
    assert {"redis", "asyncpg"} <= set(pins)
    constraints = (ROOT / "constraints.txt").read_text()
    for name in ("apache-airflow-providers-celery", "celery", "redis", "asyncpg"):
        assert f"\n{name}=={pins[name]}\n" in constraints, name
