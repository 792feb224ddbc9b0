"""Alerts on findings and decisions: what was alerted, for deduplication and the daily caps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("day", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("created_at", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", aitl.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_subject"), ["subject"], unique=False)


def downgrade() -> None:
    op.drop_table("alerts")
