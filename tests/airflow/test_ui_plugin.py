"""The AITL view: its view model, its page (escaped, self-contained) and the plugin for DAG readers."""

from __future__ import annotations

import ast
import html
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from aitl.cli.main import build_parser
from aitl.config import Settings, Thresholds
from aitl.ingest.contract import validate
from aitl.loop import registry
from aitl.mining.performance import METRIC_BY_NAME, METRICS
from aitl.pipeline.runner import run_cycle, run_window
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction
from aitl.store.models import (
    Decision,
    Event,
    Experiment,
    HourlyRollup,
    Improvement,
    Insight,
    InsightObservation,
    Pattern,
)
from aitl.ui.completeness import DAILY_DAG, rerun_command
from aitl.ui.dashboard import (
    PIPELINE,
    REVIEW_DAG,
    WindowParamError,
    dashboard,
    latest_data,
    review_commands,
    view,
    window_from_params,
)
from aitl.ui.markup import ADVERSE, COLORS, FAVOURABLE
from aitl.ui.page import CSP, render_html
from aitl.ui.series import is_adverse
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


def test_without_an_end_the_window_ends_at_the_latest_data():
    latest = datetime(2026, 3, 5, 17, tzinfo=UTC)  # months before NOW
    assert window_from_params({}, NOW, latest) == Window(latest - 7 * DAY, latest)
    assert window_from_params({"days": "1"}, NOW, latest) == Window(latest - DAY, latest)
    # An explicit end wins; a start alone runs to now; an empty store falls back to now.
    assert window_from_params({"end": "2026-04-01"}, NOW, latest).end == datetime(2026, 4, 1, tzinfo=UTC)
    assert window_from_params({"start": "2026-11-19"}, NOW, latest).end == datetime(
        2026, 11, 20, 11, tzinfo=UTC
    )
    assert window_from_params({}, NOW, None) == window_from_params({}, NOW)


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
    assert model["anomalies"] == model["good_news"] == model["patterns"] == model["insights"] == []
    assert model["experiments"] == []
    assert model["pipeline"] == {"counts": {}, "items": [], "review": [], "review_total": 0}
    assert (
        model["tiles"]["anomaly_episodes"]
        == model["tiles"]["good_news_episodes"]
        == model["tiles"]["running"]
        == 0
    )
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
    for _ in run_window(Window(START, DAY_18.end), settings, ("collect", "normalize")):
        pass
    run_cycle(DAY_18, settings, level="daily")
    # Simulated after the launch, so the running experiments get their arms' traffic.
    simulate(landing, DAY_19, rate=60, seed=3, store_url=url, scenario=Scenario())
    for _ in run_window(DAY_19, settings):
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
    assert "success_rate" in {a["metric"] for a in planted} and all(a["adverse"] for a in planted)
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
    model = model_of(simulated, ALL)
    page = render_html(model)
    for heading in (
        "Hourly trends",
        "Improvement pipeline",
        "Awaiting review",
        "Experiments",
        "Top patterns",
    ):
        assert f"<h2>{heading}" in page
    assert "<h2>Insights" in page
    # volume + every charted metric, pipeline strip, forest plot
    assert page.count("<svg") == 1 + len(model["charted"]) + 1 + 1
    assert f'fill="{COLORS["continue"]}"' in page  # a forest-plot point coloured by its decision


def test_every_metric_with_an_anomaly_is_charted(simulated):
    model = model_of(simulated, ALL)
    flagged = {a["metric"] for a in model["anomalies"] + model["good_news"]}
    # the case of the issue: anomalies of a metric not charted by default (durations, as a mean of logs)
    assert "mean_log_duration" in flagged
    assert flagged <= set(model["charted"])
    assert model["charted"][:3] == ["success_rate", "mean_quality", "error_rate"]
    page = render_html(model)
    charts = re.findall(r'<svg [^>]*aria-label="([^"]*)"', page)
    assert "mean log duration (log seconds)" in charts and len(charts) == 1 + len(model["charted"]) + 2
    # Each platform-wide anomaly is plotted on its metric's line at the value it was scored on.
    by_hour = {p["hour"]: p for p in model["series"]}
    for anomaly in model["anomalies"] + model["good_news"]:
        if not anomaly["segment"]:
            assert by_hour[anomaly["hour"]][anomaly["metric"]] == pytest.approx(anomaly["value"])


