"""The traffic simulator: contract, determinism, seasonality, planted truth, registry loop."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from aitl.ingest.contract import validate
from aitl.ingest.readers import landing_hour_dir
from aitl.loop import registry
from aitl.sim.catalogue import BASELINE_PROMPTS, PROMPT_IDS, release_text
from aitl.sim.ground_truth import text_effects
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction, upgrade
from aitl.store.models import Prompt, PromptVersion
from aitl.window import Window
from aitl.window import parse_utc as parse_timestamp
from tests import factories

NO_ANOMALY = Scenario(anomaly_hours=())


def read_events(landing: Path) -> list[dict]:
    return [
        orjson.loads(line)
        for path in sorted(landing.rglob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def rate(events: list[dict], predicate) -> float:
    return sum(1 for e in events if predicate(e)) / max(len(events), 1)


def has_error(event: dict, kind: str) -> bool:
    return any(error["type"] == kind for error in event["errors"] or [])


def has_sqli(event: dict) -> bool:
    return "sql injection" in (event["security_warnings"] or [])


def hot(event: dict) -> bool:
    return event["task_type"] == "api_endpoint" and event["language"] == "python"


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> list[dict]:
    """Three days around the default anomaly hour and regression, no store."""
    landing = tmp_path_factory.mktemp("planted")
    simulate(landing, Window.parse("2026-11-17T00:00", "2026-11-20T00:00"), rate=300, seed=11)
    return read_events(landing)


# ----------------------------------------------------------------- contract and layout


def test_every_event_meets_the_contract_in_its_hour_file(tmp_path):
    window = Window.parse("2026-11-18T12:00", "2026-11-18T16:00")
    report = simulate(tmp_path, window, rate=120, seed=5)

    ids: set[str] = set()
    total = 0
    for hour in window.hours():
        path = landing_hour_dir(tmp_path, hour) / "sim-5.jsonl"
        assert path.is_file()
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            row = validate(event)
            assert hour <= row["ts"] < hour + timedelta(hours=1)
            assert event["timestamp"].endswith("Z")
            assert event["event_id"] not in ids
            ids.add(event["event_id"])
            total += 1
    assert total == report.events > 0
    assert report.files == report.hours == 4
    assert 0 < report.sessions < report.events
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["ground_truth.json"] + ["sim-5.jsonl"] * 4
    )
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert truth["anomaly_hours"] == ["2026-11-18T14:00:00Z"]
    assert {p["name"] for p in truth["patterns"]} >= {
        "security_hotspot",
        "complex_task_timeouts",
        "anomalous_hour",
        "prompt_regression",
    }


def test_sessions_share_their_context_and_run_in_order(tmp_path):
    simulate(tmp_path, Window.parse("2026-11-10T09:00", "2026-11-10T11:00"), rate=300, seed=2)
    sessions: dict[str, list[dict]] = {}
    for event in read_events(tmp_path):
        sessions.setdefault(event["session_id"], []).append(event)
    assert max(len(s) for s in sessions.values()) > 1
    for events in sessions.values():
        assert len(events) <= 5
        keys = {
            (e["user_id"], e["task_type"], e["language"], e["prompt_id"], e["complexity"]) for e in events
        }
        assert len(keys) == 1
        stamps = [parse_timestamp(e["timestamp"]) for e in events]
        assert stamps == sorted(stamps)
        assert len({s.replace(minute=0, second=0, microsecond=0) for s in stamps}) == 1


def test_fills_every_field_plausibly(planted):
    for name in ("satisfaction", "comment", "test_coverage", "doc_score", "accepted"):
        assert any(e[name] is not None for e in planted), name
    assert {e["agent_tier"] for e in planted} == {"T0", "T1", "T2", "T3"}
    assert {e["model"] for e in planted} == {"atlas-large", "atlas-small", "nova-mid"}
    assert {e["prompt_id"] for e in planted} == set(PROMPT_IDS)
    ui = [e for e in planted if e["task_type"] == "ui_component"]
    assert rate(ui, lambda e: e["language"] == "typescript") > 0.8
    assert 0.55 < rate(planted, lambda e: e["success"]) < 0.85
    assert rate(planted, lambda e: e["style_issues"]) > 0.03
    failed = [e for e in planted if not e["success"]]
    assert all(e["errors"] for e in failed)
    assert all(e["cost_usd"] > 0 and e["tokens_out"] > 0 for e in planted)


# -------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_bytes_and_hours_compose(tmp_path):
    window = Window.parse("2026-11-18T13:00", "2026-11-18T17:00")
    simulate(tmp_path / "a", window, rate=150, seed=9)
    simulate(tmp_path / "b", window, rate=150, seed=9)
    for hour in window.hours():
        simulate(tmp_path / "c", Window.hour_of(hour), rate=150, seed=9)
    simulate(tmp_path / "d", window, rate=150, seed=10)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.jsonl"))}

    a = files(tmp_path / "a")
    assert len(a) == 4
    assert files(tmp_path / "b") == a
    assert files(tmp_path / "c") == a
    assert set(files(tmp_path / "d")) == {k.replace("sim-9", "sim-10") for k in a}
    assert list(files(tmp_path / "d").values()) != list(a.values())


def test_resimulating_an_hour_replaces_its_file(tmp_path):
    window = Window.parse("2026-11-10T10:00", "2026-11-10T11:00")
    first = simulate(tmp_path, window, rate=400, seed=1)
    second = simulate(tmp_path, window, rate=50, seed=1)
    assert len(read_events(tmp_path)) == second.events < first.events
    assert [p.name for p in landing_hour_dir(tmp_path, window.start).iterdir()] == ["sim-1.jsonl"]


# -------------------------------------------------------------------------- seasonality


def test_volume_follows_the_day_and_the_week(tmp_path):
    window = Window.parse("2026-11-09T00:00", "2026-11-16T00:00")  # Monday to Monday
    simulate(tmp_path, window, rate=60, seed=4, scenario=NO_ANOMALY)
    afternoon = night = weekday = weekend = 0
    for hour in window.hours():
        count = len((landing_hour_dir(tmp_path, hour) / "sim-4.jsonl").read_bytes().splitlines())
        if 13 <= hour.hour < 17:
            afternoon += count
        elif 1 <= hour.hour < 5:
            night += count
        if hour.weekday() >= 5:
            weekend += count
        else:
            weekday += count
    assert afternoon > 2 * night
    assert weekend / 2 < 0.7 * (weekday / 5)
    # ``rate`` is the weekly mean per hour.
    total = weekday + weekend
    assert abs(total / 168 - 60) < 6


def test_seasonality_averages_to_one_over_a_week():
    start = datetime(2026, 11, 9, tzinfo=UTC)
    factors = [Scenario().seasonality(start + timedelta(hours=h)) for h in range(168)]
    assert sum(factors) / 168 == pytest.approx(1.0)
    assert max(factors) / min(factors) > 5


# ------------------------------------------------------------------------ planted truth


def test_security_hotspot(planted):
    in_hot = [e for e in planted if hot(e)]
    elsewhere = [e for e in planted if not hot(e)]
    assert len(in_hot) > 500
    assert 0.15 <= rate(in_hot, has_sqli) <= 0.35
    assert rate(elsewhere, has_sqli) <= 0.02
    flagged = [e for e in planted if e["security_warnings"]]
    clean = [e for e in planted if not e["security_warnings"]]
    assert rate(flagged, lambda e: e["success"]) < rate(clean, lambda e: e["success"]) - 0.1
    mean_q = lambda events: sum(e["quality_score"] for e in events) / len(events)  # noqa: E731
    assert mean_q(flagged) < mean_q(clean) - 0.1


def test_complex_tasks_time_out(planted):
    complex_ = [e for e in planted if e["complexity"] >= 0.7]
    simple = [e for e in planted if e["complexity"] < 0.7]
    assert len(complex_) > 500
    assert 0.22 <= rate(complex_, lambda e: has_error(e, "timeout")) <= 0.38
    assert rate(simple, lambda e: has_error(e, "timeout")) <= 0.025
    timeouts = [e for e in planted if has_error(e, "timeout")]
    assert all(not e["success"] and 300 <= e["duration_s"] < 330 for e in timeouts)
    assert all(e["duration_s"] < 300 for e in planted if not has_error(e, "timeout"))


def test_anomalous_hour(planted):
    by_hour: dict[datetime, list[dict]] = {}
    for event in planted:
        hour = parse_timestamp(event["timestamp"]).replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(event)
    anomaly = datetime(2026, 11, 18, 14, tzinfo=UTC)
    neighbours = [e for h in (-3, -2, -1, 1, 2, 3) for e in by_hour[anomaly + timedelta(hours=h)]]
    success = lambda events: rate(events, lambda e: e["success"])  # noqa: E731
    exhausted = lambda events: rate(events, lambda e: has_error(e, "resource_exhausted"))  # noqa: E731
    assert success(by_hour[anomaly]) < 0.45
    assert success(neighbours) > success(by_hour[anomaly]) + 0.2
    assert exhausted(by_hour[anomaly]) > 0.3 > 0.05 > exhausted(neighbours)
    assert len(by_hour[anomaly]) > 1.5 * len(neighbours) / 6


def test_prompt_regression(planted):
    cut = datetime(2026, 11, 19, tzinfo=UTC)
    refactor = [e for e in planted if e["prompt_id"] == "refactor-gen"]
    before = [e for e in refactor if parse_timestamp(e["timestamp"]) < cut]
    after = [e for e in refactor if parse_timestamp(e["timestamp"]) >= cut]
    assert {e["prompt_version"] for e in before} == {1}
    assert {e["prompt_version"] for e in after} == {2}
    assert {e["prompt_version"] for e in planted if e["prompt_id"] != "refactor-gen"} == {1}
    success = lambda events: rate(events, lambda e: e["success"])  # noqa: E731
    quality = lambda events: sum(e["quality_score"] for e in events) / len(events)  # noqa: E731
    assert success(after) < success(before) - 0.08
    assert quality(after) < quality(before) - 0.06
    misunderstood = lambda events: rate(events, lambda e: has_error(e, "misunderstood_task"))  # noqa: E731
    assert misunderstood(after) > misunderstood(before) + 0.05


# ---------------------------------------------------------------------------- scenario


def test_scenario_round_trips_through_json(tmp_path):
    custom = Scenario(
        anomaly_hours=(
            datetime(2026, 1, 5, 3, tzinfo=UTC),
            datetime(2026, 1, 6, 9, 30, tzinfo=UTC),
        ),
        regression_prompt="api_endpoint-gen",
        regression_at=datetime(2026, 1, 7, tzinfo=UTC),
        timeout_rate=0.4,
        users=50,
    )
    assert custom.anomaly_hours[1] == datetime(2026, 1, 6, 9, tzinfo=UTC)
    for scenario in (Scenario(), custom):
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario.as_dict()))
        assert Scenario.from_json(path) == scenario
    partial = tmp_path / "partial.json"
    partial.write_text('{"regression_at": "2026-12-01T00:00:00+00:00", "security_rate": 0.4}')
    loaded = Scenario.from_json(partial)
    assert loaded.regression_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert loaded.security_rate == 0.4
    assert loaded.regression_prompt == "refactor-gen"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"anomaly_hours": [], "surprise": 1}', "surprise"),
        ('{"regression_at": "not a date"}', "regression_at"),
        ('{"regression_prompt": "nope-gen"}', "regression_prompt"),
        ('{"timeout_rate": "high"}', "timeout_rate"),
        ("[1, 2]", "object"),
    ],
)
def test_scenario_rejects_bad_json(tmp_path, text, message):
    path = tmp_path / "scenario.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Scenario.from_json(path)


def test_effects_come_from_the_text():
    for text in BASELINE_PROMPTS.values():
        assert text_effects(text) is None
    assert text_effects(release_text("refactor-gen")) is None
    assert text_effects("Always parameterize queries.") == {"security_rate_factor": 0.2}
    assert text_effects("Split long jobs into smaller steps.") == {"timeout_rate_factor": 0.5}
    assert text_effects("[harmful] do it anyway") == {"success_delta": -0.15}


# ----------------------------------------------------------------------------- registry


@pytest.fixture
def store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    return url


def versions(url: str, prompt_id: str) -> list[int]:
    with transaction(connect(url)) as session:
        return list(
            session.scalars(
                select(PromptVersion.version)
                .where(PromptVersion.prompt_id == prompt_id)
                .order_by(PromptVersion.version)
            )
        )


def test_publishes_baselines_and_the_release_once(tmp_path, store):
    early = Window.parse("2026-11-10T00:00", "2026-11-10T02:00")
    crossing = Window.parse("2026-11-18T22:00", "2026-11-19T02:00")
    simulate(tmp_path / "a", early, rate=50, seed=1, store_url=store)
    with transaction(connect(store)) as session:
        assert session.scalar(select(func.count()).select_from(Prompt)) == len(PROMPT_IDS)
        assert registry.current(session, "refactor-gen").text == BASELINE_PROMPTS["refactor-gen"]

    simulate(tmp_path / "b", crossing, rate=200, seed=1, store_url=store)
    simulate(tmp_path / "b", crossing, rate=200, seed=1, store_url=store)
    simulate(tmp_path / "c", early, rate=50, seed=1, store_url=store)
    assert versions(store, "refactor-gen") == [1, 2]
    assert all(versions(store, pid) == [1] for pid in PROMPT_IDS if pid != "refactor-gen")
    with transaction(connect(store)) as session:
        release = registry.current(session, "refactor-gen")
        assert release.version == 2
        assert release.text == release_text("refactor-gen")
        assert release.created_at == datetime(2026, 11, 19, tzinfo=UTC)

    cut = datetime(2026, 11, 19, tzinfo=UTC)
    for event in read_events(tmp_path / "b"):
        if event["prompt_id"] == "refactor-gen":
            expected = 2 if parse_timestamp(event["timestamp"]) >= cut else 1
            assert event["prompt_version"] == expected
    # With the store in the same state as the default, the files are the same.
    simulate(tmp_path / "d", crossing, rate=200, seed=1)
    assert read_events(tmp_path / "d") == read_events(tmp_path / "b")


def start_experiment(
    tmp_path: Path, store: str, window: Window, prompt_id: str, variant_text: str, **fields
) -> int:
    """Publish the baselines (a setup hour), add ``variant_text`` to ``prompt_id`` and A/B test it.

    The experiment starts at ``window.start``; ``fields`` override
    ``tests.factories.experiment``'s (``id`` names it). Returns the variant's version.
    """
    simulate(tmp_path / "setup", Window.hour_of(window.start), rate=1, seed=1, store_url=store)
    with transaction(connect(store)) as session:
        variant = registry.add_version(
            session, prompt_id, variant_text, at=window.start, reason="test variant", make_current=False
        )
        fields |= {"prompt_id": prompt_id, "variant_version": variant.version, "planned_n_per_arm": 1000}
        session.add(factories.experiment(window.start, **fields))
        return variant.version


def test_running_experiment_splits_traffic_and_the_variant_works(tmp_path, store):
    window = Window.parse("2026-11-10T00:00", "2026-11-11T00:00")
    variant_text = (
        BASELINE_PROMPTS["api_endpoint-gen"] + "\nAlways parameterize queries; never build SQL from strings."
    )
    version = start_experiment(
        tmp_path,
        store,
        window,
        "api_endpoint-gen",
        variant_text,
        id="exp-sqli",
        improvement_id="imp-sqli",
        assignment_unit="user",
        primary_metric="success",
    )

    landing = tmp_path / "landing"
    report = simulate(landing, window, rate=600, seed=3, store_url=store, scenario=NO_ANOMALY)
    events = read_events(landing)
    for event in events:
        validate(event)
    api = [e for e in events if e["prompt_id"] == "api_endpoint-gen"]
    others = [e for e in events if e["prompt_id"] != "api_endpoint-gen"]
    assert all(e["experiment_id"] is None and e["arm"] is None for e in others)
    assert all(e["experiment_id"] == "exp-sqli" for e in api)
    arms = Counter(e["arm"] for e in api)
    assert report.experiment_events == {"exp-sqli": dict(arms)}
    assert 0.35 < arms["variant"] / len(api) < 0.65
    for event in api:
        assert event["prompt_version"] == (version if event["arm"] == "variant" else 1)
        assert event["arm"] == registry.assign_arm("exp-sqli", event["execution_id"], 0.5)

    control = [e for e in api if e["arm"] == "control" and hot(e)]
    treated = [e for e in api if e["arm"] == "variant" and hot(e)]
    assert min(len(control), len(treated)) > 300
    assert rate(control, has_sqli) > 0.15
    assert rate(treated, has_sqli) < 0.5 * rate(control, has_sqli)

    truth = json.loads((landing / "ground_truth.json").read_text())
    assert truth["experiments"]["exp-sqli"]["variant_effect"] == {"security_rate_factor": 0.2}
    assert truth["experiments"]["exp-sqli"]["control_effect"] is None


def test_malformed_records_are_planted_at_the_rate_and_break_the_contract(tmp_path):
    from aitl.ingest.contract import ContractError, decode

    window = Window.parse("2026-11-18T12:00", "2026-11-18T15:00")
    report = simulate(tmp_path, window, rate=600, seed=5, scenario=Scenario(malformed_rate=0.02))
    clean = simulate(tmp_path / "clean", window, rate=600, seed=5)
    assert report.events == clean.events and clean.malformed == 0
    assert 0.01 * report.events < report.malformed < 0.03 * report.events
    broken = {}
    for hour in window.hours():
        for line in (landing_hour_dir(tmp_path, hour) / "sim-5.jsonl").read_bytes().splitlines():
            try:
                decode(line)
            except ContractError as exc:
                broken[exc.field] = broken.get(exc.field, 0) + 1
    assert sum(broken.values()) == report.malformed
    assert set(broken) == {"event", "success", "session_id"}
