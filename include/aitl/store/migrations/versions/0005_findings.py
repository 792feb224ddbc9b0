"""Findings a person can trust: q-values on patterns, one insight per finding at every level.

* patterns: ``q_value``, the p-value adjusted over every test of the run.
  Patterns stored before this revision were tested one by one: it stays empty.
* insight_observations: ``level`` and ``window_start`` (was ``day``), so the
  hourly and the daily cycle observe the same insight. Existing observations
  are daily ones; every existing hourly insight gets the one observation it
  stood for (its hour), so a rerun of that hour replaces it as it would its
  own.

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

OBSERVED = "level, window_start, title, evidence, severity, confidence"


def upgrade() -> None:
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("q_value", sa.Float(), nullable=True))
    with op.batch_alter_table("insight_observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=16), nullable=False, server_default="daily"))
        batch_op.drop_index(batch_op.f("ix_insight_observations_day"))
        batch_op.drop_constraint(batch_op.f("pk_insight_observations"), type_="primary")
        batch_op.alter_column("day", new_column_name="window_start")
    _key_observations("window_start", ["insight_id", "level", "window_start"])
    op.execute(
        f"INSERT INTO insight_observations (insight_id, {OBSERVED}) "
        f"SELECT id, {OBSERVED} FROM insights WHERE level = 'hourly'"
    )


def _key_observations(time_column: str, key: list[str]) -> None:
    """The observations' primary key and time index (a batch of its own: it names renamed columns)."""
    with op.batch_alter_table("insight_observations", schema=None) as batch_op:
        batch_op.create_primary_key(batch_op.f("pk_insight_observations"), key)
        batch_op.create_index(
            batch_op.f(f"ix_insight_observations_{time_column}"), [time_column], unique=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM insight_observations WHERE level = 'hourly'")
    with op.batch_alter_table("insight_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_observations_window_start"))
        batch_op.drop_constraint(batch_op.f("pk_insight_observations"), type_="primary")
        batch_op.alter_column("window_start", new_column_name="day")
        batch_op.drop_column("level")
    _key_observations("day", ["insight_id", "day"])
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_column("q_value")
