"""How complete the shown data was: the daily run's window, late events, skipped files, days to rerun."""

from __future__ import annotations

import html
import json
import os
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aitl.config import Settings, Thresholds
from aitl.ingest.readers import landing_hour_dir
from aitl.pipeline.runner import run_stage
from aitl.store import connect, transaction
from aitl.store.models import PipelineRun
from aitl.ui.completeness import DAILY_DAG, facts, rerun_command
from aitl.ui.dashboard import dashboard
from aitl.ui.page import render_html
from aitl.ui.report import render, summarize
from aitl.window import HOUR, Window
from tests.factories import event

DAY = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
H = DAY.start + 5 * HOUR
# A landing file's name is producer text: it reaches the page escaped.
HOSTILE_NAME = "<img src=x onerror=alert(1)>.jsonl"


def settings(url: str, landing: Path) -> Settings:
    return Settings(store_url=url, landing_dir=landing, thresholds=Thresholds.resolve())


def write(landing: Path, hour: datetime, name: str, n: int, prefix: str) -> None:
    path = landing_hour_dir(landing, hour) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    events = [event(hour + timedelta(minutes=i), event_id=f"{prefix}-{i}") for i in range(n)]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def run_hour(s: Settings, hour: datetime) -> None:
    for stage in ("collect", "normalize"):
        run_stage(stage, Window.hour_of(hour), s)


def model_of(url: str, window: Window) -> dict:
    with transaction(connect(url)) as session:
        return dashboard(session, window)


@pytest.fixture
def late_day(store_url, tmp_path) -> tuple[Settings, Path]:
    """Day DAY analysed by its daily run, then 3 events of its 05:00 landing late, and two files skipped."""
    landing = tmp_path / "landing"
    s = settings(store_url, landing)
    write(landing, H, "a.jsonl", 5, "a")
    run_hour(s, H)
    run_stage("collect", DAY, s, "daily")
    write(landing, H, "late.jsonl", 3, "late")
    folder = landing_hour_dir(landing, H + HOUR)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe.jsonl")
    os.mkfifo(folder / HOSTILE_NAME)
    run_hour(s, H + HOUR)  # stores the late file's events in 05:00 and re-normalizes it
    return s, landing


def test_a_day_with_late_events_is_shown_with_its_rerun_command(late_day):
    s, _ = late_day
    data = model_of(s.store_url, DAY)["completeness"]
    # The daily run's window ended two weeks before the clock: every hour of it was closed.
    assert data["daily"] == {
        "day": "2026-11-20",
        "ran_at": data["daily"]["ran_at"],
        "open_hours": 0,
        "complete": True,
        "allowed_lateness": "6h",
    }
    [late] = data["late_days"]
    assert (late["day"], late["hours"], late["command"]) == ("2026-11-20", 1, rerun_command(DAY.start.date()))
    assert late["last_at"] > late["analysed_at"]
    assert (data["late_events"], data["late_hours"], data["replayed"]) == (3, 1, 0)
    prefix = f"{H + HOUR:%Y-%m-%d/%H}"
    assert data["skipped"]["count"] == 2 and data["skipped"]["all_named"]
    assert [f["path"] for f in data["skipped"]["files"]] == [
        f"{prefix}/{HOSTILE_NAME}",
        f"{prefix}/pipe.jsonl",
    ]
    assert {f["reason"] for f in data["skipped"]["files"]} == {
        "not a regular file (a directory, FIFO or device)"
    }
    assert facts(data)[1:] == [
        "3 late events in 1 hour (stored by another hour's run)",
        "2 landing files skipped",
        "days with events since their daily run: 2026-11-20 (rerun them)",
    ]


def test_the_page_shows_the_days_to_rerun_and_the_skipped_files_escaped(late_day):
    s, _ = late_day
    model = model_of(s.store_url, DAY)
    page = render_html(model)
    assert "<img" not in page and html.escape(HOSTILE_NAME) in page
    assert "<h2>Days to rerun" in page and f"the DAG {DAILY_DAG}" in page
    command = model["completeness"]["late_days"][0]["command"]
    assert f'<pre class="cmd">{html.escape(command)}</pre>' in page
    assert "Data: daily run of 2026-11-20" in page and "its window was complete" in page
    assert "3 late events in 1 hour" in page and "skipped landing files (all shown" in page


