"""Reading a source table hour by hour, through the same manifest as landing files.

A run reads its own hour's rows and those of the previous ``allowed_lateness``
hours whose row count changed since they were last read (rows inserted late
for an earlier hour), so every row is stored in its own hour whichever run
finds it. The count per hour is recorded in ``ingested_files`` under the path
``sql:<table>/<hour>``; a row changed in place, the count unchanged, is read
again only by running its hour's collect after the manifest row is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.orm import Session

from aitl.ids import stable_id
from aitl.ingest.collector import Collector, paused_gc
from aitl.ingest.readers import read_sql_source
from aitl.store.database import connect
from aitl.store.locks import advisory_lock
from aitl.store.models import IngestedFile
from aitl.store.writes import replace
from aitl.window import HOUR, Window


def _row_count(url: str, table_name: str, hour: datetime) -> int:
    engine = connect(url)
    table = Table(table_name, MetaData(), autoload_with=engine)
    ts = table.c["timestamp"]
    start, end = hour.replace(tzinfo=None), (hour + HOUR).replace(tzinfo=None)
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(ts >= start, ts < end)))


def collect_source_table(
    session: Session,
    collector: Collector,
    url: str,
    table_name: str,
    hours: Iterable[datetime],
    now: datetime,
) -> None:
    """Feed the rows of the hours whose count changed since they were last read to ``collector``."""
    manifest = IngestedFile.__table__
    for hour in hours:
        path = f"sql:{table_name}/{hour:%Y-%m-%dT%H}"
        key = stable_id("source-table", path)
        advisory_lock(session, "landing-file", key)
        rows = _row_count(url, table_name, hour)
        known = session.execute(select(IngestedFile.size).where(IngestedFile.path_key == key)).scalar()
        if known == rows:
            continue
        with paused_gc():
            for record in read_sql_source(url, table_name, Window(hour, hour + HOUR)):
                collector.add(record)
        entry = {
            "path_key": key,
            "path": path,
            "size": rows,
            "mtime_ns": 0,
            "offset": rows,
            "lines": rows,
            "prefix_sha256": "",
            "window_start": collector.own.start,
            "read_at": now,
        }
        replace(session, manifest, manifest.c.path_key == key, [entry])
