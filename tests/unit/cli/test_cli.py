"""The `aitl` command: the whole hourly cycle outside Airflow, and clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from aitl.cli.main import main
from aitl.store import connect, transaction
from aitl.store.models import HourlyRollup, Improvement, PipelineRun

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "include/aitl/ingest/schemas/feedback_event.schema.json"


def test_simulate_run_and_report(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    landing = str(tmp_path / "landing")
    window = ["--start", "2026-11-19T10:00", "--end", "2026-11-19T13:00"]
    assert main(["db", "upgrade", "--store", store]) == 0
    assert (
        main(["simulate", *window, "--rate", "600", "--seed", "3", "--landing", landing, "--store", store])
        == 0
    )
    simulated = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert simulated["hours"] == 3 and simulated["events"] > 1000
    assert main(["run", *window, "--landing", landing, "--store", store]) == 0
    hours = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["hour"] for h in hours] == [
        "2026-11-19T10:00:00+00:00",
        "2026-11-19T11:00:00+00:00",
        "2026-11-19T12:00:00+00:00",
    ]
    assert main(["report", *window, "--store", store, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hours_run"] == 3
    assert report["ingest"]["read"] == report["ingest"]["stored"] == simulated["events"]
    assert report["top_patterns"][0]["signal"] in {"sql injection", "timeout"}
    assert report["experiments"], "the planted SQL-injection pattern should launch an experiment"
    assert main(["report", *window, "--store", store]) == 0
    assert "AITL feedback cycle over" in capsys.readouterr().out


def test_schema_command_prints_the_published_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA_FILE.read_text())


DAY_WINDOW = ["--start", "2026-11-19T00:00", "--end", "2026-11-20T00:00"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "--start", "yesterday", "--end", "2026-11-19T13:00"], "--start/--end"),
        (["run", "--start", "2026-11-19T13:00", "--end", "2026-11-19T12:00"], "--start/--end"),
        (
            ["run", "--start", "2026-11-19T12:00", "--end", "2026-11-19T13:00", "--profile", "prod"],
            "--profile",
        ),
        (["simulate", "--start", "2026-11-19T12:00", "--end", "2026-11-19T13:00", "--rate", "-1"], "--rate"),
        (["run", *DAY_WINDOW[:2], "--end", "2026-11-19T13:00", "--level", "daily"], "--start/--end"),
        (["run", *DAY_WINDOW, "--threshold", "alpha"], "--threshold"),
        (["run", *DAY_WINDOW, "--threshold", "alpah=0.01"], "--threshold"),
        (["run", *DAY_WINDOW, "--threshold", "alpha=high"], "--threshold"),
        (["run", *DAY_WINDOW, "--threshold", "window_days=3", "--window-days", "2"], "--window-days"),
        (["run", *DAY_WINDOW, "--level", "daily", "--stages", "collect,wait"], "--stages"),
    ],
)
def test_bad_arguments_get_one_line_naming_them(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert named in err


def test_run_only_some_stages_brings_history_in(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    landing = str(tmp_path / "landing")
    window = ["--start", "2026-11-19T10:00", "--end", "2026-11-19T12:00"]
    assert main(["db", "upgrade", "--store", store]) == 0
    assert (
        main(["simulate", *window, "--rate", "200", "--landing", landing, "--store", store, "--no-registry"])
        == 0
    )
    capsys.readouterr()
    assert (
        main(["run", *window, "--landing", landing, "--store", store, "--stages", "collect,normalize"]) == 0
    )
    hours = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["stages"] for h in hours] == [["collect", "normalize"]] * 2


def test_the_daily_cycle_per_day_with_the_dags_params(tmp_path, capsys):
    """aitl run --level daily: one JSON line per day, the daily DAG's params as flags, recorded per run."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    landing = str(tmp_path / "landing")
    days = ["--start", "2026-11-18T00:00", "--end", "2026-11-20T00:00"]
    assert main(["db", "upgrade", "--store", store]) == 0
    assert main(["simulate", *days, "--rate", "150", "--landing", landing, "--store", store]) == 0
    assert main(["run", *days, "--landing", landing, "--store", store, "--stages", "collect,normalize"]) == 0
    capsys.readouterr()
    flags = ["--window-days", "2", "--sensitivity", "0.9", "--threshold", "min_frequency=4"]
    assert main(["run", *days, "--store", store, "--level", "daily", "--profile", "development", *flags]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["day"] for d in lines] == ["2026-11-18T00:00:00+00:00", "2026-11-19T00:00:00+00:00"]
    assert lines[-1]["stages"][:3] == ["collect", "normalize", "extract_patterns"]
    assert "prune" in lines[-1]["stages"] and lines[-1]["stops"].get("extract_patterns") is None
    with transaction(connect(store)) as session:
        run = session.scalars(
            select(PipelineRun).where(PipelineRun.level == "daily", PipelineRun.stage == "extract_patterns")
        ).all()
    assert len(run) == 2
    settings = run[-1].settings
    assert (settings["profile"], settings["window_days"], settings["sensitivity"]) == ("development", 2, 0.9)
    assert settings["min_frequency"] == 4


