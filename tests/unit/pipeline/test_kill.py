"""kill -9 during collect or normalize: no partial rows, and the rerun is as if it had not happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aitl.ingest.readers import landing_hour_dir
from tests.airflow.test_hourly_dag import snapshot
from tests.conftest import fresh_store
from tests.factories import event

H = datetime(2026, 11, 20, 5, tzinfo=UTC)
EVENTS = 40_000
ROOT = Path(__file__).resolve().parents[3]

# Runs stages of hour H in a fresh process: prints "go" just before the stage
# to be killed, then how long each stage took.
STAGE_SCRIPT = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from aitl.config import Settings
from aitl.pipeline.runner import run_stage
from aitl.window import Window
url, landing, hour, *stages = sys.argv[1:]
settings = Settings(store_url=url, landing_dir=Path(landing))
window = Window.hour_of(datetime.fromisoformat(hour))
took = {}
for stage in stages:
    print("go", stage, flush=True)
    started = time.perf_counter()
    run_stage(stage, window, settings)
    took[stage] = time.perf_counter() - started
print(json.dumps(took), flush=True)
"""


def stages(url: str, landing: Path, *names: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'include'}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-c", STAGE_SCRIPT, url, str(landing), H.isoformat(), *names]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def kill_during(process: subprocess.Popen[str], stage: str, after_s: float) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.split() == ["go", stage]:
            break
    time.sleep(after_s)
    assert process.poll() is None, "the stage ended before the kill: make the hour larger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    folder = landing_hour_dir(root, H)
    folder.mkdir(parents=True)
    for part in range(4):
        rows = (
            event(H + timedelta(seconds=(i * 7) % 3600), event_id=f"k{part}-{i}", success=i % 5 != 0)
            for i in range(EVENTS // 4)
        )
        (folder / f"part-{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n")
    return root


@pytest.mark.parametrize("stage", ["collect", "normalize"])
def test_kill_9_mid_stage_leaves_nothing_and_the_rerun_is_identical(store_url, tmp_path, landing, stage):
    reference = fresh_store("sqlite", tmp_path / "reference")
    took = finish(stages(reference, landing, "collect", "normalize"))

    if stage == "normalize":
        finish(stages(store_url, landing, "collect"))
    before = snapshot(store_url)
    kill_during(stages(store_url, landing, stage), stage, took[stage] / 2)
    assert snapshot(store_url) == before  # no partial rows, no run record

    finish(stages(store_url, landing, *(["collect", "normalize"] if stage == "collect" else ["normalize"])))
    assert snapshot(store_url) == snapshot(reference)
