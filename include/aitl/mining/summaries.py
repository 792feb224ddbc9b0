"""An hour's summaries built a session group at a time, and merged by addition.

Normalization writes four additive tables per hour (``aitl.mining.rollups``).
Reading a busy hour's events at once would hold them all in memory (2.7 GB
at a million events). Instead the hour is read a few session groups at a time
(``aitl.shards``: a hash of the session, so no session is split), each group
summarised apart, and the groups' partial rows added up: memory is bounded by
a chunk, not the hour. A sharded run does the same, a shard per worker
(``summarize``), and ``normalize`` merges the shards' parts: because every
path sums the same per-group partials in group order, the result is the same
to the last bit however the hour was split.

Method: docs/statistics.md#sufficient-statistics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from aitl.mining.frequency import signal_counts
from aitl.mining.rollups import EVENT_COLUMNS, rollup_frame, session_sequences, user_frame
from aitl.shards import GROUPS, SESSION_GROUP
from aitl.store.models import Event, HourlyRollup, HourlySequence, HourlySignal, HourlyUser
from aitl.store.reads import events_frame
from aitl.store.writes import replace
from aitl.window import HOUR, Window

# Events read per chunk: about 150 MB of decoded events at today's columns.
CHUNK_EVENTS = 100_000
# Each summary table and how its rows are made from events.
BUILDERS = {
    HourlyRollup.__table__: rollup_frame,
    HourlySignal.__table__: signal_counts,
    HourlySequence.__table__: session_sequences,
    HourlyUser.__table__: user_frame,
}
LIST_COLUMNS = ("duration_hist",)  # added element by element


@dataclass(frozen=True)
class Summaries:
    """Partial rows of the four summary tables, per session group (``SESSION_GROUP`` column)."""

    frames: dict[str, pd.DataFrame]

    @classmethod
    def of(cls, events: pd.DataFrame) -> Summaries:
        """The events' summaries per session group (``events`` has a ``session_bucket`` column)."""
        grouped = events.assign(**{SESSION_GROUP: events["session_bucket"].to_numpy() % GROUPS})
        return cls({str(table.name): build(grouped) for table, build in BUILDERS.items()})

    @classmethod
    def concat(cls, parts: Iterable[Summaries]) -> Summaries:
        """The rows of several partial summaries together (not yet added up)."""
        parts = list(parts)
        frames = {}
        for table in BUILDERS:
            held = [p.frames[str(table.name)] for p in parts if len(p.frames[str(table.name)])]
            frames[str(table.name)] = pd.concat(held, ignore_index=True) if held else _empty(table)
        return cls(frames)

    def merged(self) -> dict[str, pd.DataFrame]:
        """One row per table key: the groups' partial rows added up, in group order."""
        return {str(table.name): _added(self.frames[str(table.name)], table) for table in BUILDERS}

    def to_bytes(self) -> bytes:
        """Column-wise JSON: exact for every integer and float (orjson writes floats round-trip)."""
        columns = {
            name: {
                column: (frame[column].map(_iso) if column == "hour" else frame[column]).tolist()
                for column in frame.columns
            }
            for name, frame in self.frames.items()
        }
        return orjson.dumps(columns)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Summaries:
        columns = orjson.loads(payload)
        frames = {}
        for name, values in columns.items():
            frame = pd.DataFrame(values)
            if "hour" in frame.columns:
                frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
            frames[name] = frame
        return cls(frames)


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _empty(table: Table) -> pd.DataFrame:
    return pd.DataFrame(columns=[*(c.name for c in table.columns), SESSION_GROUP])


def _added(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """The partial rows summed per primary key, adding groups in ascending order (bit-for-bit stable)."""
    keys = [column.name for column in table.primary_key]
    values = [c.name for c in table.columns if c.name not in keys and c.name not in LIST_COLUMNS]
    lists = [c.name for c in table.columns if c.name in LIST_COLUMNS]
    if frame.empty:
        return pd.DataFrame(columns=[c.name for c in table.columns])
    ordered = frame.sort_values([*keys, SESSION_GROUP], kind="stable", ignore_index=True)
    grouped = ordered.groupby(keys, sort=False)
    sums = grouped[values].sum()
    if lists:
        codes = grouped.ngroup().to_numpy()
        for column in lists:
            matrix = np.array(ordered[column].tolist(), dtype=np.int64)
            totals = np.zeros((len(sums), matrix.shape[1]), dtype=np.int64)
            np.add.at(totals, codes, matrix)
            sums[column] = totals.tolist()
    return sums.reset_index()


def group_counts(session: Session, hours: Sequence[datetime]) -> dict[str, dict[int, int]]:
    """Events per session group in each hour (ISO hour -> group -> events): chunk plans and staleness."""
    group = Event.session_bucket % GROUPS
    counts: dict[str, dict[int, int]] = {}
    for hour in hours:
        query = select(group, func.count()).where(Event.ts >= hour, Event.ts < hour + HOUR).group_by(group)
        counts[hour.isoformat()] = {int(g): int(n) for g, n in session.execute(query)}
    return counts


def chunks(sizes: dict[int, int], groups: Sequence[int], limit: int = CHUNK_EVENTS) -> list[list[int]]:
    """The groups cut into runs of at most ``limit`` events (a bigger group is a chunk of its own)."""
    cut: list[list[int]] = []
    current: list[int] = []
    held = 0
    for group in groups:
        size = sizes.get(group, 0)
        if not size:
            continue
        if current and held + size > limit:
            cut.append(current)
            current, held = [], 0
        current.append(group)
        held += size
    if current:
        cut.append(current)
    return cut


def summarise(
    session: Session, hours: Sequence[datetime], groups: Sequence[int], counts: dict[str, dict[int, int]]
) -> Summaries:
    """The hours' partial summaries of the given session groups, read a chunk of groups at a time."""
    parts = []
    for hour in hours:
        for chunk in chunks(counts[hour.isoformat()], groups):
            events = events_frame(session, Window(hour, hour + HOUR), EVENT_COLUMNS, groups=chunk)
            parts.append(Summaries.of(events))
    return Summaries.concat(parts)


def write(session: Session, hours: Sequence[datetime], summaries: Summaries) -> dict[str, int]:
    """Replace the hours' rows of every summary table by the merged summaries."""
    written = {}
    for name, frame in summaries.merged().items():
        table = next(t for t in BUILDERS if t.name == name)
        records = frame.to_dict("records")
        for record in records:
            record["hour"] = pd.Timestamp(record["hour"]).to_pydatetime()
        written[name] = replace(session, table, table.c.hour.in_(list(hours)), records)
    return written
