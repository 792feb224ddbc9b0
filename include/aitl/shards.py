"""Shards of an hour: how a sharded run splits one hour's work across workers.

A platform that outgrows one worker runs ``collect`` and ``summarize`` as
Airflow mapped tasks, one per shard (``hour_shards``), and ``normalize``
merges what they wrote:

* ``collect`` splits the hour's landing files: each file is read by one shard,
  so the manifest that reads every file exactly once (``ingested_files``)
  stays per file, and no two workers read the same bytes.
* ``summarize`` splits the hour's events by a hash of their session: a
  session's events all fall into one of ``GROUPS`` session groups, so session
  sequences and per-session sums never see half a session. Each shard
  summarises its groups, each group apart.
* ``normalize`` adds the groups' partial summaries up, group by group in
  group order. Floating-point addition is not associative; summing the same
  per-group partials in the same order makes a sharded hour's summaries
  identical, bit for bit, to an unsharded run's, whatever the shard count.

Standard library only: the DAG files import it at parse time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# A session's bucket (``events.session_bucket``) is stored at ingest; its
# session group is the bucket modulo GROUPS. Buckets outnumber groups so the
# group count could change without re-hashing the store.
BUCKETS = 4096
GROUPS = 32
MAX_SHARDS = GROUPS  # a shard holds at least one session group
# The column of a partial summary that says which session group it sums.
SESSION_GROUP = "session_group"


def session_bucket(session_id: str) -> int:
    """The session's bucket: a hash stable across processes, machines and versions (CRC-32)."""
    return zlib.crc32(session_id.encode()) % BUCKETS


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be 1 to {MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be 0 to {self.count - 1}, got {self.index}")

    @property
    def first(self) -> bool:
        """The shard that also does the hour's work that cannot be split (replay, a source table)."""
        return self.index == 0

    def label(self, stage: str) -> str:
        """The stage's name as a run records it: ``collect[2/4]`` for shard 2 of 4, plain when whole."""
        return stage if self.count == 1 else f"{stage}[{self.index + 1}/{self.count}]"

    def holds_file(self, relative_path: str) -> bool:
        """Whether this shard reads the landing file (by a hash of its path in the landing folder)."""
        return zlib.crc32(relative_path.encode()) % self.count == self.index

    def groups(self) -> list[int]:
        """The session groups whose events this shard summarises."""
        return [group for group in range(GROUPS) if group % self.count == self.index]


WHOLE = Shard(0, 1)


def shard_list(count: int) -> list[dict[str, int]]:
    """The mapped tasks' arguments for ``count`` shards (what the DAG expands over)."""
    Shard(0, count)  # refuses a bad count with its message
    return [{"index": index, "count": count} for index in range(count)]
