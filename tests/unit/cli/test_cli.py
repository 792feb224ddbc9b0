"""The `aitl` command: the whole hourly cycle outside Airflow, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitl.cli.main import main

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
