"""Impact of settings under day-to-day variation, measured by `aitl evaluate settings` (issue 11, item 1).

Each run applies setting changes one after another to a simulated platform in
a scratch store and judges each with the real daily impact look
(``aitl.loop.impact``) until it is kept or rolled back:

* no effect, at a task type's day-to-day SD of success rate of 1, 2 and 3
  points (duration 5, 10 and 15%): the share rolled back, which should be at
  most 5%, and the share with any significant metric at any look (the
  placebo's rejection rate, at most alpha);
* -10 points of success rate at the same SDs: the share rolled back (at least
  90%) and the median time from the change to the rollback.

Every run is the command itself (``aitl evaluate settings ... --output``), two
at a time. Recorded through bench/writer.py (BENCHMARKS.md and
bench/results/settings.jsonl).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from writer import Column, Target, record

DAY_SDS = (0.01, 0.02, 0.03)
HARM = -0.10
COLUMNS = (
    Column("change", "{condition}", text=True),
    Column("day SD (success, duration)", "{day_sd:.2f}, {duration_day_sd:.2f}"),
    Column("changes", "{experiments}"),
    Column("rolled back", "{rolled_back}"),
    Column("rate", "{rate:.3f}"),
    Column("95% CI", "[{ci_low:.3f}, {ci_high:.3f}]", text=True),
    Column("any metric significant", "{significant:.3f}"),
    Column("median days to rollback", "{median_days}"),
    Column("seed", "{seed}"),
)


def run(day_sd: float, effect: float, experiments: int, seed: int, scratch: Path) -> dict:
    """One `aitl evaluate settings` run, its JSON result as a row."""
    out = scratch / f"settings-{day_sd}-{effect}.json"
    command = [
        str(Path(sys.executable).with_name("aitl")),
        *("evaluate", "settings", "--experiments", str(experiments), "--seed", str(seed)),
        *("--day-sd", str(day_sd), "--effect", str(effect), "--output", str(out)),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    result = json.loads(out.read_text())
    row = {
        "condition": "no effect" if effect == 0 else f"{effect * 100:+.0f} points",
        "effect": effect,
        "day_sd": day_sd,
        "duration_day_sd": result["duration_day_sd"],
        "experiments": experiments,
        "seed": seed,
        "rolled_back": result["decisions"]["rolled_back"],
        "rate": result["rollback_rate"],
        "ci_low": result["rollback"]["ci95"][0],
        "ci_high": result["rollback"]["ci95"][1],
        "false_rollback_rate": result["false_rollback_rate"],
        "significant": result["significant_rate"]["rate"],
        "median_days": result["median_days_to_rollback"],
        "rolled_back_by": result["rolled_back_by"],
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def targets(rows: list[dict]) -> list[Target]:
    """Issue 11: at most 5% of harmless changes rolled back at each SD; at least 90% at -10 points."""
    null = [r for r in rows if r["effect"] == 0]
    harm = [r for r in rows if r["effect"] == HARM]

    def listed(group: list[dict]) -> str:
        return "; ".join(
            f"SD {r['day_sd']:.2f}: {r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" for r in group
        )

    return [
        Target(
            "settings under no effect, day SD 0.01 / 0.02 / 0.03: ≤ 5% rolled back each",
            "#11",
            listed(null),
            all(r["rate"] <= 0.05 for r in null) and len(null) == len(DAY_SDS),
        ),
        Target(
            "settings at -10 points: rolled back ≥ 90%",
            "#11",
            listed(harm),
            all(r["rate"] >= 0.90 for r in harm) and len(harm) == len(DAY_SDS),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=400, help="harmless changes per day SD")
    parser.add_argument("--harm-experiments", type=int, default=100, help="-10-point changes per day SD")
    parser.add_argument("--seed", type=int, default=1101, help="first seed; each run gets its own")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    plan = [(sd, 0.0, args.experiments) for sd in DAY_SDS] + [
        (sd, HARM, args.harm_experiments) for sd in DAY_SDS
    ]
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="aitl-bench-settings-") as scratch,
        ThreadPoolExecutor(args.jobs) as pool,
    ):
        futures = [
            pool.submit(run, sd, effect, n, args.seed + i, Path(scratch))
            for i, (sd, effect, n) in enumerate(plan)
        ]
        rows = [f.result() for f in futures]
    minutes = (time.perf_counter() - started) / 60
    record(
        "settings",
        rows,
        title="Impact of settings under day-to-day variation (`bench/settings.py`)",
        columns=COLUMNS,
        notes=(
            "`aitl evaluate settings`: one setting change after another on a simulated platform of five "
            "task types (about 120 executions per task type and hour, daily and weekly volume cycles, "
            "platform-wide swings), each judged by the daily impact look (days as the unit, t-test on "
            "daily task-type-minus-rest differences, alpha spending over 7 daily looks, Holm across "
            "success rate, error rate and duration) until kept or rolled back; applied at a random hour. "
            "The day SD is the changed task type's own day-to-day SD of success rate (duration: 5 times "
            "as much, relative), with as much again hour to hour. 'Any metric significant' is the share "
            "with a significant difference of any metric at any look, either way (at most alpha = 0.05 "
            f"when nothing changed). {minutes:.1f} min, {args.jobs} runs at a time."
        ),
        targets=targets(rows),
        params={
            "experiments": args.experiments,
            "harm_experiments": args.harm_experiments,
            "seed": args.seed,
        },
        details={"minutes": round(minutes, 2)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
