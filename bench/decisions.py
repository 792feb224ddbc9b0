"""The decision statistics and the closed loop, measured (issue #4).

* A/A: 400 experiments through the real daily decision look (5 at a time),
  false-decision rate (promoted or rolled back) with its Wilson interval;
* power: 200 experiments at +5 points of success rate (the planned minimum
  detectable effect, planned power 0.8), and at +3 points;
* harm: 200 experiments at -10 and -5 points: how often they are rolled back;
* the closed loop (``aitl evaluate loop``) over ``--weeks`` simulated weeks:
  the confusion matrix of true effect x decision and the daily success rate.

Prints the tables and appends them to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aitl.sim.evaluate import evaluate_experiments, run_loop

ROOT = Path(__file__).resolve().parent.parent


def experiments_table(scratch: Path) -> list[str]:
    runs = [("A/A", 0.0, 400, 1), ("power", 0.05, 200, 2), ("power", 0.03, 200, 3)]
    runs += [("harm", -0.10, 200, 4), ("harm", -0.05, 200, 5)]
    lines = [
        "| experiments | true effect | promoted | rolled back | inconclusive | rate | 95% CI "
        "| planned power |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for i, (name, effect, n, seed) in enumerate(runs):
        started = time.perf_counter()
        result = evaluate_experiments(
            f"sqlite:///{scratch / f'e{i}.db'}", experiments=n, seed=seed, effect=effect
        )
        d = result["decisions"]
        detail = result["false_decision"] if effect == 0 else result["power_detail"]
        label = "false decisions" if effect == 0 else ("promoted" if effect > 0 else "rolled back")
        planned = result["planned_power"] if result["planned_power"] is not None else "-"
        lines.append(
            f"| {n} {name} | {effect:+.2f} | {d['promoted']} | {d['rolled_back']} | {d['inconclusive']} "
            f"| {label} {detail['rate']:.3f} | [{detail['ci95'][0]:.3f}, {detail['ci95'][1]:.3f}] "
            f"| {planned} |"
        )
        print(lines[-1], f"({time.perf_counter() - started:.1f} s)", flush=True)
    return lines


def loop_table(scratch: Path, weeks: int, seed: int) -> list[str]:
    started = time.perf_counter()
    result = run_loop(
        scratch / "loop", days=7 * weeks, seed=seed, progress=lambda day: print(day, flush=True)
    )
    elapsed = time.perf_counter() - started
    (scratch / "loop.json").write_text(json.dumps(result, indent=2, default=str))
    decisions = ("promoted", "rolled_back", "inconclusive", "running")
    lines = [
        f"Closed loop: {weeks} simulated weeks at 1,000 events/h, seed {seed}, profile development, "
        f"default loop scenario; {len(result['decisions'])} experiments; {elapsed / 60:.1f} min.\n",
        "| truth \\ decision | " + " | ".join(decisions) + " |",
        "| --- | " + " | ".join("---:" for _ in decisions) + " |",
    ]
    for truth, row in result["confusion_matrix"].items():
        lines.append(f"| {truth} | " + " | ".join(str(row[d]) for d in decisions) + " |")
    daily = result["daily_success_rate"]
    lines += [
        "",
        "Platform success rate by day: "
        + ", ".join(f"{d['day'][5:]} {d['success_rate']:.3f}" for d in daily),
        "",
        "Experiments (true change in success rate -> decision): "
        + "; ".join(
            f"{e['prompt_id']} {e['true_change']:+.3f} {e['truth']} -> {e['decision']}"
            for e in result["decisions"]
        ),
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-loop", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aitl-bench-decisions-") as scratch:
        lines = [
            f"\n#### Decision statistics ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()})\n",
            "Synthetic experiments, success rate 0.75 in control, planned size for +5 points at 80% power, "
            "traffic reaching it in 5 daily looks, 5 experiments deciding side by side.\n",
            *experiments_table(Path(scratch)),
        ]
        if not args.skip_loop:
            lines += ["", *loop_table(Path(scratch), args.weeks, args.seed)]
    print("\n".join(lines))
    with (ROOT / "BENCHMARKS.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
