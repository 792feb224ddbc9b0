"""Benchmark: aitl.mining.sequences.mine against the reference ``prefixspan`` package (PyPI).

Usage: python bench/sequences.py [--sizes 100000 1000000] [--min-support 0.01]
                                 [--reference-max 100000] [--seed 7]

For each size N it generates N platform-like sessions (seeded), mines them with
``mine`` and with ``PrefixSpan(sessions).frequent(ceil(min_support * N))`` on the
same raw, non-deduplicated list of sessions (as a user would call it), asserts
that both return the same patterns with the same counts, and prints whole
wall-clock seconds and the speed-up. Sizes above ``--reference-max`` are timed
for ``mine`` only: the reference needs about 25 minutes for 1,000,000 sessions on
a 2-core machine (``--reference-max 1000000`` runs it anyway).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from prefixspan import PrefixSpan

from aitl.mining.sequences import min_count, mine

# Attempts per session, skewed like aitl.sim.simulate (most sessions succeed at once)
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


def cpu_model() -> str:
    """The CPU's name, for the table's header."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


COLUMNS = ("sessions", "unique", "patterns", "mine s", "prefixspan s", "speed-up")


def table_row(cells: tuple[str, ...]) -> str:
    """One Markdown table row, right-aligned like the numbers in it."""
    return "| " + " | ".join(f"{cell:>12}" for cell in cells) + " |"


def run(size: int, min_support: float, seed: int, with_reference: bool) -> str:
    """One table row; asserts identical output when the reference runs."""
    data = sessions(size, seed)
    unique = len({tuple(s) for s in data})
    found, ours_s = timed(ours, data, min_support)
    cells = (f"{size:,}", f"{unique:,}", f"{len(found):,}", f"{ours_s:.2f}")
    if not with_reference:
        return table_row((*cells, "-", "-"))
    expected, ref_s = timed(reference, data, min_count(min_support, size))
    assert found == expected, f"output differs from prefixspan at N={size}"
    return table_row((*cells, f"{ref_s:.2f}", f"{ref_s / ours_s:.0f}x"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--min-support", type=float, default=0.01)
    parser.add_argument("--reference-max", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lines = [
        f"\n#### Sequence mining against the prefixspan package ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n",
        f"{cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"prefixspan {version('prefixspan')}, min_support {args.min_support}, seed {args.seed}\n",
        table_row(COLUMNS),
        table_row(("-" * 11 + ":",) * len(COLUMNS)),
    ]
    print("\n".join(lines), flush=True)
    for size in args.sizes:
        lines.append(run(size, args.min_support, args.seed, size <= args.reference_max))
        print(lines[-1], flush=True)
    with (Path(__file__).resolve().parent.parent / "BENCHMARKS.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
