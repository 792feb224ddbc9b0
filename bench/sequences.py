"""Benchmark: aitl.mining.sequences.mine against the reference ``prefixspan`` package (PyPI).

Usage: python bench/sequences.py [--sizes 100000 1000000] [--min-support 0.01]
                                 [--reference-max 100000] [--seed 7]

For each size N it generates N platform-like sessions (seeded), mines them with
``mine`` and with ``PrefixSpan(sessions).frequent(ceil(min_support * N))`` on the
same raw, non-deduplicated list of sessions (as a user would call it), asserts
that both return the same patterns with the same counts, and records whole
wall-clock seconds and the speed-up through bench/writer.py (BENCHMARKS.md and
bench/results/sequences.jsonl). Sizes above ``--reference-max`` are timed for
``mine`` only: the reference needs about 25 minutes for 1,000,000 sessions on a
2-core machine (``--reference-max 1000000`` runs it anyway).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from importlib.metadata import version

from prefixspan import PrefixSpan
from writer import Column, Target, record

from aitl.mining.sequences import min_count, mine

# Attempts per session, skewed like aitl.sim.traffic (most sessions succeed at once)
# with a longer tail of stubborn tasks.
ATTEMPTS = (1, 2, 3, 4, 5, 6, 7, 8)
ATTEMPT_P = (0.50, 0.22, 0.13, 0.07, 0.04, 0.02, 0.01, 0.01)
FAILURES = (
    "syntax_error",
    "test_failure",
    "runtime_error",
    "misunderstood_task",
    "timeout",
    "context_overflow",
    "validation_error",
)
FAILURE_P = (0.28, 0.24, 0.20, 0.10, 0.08, 0.05, 0.05)
FINAL_SUCCESS_P = 0.8
# The same failure tends to come back on the retry (the prompt did not change).
REPEAT_FAILURE_P = 0.4


def platform_session(rng: random.Random) -> list[str]:
    """One session: generate attempts until ok, each failure followed by a retry, or abandoned."""
    (attempts,) = rng.choices(ATTEMPTS, ATTEMPT_P)
    session: list[str] = []
    failure = None
    for attempt in range(attempts):
        session.append("generate")
        if attempt == attempts - 1 and rng.random() < FINAL_SUCCESS_P:
            session.append("ok")
            session.append("accept" if rng.random() < 0.9 else "reject")
            return session
        if failure is None or rng.random() >= REPEAT_FAILURE_P:
            (failure,) = rng.choices(FAILURES, FAILURE_P)
        session.append(failure)
        if failure == "misunderstood_task":
            session.append("edit_prompt")
        if attempt < attempts - 1:
            session.append("retry")
    session.append("abandon")
    return session


def sessions(n: int, seed: int) -> list[list[str]]:
    """``n`` seeded platform-like sessions."""
    rng = random.Random(seed)
    return [platform_session(rng) for _ in range(n)]


def timed(function, *args):
    """(result, whole wall seconds) of one call."""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def reference(data: list[list[str]], threshold: int) -> dict[tuple[str, ...], int]:
    """The reference package's frequent patterns as pattern -> count."""
    return {tuple(pattern): count for count, pattern in PrefixSpan(data).frequent(threshold)}


def ours(data: list[list[str]], min_support: float) -> dict[tuple[str, ...], int]:
    """aitl.mining.sequences' frequent patterns as pattern -> count."""
    return {pattern.sequence: pattern.count for pattern in mine(data, min_support)}


COLUMNS = (
    Column("sessions", "{sessions:,}"),
    Column("unique", "{unique:,}"),
    Column("patterns", "{patterns:,}"),
    Column("mine s", "{mine_s:.2f}"),
    Column("prefixspan s", "{prefixspan_s:.2f}"),
    Column("speed-up", "{speed_up:.0f}x"),
)


def run(size: int, min_support: float, seed: int, with_reference: bool) -> dict:
    """One row; asserts identical output when the reference runs (its columns are None when it does not)."""
    data = sessions(size, seed)
    unique = len({tuple(s) for s in data})
    found, ours_s = timed(ours, data, min_support)
    row = {"sessions": size, "unique": unique, "patterns": len(found), "mine_s": round(ours_s, 3)}
    row |= {"prefixspan_s": None, "speed_up": None, "identical": None}
    if with_reference:
        expected, ref_s = timed(reference, data, min_count(min_support, size))
        assert found == expected, f"output differs from prefixspan at N={size}"
        row |= {"prefixspan_s": round(ref_s, 3), "speed_up": round(ref_s / ours_s, 1), "identical": True}
    return row


def target(rows: list[dict]) -> Target:
    """Issue #3: identical to prefixspan (asserted) and at least 10x faster, at every size it ran."""
    checked = [r for r in rows if r["speed_up"] is not None]
    slowest = min(checked, key=lambda r: r["speed_up"], default=None)
    return Target(
        "sequence mining identical to `prefixspan` and ≥ 10x faster",
        "#3",
        f"identical, {slowest['speed_up']:.0f}x at {slowest['sessions']:,} sessions"
        if slowest
        else "reference not run",
        slowest["speed_up"] >= 10 if slowest else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--min-support", type=float, default=0.01)
    parser.add_argument("--reference-max", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        rows.append(run(size, args.min_support, args.seed, size <= args.reference_max))
        print(json.dumps(rows[-1]), flush=True)
    prefixspan = version("prefixspan")
    record(
        "sequences",
        rows,
        title="Sequence mining against the prefixspan package (`bench/sequences.py`)",
        columns=COLUMNS,
        notes=f"Seeded platform-like sessions (seed {args.seed}) mined at min_support {args.min_support} "
        f"by `aitl.mining.sequences.mine` and by prefixspan {prefixspan} on the same raw list, output "
        f"asserted identical; the reference runs up to {args.reference_max:,} sessions (`--reference-max`).",
        targets=[target(rows)],
        params={
            "sizes": args.sizes,
            "min_support": args.min_support,
            "reference_max": args.reference_max,
            "seed": args.seed,
            "prefixspan": prefixspan,
        },
    )


if __name__ == "__main__":
    main()
