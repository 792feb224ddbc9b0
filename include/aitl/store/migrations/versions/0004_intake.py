"""Intake that loses nothing: 64-bit counts, per-metric counts, a lossless quarantine, the manifest.

* events: ``size``, ``prompt_version`` and ``syntax_errors`` become 64-bit (the
  contract allows any int64); ``duration_s`` and ``quality_score`` nullable
  (outcome-only sources).
* hourly_rollups: counts 64-bit, token sums floating point (no sum overflows),
  and one ``n`` per optional metric. Rows written before this revision had
  every event count towards every metric (missing values summed as 0), so
  their per-metric counts are set to ``n``.
* quarantine: keyed by a hash of (source, locator) instead of the pair (long
  locators, and no collisions between hours), with ``raw_encoding``,
  ``header`` (CSV) and ``event_hour`` (records refused only as too late).
* ingested_files (the landing manifest) and late_arrivals (hours to re-normalize).
* hourly_rollups' log-duration sums become sums of log(duration + 0.01 s)
  instead of log(1 + duration): recomputed here from the events, so an
  experiment running across the upgrade compares like with like.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:52:09.916724
"""

import math
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import aitl.store.base
from aitl.ids import record_key

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_INTS = ("prompt_version", "size", "syntax_errors")
ROLLUP_INTS = (
    "prompt_version",
    "n",
    "successes",
    "error_events",
    "error_count",
    "security_events",
    "syntax_error_events",
    "satisfaction_n",
    "accepted_n",
    "accepted_count",
)
ROLLUP_COUNTS = ("duration_n", "quality_n", "tokens_in_n", "tokens_out_n", "cost_n")
TOKEN_SUMS = ("tokens_in_sum", "tokens_out_sum")


def _retype(
    batch_op, names: Sequence[str], old: sa.types.TypeEngine, new: sa.types.TypeEngine, nullable: bool
):
    for name in names:
        batch_op.alter_column(name, existing_type=old, type_=new, existing_nullable=nullable)


SEGMENT = (
    "agent_tier",
    "task_type",
    "language",
    "model",
    "prompt_id",
    "prompt_version",
    "experiment_id",
    "arm",
)
LOG_OFFSET_S = 0.01


def _relog_durations(connection: sa.Connection) -> None:
    """Recompute every rollup's log-duration sums from its hour's events, as log(duration + 0.01 s)."""
    utc = aitl.store.base.UTCDateTime()
    events = sa.table("events", sa.column("ts", utc), sa.column("duration_s"), *map(sa.column, SEGMENT))
    rollups = sa.table(
        "hourly_rollups",
        sa.column("hour", utc),
        sa.column("log_duration_sum"),
        sa.column("log_duration_sumsq"),
        *map(sa.column, SEGMENT),
    )
    statement = (
        sa.update(rollups)
        .where(
            rollups.c.hour == sa.bindparam("at"), *(rollups.c[k] == sa.bindparam(f"k_{k}") for k in SEGMENT)
        )
        .values(log_duration_sum=sa.bindparam("total"), log_duration_sumsq=sa.bindparam("squares"))
    )
    for hour in connection.scalars(sa.select(rollups.c.hour).distinct()).all():
        sums: dict[tuple, list[float]] = {}
        query = sa.select(events.c.duration_s, *(events.c[k] for k in SEGMENT)).where(
            events.c.ts >= hour, events.c.ts < hour + timedelta(hours=1)
        )
        for duration, *segment in connection.execute(query):
            key = tuple(
                (0 if k == "prompt_version" else "") if v is None else v
                for k, v in zip(SEGMENT, segment, strict=True)
            )
            if duration is not None:
                value = math.log(duration + LOG_OFFSET_S)
                pair = sums.setdefault(key, [0.0, 0.0])
                pair[0] += value
                pair[1] += value * value
        if sums:
            connection.execute(
                statement,
                [
                    {
                        "at": hour,
                        "total": t,
                        "squares": q,
                        **{f"k_{k}": v for k, v in zip(SEGMENT, key, strict=True)},
                    }
                    for key, (t, q) in sums.items()
                ],
            )


def upgrade() -> None:
    op.create_table(
        "ingested_files",
        sa.Column("path_key", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("prefix_sha256", sa.String(length=64), nullable=False),
        sa.Column("window_start", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("read_at", aitl.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path_key", name=op.f("pk_ingested_files")),
    )
    op.create_table(
        "late_arrivals",
        sa.Column("hour", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("last_at", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("normalized_at", aitl.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_late_arrivals")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        _retype(batch_op, EVENT_INTS, sa.INTEGER(), sa.BigInteger(), True)
        batch_op.alter_column("duration_s", existing_type=sa.FLOAT(), nullable=True)
        batch_op.alter_column("quality_score", existing_type=sa.FLOAT(), nullable=True)

    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        for name in ROLLUP_COUNTS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        _retype(batch_op, ROLLUP_INTS, sa.INTEGER(), sa.BigInteger(), False)
        _retype(batch_op, TOKEN_SUMS, sa.BIGINT(), sa.Float(), False)
    op.execute(f"UPDATE hourly_rollups SET {', '.join(f'{name} = n' for name in ROLLUP_COUNTS)}")
    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        for name in ROLLUP_COUNTS:
            batch_op.alter_column(name, existing_type=sa.BigInteger(), nullable=False)
    _relog_durations(op.get_bind())

    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("raw_encoding", sa.String(length=16), server_default="text", nullable=False)
        )
        batch_op.add_column(sa.Column("header", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("event_hour", aitl.store.base.UTCDateTime(), nullable=True))
        batch_op.alter_column(
            "locator", existing_type=sa.VARCHAR(length=128), type_=sa.Text(), existing_nullable=False
        )
        batch_op.drop_constraint(batch_op.f("uq_quarantine_source"), type_="unique")
    connection = op.get_bind()
    quarantine = sa.table(
        "quarantine", sa.column("id"), sa.column("source"), sa.column("locator"), sa.column("key")
    )
    rows = connection.execute(sa.select(quarantine.c.id, quarantine.c.source, quarantine.c.locator)).all()
    if rows:
        connection.execute(
            sa.update(quarantine)
            .where(quarantine.c.id == sa.bindparam("row_id"))
            .values(key=sa.bindparam("new_key")),
            [{"row_id": row.id, "new_key": record_key(row.source, row.locator)} for row in rows],
        )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.alter_column("key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_quarantine_event_hour"), ["event_hour"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_quarantine_key"), ["key"])


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_quarantine_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_quarantine_event_hour"))
        batch_op.alter_column(
            "locator", existing_type=sa.Text(), type_=sa.VARCHAR(length=128), existing_nullable=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_quarantine_source"), ["source", "locator"])
        for name in ("event_hour", "header", "raw_encoding", "key"):
            batch_op.drop_column(name)

    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        _retype(batch_op, TOKEN_SUMS, sa.Float(), sa.BIGINT(), False)
        _retype(batch_op, ROLLUP_INTS, sa.BigInteger(), sa.INTEGER(), False)
        for name in ROLLUP_COUNTS:
            batch_op.drop_column(name)

    with op.batch_alter_table("events", schema=None) as batch_op:
        _retype(batch_op, EVENT_INTS, sa.BigInteger(), sa.INTEGER(), True)
        batch_op.alter_column("quality_score", existing_type=sa.FLOAT(), nullable=False)
        batch_op.alter_column("duration_s", existing_type=sa.FLOAT(), nullable=False)

    op.drop_table("late_arrivals")
    op.drop_table("ingested_files")