# --------------------------------------------------------------------------- store failures

WINDOW = ["--start", "2026-11-19T10:00", "--end", "2026-11-19T11:00"]


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    return line


@pytest.mark.parametrize(
    "argv",
    [
        ["run", *WINDOW],
        ["run", *WINDOW, "--dry-run"],
        ["report", *WINDOW],
        ["improvements"],
        ["review", "imp-1", "approve"],
        ["experiment", "stop", "exp-1"],
        ["publish"],
    ],
)
def test_an_unmigrated_store_is_one_line_saying_to_upgrade(argv, tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'never-upgraded.db'}"
    assert main([*argv, "--store", store]) == 1
    assert one_line(capsys) == f"aitl {argv[0]}: store {store} has no AITL tables: run `aitl db upgrade`"


def test_an_older_store_is_one_line_saying_to_upgrade(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["db", "upgrade", "--store", store, "--revision", "0002"]) == 0
    capsys.readouterr()
    assert main(["run", *WINDOW, "--store", store]) == 1
    assert one_line(capsys).endswith(": run `aitl db upgrade`")


def test_a_read_only_store_is_one_line_and_verbose_adds_the_traceback(tmp_path, capsys):
    assert main(["db", "upgrade", "--store", f"sqlite:///{tmp_path / 'store.db'}"]) == 0
    capsys.readouterr()
    read_only = f"sqlite:///file:{tmp_path / 'store.db'}?mode=ro&uri=true"
    assert main(["run", *WINDOW, "--store", read_only]) == 1
    line = one_line(capsys)
    assert line.startswith("aitl run: store sqlite:///") and " is read-only (" in line
    assert main(["--verbose", "run", *WINDOW, "--store", read_only]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.splitlines()[-1] == line


def test_an_unreachable_store_is_one_line_without_its_password(capsys):
    store = "postgresql://aitl:Pa55word-9@127.0.0.1:1/aitl"
    assert main(["db", "upgrade", "--store", store]) == 1
    line = one_line(capsys)
    assert line.startswith("aitl db: store postgresql://aitl:***@127.0.0.1:1/aitl cannot be reached (")
    assert main(["report", *WINDOW, "--store", store]) == 1
    assert "cannot be reached" in one_line(capsys)
    assert main(["--verbose", "report", *WINDOW, "--store", store]) == 1
    assert "Pa55word" not in capsys.readouterr().err


def test_a_store_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["db", "upgrade", "--store", f"sqlite:///{tmp_path / 'file' / 'aitl.db'}"]) == 1
    assert one_line(capsys).startswith("aitl db: File exists: ")


def test_a_bad_sink_url_is_named_without_its_password(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["db", "upgrade", "--store", store]) == 0
    capsys.readouterr()
    assert main(["publish", "--store", store, "--sink", "nosuch://aitl:Pa55word-9@db/x"]) == 2
    line = capsys.readouterr().err
    assert line.startswith("aitl publish: --sink: ") and "Pa55word" not in line


