"""Initial store schema: events, quarantine, rollups, analytics, registry, experiments, run log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 12:07:53.593016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aitl.store.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("execution_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("ts", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("agent_tier", sa.String(length=64), nullable=True),
        sa.Column("task_type", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("prompt_id", sa.String(length=128), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("experiment_id", sa.String(length=128), nullable=True),
        sa.Column("arm", sa.String(length=16), nullable=True),
        sa.Column("complexity", sa.Float(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=False),
        sa.Column("syntax_errors", sa.Integer(), nullable=True),
        sa.Column("style_issues", sa.JSON(), nullable=True),
        sa.Column("security_warnings", sa.JSON(), nullable=True),
        sa.Column("test_coverage", sa.Float(), nullable=True),
        sa.Column("doc_score", sa.Float(), nullable=True),
        sa.Column("satisfaction", sa.Float(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=True),
        sa.Column("memory_mb", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=True),
        sa.Column("tokens_out", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("ingested_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_ts"), ["ts"], unique=False)

    op.create_table(
        "experiment_results",
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("test", sa.String(length=64), nullable=False),
        sa.Column("n_control", sa.Integer(), nullable=False),
        sa.Column("n_variant", sa.Integer(), nullable=False),
        sa.Column("value_control", sa.Float(), nullable=True),
        sa.Column("value_variant", sa.Float(), nullable=True),
        sa.Column("effect", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("statistic", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "window_end", "metric", name=op.f("pk_experiment_results")),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("improvement_id", sa.String(length=64), nullable=False),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("control_version", sa.Integer(), nullable=False),
        sa.Column("variant_version", sa.Integer(), nullable=False),
        sa.Column("assignment_unit", sa.String(length=32), nullable=False),
        sa.Column("traffic_split", sa.Float(), nullable=False),
        sa.Column("primary_metric", sa.String(length=32), nullable=False),
        sa.Column("planned_n_per_arm", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("ended_at", aitl.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("improvement_id", name=op.f("uq_experiments_improvement_id")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "hourly_rollups",
        sa.Column("hour", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("agent_tier", sa.String(length=64), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.String(length=128), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_sumsq", sa.Float(), nullable=False),
        sa.Column("log_duration_sum", sa.Float(), nullable=False),
        sa.Column("log_duration_sumsq", sa.Float(), nullable=False),
        sa.Column("quality_sum", sa.Float(), nullable=False),
        sa.Column("quality_sumsq", sa.Float(), nullable=False),
        sa.Column("error_events", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("security_events", sa.Integer(), nullable=False),
        sa.Column("syntax_error_events", sa.Integer(), nullable=False),
        sa.Column("satisfaction_n", sa.Integer(), nullable=False),
        sa.Column("satisfaction_sum", sa.Float(), nullable=False),
        sa.Column("satisfaction_sumsq", sa.Float(), nullable=False),
        sa.Column("accepted_n", sa.Integer(), nullable=False),
        sa.Column("accepted_count", sa.Integer(), nullable=False),
        sa.Column("tokens_in_sum", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out_sum", sa.BigInteger(), nullable=False),
        sa.Column("cost_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour",
            "agent_tier",
            "task_type",
            "language",
            "model",
            "prompt_id",
            "prompt_version",
            "experiment_id",
            "arm",
            name=op.f("pk_hourly_rollups"),
        ),
    )
    op.create_table(
        "improvements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("insight_id", sa.String(length=64), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=False),
        sa.Column("modification", sa.Text(), nullable=False),
        sa.Column("expected_effect", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("priority_score", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("updated_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvements")),
    )
    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_improvements_dedupe_key"), ["dedupe_key"], unique=False)
        batch_op.create_index("ix_improvements_status", ["status"], unique=False)

    op.create_table(
        "insights",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=False),
        sa.Column("signal", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights")),
    )
    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.create_index("ix_insights_window", ["level", "window_start"], unique=False)

    op.create_table(
        "patterns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("signal_kind", sa.String(length=16), nullable=False),
        sa.Column("signal", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("segment_n", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("baseline_rate", sa.Float(), nullable=False),
        sa.Column("lift", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patterns")),
    )
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.create_index("ix_patterns_window", ["level", "window_start"], unique=False)

    op.create_table(
        "pipeline_runs",
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("finished_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("level", "window_start", "stage", name=op.f("pk_pipeline_runs")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("improvement_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version", name=op.f("pk_prompt_versions")),
    )
    op.create_table(
        "prompts",
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", aitl.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", name=op.f("pk_prompts")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("locator", sa.String(length=128), nullable=False),
        sa.Column("window_start", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("window_end", aitl.store.models.UTCDateTime(), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("source", "locator", name=op.f("uq_quarantine_source")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_window_start"), ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_window_start"))

    op.drop_table("quarantine")
    op.drop_table("prompts")
    op.drop_table("prompt_versions")
    op.drop_table("pipeline_runs")
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_index("ix_patterns_window")

    op.drop_table("patterns")
    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.drop_index("ix_insights_window")

    op.drop_table("insights")
    with op.batch_alter_table("improvements", schema=None) as batch_op:
        batch_op.drop_index("ix_improvements_status")
        batch_op.drop_index(batch_op.f("ix_improvements_dedupe_key"))

    op.drop_table("improvements")
    op.drop_table("hourly_rollups")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_prompt_id"))

    op.drop_table("experiments")
    op.drop_table("experiment_results")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_ts"))

    op.drop_table("events")
