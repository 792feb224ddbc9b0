"""A deterministic simulator of the code-generation platform's feedback traffic: the entry point.

It exists to run the simulation over a window and write its files, the only
part of the simulator with side effects on the landing directory;
``aitl.sim.traffic`` generates each hour's events.

``simulate(landing, window, rate=..., seed=...)`` writes one JSONL file per hour
of the window to ``landing_hour_dir(landing, hour) / f"sim-{seed}.jsonl"``
(written to a temporary file and renamed, so re-simulating an hour replaces it
atomically) and ``landing / "ground_truth.json"`` describing what was planted
(``aitl.sim.ground_truth.truth_report``). Every event satisfies the
feedback-event contract, except the broken records the scenario asks for.

Determinism
    Each hour draws from its own ``numpy`` generator seeded by ``(seed, hour)``,
    and the user pool from ``seed`` alone, so the same (window, rate, seed,
    scenario, registry state) gives byte-identical files and simulating hours one
    at a time equals simulating them together. The unit of simulation is the
    whole hour: a window that starts or ends inside an hour simulates all of it.

Without ``store_url`` the platform serves its baseline prompts; with one it
serves (and first publishes to) the prompt registry (``aitl.sim.serving``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aitl.ingest.readers import landing_hour_dir
from aitl.sim.ground_truth import truth_report
from aitl.sim.scenario import Scenario
from aitl.sim.serving import default_serving, store_serving
from aitl.sim.traffic import corrupt, new_context, simulate_hour
from aitl.window import Window


@dataclass
class SimulationReport:
    """What ``simulate`` wrote: events (of them ``malformed``), sessions, files, hours, arms."""

    events: int = 0
    malformed: int = 0
    sessions: int = 0
    files: int = 0
    hours: int = 0
    experiment_events: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def simulate(
    landing: Path,
    window: Window,
    *,
    rate: float,
    seed: int,
    store_url: str | None = None,
    scenario: Scenario | None = None,
    files: int = 1,
) -> SimulationReport:
    """Write the window's simulated traffic into ``landing`` (see the module docstring).

    ``files`` > 1 deals each hour's lines over that many files, as many
    producers would land them: a session's events then lie in several files.
    """
    if not rate >= 0 or math.isinf(rate):
        raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
    if files < 1:
        raise ValueError(f"files must be at least 1, got {files!r}")
    scenario = scenario or Scenario()
    landing = Path(landing)
    serving = (
        store_serving(store_url, window, scenario) if store_url is not None else default_serving(scenario)
    )
    ctx = new_context(seed, float(rate), scenario, serving)

    report = SimulationReport()
    for hour in window.hours():
        data, events, sessions, arm_counts = simulate_hour(ctx, hour)
        data, malformed = corrupt(data, scenario.malformed_rate, seed, hour)
        report.malformed += malformed
        folder = landing_hour_dir(landing, hour)
        if files == 1:
            _write_atomic(folder / f"sim-{seed}.jsonl", data)
        else:
            lines = data.splitlines(keepends=True)
            for index in range(files):
                _write_atomic(folder / f"sim-{seed}-{index + 1}.jsonl", b"".join(lines[index::files]))
        report.hours += 1
        report.files += files
        report.events += events
        report.sessions += sessions
        for experiment_id, (control, variant) in arm_counts.items():
            counts = report.experiment_events.setdefault(experiment_id, {"control": 0, "variant": 0})
            counts["control"] += control
            counts["variant"] += variant

    truth = truth_report(scenario, serving, window, float(rate), seed)
    _write_atomic(landing / "ground_truth.json", orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    return report
