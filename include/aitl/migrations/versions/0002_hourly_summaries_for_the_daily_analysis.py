"""Hourly summaries for the daily analysis; experiment looks per level; pattern details.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:41:29.091843
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hourly_sequences",
        sa.Column("hour", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("sequence", sa.String(length=1000), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "sequence", name=op.f("pk_hourly_sequences")),
    )
    op.create_table(
        "hourly_signals",
        sa.Column("hour", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=False),
        sa.Column("complexity_band", sa.String(length=16), nullable=False),
        sa.Column("signal_kind", sa.String(length=16), nullable=False),
        sa.Column("signal", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour",
            "prompt_id",
            "task_type",
            "language",
            "complexity_band",
            "signal_kind",
            "signal",
            name=op.f("pk_hourly_signals"),
        ),
    )
    op.create_table(
        "hourly_users",
        sa.Column("hour", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("quality_sum", sa.Float(), nullable=False),
        sa.Column("satisfaction_n", sa.Integer(), nullable=False),
        sa.Column("satisfaction_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "user_id", "task_type", name=op.f("pk_hourly_users")),
    )
    # Looks taken so far were all hourly; the daily cycle takes its own.
    with op.batch_alter_table("experiment_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=16), nullable=False, server_default="hourly"))
        batch_op.drop_constraint("pk_experiment_results", type_="primary")
        batch_op.create_primary_key(
            "pk_experiment_results", ["level", "experiment_id", "window_end", "metric"]
        )

    # Existing rollups get an empty histogram until their hour is normalized again
    # (rerun or backfill the hourly DAG for those hours).
    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration_hist", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        batch_op.drop_column("duration_hist")

    with op.batch_alter_table("experiment_results", schema=None) as batch_op:
        batch_op.drop_constraint("pk_experiment_results", type_="primary")
        batch_op.drop_column("level")
        batch_op.create_primary_key("pk_experiment_results", ["experiment_id", "window_end", "metric"])

    op.drop_table("hourly_users")
    op.drop_table("hourly_signals")
    op.drop_table("hourly_sequences")
