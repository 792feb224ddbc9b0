"""The one writer of benchmark results: every bench/ script records its runs through ``record``.

``record(benchmark, rows, title=..., columns=...)`` does two things for one run:

* appends one JSON line to ``bench/results/<benchmark>.jsonl``, the history: the
  time (UTC), the git commit (short hash, ``+dirty`` when files differ from it,
  this writer's own outputs aside), the machine (CPU model, cores, RAM, Python,
  OS), the parameters, every row, the targets and any details;
* rewrites BENCHMARKS.md in place, which shows the latest run of each benchmark
  only: the benchmark's section between ``<!-- bench:NAME -->`` and
  ``<!-- /bench:NAME -->`` (a heading, notes, one table and a stamp line with
  the date, commit and machine; appended at the end when missing) and the
  benchmark's rows of the Targets table between ``<!-- targets -->`` and
  ``<!-- /targets -->``. Everything else in the file is left as it is.

The markdown rewrite is a pure function, ``rewrite(markdown, run)``.

``AITL_BENCH_OUT=DIR`` writes DIR/BENCHMARKS.md and DIR/bench/results/ instead
of the repository's: a trial run that should not replace the published results.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
MARKDOWN = "BENCHMARKS.md"
HISTORY = "bench/results"
TARGETS = ("<!-- targets -->", "<!-- /targets -->")
TARGET_HEADERS = ("target", "issue", "latest", "met", "run")
NEW_FILE = "# Benchmarks\n\nThe latest result of each benchmark (`bench/writer.py`).\n"


class Column(NamedTuple):
    """A table column: its header and its cell, a ``str.format`` template over a row.

    For example ``"{events:,}"`` or ``"{label} {rate:.3f}"``; a cell one of whose
    fields is missing or None reads "-". Cells are right-aligned (numbers) unless
    ``text``.
    """

    header: str
    cell: str
    text: bool = False


class Target(NamedTuple):
    """A target and where the latest run stands; ``met`` is None when the run did not measure it."""

    goal: str
    issue: str
    latest: str
    met: bool | None


@dataclass(frozen=True)
class Run:
    """One run of one benchmark: what goes to its history line and to its section of BENCHMARKS.md."""

    benchmark: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    notes: str = ""
    targets: Sequence[Target] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    commit: str | None = None
    machine: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.benchmark):
            raise ValueError(f"benchmark names are lower_snake_case: {self.benchmark!r}")

    def history(self) -> dict[str, Any]:
        """The run as one JSON object (one line of bench/results/<benchmark>.jsonl)."""
        return {
            "benchmark": self.benchmark,
            "time": self.time.astimezone(UTC).isoformat(timespec="seconds"),
            "commit": self.commit,
            "machine": dict(self.machine),
            "params": dict(self.params),
            "rows": [dict(row) for row in self.rows],
            "targets": [target._asdict() for target in self.targets],
            "notes": self.notes,
            "details": dict(self.details),
        }


# ---------------------------------------------------------------- the facts of a run


def git_commit(repo: Path = REPO) -> str | None:
    """HEAD's short hash, "+dirty" when tracked or untracked files differ (this writer's outputs aside)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", ".", f":(exclude){MARKDOWN}", f":(exclude){HISTORY}")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if changes else "")


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and OS of this machine."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    try:
        ram_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, OSError, ValueError):
        ram_gib = None
    return {
        "cpu": cpu or None,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }


# The commit of the code that runs: taken when a script imports this module, before it measures.
COMMIT = git_commit()


# ---------------------------------------------------------------- writing


