"""The AITL view: its view model, its page (escaped, self-contained) and the signed-in-only Airflow plugin."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from aitl.config import Settings, Thresholds
from aitl.loop import registry
from aitl.pipeline.runner import run_cycle, run_hours
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction
from aitl.store.models import Decision, Experiment, HourlyRollup, Improvement, Insight, Pattern
from aitl.ui.dashboard import PIPELINE, WindowParamError, dashboard, window_from_params
from aitl.ui.page import COLORS, CSP, render_html
from aitl.window import Window
from tests import factories
from tests.conftest import ROOT, fresh_store

DAY = timedelta(days=1)
NOW = datetime(2026, 11, 20, 10, 37, tzinfo=UTC)


def model_of(url: str, window: Window) -> dict:
    with transaction(connect(url)) as session:
        return dashboard(session, window)


# --------------------------------------------------------------------------- window parameters


def test_default_window_is_the_last_seven_days_in_whole_hours():
    window = window_from_params({}, NOW)
    assert window == Window(datetime(2026, 11, 13, 11, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
    # Empty fields, as an HTML form sends them, count as absent.
    last_day = window_from_params({"days": "1", "start": "", "end": ""}, NOW)
    assert last_day == Window(datetime(2026, 11, 19, 11, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))


def test_explicit_window_is_read_as_utc():
    window = window_from_params({"start": "2026-11-18", "end": "2026-11-19T00:30:00+02:00"}, NOW)
    assert window == Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01"}, "end"),
        ({"days": "0"}, "days"),
        ({"days": "7.5"}, "days"),
        ({"days": "1000"}, "days"),
        ({"days": "²"}, "days"),
        ({"end": "9999-12-31T23:30"}, "end"),
        ({"start": "2026-11-18", "days": "2"}, "days"),
        ({"start": "2026-11-19", "end": "2026-11-18"}, "start"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_a_bad_window_parameter_is_named(params, name):
    with pytest.raises(WindowParamError, match=f"'{name}'") as raised:
        window_from_params(params, NOW)
    assert raised.value.param == name


# --------------------------------------------------------------------------- empty store


def test_empty_store_gives_an_empty_view_model_and_page(store_url):
    window = Window(datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
    model = model_of(store_url, window)
    assert len(model["series"]) == 7 * 24 and {p["n"] for p in model["series"]} == {0}
    assert model["totals"] == {"events": 0, "success_rate": None, "mean_quality": None, "error_rate": None}
    assert model["anomalies"] == model["patterns"] == model["insights"] == model["experiments"] == []
    assert model["pipeline"] == {"counts": {}, "items": []}
    assert model["effectiveness"] is None and model["notice"] is None
    json.dumps(model)  # plain values only
    page = render_html(model)
    assert "No events in this window." in page and "No experiment ran in this window." in page


def test_a_store_without_tables_gives_a_notice(tmp_path):
    model = model_of(f"sqlite:///{tmp_path / 'never-upgraded.db'}", window_from_params({}, NOW))
    assert "aitl db upgrade" in model["notice"] and model["totals"]["events"] == 0
    assert "aitl db upgrade" in render_html(model)


# --------------------------------------------------------------------------- simulated store

START = datetime(2026, 11, 17, tzinfo=UTC)
DAY_18 = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
DAY_19 = Window(DAY_18.end, DAY_18.end + DAY)
ALL = Window(START, DAY_19.end)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> str:
    """Two days of history, a daily run that launches experiments, then a day of hourly cycles and a look."""
    root = tmp_path_factory.mktemp("simulated")
    url = fresh_store("sqlite", root)
    landing = root / "landing"
    # Two days of trailing window: the least that still scores anomalies.
    settings = Settings(
        store_url=url, landing_dir=landing, thresholds=Thresholds.resolve(overrides={"window_days": 2})
    )
    simulate(landing, Window(START, DAY_18.end), rate=60, seed=3, store_url=url, scenario=Scenario())
    for _ in run_hours(Window(START, DAY_18.end), settings, ("collect", "normalize")):
        pass
    run_cycle(DAY_18, settings, level="daily")
    # Simulated after the launch, so the running experiments get their arms' traffic.
    simulate(landing, DAY_19, rate=60, seed=3, store_url=url, scenario=Scenario())
    for _ in run_hours(DAY_19, settings):
        pass
    run_cycle(DAY_19, settings, level="daily")
    return url


def test_series_and_totals_add_up_to_the_rollups(simulated):
    model = model_of(simulated, ALL)
    assert [p["hour"] for p in model["series"]] == [h.isoformat() for h in ALL.hours()]
    with transaction(connect(simulated)) as session:
        events, successes = session.execute(
            select(func.sum(HourlyRollup.n), func.sum(HourlyRollup.successes))
        ).one()
    assert model["totals"]["events"] == events > 0
    assert model["totals"]["success_rate"] == pytest.approx(successes / events)
    assert all(0 <= p["success_rate"] <= 1 for p in model["series"] if p["n"])


def test_the_planted_anomaly_is_marked_on_the_success_rate_plot(simulated):
    model = model_of(simulated, ALL)
    planted = [a for a in model["anomalies"] if a["hour"] == "2026-11-18T14:00:00+00:00" and not a["segment"]]
    assert "success_rate" in {a["metric"] for a in planted}
    page = render_html(model)
    marked = re.findall(r'<circle [^>]*fill="#d32f2f"><title>([^<]*)</title>', page)
    assert any(t.startswith("2026-11-18 14:00: success rate") for t in marked), marked[:5]


def test_patterns_insights_and_pipeline_of_the_loop(simulated):
    model = model_of(simulated, ALL)
    frequencies = [p for p in model["patterns"] if p["kind"] == "frequency"]
    assert "sql injection" in {p["signal"] for p in frequencies}
    assert [p["count"] for p in frequencies] == sorted((p["count"] for p in frequencies), reverse=True)
    assert model["insights"][0]["severity"] == "critical"
    with transaction(connect(simulated)) as session:
        statuses = dict(
            session.execute(select(Improvement.status, func.count()).group_by(Improvement.status)).all()
        )
    counts = model["pipeline"]["counts"]
    assert counts == statuses and statuses.get("running")
    assert list(counts) == [s for s in PIPELINE if s in counts]  # left to right through the loop


def test_experiments_show_what_was_known_by_the_windows_end(simulated):
    experiments = model_of(simulated, ALL)["experiments"]
    decided = [e for e in experiments if e["look"] and e["look"]["source"] == "decision"]
    assert decided, experiments
    for experiment in decided:
        look = experiment["look"]
        assert look["decision"] == "continue" and look["metric"] == "success_rate"
        assert look["ci_low"] <= look["effect"] <= look["ci_high"] and 0 <= look["p_value"] <= 1
    # Before the daily look only the hourly evidence exists; before the launch, no experiment.
    midday = model_of(simulated, Window(DAY_19.start, DAY_19.start + timedelta(hours=12)))["experiments"]
    assert midday and {e["look"]["source"] for e in midday if e["look"]} == {"evidence"}
    assert model_of(simulated, Window(START, DAY_18.end))["experiments"] == []


def test_the_page_draws_every_section(simulated):
    page = render_html(model_of(simulated, ALL))
    for heading in ("Hourly trends", "Improvement pipeline", "Experiments", "Top patterns", "Insights"):
        assert f"<h2>{heading}" in page
    assert page.count("<svg") == 4 + 1 + 1  # volume + 3 metrics, pipeline strip, forest plot
    assert f'fill="{COLORS["continue"]}"' in page  # a forest-plot point coloured by its decision


# --------------------------------------------------------------------------- hostile store

T0 = datetime(2026, 11, 18, tzinfo=UTC)
HOSTILE = {
    field: f'<script>alert("{field}")</script>'
    for field in ("prompt", "modification", "reason", "decision", "title", "signal", "segment")
}
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(1)>'


def hostile_store(url: str) -> None:
    """Every kind of store text a person can see, each carrying its own script."""
    with transaction(connect(url)) as session:
        registry.ensure_registered(session, "p", "Write code.", at=T0 - DAY)
        registry.add_version(
            session, "p", f"Write code.\n{HOSTILE['prompt']}\n", at=T0, reason="test", make_current=False
        )
        for i, (status, decision) in enumerate((("promoted", "promoted"), ("rolled_back", "rolled_back")), 1):
            session.add(
                factories.improvement(
                    T0 + DAY,
                    id=f"imp-{i}",
                    dedupe_key=f"k{i}",
                    modification=HOSTILE["modification"],
                    status=status,
                    status_reason=HOSTILE["reason"],
                )
            )
            session.add(experiment(f"exp-{i}", f"imp-{i}", status, ended_at=T0 + 2 * DAY))
            session.add(decision_row(f"exp-{i}", decision, sign=1 if decision == "promoted" else -1))
        session.add(factories.improvement(T0 + DAY, id="imp-3", dedupe_key="k3", status="running"))
        session.add(experiment("exp-3", "imp-3", "running", ended_at=None))
        session.add(insight())
        session.add(pattern("frequency", {"language": ATTRIBUTE_BREAKER}, HOSTILE["signal"]))
        session.add(
            pattern("anomaly", {"hour": "2026-11-18T14:00:00+00:00", "task_type": HOSTILE["segment"]})
        )
        rng = np.random.default_rng(0)
        rows = [
            synthetic_rollup(rng, T0 + timedelta(hours=h), "exp-1", "control", 50, Traffic())
            for h in range(24)
        ]
        session.execute(HourlyRollup.__table__.insert(), rows)


def experiment(experiment_id: str, improvement_id: str, status: str, ended_at: datetime | None) -> Experiment:
    return Experiment(
        id=experiment_id,
        improvement_id=improvement_id,
        prompt_id="p",
        control_version=1,
        variant_version=2,
        assignment_unit="user_id",
        traffic_split=0.5,
        primary_metric="success_rate",
        guardrail_metrics=["error_rate"],
        planned_n_per_arm=1000,
        status=status,
        started_at=T0 + DAY,
        ended_at=ended_at,
    )


def decision_row(experiment_id: str, decision: str, sign: int) -> Decision:
    return Decision(
        experiment_id=experiment_id,
        window_end=T0 + 2 * DAY,
        look=1,
        decision=decision,
        reason=HOSTILE["decision"],
        metric="success_rate",
        test="two_proportion_z",
        n_control=900,
        n_variant=900,
        effect=sign * 0.1,
        ci_low=sign * 0.1 - 0.05,
        ci_high=sign * 0.1 + 0.05,
        p_value=0.0004,
        p_adjusted=0.001,
        information_fraction=0.9,
        alpha_spent=0.04,
        nominal_alpha=0.01,
        details={},
    )


def insight() -> Insight:
    return Insight(
        id="ins-1",
        level="daily",
        window_start=T0,
        window_end=T0 + DAY,
        category="security",
        subtype="input_validation",
        signal="sql injection",
        title=HOSTILE["title"],
        segment={"prompt_id": ATTRIBUTE_BREAKER},
        evidence={},
        severity="critical",
        confidence=0.99,
        first_seen=T0,
        occurrences=1,
    )


def pattern(kind: str, segment: dict, signal: str = "success_rate") -> Pattern:
    return Pattern(
        id=f"pat-{kind}",
        level="daily",
        kind=kind,
        window_start=T0,
        window_end=T0 + DAY,
        signal_kind="metric" if kind == "anomaly" else "indicator",
        signal=signal,
        category="security",
        subtype="input_validation",
        segment=segment,
        count=40,
        segment_n=200,
        rate=0.2,
        baseline_rate=0.02,
        lift=10.0,
        p_value=1e-9,
        details={"score": -6.0},
    )


@pytest.fixture
def hostile(store_url) -> str:
    hostile_store(store_url)
    return store_url


def test_store_text_reaches_the_page_only_escaped(hostile):
    page = render_html(model_of(hostile, Window(T0, T0 + 3 * DAY)))
    assert "<script" not in page.lower() and "<img" not in page
    for field, payload in HOSTILE.items():
        assert html.escape(payload) in page, field
    assert html.escape(ATTRIBUTE_BREAKER) in page


def test_the_page_downloads_nothing(hostile):
    page = render_html(model_of(hostile, Window(T0, T0 + 3 * DAY)))
    assert "http://" not in page and "https://" not in page
    assert re.findall(r'\b(?:src|href|action)="([^"]*)"', page) == ["?days=1", "?days=7", "?days=30"]
    assert f'content="{html.escape(CSP)}"' in page


def test_forest_plot_colours_each_decision(hostile):
    model = model_of(hostile, Window(T0, T0 + 3 * DAY))
    assert model["pipeline"]["counts"] == {"running": 1, "promoted": 1, "rolled_back": 1}
    page = render_html(model)
    for decision in ("promoted", "rolled_back"):
        assert f'r="5" fill="{COLORS[decision]}"' in page
    assert ">promoted · success_rate</text>" in page
    assert ">+0.100 [+0.050, +0.150] p&lt;0.001, adjusted p=0.001</text>" in page
    assert "no estimate yet" in page  # the running experiment without a look


# --------------------------------------------------------------------------- the Airflow plugin


@pytest.fixture(scope="module")
def api(airflow_home):
    """Airflow's own API server app (core API, auth manager and plugins), as the api-server builds it."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app("core"))