def test_a_rerun_takes_the_day_off_the_list(late_day):
    s, _ = late_day
    run_stage("collect", DAY, s, "daily")
    model = model_of(s.store_url, DAY)
    assert model["completeness"]["late_days"] == []
    assert model["completeness"]["late_events"] == 3  # the hour's late events are still counted
    assert "Days to rerun" not in render_html(model)


def test_days_outside_the_window_are_not_shown(late_day):
    s, _ = late_day
    before = Window(DAY.start - timedelta(days=2), DAY.start)
    model = model_of(s.store_url, before)
    assert model["completeness"] == model_of(s.store_url, Window(DAY.end, DAY.end + HOUR))["completeness"]
    assert model["completeness"]["daily"] is None and model["completeness"]["late_days"] == []
    assert "Data:" not in render_html(model)  # nothing to say


def test_aitl_report_prints_the_same_facts(late_day):
    s, _ = late_day
    with transaction(connect(s.store_url)) as session:
        summary = summarize(session, DAY)
    json.dumps(summary)  # `aitl report --json`
    text = render(summary)
    line = next(ln for ln in text.splitlines() if ln.startswith("  completeness: "))
    assert line == "  completeness: " + "; ".join(facts(summary["completeness"]))
    assert f"    rerun 2026-11-20: {rerun_command(DAY.start.date())}" in text.splitlines()


def test_the_window_of_a_daily_run_near_the_clock_was_still_open(sqlite_url, tmp_path):
    today = Window.hour_of(datetime.now(UTC)).start.replace(hour=0)
    day = Window(today, today + timedelta(days=1))
    run_stage("collect", day, settings(sqlite_url, tmp_path / "landing"), "daily")  # no events: skipped
    data = model_of(sqlite_url, day)["completeness"]
    daily = data["daily"]
    assert daily["day"] == today.date().isoformat() and not daily["complete"] and daily["open_hours"] >= 7
    assert facts(data)[0].endswith(
        f"{daily['open_hours']} hours of its window still open for late data, allowed lateness 6h"
    )
    assert "still open for late data" in render_html(model_of(sqlite_url, day))


def test_a_daily_run_recorded_before_completeness_is_left_out(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.add(
            PipelineRun(
                level="daily",
                window_start=DAY.start,
                stage="collect",
                window_end=DAY.end,
                status="success",
                summary={"events": 10},
                settings={},
                duration_s=0.1,
                finished_at=DAY.end,
            )
        )
    assert model_of(sqlite_url, DAY)["completeness"]["daily"] is None


def hourly_collect(hour: datetime, skipped: dict[str, str], counted: int, replayed: int = 0) -> PipelineRun:
    return PipelineRun(
        level="hourly",
        window_start=hour,
        stage="collect",
        window_end=hour + HOUR,
        status="success",
        summary={"skipped": skipped, "skipped_files": counted, "replayed": replayed},
        settings={},
        duration_s=0.1,
        finished_at=hour + HOUR,
    )


def test_skipped_files_are_counted_once_and_at_least_when_some_go_unnamed(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.add(hourly_collect(H, {"x/a.jsonl": "too young"}, 1, replayed=2))
        session.add(hourly_collect(H + HOUR, {"x/a.jsonl": "FIFO", "x/b.jsonl": "FIFO"}, 2))
    data = model_of(sqlite_url, DAY)["completeness"]
    assert data["skipped"] == {
        "count": 2,
        "files": [{"path": "x/a.jsonl", "reason": "FIFO"}, {"path": "x/b.jsonl", "reason": "FIFO"}],
        "all_named": True,
    }
    assert data["replayed"] == 2 and "2 events replayed from the quarantine" in facts(data)
    # A run names 20 of the files it skipped and counts them all.
    with transaction(connect(sqlite_url)) as session:
        session.add(hourly_collect(H + 2 * HOUR, {f"y/{i}.jsonl": "FIFO" for i in range(20)}, 25))
    data = model_of(sqlite_url, DAY)["completeness"]
    assert (data["skipped"]["count"], data["skipped"]["all_named"]) == (25, False)
    assert "at least 25 landing files skipped" in facts(data)
    assert "skipped landing files (22 shown" in render_html(model_of(sqlite_url, DAY))


def test_the_rerun_command_triggers_the_daily_dag_for_that_day():
    words = shlex.split(rerun_command(DAY.start.date()))
    assert words[:5] == ["airflow", "dags", "trigger", DAILY_DAG, "--conf"] and len(words) == 6
    assert json.loads(words[5]) == {
        "window_start": "2026-11-20T00:00:00Z",
        "window_end": "2026-11-21T00:00:00Z",
    }
