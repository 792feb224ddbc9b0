"""Daily analysis: hourly summaries, daily findings, tracking and trends; levels on looks and plans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:44:21.815691
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
        sa.Column("agent_tier", sa.String(length=64), nullable=False),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=False),
        sa.Column("complexity_band", sa.String(length=16), nullable=False),
        sa.Column("signal_kind", sa.String(length=16), nullable=False),
        sa.Column("signal", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour",
            "agent_tier",
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
    op.create_table(
        "insight_observations",
        sa.Column("insight_id", sa.String(length=64), nullable=False),
        sa.Column("day", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("insight_id", "day", name=op.f("pk_insight_observations")),
    )
    with op.batch_alter_table("insight_observations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_observations_day"), ["day"], unique=False)

    op.create_table(
        "performance_trends",
        sa.Column("day", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("segment_key", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("slope_per_day", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("anomalies", sa.Integer(), nullable=False),
        sa.Column("forecast", sa.JSON(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("day", "metric", "segment_key", name=op.f("pk_performance_trends")),
    )
    op.create_table(
        "tracking",
        sa.Column("day", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("mean_duration_s", sa.Float(), nullable=False),
        sa.Column("mean_quality", sa.Float(), nullable=False),
        sa.Column("error_types", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("day", "dimension", "key", name=op.f("pk_tracking")),
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

    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=16), server_default="hourly", nullable=False))

    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_seen", aitl.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("occurrences", sa.Integer(), server_default="1", nullable=False))

    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.drop_column("occurrences")
        batch_op.drop_column("first_seen")

    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.drop_column("level")

    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        batch_op.drop_column("duration_hist")

    with op.batch_alter_table("experiment_results", schema=None) as batch_op:
        batch_op.drop_constraint("pk_experiment_results", type_="primary")
        batch_op.drop_column("level")
        batch_op.create_primary_key("pk_experiment_results", ["experiment_id", "window_end", "metric"])

    op.drop_table("tracking")
    op.drop_table("performance_trends")
    with op.batch_alter_table("insight_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_observations_day"))

    op.drop_table("insight_observations")
    op.drop_table("hourly_users")
    op.drop_table("hourly_signals")
    op.drop_table("hourly_sequences")