@pytest.fixture(scope="module")
def token(api) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


@pytest.fixture
def store(sqlite_url, monkeypatch) -> str:
    """The hostile store, on SQLite (what is checked here is the app, not the backend), via AITL_STORE_URL."""
    hostile_store(sqlite_url)
    monkeypatch.setenv("AITL_STORE_URL", sqlite_url)
    return sqlite_url


WINDOW = "?start=2026-11-18T00:00&end=2026-11-21T00:00"


@pytest.mark.airflow
def test_the_plugin_registers_its_app_and_navigation_entry(api, token):
    listed = api.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()["plugins"]
    plugin = next(p for p in listed if p["name"] == "aitl_ui")
    assert plugin["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/aitl", "name": "AITL"}
    ]
    [view] = plugin["external_views"]
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == (
        "AITL",
        "/aitl/",
        "nav",
        "aitl",
    )
    errors = api.get("/api/v2/plugins/importErrors", headers={"Authorization": f"Bearer {token}"}).json()
    assert errors["total_entries"] == 0, errors


@pytest.mark.airflow
# ("/aitl" without the slash is not the app's: Airflow's single-page UI answers it, and asks for a login.)
@pytest.mark.parametrize("path", ["/aitl/", f"/aitl/{WINDOW}", "/aitl/?days=abc"])
def test_anonymous_requests_are_refused(api, store, path):
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"Authorization": "Bearer forged"}).status_code == 403
    assert api.get(path, cookies={"_token": "forged"}).status_code == 403


