"""Shards: each event's session bucket, and the partial summaries of a sharded hour.

* events.session_bucket: ``aitl.shards.session_bucket(session_id)``, computed
  here for the stored events (through a temporary table of each distinct
  session's bucket, one joined UPDATE) and by ingest from now on; the time
  index becomes (ts, session_bucket), which serves reads by time as before and
  reads of a chunk of session groups without a table lookup per event.
* summary_parts: one shard's partial hourly summaries, written by
  ``summarize`` and merged and deleted by ``normalize``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.base
from aitl.shards import session_bucket

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000


def _fill_buckets(connection: sa.Connection) -> None:
    """Set every stored event's bucket from its session id."""
    events = sa.table("events", sa.column("session_id"), sa.column("session_bucket"))
    buckets = sa.Table(
        "aitl_session_buckets",
        sa.MetaData(),
        sa.Column("session_id", sa.String(255), primary_key=True),
        sa.Column("bucket", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
    )
    buckets.create(connection)
    sessions = connection.scalars(sa.select(events.c.session_id).distinct()).all()
    for offset in range(0, len(sessions), BATCH):
        batch = sessions[offset : offset + BATCH]
        connection.execute(buckets.insert(), [{"session_id": s, "bucket": session_bucket(s)} for s in batch])
    connection.execute(
        sa.update(events)
        .values(session_bucket=buckets.c.bucket)
        .where(events.c.session_id == buckets.c.session_id)
    )
    buckets.drop(connection)


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_bucket", sa.Integer(), nullable=True))
    _fill_buckets(op.get_bind())
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("session_bucket", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_events_ts")
        batch_op.create_index("ix_events_ts_session_bucket", ["ts", "session_bucket"], unique=False)
    op.create_table(
        "summary_parts",
        sa.Column("window_start", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", aitl.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("window_start", "shards", "shard", name=op.f("pk_summary_parts")),
    )


def downgrade() -> None:
    op.drop_table("summary_parts")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_ts_session_bucket")
        batch_op.create_index("ix_events_ts", ["ts"], unique=False)
        batch_op.drop_column("session_bucket")
