"""Outcome-only events: hourly_users counts the events that reported a quality score.

Means of an optional metric divide by the events that carry it, not by all
events (the rollups have had per-metric counts since 0004). Rows written
before this revision come from events that all had a quality score (the
contract required one), so their count is ``n``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hourly_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_n", sa.Integer(), nullable=True))
    op.execute("UPDATE hourly_users SET quality_n = n")
    with op.batch_alter_table("hourly_users", schema=None) as batch_op:
        batch_op.alter_column("quality_n", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("hourly_users", schema=None) as batch_op:
        batch_op.drop_column("quality_n")