def test_anomalies_count_by_the_polarity_of_their_metric(simulated):
    model = model_of(simulated, ALL)
    # Episodes are held to a false discovery rate over the run: the planted bad hour is
    # certain to be there, an episode for the better is not.
    assert model["anomalies"]
    for anomaly in model["anomalies"] + model["good_news"]:
        worse = (anomaly["score"] < 0) == METRIC_BY_NAME[anomaly["metric"]].higher_is_better
        assert anomaly["adverse"] == worse, anomaly
    assert model["tiles"]["anomaly_episodes"] == len(model["anomalies"])
    assert model["tiles"]["good_news_episodes"] == len(model["good_news"])


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_adverse_is_read_through_higher_is_better(metric):
    up, down = is_adverse(metric.name, None, None, 4.0), is_adverse(metric.name, None, None, -4.0)
    assert (up, down) == ((False, True) if metric.higher_is_better else (True, False))
    # Without a score, value against usual.
    assert is_adverse(metric.name, 2.0, 1.0, None) == up
    assert is_adverse(metric.name, 0.5, 1.0, float("nan")) == down


def test_an_anomaly_of_unknown_polarity_stays_an_alarm():
    assert is_adverse("not_a_metric", 2.0, 1.0, 4.0) and is_adverse("success_rate", None, None, None)


def tile(page: str, name: str) -> str:
    return re.search(rf'data-tile="{name}"><span class="muted">{name}</span><b>([^<]*)</b>', page).group(1)


def bar(page: str, status: str) -> int:
    found = re.search(rf"<title>{status}: (\d+)</title>", page)
    return int(found.group(1)) if found else 0


def test_tiles_and_the_pipeline_bar_share_one_count(simulated):
    """The experiment the last daily run launches starts at the window's end: not an experiment of the
    window, but its improvement is running. The tile counted experiments (4), the bar improvements (5)."""
    model = model_of(simulated, ALL)
    with transaction(connect(simulated)) as session:
        at_end = session.scalars(select(Experiment).where(Experiment.started_at == ALL.end)).all()
    assert at_end and not {e.id for e in at_end} & {e["id"] for e in model["experiments"]}
    counts, page = model["pipeline"]["counts"], render_html(model)
    assert (
        model["tiles"]["running"]
        == counts["running"]
        == bar(page, "running")
        == int(tile(page, "experiments running"))
    )
    in_window = [e for e in model["experiments"] if e["status"] == "running"]
    assert counts["running"] == len(in_window) + len(at_end)
    assert int(tile(page, "awaiting review")) == counts["proposed"] == bar(page, "proposed")


def test_tiles_and_the_bar_agree_on_experiments_decided_after_the_window(hostile):
    """In a window ending before their decision, two experiments were running (the forest plot says so),
    their improvements are promoted and rolled back now: tile and bar both count the current status."""
    model = model_of(hostile, Window(T0, T0 + DAY + timedelta(hours=12)))
    assert sum(e["status"] == "running" for e in model["experiments"]) == 3
    page = render_html(model)
    assert model["pipeline"]["counts"]["running"] == 1 == bar(page, "running")
    assert tile(page, "experiments running") == "1"
    assert (
        tile(page, "promoted / rolled back")
        == f"{bar(page, 'promoted')} / {bar(page, 'rolled_back')}"
        == "1 / 1"
    )


