"""Retention: the hours whose raw events and quarantine rows were pruned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 07:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pruned_hours",
        sa.Column("hour", aitl.store.base.UTCDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), nullable=False),
        sa.Column("pruned_at", aitl.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_pruned_hours")),
    )


def downgrade() -> None:
    op.drop_table("pruned_hours")