def record(
    benchmark: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    columns: Sequence[Column],
    notes: str = "",
    targets: Sequence[Target] = (),
    params: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Run:
    """Record one run: a line in bench/results/<benchmark>.jsonl and its section of BENCHMARKS.md."""
    run = Run(
        benchmark=benchmark,
        title=title,
        columns=tuple(columns),
        rows=[dict(row) for row in rows],
        notes=notes.strip(),
        targets=tuple(targets),
        params=dict(params or {}),
        details=dict(details or {}),
        commit=COMMIT,
        machine=machine(),
    )
    save(run)
    print(section(run), flush=True)
    return run


def save(run: Run, out: Path | None = None) -> None:
    """Append the run to its history and rewrite BENCHMARKS.md (under AITL_BENCH_OUT or the repository)."""
    out = out or Path(os.environ.get("AITL_BENCH_OUT") or REPO)
    history = out / HISTORY / f"{run.benchmark}.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(run.history(), ensure_ascii=False, default=str) + "\n")
    markdown = out / MARKDOWN
    old = markdown.read_text(encoding="utf-8") if markdown.exists() else NEW_FILE
    partial = markdown.with_name(markdown.name + ".partial")
    partial.write_text(rewrite(old, run), encoding="utf-8")
    partial.replace(markdown)


# ---------------------------------------------------------------- the markdown, pure


def rewrite(markdown: str, run: Run) -> str:
    """BENCHMARKS.md with ``run`` as its benchmark's section and Targets rows; the rest unchanged."""
    start, end = markers(run.benchmark)
    block = f"{start}\n{section(run)}\n{end}"
    replaced = replace_block(markdown, start, end, block)
    if replaced is None:
        replaced = markdown.rstrip("\n") + "\n\n" + block + "\n"
    return with_targets(replaced, run)


def markers(benchmark: str) -> tuple[str, str]:
    return f"<!-- bench:{benchmark} -->", f"<!-- /bench:{benchmark} -->"


def replace_block(markdown: str, start: str, end: str, block: str) -> str | None:
    """``markdown`` with the text from ``start`` to ``end`` (both included) replaced; None without it."""
    begin = markdown.find(start)
    if begin < 0:
        return None
    finish = markdown.find(end, begin)
    if finish < 0:
        raise ValueError(f"{start} has no {end}")
    return markdown[:begin] + block + markdown[finish + len(end) :]


def section(run: Run) -> str:
    """The benchmark's section: heading, notes, the table and the stamp line."""
    parts = [f"### {run.title}"]
    if run.notes:
        parts.append(run.notes)
    parts.append(table(run.columns, run.rows))
    parts.append(stamp(run))
    return "\n\n".join(parts)


def stamp(run: Run) -> str:
    when = run.time.astimezone(UTC)
    return (
        f"Run {when:%Y-%m-%d %H:%M} UTC · commit {run.commit or 'not recorded'} · "
        f"{describe(run.machine)} · history: `{HISTORY}/{run.benchmark}.jsonl`"
    )


def describe(facts: Mapping[str, Any]) -> str:
    """The machine in a few words, from whichever facts are known."""
    parts = [
        facts.get("cpu") or facts.get("arch"),
        facts.get("cores") and f"{facts['cores']} cores",
        facts.get("ram_gib") and f"{facts['ram_gib']:.0f} GiB RAM",
        facts.get("python") and f"Python {facts['python']}",
        facts.get("os"),
    ]
    return ", ".join(str(part) for part in parts if part) or "machine not recorded"


def cell(template: str, row: Mapping[str, Any]) -> str:
    """``template`` filled from ``row``; "-" when a field it names is missing or None."""
    names = {re.split(r"[.\[]", name, maxsplit=1)[0] for _, name, _, _ in Formatter().parse(template) if name}
    if any(row.get(name) is None for name in names):
        return "-"
    return escape(template.format_map(row))


def escape(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    cells = [[cell(column.cell, row) for column in columns] for row in rows]
    return grid([escape(column.header) for column in columns], [column.text for column in columns], cells)


def grid(headers: Sequence[str], text: Sequence[bool], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table, cells padded to the column's width so that the source reads as a table too."""
    widths = [max(3, len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) if left else c.rjust(w) for c, w, left in zip(cells, widths, text, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if left else "-" * (w - 1) + ":" for w, left in zip(widths, text, strict=True)]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])


def split_row(line: str) -> list[str]:
    """The cells of one markdown table row (escaped pipes stay inside their cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def with_targets(markdown: str, run: Run) -> str:
    """The Targets table with ``run``'s benchmark's rows replaced by its targets (the others kept)."""
    start, end = TARGETS
    begin = markdown.find(start)
    rows: list[list[str]] = []
    if begin >= 0:
        finish = markdown.find(end, begin)
        if finish < 0:
            raise ValueError(f"{start} has no {end}")
        lines = [line for line in markdown[begin + len(start) : finish].splitlines() if line.startswith("|")]
        rows = [split_row(line) for line in lines[2:]]  # after the header and its rule
    elif not run.targets:
        return markdown

    def benchmark_of(row: list[str]) -> str | None:
        found = re.match(r"`([a-z0-9_]+)`", row[-1]) if row else None
        return found.group(1) if found else None

    mine = [i for i, row in enumerate(rows) if benchmark_of(row) == run.benchmark]
    others = [row for row in rows if benchmark_of(row) != run.benchmark]
    at = mine[0] if mine else len(others)  # where its rows were, else last
    when = f"`{run.benchmark}` {run.time.astimezone(UTC):%Y-%m-%d %H:%M}"
    met = {True: "yes", False: "**no**", None: "not measured"}
    new = [[escape(t.goal), escape(t.issue), escape(t.latest), met[t.met], when] for t in run.targets]
    rows = others[:at] + new + others[at:]
    block = f"{start}\n{grid(TARGET_HEADERS, [True] * len(TARGET_HEADERS), rows)}\n{end}"
    if begin >= 0:
        return replace_block(markdown, start, end, block) or markdown
    # No Targets yet: before the first section heading or benchmark, targets come first.
    first = re.search(r"^(## |<!-- bench:)", markdown, flags=re.MULTILINE)
    head, tail = (markdown[: first.start()], markdown[first.start() :]) if first else (markdown, "")
    return head.rstrip("\n") + "\n\n## Targets\n\n" + block + "\n\n" + tail.lstrip("\n")
