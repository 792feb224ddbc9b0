"""Superseded insights: an hourly-only finding that the day's cycle reports at another segment.

One hour holds little data, so its root-cause search sometimes stops at a
neighbouring segment of a cause (its prompt's language, its parent, the whole
platform) and files a second insight. ``insights.superseded_by`` names the
daily insight that reports the same signal at an overlapping segment on every
day the hourly one was seen (``aitl.loop.filing.supersede``). Existing rows
start as standing on their own: the next daily run of their day (or ``aitl
run`` over it) fills the column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
