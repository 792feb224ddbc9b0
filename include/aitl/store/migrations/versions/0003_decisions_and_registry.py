"""Decision looks, the configuration registry, impact measurements, effectiveness and the outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:24:46.372952
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("improvement_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target_id", "version", name=op.f("pk_config_versions")),
    )
    op.create_table(
        "configs",
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target_id", name=op.f("pk_configs")),
    )
    op.create_table(
        "decisions",
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("look", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=True),
        sa.Column("test", sa.String(length=64), nullable=True),
        sa.Column("n_control", sa.Integer(), nullable=False),
        sa.Column("n_variant", sa.Integer(), nullable=False),
        sa.Column("effect", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("p_adjusted", sa.Float(), nullable=True),
        sa.Column("information_fraction", sa.Float(), nullable=False),
        sa.Column("alpha_spent", sa.Float(), nullable=False),
        sa.Column("nominal_alpha", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "window_end", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_decision"), ["decision"], unique=False)

    op.create_table(
        "effectiveness",
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("level", "window_start", name=op.f("pk_effectiveness")),
    )
    op.create_table(
        "impact_measurements",
        sa.Column("improvement_id", sa.String(length=64), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("test", sa.String(length=64), nullable=False),
        sa.Column("n_before", sa.Integer(), nullable=False),
        sa.Column("n_after", sa.Integer(), nullable=False),
        sa.Column("value_before", sa.Float(), nullable=True),
        sa.Column("value_after", sa.Float(), nullable=True),
        sa.Column("effect", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "improvement_id", "window_end", "metric", name=op.f("pk_impact_measurements")
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", aitl.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["delivered_at"], unique=False)

    op.create_table(
        "sink_state",
        sa.Column("sink", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", aitl.store.models.UTCDateTime(), nullable=True),
        sa.Column("updated_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_sink_state")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guardrail_metrics", sa.JSON(), nullable=True))

    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.drop_column("change")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("guardrail_metrics")

    op.drop_table("sink_state")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    op.drop_table("impact_measurements")
    op.drop_table("effectiveness")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_decision"))

    op.drop_table("decisions")
    op.drop_table("configs")
    op.drop_table("config_versions")
