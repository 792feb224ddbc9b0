"""Patterns carry their q-value: the p-value adjusted over every test of the run.

Patterns stored before this revision were tested one by one (no run-wide
false-discovery-rate control): their q-value stays empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("q_value", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_column("q_value")
