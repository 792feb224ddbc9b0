"""Cost per success: the rollups keep what its test needs (sum of squares, successes, cost x success).

``cost_n`` and ``cost_sum`` are there since 0001/0004; the comparison of two
groups on cost per success also needs the variance of cost and its covariance
with success (``aitl.stats.cost``). Rows written before this revision no
longer have their events' individual costs at hand, so they get the values of
a row whose executions all cost its mean: no variance within the row, and
successes spread evenly over the executions that carried a cost. That is
exact for rows without cost (most of them before prices were reported) and
understates the variance of the others until their hour is summarised again
(``aitl run`` over it rewrites the row from its events).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("cost_sumsq", sa.Float()),
    ("cost_successes", sa.BigInteger()),
    ("cost_success_sum", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    op.execute(
        """
        UPDATE hourly_rollups SET
            cost_sumsq = CASE WHEN cost_n > 0 THEN cost_sum * cost_sum / cost_n ELSE 0 END,
            cost_successes = CASE WHEN cost_n = n THEN successes
                                  WHEN n > 0 THEN (successes * cost_n + n / 2) / n ELSE 0 END,
            cost_success_sum = CASE WHEN n > 0 THEN cost_sum * successes / n ELSE 0 END
        """
    )
    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.alter_column(name, existing_type=kind, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("hourly_rollups", schema=None) as batch_op:
        for name, _ in COLUMNS:
            batch_op.drop_column(name)
