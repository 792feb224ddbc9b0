"""Findings a person can trust (issue 12): a null week, and the planted causes, through the real cycles.

* **null week**: a week of traffic with every planted effect off
  (``aitl simulate --scenario null``) through the full hourly cycle for every
  hour and the daily cycle for every day from the third on; insights observed
  per day (by level and kind) and improvements launched. Targets: at most 2
  insights a day and at most 1 improvement launched a week;
* **planted causes** (default scenario): each found, and reported as exactly
  one insight at its segment (security hotspot, complex tasks' timeouts, the
  anomalous hour as one incident, the prompt regression in the hourly runs
  after it ships). Target: 4/4 and 4/4;
* **drawn causes**: the null scenario plus 8 failure causes drawn from the
  seed (any taxonomy indicator, on a random prompt and, for half of them, one
  language; docs/simulator.md), three days through every hourly cycle and
  every day's daily cycle: each cause scored as above, over the insights
  that stand on their own (superseded hourly ones are part of the day's) and
  over the daily cycle's alone, and the insights about none of them counted;
* **outcome-only hour**: an hour whose events report no error type and no
  indicator, through the hourly cycle: pattern extraction stops, and planning
  (models, tiers, resources) must still run.

Seeds not used in development (51-57). The measuring code is
``aitl.sim.discovery``; its short versions are in the tests. Recorded through
bench/writer.py (BENCHMARKS.md and bench/results/findings.jsonl).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from writer import Column, Target, record

from aitl.sim.discovery import drawn_run, null_run, outcome_only_hour, planted_run
from aitl.window import Window

NULL_WEEK = Window(datetime(2026, 11, 11, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC))
PLANTED = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
DRAWN = Window(datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
DRAWN_CAUSES = 8
OUTCOME_HOUR = Window(datetime(2026, 11, 18, 14, tzinfo=UTC), datetime(2026, 11, 18, 15, tzinfo=UTC))
OUTCOME_RATE = 2000  # one hour: enough executions per model and tier to compare
RATE = 400
COLUMNS = (
    Column("run", "{run}", text=True),
    Column("seed", "{seed}"),
    Column("result", "{result}", text=True),
    Column("detail", "{detail}", text=True),
)


def tally(causes: list[dict]) -> tuple[int, int, int, int]:
    """Drawn causes found; one standing insight at their segment; so by the daily cycle; filed once."""
    return (
        sum(c["found"] for c in causes),
        sum(c["exactly_one_at_segment"] for c in causes),
        sum(c["daily"]["exactly_one_at_segment"] for c in causes),
        sum(c["filed"] == 1 for c in causes),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null-seeds", type=int, nargs="+", default=[51, 52])
    parser.add_argument("--planted-seeds", type=int, nargs="+", default=[53, 54])
    parser.add_argument("--drawn-seeds", type=int, nargs="+", default=[56, 57])
    args = parser.parse_args()
    rows, started = [], time.perf_counter()
    nulls = []
    for seed in args.null_seeds:
        result = null_run(NULL_WEEK, rate=RATE, seed=seed)
        nulls.append(result)
        rows.append(
            {
                "run": "null week",
                "seed": seed,
                "result": f"{result['insights_per_day']:.2f} insights/day "
                f"(max {result['max_insights_in_a_day']}), {result['launched_per_week']:.1f} launched/week",
                "detail": f"per day by kind: {result['by_kind_per_day']}; "
                f"launched: {result['launched_types']}",
            }
        )
    planted = []
    for seed in args.planted_seeds:
        causes = planted_run(PLANTED, rate=RATE, seed=seed)
        planted.append(causes)
        found = sum(c["found"] for c in causes)
        once = sum(c["exactly_one_at_segment"] for c in causes)
        rows.append(
            {
                "run": "planted causes",
                "seed": seed,
                "result": f"found {found}/{len(causes)}, exactly one at its segment {once}/{len(causes)}",
                "detail": "; ".join(
                    f"{c['cause']}: {c['insights']} insight(s) {c['segments']}" for c in causes
                ),
            }
        )
    drawn = []
    for seed in args.drawn_seeds:
        result = drawn_run(DRAWN, rate=RATE, seed=seed, causes=DRAWN_CAUSES)
        drawn.append(result)
        causes = result["causes"]
        found, once, daily_once, filed_once = tally(causes)
        each = [
            f"{c['cause']}: {c['insights']} insight(s) {c['segments']}"
            + (f", superseded {c['superseded']}" if c["superseded"] else "")
            for c in causes
        ]
        rows.append(
            {
                "run": "drawn causes",
                "seed": seed,
                "result": f"found {found}/{len(causes)}, exactly one at its segment {once}/{len(causes)} "
                f"(daily cycle: {daily_once}/{len(causes)}; one filed, none superseded: "
                f"{filed_once}/{len(causes)}); {result['other_insights']} other insight(s)",
                "detail": "; ".join(each) + f"; other: {result['other_kinds']}",
            }
        )
    outcomes = outcome_only_hour(OUTCOME_HOUR, rate=OUTCOME_RATE, seed=55)
    planning_ran = outcomes["planned"] is not None
    rows.append(
        {
            "run": "outcome-only hour",
            "seed": 55,
            "result": f"plan_actions {'ran' if planning_ran else 'did not run'}: {outcomes['planned']}",
            "detail": f"stages: {outcomes['stages']}",
        }
    )
    per_day = max(r["insights_per_day"] for r in nulls)
    per_week = max(r["launched_per_week"] for r in nulls)
    all_found = all(c["found"] for run in planted for c in run)
    all_once = all(c["exactly_one_at_segment"] for run in planted for c in run)
    drawn_causes = [c for run in drawn for c in run["causes"]]
    drawn_found, drawn_once, drawn_daily, drawn_filed = tally(drawn_causes)
    record(
        "findings",
        rows,
        title="Findings on a null week and on planted causes (`bench/findings.py`)",
        columns=COLUMNS,
        notes=f"{RATE} events/hour. Null week {NULL_WEEK} (insights counted on the days the daily cycle ran, "
        f"from the third); planted causes {PLANTED}; drawn causes {DRAWN}. "
        f"{time.perf_counter() - started:.0f} s.",
        targets=(
            Target(
                "insights per day on a null week <= 2 (worst seed)", "#12", f"{per_day:.2f}", per_day <= 2
            ),
            Target(
                "improvements launched a week on a null week <= 1 (worst seed)",
                "#12",
                f"{per_week:.1f}",
                per_week <= 1,
            ),
            Target(
                "planted causes found, and each exactly one insight at its segment",
                "#12",
                f"found {'all' if all_found else 'not all'}, once {'all' if all_once else 'not all'} "
                f"({len(planted)} seeds)",
                all_found and all_once,
            ),
            Target(
                f"drawn causes ({DRAWN_CAUSES} a seed): found, and each exactly one insight at its segment",
                "#12",
                f"found {drawn_found}/{len(drawn_causes)}, once {drawn_once}/{len(drawn_causes)} "
                f"(daily cycle alone {drawn_daily}/{len(drawn_causes)}; one filed, none superseded "
                f"{drawn_filed}/{len(drawn_causes)}; {len(drawn)} seeds)",
                drawn_found == drawn_once == len(drawn_causes),
            ),
            Target(
                "hourly cycle with events that carry no error types: model comparison runs",
                "#12",
                "yes" if planning_ran else "no",
                planning_ran,
            ),
        ),
        params={
            "rate": RATE,
            "null_seeds": args.null_seeds,
            "planted_seeds": args.planted_seeds,
            "drawn_seeds": args.drawn_seeds,
        },
        details={"null": nulls, "planted": planted, "drawn": drawn, "outcome_only": outcomes},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