@pytest.mark.airflow
@pytest.mark.parametrize("path", ["/aitl/docs", "/aitl/openapi.json", "/aitl/redoc"])
def test_the_app_serves_no_unprotected_docs(api, path):
    assert api.get(path).status_code == 404


@pytest.mark.airflow
def test_a_signed_in_browser_sees_the_page(api, token, store):
    response = api.get(f"/aitl/{WINDOW}", cookies={"_token": token})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert html.escape(HOSTILE["title"]) in response.text and "<script" not in response.text


@pytest.mark.airflow
def test_an_api_client_signs_in_with_auth_token(api, airflow_home, store):
    passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    issued = api.post("/auth/token", json={"username": "admin", "password": passwords["admin"]})
    assert issued.status_code == 201
    response = api.get(
        f"/aitl/{WINDOW}", headers={"Authorization": f"Bearer {issued.json()['access_token']}"}
    )
    assert response.status_code == 200 and "Improvement pipeline" in response.text


@pytest.mark.airflow
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("days=abc", "days"),
        ("start=nope", "start"),
        ("end=2026-11-40", "end"),
        ("start=2026-11-18&days=2", "days"),
    ],
)
def test_a_bad_window_is_a_400_naming_the_parameter(api, token, store, query, name):
    response = api.get(f"/aitl/?{query}", cookies={"_token": token})
    assert response.status_code == 400 and f"invalid '{name}'" in response.text