def dag_params(path) -> set[str]:
    """The param names of a DAG file's ``@dag(params={...})``, read without importing Airflow."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "params" and isinstance(node.value, ast.Dict):
            return {k.value for k in node.value.keys}
    raise AssertionError(f"no params in {path}")


def test_each_proposed_improvement_has_its_review_commands(simulated):
    model = model_of(simulated, ALL)
    review = model["pipeline"]["review"]
    assert review and {i["status"] for i in review} == {"proposed"}
    assert model["pipeline"]["review_total"] == model["pipeline"]["counts"]["proposed"] == len(review)
    params = dag_params(ROOT / "dags" / f"{REVIEW_DAG}.py")
    page = render_html(model)
    for item in review:
        airflow, cli = item["commands"]["airflow"], item["commands"]["cli"]
        words = shlex.split(airflow)
        assert words[:5] == ["airflow", "dags", "trigger", REVIEW_DAG, "--conf"] and len(words) == 6
        conf = json.loads(words[5])
        assert conf["improvement_id"] == item["id"] and conf["decision"] == "approve" and set(conf) <= params
        parsed = build_parser().parse_args(shlex.split(cli)[1:])
        assert (parsed.improvement_id, parsed.decision) == (item["id"], "approve")
        assert html.escape(airflow) in page and html.escape(cli) in page
    # Ids are shown: of improvements and experiments, and which improvement each experiment tests.
    for experiment in model["experiments"]:
        assert f"<td>{experiment['id']}</td><td>{experiment['improvement_id']}</td>" in page


def test_a_review_command_quotes_a_hostile_id():
    hostile_id = "imp';touch pwned;'\"$(id)<script>"
    commands = review_commands(hostile_id)
    assert json.loads(shlex.split(commands["airflow"])[5])["improvement_id"] == hostile_id
    assert shlex.split(commands["cli"])[2] == hostile_id


def test_a_rerun_command_is_a_window_override_the_daily_dag_accepts(simulated):
    """The page's command for a day with late events reruns exactly that day, through the DAG's own checks."""
    from aitl_airflow.params import run_params
    from aitl_airflow.tasks import override_window

    model = model_of(simulated, ALL)
    assert model["completeness"]["daily"]["day"] == "2026-11-19"  # the latest daily run of the window
    words = shlex.split(rerun_command(DAY_18.start.date()))
    assert words[:5] == ["airflow", "dags", "trigger", DAILY_DAG, "--conf"] and len(words) == 6
    conf, params = json.loads(words[5]), run_params("daily")
    assert {k: params[k].resolve(v) for k, v in conf.items()} == conf  # the trigger form's schema
    assert override_window(conf, DAY_19, "daily") == DAY_18
    assert (ROOT / "dags" / f"{DAILY_DAG}.py").exists()


# --------------------------------------------------------------------------- stores of one kind of day


def rollups(hours: Window, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [synthetic_rollup(rng, hour, "", "", 40, Traffic()) for hour in hours.hours()]


def anomaly(hour: datetime, metric: str, value: float, usual: float, score: float, **segment) -> Pattern:
    return Pattern(
        id=f"pat-{metric}-{hour:%H}-{len(segment)}",
        level="daily",
        kind="anomaly",
        window_start=hour.replace(hour=0),
        window_end=hour.replace(hour=0) + DAY,
        signal_kind="metric",
        signal=metric,
        category="performance",
        subtype="scalability",
        segment={**segment, "hour": hour.isoformat()},
        count=1,
        segment_n=48,
        rate=value,
        baseline_rate=usual,
        details={"score": score, "sensitivity": 0.95},
    )


GOOD_DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))


def test_a_day_of_only_good_news_raises_no_alarm(sqlite_url):
    """p95 durations far below usual and a success rate above it: news for the better, not anomalous hours."""
    with transaction(connect(sqlite_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), rollups(GOOD_DAY))
        for h in (3, 4, 5):
            session.add(anomaly(GOOD_DAY.start + timedelta(hours=h), "p95_duration_s", 4.0, 60.0, -5.5))
        session.add(anomaly(GOOD_DAY.start + timedelta(hours=9), "success_rate", 0.99, 0.7, 4.2))
        session.add(anomaly(GOOD_DAY.start + timedelta(hours=9), "error_rate", 0.0, 0.2, -3.0, task_type="x"))
    model = model_of(sqlite_url, GOOD_DAY)
    assert model["anomalies"] == [] and model["tiles"]["anomaly_episodes"] == 0
    assert len(model["good_news"]) == 5 and model["tiles"]["good_news_episodes"] == 5
    assert "p95_duration_s" in model["charted"]
    page = render_html(model)
    assert tile(page, "anomaly episodes") == "0" and "5 episodes better than usual" in page
    assert f'fill="{ADVERSE}"' not in page
    assert page.count(f'fill="{FAVOURABLE}"><title>') == 5  # 4 dots on their lines, 1 segment tick
    assert (
        "No anomaly episodes for the worse" in page and "good news: 5 anomaly episodes for the better" in page
    )


def test_an_adverse_anomaly_among_good_news_is_the_one_alarm(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), rollups(GOOD_DAY))
        session.add(anomaly(GOOD_DAY.start + timedelta(hours=3), "p95_duration_s", 4.0, 60.0, -5.5))
        session.add(anomaly(GOOD_DAY.start + timedelta(hours=7), "p95_duration_s", 900.0, 60.0, 6.0))
    model = model_of(sqlite_url, GOOD_DAY)
    assert [a["hour"][11:13] for a in model["anomalies"]] == ["07"]
    assert [a["hour"][11:13] for a in model["good_news"]] == ["03"]
    assert model["tiles"]["anomaly_episodes"] == model["tiles"]["good_news_episodes"] == 1


OLD = Window(datetime(2026, 6, 8, tzinfo=UTC), datetime(2026, 6, 10, 18, tzinfo=UTC))


def test_a_store_with_months_old_data_opens_on_its_latest_week(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.execute(HourlyRollup.__table__.insert(), rollups(OLD))
    with transaction(connect(sqlite_url)) as session:
        assert latest_data(session) == OLD.end
        model = view(session, {}, NOW)
        assert dashboard(session, window_from_params({}, NOW))["totals"]["events"] == 0  # the wall-clock week
    assert model["window"] == {
        "start": (OLD.end - 7 * DAY).isoformat(),
        "end": OLD.end.isoformat(),
        "latest_data": OLD.end.isoformat(),
    }
    assert model["totals"]["events"] == 40 * len(list(OLD.hours()))
    assert "data until 2026-06-10 18:00 UTC" in render_html(model)


def test_the_latest_data_is_the_later_of_rollups_and_events(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        assert latest_data(session) is None
        session.execute(HourlyRollup.__table__.insert(), rollups(OLD))
        event = validate(factories.event(OLD.end + timedelta(hours=2, minutes=30)))
        session.execute(
            Event.__table__.insert(), [{**event, "source": "test", "ingested_at": NOW, "session_bucket": 0}]
        )
    with transaction(connect(sqlite_url)) as session:
        assert latest_data(session) == OLD.end + timedelta(hours=3)


# --------------------------------------------------------------------------- hostile store

T0 = datetime(2026, 11, 18, tzinfo=UTC)
HOSTILE = {
    field: f'<script>alert("{field}")</script>'
    for field in ("prompt", "modification", "reason", "decision", "title", "signal", "segment")
}
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(1)>'
# An improvement id is store text too, and it is shown inside a shell command.
HOSTILE_ID = "imp';touch pwned;'<script>x</script>"


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
        session.add(factories.improvement(T0 + DAY, id=HOSTILE_ID, dedupe_key="k4", status="proposed"))
        session.add(experiment("exp-3", "imp-3", "running", ended_at=None))
        session.add(insight())
        session.add(observation())
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


def observation() -> InsightObservation:
    """The daily run's observation of ``insight()``, with a hostile sub-segment to show on demand."""
    hostile_part = {"segment": {"prompt_id": ATTRIBUTE_BREAKER}, "count": 3, "segment_n": 9, "rate": 1 / 3}
    return InsightObservation(
        insight_id="ins-1",
        level="daily",
        window_start=T0,
        title=HOSTILE["title"],
        evidence={"finding": "frequency", "sub_segments": [hostile_part]},
        severity="critical",
        confidence=0.99,
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
    assert html.escape(review_commands(HOSTILE_ID)["airflow"]) in page
    assert html.escape(review_commands(HOSTILE_ID)["cli"]) in page


def test_the_page_downloads_nothing(hostile):
    page = render_html(model_of(hostile, Window(T0, T0 + 3 * DAY)))
    assert "http://" not in page and "https://" not in page
    assert re.findall(r'\b(?:src|href|action)="([^"]*)"', page) == ["?days=1", "?days=7", "?days=30"]
    assert f'content="{html.escape(CSP)}"' in page


def test_forest_plot_colours_each_decision(hostile):
    model = model_of(hostile, Window(T0, T0 + 3 * DAY))
    assert model["pipeline"]["counts"] == {"proposed": 1, "running": 1, "promoted": 1, "rolled_back": 1}
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


def token_of(role: str | None) -> str:
    """A valid Airflow JWT of a simple-auth-manager user with ``role`` (None: a user without any role)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))


CYCLE_DAGS = ("aitl_feedback_hourly", "aitl_system_daily")


@pytest.mark.airflow
def test_a_user_who_may_read_no_dag_is_refused(api, store):
    """The simple auth manager lets every role read DAGs (viewer upwards) and a user without a role none."""
    no_role = token_of(None)
    assert api.get(f"/aitl/{WINDOW}", cookies={"_token": no_role}).status_code == 403
    headers = {"Authorization": f"Bearer {no_role}"}
    assert api.get(f"/aitl/{WINDOW}", headers=headers).status_code == 403
    assert api.get("/api/v2/dags/aitl_system_daily", headers=headers).status_code == 403  # Airflow agrees
    viewer = api.get(f"/aitl/{WINDOW}", cookies={"_token": token_of("viewer")})
    assert viewer.status_code == 200 and html.escape(HOSTILE["title"]) in viewer.text


@pytest.mark.airflow
@pytest.mark.parametrize(
    ("readable", "status"),
    [
        ((), 403),
        (("aitl_improvement_review",), 403),
        (("aitl_feedback_hourly",), 200),
        (("aitl_system_daily",), 200),
        (CYCLE_DAGS, 200),
    ],
)
def test_reading_either_cycle_dag_is_required(api, token, store, monkeypatch, readable, status):
    """The auth manager decides, DAG by DAG: even an admin's request is refused when it says no."""
    from airflow.api_fastapi.app import get_auth_manager

    asked = []

    def is_authorized_dag(*, method, user, access_entity=None, details=None):
        asked.append((method, access_entity, details.id, user.get_name()))
        return details.id in readable

    monkeypatch.setattr(get_auth_manager(), "is_authorized_dag", is_authorized_dag)
    response = api.get(f"/aitl/{WINDOW}", cookies={"_token": token})
    assert response.status_code == status
    assert asked and {a[2] for a in asked} <= set(CYCLE_DAGS)
    assert {(a[0], a[1], a[3]) for a in asked} == {("GET", None, "admin")}
    if status == 403:
        assert "Improvement pipeline" not in response.text


@pytest.mark.airflow
def test_without_a_window_the_page_opens_on_the_latest_data(api, token, store):
    """The store's data ends on 2026-11-19; a week back from the clock would show nothing of it."""
    page = api.get("/aitl/", cookies={"_token": token}).text
    assert "data until 2026-11-19 00:00 UTC" in page and "No events in this window." not in page
    assert "AITL: 2026-11-12 00:00 to 2026-11-19 00:00 UTC" in page


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
        "import sys, aitl_airflow.plugin; "
        "print(sorted(m for m in ('fastapi', 'aitl', 'airflow.api_fastapi') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("installed", [True, False])
def test_the_plugins_folder_shim_registers_the_plugin_only_without_the_entry_point(installed):
    """Installed, the entry point registers the plugin; the folder's shim must then define none."""
    probe = (
        "import importlib.metadata as m, sys; "
        + ("" if installed else "m.entry_points = lambda **kw: []; ")
        + f"sys.path.insert(0, {str(ROOT / 'plugins')!r}); import aitl_ui; "
        "print(hasattr(aitl_ui, 'AitlUiPlugin'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == str(not installed)


def test_an_hour_without_neighbours_is_drawn_as_a_dot():
    from aitl.ui.charts import line_chart as _line_chart

    point = {"hour": "2026-11-20T04:00:00+00:00", "success_rate": 0.7}
    chart = _line_chart([point], "success_rate", [])
    assert chart.count('class="point"') == 1
    gap = {"hour": "2026-11-20T05:00:00+00:00", "success_rate": None}
    assert _line_chart([point, gap, point, point], "success_rate", []).count('class="point"') == 1
