"""Storage cost per million events, table by table, in SQLite and PostgreSQL (issue 13, item 6).

Simulates a day of traffic (with the default share of broken records, so the
quarantine has rows), runs the hourly ``collect`` and ``normalize`` for every
hour and the daily cycle, then measures each table with its indexes: SQLite's
``dbstat`` pages, PostgreSQL's ``pg_total_relation_size``. Divided by the
events stored, that is what a million events cost in each table: the raw
``events`` and ``quarantine`` are what retention prunes (operations.md,
"Retention"); the rest is what it keeps.

PostgreSQL is measured when ``--pg-url`` (or ``AITL_TEST_PG_URL``) names a
database whose schema may be dropped. Recorded through bench/writer.py
(BENCHMARKS.md and bench/results/storage.jsonl).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from writer import Column, record

from aitl.config import Settings
from aitl.pipeline.runner import run_cycle, run_window
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, upgrade
from aitl.store.models import Base
from aitl.window import Window

DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
RATE = 4000
COLUMNS = (
    Column("table", "{table}", text=True),
    Column("SQLite MB / M events", "{sqlite:.1f}"),
    Column("PostgreSQL MB / M events", "{postgresql:.1f}"),
    Column("pruned by retention", "{pruned}", text=True),
)
PRUNED = {"events", "quarantine"}


def sqlite_sizes(url: str) -> dict[str, int]:
    """Bytes per table with its indexes, from SQLite's ``dbstat`` pages."""
    with connect(url).connect() as connection:
        owner = dict(connection.execute(text("SELECT name, tbl_name FROM sqlite_master")).all())
        sizes: dict[str, int] = {}
        for name, size in connection.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + int(size)
    return sizes


def postgres_sizes(url: str) -> dict[str, int]:
    """Bytes per table with its indexes and TOAST, from ``pg_total_relation_size``."""
    with connect(url).connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT pg_total_relation_size('\"{table}\"')")).scalar_one())
            for table in Base.metadata.tables
        }


def fill(url: str, work: Path) -> int:
    """A simulated day through the hourly summaries and the daily cycle; the events stored."""
    upgrade(url)
    settings = Settings(store_url=url, landing_dir=work / "landing")
    simulate(settings.landing_dir, DAY, rate=RATE, seed=71, scenario=Scenario(malformed_rate=0.01))
    for _ in run_window(DAY, settings, ("collect", "normalize")):
        pass
    run_cycle(DAY, settings, level="daily")
    with connect(url).connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())


def reset_postgres(url: str) -> None:
    with connect(url).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("AITL_TEST_PG_URL"))
    args = parser.parse_args()
    per_million: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="aitl-storage-") as work:
        url = f"sqlite:///{Path(work) / 'store.db'}"
        events = fill(url, Path(work) / "sqlite")
        per_million["sqlite"] = {t: b / events for t, b in sqlite_sizes(url).items()}
        if args.pg_url:
            reset_postgres(args.pg_url)
            pg_events = fill(args.pg_url, Path(work) / "postgresql")
            per_million["postgresql"] = {t: b / pg_events for t, b in postgres_sizes(args.pg_url).items()}
            reset_postgres(args.pg_url)
    tables = sorted(Base.metadata.tables, key=lambda t: -per_million["sqlite"].get(t, 0.0))
    rows = [
        {
            "table": table,
            "sqlite": per_million["sqlite"].get(table, 0.0),
            "postgresql": per_million.get("postgresql", {}).get(table),
            "pruned": "yes" if table in PRUNED else "",
        }
        for table in tables
        if per_million["sqlite"].get(table) or per_million.get("postgresql", {}).get(table)
    ]
    totals = {k: sum(v.values()) for k, v in per_million.items()}
    record(
        "storage",
        rows,
        title="Storage per million events, by table (`bench/storage.py`)",
        columns=COLUMNS,
        notes=f"A simulated day at {RATE} events/hour ({events:,} events stored, 1% broken records), hourly "
        f"collect and normalize, the daily cycle. Bytes per event, which is MB per million events. Total: "
        + ", ".join(f"{k} {v:.0f} MB / M events" for k, v in totals.items())
        + ". Raw events and quarantine are pruned after retention_days; the rest is kept. The summaries "
        "grow with segments x hours, not with events: at higher rates their cost per event falls, the "
        "raw events' does not.",
        params={"rate": RATE, "day": str(DAY), "postgresql": bool(args.pg_url)},
        details={"bytes_per_event": per_million, "events": events},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