@pytest.mark.airflow
def test_the_aitl_store_connection_wins_over_the_environment(api, token, store, tmp_path, monkeypatch):
    monkeypatch.setenv("AITL_STORE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    connection = {"conn_type": "generic", "extra": {"sqlalchemy_url": store}}
    monkeypatch.setenv("AIRFLOW_CONN_AITL_STORE", json.dumps(connection))
    page = api.get(f"/aitl/{WINDOW}", cookies={"_token": token}).text
    assert "aitl db upgrade" not in page and html.escape(HOSTILE["title"]) in page


@pytest.mark.airflow
def test_loading_the_plugin_imports_neither_fastapi_nor_the_library(airflow_home):
    """Workers load every plugin for macros: the app and its imports wait until the API server asks."""
    probe = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'plugins')!r}); import aitl_ui; "
        "print(sorted(m for m in ('fastapi', 'aitl', 'airflow.api_fastapi') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_hour_without_neighbours_is_drawn_as_a_dot():
    from aitl.ui.page import _line_chart

    point = {"hour": "2026-11-20T04:00:00+00:00", "success_rate": 0.7}
    chart = _line_chart([point], "success_rate", [])
    assert chart.count('class="point"') == 1
    gap = {"hour": "2026-11-20T05:00:00+00:00", "success_rate": None}
    assert _line_chart([point, gap, point, point], "success_rate", []).count('class="point"') == 1
