"""`make bench`: columnar ingest against its floors, in one run, on the same rows (issue 13, item 1).

One simulated hour (flat scenario, one JSONL file, ``AITL_BENCH_COLUMNAR_EVENTS`` events,
1,000,000 by default) is read chunk by chunk as ``collect`` reads it
(``aitl.ingest.columnar``), and each step is timed against its floor on the same rows:

(a) decode + validate (line splitting, the compiled reader's parse and contract checks, into
    Arrow columns of store values behind a DuckDB view) against DuckDB's own
    ``read_json_auto`` of the same file into a table (``CREATE TABLE AS SELECT *``), best of two rounds each;
(b) our insert into SQLite (session buckets joined, rows fetched, columns that hold one value in
    the whole chunk written into the statement, ``executemany`` with
    ``ON CONFLICT DO NOTHING``) against a bare ``executemany`` of the same final rows
    (read back from our store) into the same, fresh, table, on a connection with the store's
    settings (``sqlite_pragmas``: WAL; the 128 MiB page cache ``bulk_cache`` gives ingest);
(c) our insert into PostgreSQL (DuckDB writes CSV, ``COPY`` into a staging table,
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` counting what was inserted)
    against a bare ``COPY`` of the final rows into a fresh copy of the events table;

each as floor time / our time (1.0 = as fast as the floor), then the whole ``collect``
stage in events/s on SQLite and PostgreSQL. PostgreSQL: ``AITL_BENCH_PG_URL`` (a database
the bench may wipe; ``none`` skips it), else as root with the local cluster up the
database ``aitl_ingest_bench`` (owned by role ``aitl``) is created, used and dropped.
Recorded through bench/writer.py (BENCHMARKS.md, bench/results/ingest_columnar.jsonl).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from writer import Column, Target, record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))

EVENTS = int(os.environ.get("AITL_BENCH_COLUMNAR_EVENTS", "1000000"))
HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)
PG_DATABASE = "aitl_ingest_bench"
TARGETS = {"decode": 0.5, "sqlite": 0.8, "postgresql": 0.5}


def admin(sql: str) -> str:
    return subprocess.run(
        ["su", "postgres", "-c", f'psql -qtAc "{sql}"'],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()


def postgres_url() -> tuple[str | None, bool]:
    """A PostgreSQL database the bench may wipe, and whether the bench created it (and drops it)."""
    configured = os.environ.get("AITL_BENCH_PG_URL")
    if configured:
        return (None, False) if configured.lower() == "none" else (configured, False)
    if os.geteuid() != 0 or not shutil.which("su"):
        return None, False
    try:
        if admin("SELECT 1 FROM pg_roles WHERE rolname = 'aitl'") != "1":
            return None, False
        admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        admin(f"CREATE DATABASE {PG_DATABASE} OWNER aitl")
    except (OSError, subprocess.SubprocessError):
        return None, False
    return f"postgresql+psycopg2://aitl:aitl@127.0.0.1:5432/{PG_DATABASE}", True


def fresh(url: str) -> str:
    from sqlalchemy import create_engine, text

    from aitl.store import upgrade

    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)
    return url


def simulate_hour(landing: Path) -> Path:
    from aitl.sim.scenario import Scenario
    from aitl.sim.simulate import simulate
    from aitl.window import Window

    flat = Scenario(daily_amplitude=0.0, weekend_factor=1.0, anomaly_hours=())
    simulate(landing, Window(HOUR, HOUR + timedelta(hours=1)), rate=EVENTS, seed=1, scenario=flat, files=1)
    return next(landing.rglob("*.jsonl"))


def floor_decode(path: Path) -> float:
    from aitl.ingest.columnar import connect_duckdb

    con = connect_duckdb()
    started = time.perf_counter()
    con.execute(
        f"CREATE TEMP TABLE floor AS SELECT * FROM read_json_auto('{path}', format='newline_delimited')"
    )
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def chunks(path: Path) -> list[bytes]:
    from aitl.ingest.columnar import CHUNK_BYTES

    data = path.read_bytes()
    found, start = [], 0
    while start < len(data):
        cut = data.rfind(b"\n", start, start + CHUNK_BYTES) + 1
        cut = cut if cut > start else len(data)
        found.append(data[start:cut])
        start = cut
    return found


def restyle(path: Path, out: Path, seed: int = 13) -> Path:
    """The hour's events written as other producers write JSON, not as the simulator does.

    Python's default separators (``", "`` and ``": "``), keys in random order, full-precision
    floats (each measure times 1 + U(0, 1e-3): 16 to 17 significant digits, as ``repr`` writes
    them), ``errors`` items with their keys sorted (``message`` first) and half the timestamps
    with ``+00:00`` instead of ``Z``; written to ``out`` (outside the landing folder).
    """
    rng = random.Random(seed)
    with path.open("rb") as source, out.open("w") as target:
        for line in source:
            event = json.loads(line)
            for key, value in event.items():
                if isinstance(value, float) and key != "satisfaction":
                    event[key] = min(value * (1 + rng.random() * 1e-3), 1.0 if value <= 1 else value * 2)
            event["errors"] = [dict(sorted(item.items())) for item in event.get("errors") or []]
            if rng.random() < 0.5:
                event["timestamp"] = event["timestamp"].replace("Z", "+00:00")
            keys = list(event)
            rng.shuffle(keys)
            target.write(json.dumps({key: event[key] for key in keys}) + "\n")
    return out


def decode_round(parts: list[bytes]) -> tuple[float, int]:
    """Seconds to decode and check ``parts`` as ``collect`` does, and the lines read columnar."""
    from aitl.ingest.columnar import _line_ends, check_lines, connect_duckdb

    con = connect_duckdb()
    seconds, accepted = 0.0, 0
    for part in parts:
        started = time.perf_counter()
        accepted += check_lines(con, part, _line_ends(part), privacy="keep", accept=None).accepted
        seconds += time.perf_counter() - started
    con.close()
    return seconds, accepted


def decode(path: Path) -> dict[str, Any]:
    """Decode + validate against ``read_json_auto`` on ``path``: two rounds each, alternated."""
    parts = chunks(path)
    found: dict[str, Any] = {"floor": [], "ours": []}
    for _ in range(2):
        found["floor"].append(floor_decode(path))
        seconds, found["accepted"] = decode_round(parts)
        found["ours"].append(seconds)
    found["lines"] = sum(part.count(b"\n") for part in parts)
    return found


def measure(path: Path, pg: str | None, work: Path) -> dict[str, Any]:
    import sqlite3

    from aitl.ingest.collector import Collector, lateness_window, paused_gc
    from aitl.ingest.columnar import ColumnarReader, _line_ends, check_lines
    from aitl.store import connect, transaction
    from aitl.store.database import BULK_CACHE_KIB, sqlite_pragmas
    from aitl.window import Window

    parts = chunks(path)
    window = Window(HOUR, HOUR + timedelta(hours=1))
    accept = lateness_window(window, timedelta(hours=6))
    now = datetime.now(UTC)
    ours_db, floor_db = work / "ours.db", work / "floor.db"
    targets = {"sqlite": fresh(f"sqlite:///{ours_db}")}
    fresh(f"sqlite:///{floor_db}")
    if pg:
        targets["postgresql"] = fresh(pg)
    spent = dict.fromkeys(targets, 0.0)
    floor_sqlite = 0.0
    events = 0
    sessions = {name: transaction(connect(url)) for name, url in targets.items()}
    opened = {name: manager.__enter__() for name, manager in sessions.items()}
    collectors = {name: Collector(session, window, accept, now) for name, session in opened.items()}
    readers = {name: ColumnarReader(collector) for name, collector in collectors.items()}
    bare = sqlite3.connect(floor_db)
    sqlite_pragmas(bare)  # the store's settings, and the page cache a Collector inserts with: like for like
    bare.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    names = readers["sqlite"].names
    insert = f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    done = 0
    try:
        with paused_gc():  # as ``collect`` reads files (``aitl.ingest.files``)
            for part in parts:
                ends = _line_ends(part)
                for name, reader in readers.items():
                    check_lines(reader.con, part, ends, privacy="keep", accept=reader.accept)
                    started = time.perf_counter()
                    reader._write("landing:bench", [])
                    spent[name] += time.perf_counter() - started
                events += len(ends)
                opened["sqlite"].flush()
                rows = (
                    opened["sqlite"]
                    .connection()
                    .exec_driver_sql(f"SELECT {', '.join(names)} FROM events WHERE rowid > {done}")
                    .fetchall()
                )
                done += len(rows)
                started = time.perf_counter()
                bare.executemany(insert, rows)
                floor_sqlite += time.perf_counter() - started
                del rows
        bare.commit()
        reports = {name: collector.close().as_dict() for name, collector in collectors.items()}
        floor_pg = None
        if pg:
            cursor = opened["postgresql"].connection().connection.dbapi_connection.cursor()
            cursor.execute("CREATE TABLE events_floor (LIKE events INCLUDING ALL)")
            csv_path = work / "final.csv"
            with csv_path.open("wb") as handle:
                cursor.copy_expert(f"COPY events ({', '.join(names)}) TO STDOUT WITH (FORMAT csv)", handle)
            with csv_path.open("rb") as handle:
                started = time.perf_counter()
                cursor.copy_expert(
                    f"COPY events_floor ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", handle
                )
                floor_pg = time.perf_counter() - started
            cursor.execute("DROP TABLE events_floor")
    finally:
        for reader in readers.values():
            reader.close()
        for manager in sessions.values():
            manager.__exit__(None, None, None)
        bare.close()
    return {
        "events": events,
        "decode": decode(path),
        "restyled": decode(restyle(path, work / "restyled.jsonl")),
        "insert": spent,
        "floor_sqlite": floor_sqlite,
        "floor_pg": floor_pg,
        "reports": reports,
    }


def collect_rate(url: str, landing: Path, columnar: bool) -> tuple[float, dict[str, Any]]:
    """The whole ``collect`` stage on a fresh store: events/s, columnar or record by record."""
    from aitl.config import Settings
    from aitl.ingest.columnar import COLUMNAR_SWITCH
    from aitl.pipeline.runner import run_stage, stages_of
    from aitl.window import Window

    stages_of("hourly")
    os.environ[COLUMNAR_SWITCH] = "1" if columnar else "0"
    fresh(url)
    settings = Settings(store_url=url, landing_dir=landing)
    started = time.perf_counter()
    summary = run_stage("collect", Window(HOUR, HOUR + timedelta(hours=1)), settings).summary
    return summary["read"] / (time.perf_counter() - started), summary


def main() -> int:
    from aitl.ingest.columnar import CHUNK_BYTES

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="aitl-bench-columnar-"))
    pg, created = postgres_url()
    try:
        landing = work / "landing"
        path = simulate_hour(landing)
        found = measure(path, pg, work)
        rates = {}
        for columnar in (True, False):
            how = "columnar" if columnar else "record by record"
            sqlite = f"sqlite:///{work / f'collect-{how}.db'}"
            rates[f"SQLite, {how}"] = collect_rate(sqlite, landing, columnar)
            if pg:
                rates[f"PostgreSQL, {how}"] = collect_rate(pg, landing, columnar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            try:
                from aitl.store.database import connect

                connect(pg).dispose()
                admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
            except (OSError, subprocess.SubprocessError):
                pass
    events = found["events"]
    restyled = found["restyled"]
    rows = [
        step_row(
            "decode + validate",
            "DuckDB read_json_auto into a table",
            min(found["decode"]["floor"]),
            min(found["decode"]["ours"]),
            events,
        ),
        step_row(
            "decode + validate, restyled lines",
            "DuckDB read_json_auto into a table",
            min(restyled["floor"]),
            min(restyled["ours"]),
            restyled["lines"],
        ),
        step_row(
            "insert into SQLite", "bare executemany", found["floor_sqlite"], found["insert"]["sqlite"], events
        ),
    ]
    if pg:
        rows.append(
            step_row(
                "insert into PostgreSQL",
                "bare COPY",
                found["floor_pg"],
                found["insert"]["postgresql"],
                events,
            )
        )
    for store, (rate, summary) in rates.items():
        rows.append(
            {
                "step": f"whole collect stage, {store}",
                "floor": "-",
                "events": summary["read"],
                "ours_s": round(summary["read"] / rate, 2),
                "ours_rate": round(rate),
            }
        )
        print(
            json.dumps(
                {"store": store, "summary": {k: summary[k] for k in ("read", "stored", "quarantined")}}
            )
        )
    elapsed = time.perf_counter() - began
    record(
        "ingest_columnar",
        rows,
        title="Columnar ingest against its floors (`bench/ingest.py`)",
        columns=COLUMNS,
        notes=(
            f"One simulated hour of {events:,} events (flat scenario, one JSONL file) read in "
            f"{CHUNK_BYTES >> 20} MiB chunks as `collect` reads it; each step "
            "timed against its floor in the same run on the same rows (ratio = floor s / ours s; 1.0 = as "
            "fast as the floor). Decode: best of two rounds each; *restyled lines* are the same events "
            "written as other producers write JSON (Python's default separators, keys in random order, "
            "full-precision floats, `errors` keys sorted, `+00:00` offsets: `restyle`), of which "
            f"{restyled['accepted'] / restyled['lines']:.1%} were read columnar and the rest record by "
            "record. Inserts into fresh tables: SQLite's floor "
            "is a bare `executemany` of the stored rows (with the store's SQLite settings), PostgreSQL's a "
            "bare `COPY` of them into a copy of "
            f"the events table. The bench took {elapsed / 60:.1f} min on a shared 2-core machine."
        ),
        targets=targets(rows),
        params={"events": EVENTS, "hour": HOUR.isoformat(), "postgresql": pg is not None},
        details={
            "decode_rounds": found["decode"],
            "restyled": restyled,
            "reports": found["reports"],
            "bench_s": round(elapsed, 1),
        },
    )
    return 0


def step_row(step: str, floor: str, floor_s: float, ours_s: float, events: int) -> dict[str, Any]:
    return {
        "step": step,
        "floor": floor,
        "events": events,
        "floor_s": round(floor_s, 2),
        "ours_s": round(ours_s, 2),
        "floor_rate": round(events / floor_s),
        "ours_rate": round(events / ours_s),
        "ratio": round(floor_s / ours_s, 3),
    }


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    by_step = {row["step"]: row for row in rows}
    goals = [
        ("decode + validate", "decode", "columnar decode + validate ≥ 0.5x DuckDB's read_json_auto"),
        (
            "decode + validate, restyled lines",
            "decode",
            "the same, on lines written as other producers write JSON",
        ),
        ("insert into SQLite", "sqlite", "columnar insert into SQLite ≥ 0.8x a bare executemany"),
        ("insert into PostgreSQL", "postgresql", "columnar insert into PostgreSQL ≥ 0.5x a bare COPY"),
    ]
    found = []
    for step, key, goal in goals:
        row = by_step.get(step)
        latest = f"{row['ratio']:.2f}x ({row['events']:,} events)" if row else "not measured"
        found.append(Target(goal, "#13", latest, row["ratio"] >= TARGETS[key] if row else None))
    return found


COLUMNS = (
    Column("step", "{step}", text=True),
    Column("floor", "{floor}", text=True),
    Column("events", "{events:,}"),
    Column("floor s", "{floor_s:.2f}"),
    Column("ours s", "{ours_s:.2f}"),
    Column("floor events/s", "{floor_rate:,}"),
    Column("ours events/s", "{ours_rate:,}"),
    Column("ours / floor", "{ratio:.3f}"),
)


if __name__ == "__main__":
    sys.exit(main())