@pytest.mark.postgres
def test_a_bare_postgresql_url_works(tmp_path, capsys):
    from sqlalchemy.engine import make_url

    from tests.conftest import fresh_store

    bare = make_url(fresh_store("postgresql", tmp_path)).set(drivername="postgresql")
    store = bare.render_as_string(hide_password=False)
    assert main(["db", "upgrade", "--store", store]) == 0
    assert capsys.readouterr().out == f"store at {bare.render_as_string()} upgraded to head\n"
    assert main(["report", *WINDOW, "--store", store.replace("postgresql://", "postgres://"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hours_run"] == 0


def test_a_person_rolls_back_or_stops_an_experiment_from_the_command_line(tmp_path, capsys, monkeypatch):
    from datetime import UTC, datetime

    from aitl.loop import registry
    from aitl.store import connect, transaction
    from tests import factories

    store, sink = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "published.jsonl"
    monkeypatch.setenv("AITL_SINK_URL", str(sink))
    assert main(["db", "upgrade", "--store", store]) == 0
    started = datetime(2026, 11, 18, tzinfo=UTC)
    with transaction(connect(store)) as session:
        registry.ensure_registered(session, "p", "Write code.", at=started)
        for n in (1, 2):
            improvement = factories.improvement(started, id=f"imp-{n}", dedupe_key=f"k{n}", status="running")
            session.add(improvement)
            session.add(factories.experiment(started, id=f"exp-{n}", improvement_id=f"imp-{n}"))
    capsys.readouterr()
    assert (
        main(["experiment", "rollback", "exp-1", "--store", store, "--reviewer", "ana", "--note", "bad"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert (result["experiment_id"], result["status"], result["serve_version"]) == ("exp-1", "rolled_back", 1)
    assert result["published"]["delivered"] == 1
    assert main(["experiment", "stop", "exp-2", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "stopped"
    messages = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [(m["kind"], m["payload"]["experiment_id"], m["payload"]["decision"]) for m in messages] == [
        ("experiment_decision", "exp-1", "rolled_back"),
        ("experiment_decision", "exp-2", "stopped"),
    ]
    assert messages[0]["payload"]["reason"] == "manual rollback by ana: bad; control v1 served"
    assert messages[1]["payload"]["reason"] == "manual stop by cli; control v1 served"
    assert main(["experiment", "stop", "exp-1", "--store", store]) == 2
    assert one_line(capsys) == (
        "aitl experiment: experiment 'exp-1' is rolled_back: only a running one can be stopped or rolled back"
    )
    assert main(["experiment", "rollback", "exp-9", "--store", store]) == 2
    assert one_line(capsys) == "aitl experiment: experiment 'exp-9' does not exist"
    assert main(["experiments", "--status", "stopped", "--store", store, "--json"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == ["exp-2"]


def test_outcome_only_runs_go_in_and_the_better_model_is_recommended(tmp_path, capsys):
    """Agent-benchmark rows (identity, time, outcome, model, task; nothing measured): 0 quarantined,
    through aitl ingest, aitl run and aitl run --level daily, and a switch to the better model planned."""
    rng = np.random.default_rng(14)
    rates = {"model-a": 0.55, "model-b": 0.80, "model-c": 0.56}  # model-a is the most used
    shares = [0.6, 0.2, 0.2]
    rows = []
    for i in range(1500):
        model = str(rng.choice(list(rates), p=shares))
        at = datetime(2026, 11, 18, tzinfo=UTC) + timedelta(seconds=int(rng.integers(0, 2 * 86400)))
        rows.append(
            {
                "event_id": f"run-{i}",
                "execution_id": f"run-{i}",
                "session_id": f"task-{i}",
                "user_id": "benchmark",
                "timestamp": at.isoformat(),
                "success": bool(rng.random() < rates[model]),
                "model": model,
                "task_type": "bug_fix",
            }
        )
    export = tmp_path / "runs.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = f"sqlite:///{tmp_path / 'store.db'}"
    days = ["--start", "2026-11-18T00:00", "--end", "2026-11-20T00:00"]
    assert main(["db", "upgrade", "--store", store]) == 0
    capsys.readouterr()
    assert main(["ingest", str(export), "--store", store]) == 0
    ingested = json.loads(capsys.readouterr().out)
    assert (ingested["read"], ingested["stored"], ingested["quarantined"]) == (1500, 1500, 0)
    empty = str(tmp_path / "no-landing")
    assert main(["run", *days, "--store", store, "--landing", empty, "--stages", "collect,normalize"]) == 0
    assert main(["run", *days, "--store", store, "--level", "daily", "--landing", empty]) == 0
    daily = [json.loads(line) for line in capsys.readouterr().out.splitlines()[-2:]]
    assert all("extract_patterns" in d["stages"] for d in daily)
    with transaction(connect(store)) as session:
        rollups = session.execute(
            select(HourlyRollup.n, HourlyRollup.quality_n, HourlyRollup.duration_n)
        ).all()
        assert sum(r.n for r in rollups) == 1500 and not any(r.quality_n or r.duration_n for r in rollups)
    assert main(["run", *days[:2], "--end", "2026-11-18T01:00", "--store", store, "--landing", empty]) == 0
    with transaction(connect(store)) as session:
        switches = session.scalars(select(Improvement).where(Improvement.target_kind == "config")).all()
    assert [s.change.get("model") for s in switches if "model" in s.change] == ["model-b"]
