"""The AITL store schema (SQLAlchemy 2 declarative models).

Every analytic row carries the window that produced it and a deterministic id
derived from what it describes, so re-running a window rewrites the same rows
instead of adding new ones. Timestamps are logical (the window's end), not wall
clock, which is what makes a rerun byte-identical and a backfill point-in-time.
Alembic migrations in ``aitl/store/migrations`` create these tables; a test checks the
two never drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aitl.store.base import Base, Id, Name, UTCDateTime

# The intake tables live in aitl.store.intake; importing them here registers
# them with Base.metadata, so this module is the one place with every table.
from aitl.store.intake import Event as Event
from aitl.store.intake import IngestedFile as IngestedFile
from aitl.store.intake import LateArrival as LateArrival
from aitl.store.intake import PrunedHour as PrunedHour
from aitl.store.intake import Quarantine as Quarantine

SEGMENT_COLUMNS = (
    "agent_tier",
    "task_type",
    "language",
    "model",
    "prompt_id",
    "prompt_version",
    "experiment_id",
    "arm",
)


class HourlyRollup(Base):
    """Additive sufficient statistics of one hour of one segment.

    Sums and sums of squares (not means) so that any set of hours merges by
    addition; missing segment values are stored as "" / 0 so the segment is a
    plain composite key on every backend.
    """

    __tablename__ = "hourly_rollups"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    agent_tier: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(Name, primary_key=True)
    prompt_id: Mapped[str] = mapped_column(Name, primary_key=True)
    prompt_version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    experiment_id: Mapped[str] = mapped_column(Name, primary_key=True)
    arm: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Counts are 64-bit and the token sums floating point, so no sum of
    # contract-valid values can overflow (measures are bounded by the contract).
    n: Mapped[int] = mapped_column(BigInteger)
    successes: Mapped[int] = mapped_column(BigInteger)
    # Each metric has its own n: outcome-only sources report no duration or
    # quality, and a mean over the events that did not report it would be wrong.
    duration_n: Mapped[int] = mapped_column(BigInteger)
    duration_sum: Mapped[float] = mapped_column(Float)
    duration_sumsq: Mapped[float] = mapped_column(Float)
    log_duration_sum: Mapped[float] = mapped_column(Float)
    log_duration_sumsq: Mapped[float] = mapped_column(Float)
    quality_n: Mapped[int] = mapped_column(BigInteger)
    quality_sum: Mapped[float] = mapped_column(Float)
    quality_sumsq: Mapped[float] = mapped_column(Float)
    error_events: Mapped[int] = mapped_column(BigInteger)
    error_count: Mapped[int] = mapped_column(BigInteger)
    security_events: Mapped[int] = mapped_column(BigInteger)
    syntax_error_events: Mapped[int] = mapped_column(BigInteger)
    satisfaction_n: Mapped[int] = mapped_column(BigInteger)
    satisfaction_sum: Mapped[float] = mapped_column(Float)
    satisfaction_sumsq: Mapped[float] = mapped_column(Float)
    accepted_n: Mapped[int] = mapped_column(BigInteger)
    accepted_count: Mapped[int] = mapped_column(BigInteger)
    tokens_in_n: Mapped[int] = mapped_column(BigInteger)
    tokens_in_sum: Mapped[float] = mapped_column(Float)
    tokens_out_n: Mapped[int] = mapped_column(BigInteger)
    tokens_out_sum: Mapped[float] = mapped_column(Float)
    cost_n: Mapped[int] = mapped_column(BigInteger)
    cost_sum: Mapped[float] = mapped_column(Float)
    # Cost per success and its test (aitl.stats.cost), over the executions that carry a cost.
    cost_sumsq: Mapped[float] = mapped_column(Float)
    cost_successes: Mapped[int] = mapped_column(BigInteger)
    cost_success_sum: Mapped[float] = mapped_column(Float)
    # Counts per fixed log-spaced duration bucket (aitl.mining.rollups.DURATION_EDGES):
    # quantiles such as p95 are not additive, histograms are.
    duration_hist: Mapped[list[int]] = mapped_column(JSON)


PATTERN_SEGMENT = ("prompt_id", "task_type", "language", "complexity_band")


class HourlySignal(Base):
    """How many events of one hour, agent tier and pattern segment carried a signal.

    ``signal_kind`` is ``indicator`` or ``error_type``; the row with kind
    ``events`` and an empty signal holds the segment's event count, so rates
    need nothing else. Additive: a week's frequencies are sums of these.
    """

    __tablename__ = "hourly_signals"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    agent_tier: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(Name, primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(64), primary_key=True)
    complexity_band: Mapped[str] = mapped_column(String(16), primary_key=True)
    signal_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    signal: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class HourlySequence(Base):
    """Identical session sequences of one hour, counted once (sequence mining input).

    A session's sequence is its events' outcome tokens in time order; sessions
    are cut at the hour boundary, which the platform's sessions rarely cross.
    """

    __tablename__ = "hourly_sequences"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sequence: Mapped[str] = mapped_column(String(1000), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer)


class HourlyUser(Base):
    """One user's executions of one task type in one hour (the user-level loop's input)."""

    __tablename__ = "hourly_users"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    user_id: Mapped[str] = mapped_column(Name, primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    successes: Mapped[int] = mapped_column(Integer)
    quality_sum: Mapped[float] = mapped_column(Float)
    # Events that reported a quality score: the mean's denominator (outcome-only sources report none).
    quality_n: Mapped[int] = mapped_column(Integer)
    satisfaction_n: Mapped[int] = mapped_column(Integer)
    satisfaction_sum: Mapped[float] = mapped_column(Float)


class SummaryPart(Base):
    """One shard's partial hourly summaries, from ``summarize`` to ``normalize`` of a sharded run.

    ``payload`` holds the per-session-group partial rows of every summary
    table (``aitl.mining.rollups.Summaries``); ``groups`` the events each
    session group had when summarised, so ``normalize`` recomputes a part
    that events arrived for since. ``normalize`` deletes the parts it merged.
    """

    __tablename__ = "summary_parts"

    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    shards: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    groups: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Pattern(Base):
    """A recurring signal (indicator or error type) in one segment of one window."""

    __tablename__ = "patterns"
    __table_args__ = (Index("ix_patterns_window", "level", "window_start"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    signal_kind: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    subtype: Mapped[str] = mapped_column(String(32))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    segment_n: Mapped[int] = mapped_column(Integer)
    rate: Mapped[float] = mapped_column(Float)
    baseline_rate: Mapped[float] = mapped_column(Float)
    lift: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    # The p-value adjusted over every test of the run (Benjamini-Hochberg); None before 0005.
    q_value: Mapped[float | None] = mapped_column(Float)
    # What the other kinds (sequence, correlation, anomaly) need beyond the columns.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Insight(Base):
    """A finding filed under the taxonomy, with the evidence behind it.

    One row per finding, whichever cycle observed it: its level, window,
    title, evidence, severity and confidence are those of its latest
    observation (``insight_observations``).
    """

    __tablename__ = "insights"
    __table_args__ = (Index("ix_insights_window", "level", "window_start"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    category: Mapped[str] = mapped_column(String(32))
    subtype: Mapped[str] = mapped_column(String(32))
    signal: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, server_default="1")
    # The daily insight that reports this hourly-only finding's cause at the segment the day's
    # data picked (``aitl.loop.filing.supersede``); None while the insight stands on its own.
    superseded_by: Mapped[str | None] = mapped_column(Id)


class InsightObservation(Base):
    """One run that observed a finding, hourly or daily, with that run's evidence.

    The ``insights`` row of a finding is derived from these (latest
    observation, first seen, number of observations), so reruns and backfills
    in any order give the same result, and the hourly and daily findings of
    one cause are one insight.
    """

    __tablename__ = "insight_observations"

    insight_id: Mapped[str] = mapped_column(Id, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True, server_default="daily")
    # The observing run's window: an hour (hourly) or a day (daily).
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)


class Tracking(Base):
    """A day's performance by agent tier x task type, and quality by language."""

    __tablename__ = "tracking"

    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    successes: Mapped[int] = mapped_column(Integer)
    success_rate: Mapped[float] = mapped_column(Float)
    mean_duration_s: Mapped[float] = mapped_column(Float)
    mean_quality: Mapped[float] = mapped_column(Float)
    error_types: Mapped[dict[str, int]] = mapped_column(JSON)


class PerformanceTrend(Base):
    """A metric's trend over the trailing window, its next-day forecast and what to do."""

    __tablename__ = "performance_trends"

    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    direction: Mapped[str] = mapped_column(String(16))
    slope_per_day: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(64))
    n: Mapped[int] = mapped_column(Integer)
    anomalies: Mapped[int] = mapped_column(Integer)
    forecast: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recommendation: Mapped[str | None] = mapped_column(Text)


class Improvement(Base):
    """A concrete change proposed from an insight, and where it stands."""

    __tablename__ = "improvements"
    __table_args__ = (Index("ix_improvements_status", "status"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), server_default="hourly")
    insight_id: Mapped[str] = mapped_column(Id)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(Name)
    dedupe_key: Mapped[str] = mapped_column(String(400), index=True)
    modification: Mapped[str] = mapped_column(Text)
    # The machine-readable change: {"append": text} for a prompt, the new
    # setting (e.g. {"timeout_s": 300}) for a configuration target.
    change: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expected_effect: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(8))
    priority_score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Prompt(Base):
    """The version of each prompt the platform serves by default."""

    __tablename__ = "prompts"

    prompt_id: Mapped[str] = mapped_column(Name, primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PromptVersion(Base):
    """Every version of every prompt, with its lineage and why it exists."""

    __tablename__ = "prompt_versions"

    prompt_id: Mapped[str] = mapped_column(Name, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    parent_version: Mapped[int | None] = mapped_column(Integer)
    diff: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    improvement_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Experiment(Base):
    """An A/B test of one improvement: control version against variant version."""

    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    improvement_id: Mapped[str] = mapped_column(Id, unique=True)
    prompt_id: Mapped[str] = mapped_column(Name, index=True)
    control_version: Mapped[int] = mapped_column(Integer)
    variant_version: Mapped[int] = mapped_column(Integer)
    assignment_unit: Mapped[str] = mapped_column(String(32))
    traffic_split: Mapped[float] = mapped_column(Float)
    primary_metric: Mapped[str] = mapped_column(String(32))
    # Metrics that must not degrade: a significant degradation beyond
    # rollback_threshold rolls the variant back.
    guardrail_metrics: Mapped[list[str] | None] = mapped_column(JSON)
    planned_n_per_arm: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExperimentResult(Base):
    """One look at one metric of one experiment, with the full test record."""

    __tablename__ = "experiment_results"

    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(Id, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    test: Mapped[str] = mapped_column(String(64))
    n_control: Mapped[int] = mapped_column(Integer)
    n_variant: Mapped[int] = mapped_column(Integer)
    value_control: Mapped[float | None] = mapped_column(Float)
    value_variant: Mapped[float | None] = mapped_column(Float)
    effect: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    statistic: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(32))


class Decision(Base):
    """One decision look at one experiment: continue, promote, roll back or stop.

    Made by the daily verification only (one look per day), with the group-
    sequential boundary of that look; the full record of the test that drove
    the decision is kept, and the other metrics' records are in ``details``.
    """

    __tablename__ = "decisions"

    experiment_id: Mapped[str] = mapped_column(Id, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    look: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    metric: Mapped[str | None] = mapped_column(String(32))
    test: Mapped[str | None] = mapped_column(String(64))
    n_control: Mapped[int] = mapped_column(Integer)
    n_variant: Mapped[int] = mapped_column(Integer)
    effect: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    p_adjusted: Mapped[float | None] = mapped_column(Float)
    information_fraction: Mapped[float] = mapped_column(Float)
    alpha_spent: Mapped[float] = mapped_column(Float)
    nominal_alpha: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class ConfigTarget(Base):
    """A platform setting the loop may change (agent tier, model, timeout, ...) and its current version."""

    __tablename__ = "configs"

    target_id: Mapped[str] = mapped_column(Name, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    current_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConfigVersion(Base):
    """Every version of every setting, with its lineage, diff and the improvement behind it."""

    __tablename__ = "config_versions"

    target_id: Mapped[str] = mapped_column(Name, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    parent_version: Mapped[int | None] = mapped_column(Integer)
    diff: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    improvement_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImpactMeasurement(Base):
    """Before/after impact of a change applied without an experiment (seed: ImpactMeasurement)."""

    __tablename__ = "impact_measurements"

    improvement_id: Mapped[str] = mapped_column(Id, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    test: Mapped[str] = mapped_column(String(64))
    n_before: Mapped[int] = mapped_column(Integer)
    n_after: Mapped[int] = mapped_column(Integer)
    value_before: Mapped[float | None] = mapped_column(Float)
    value_after: Mapped[float | None] = mapped_column(Float)
    effect: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(32))


class Effectiveness(Base):
    """How well the loop itself works, per run (seed: AITLMetrics)."""

    __tablename__ = "effectiveness"

    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)


class Alert(Base):
    """An alert on what the loop found or did, and whether the webhook took it (``aitl.publish.alerts``).

    One row per alerted subject (an insight, an outbox message) and severity:
    what deduplicates a recurring insight, and counts each kind's alerts a day.
    """

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Id, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    day: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A decision the platform must learn of, kept until a sink has delivered it.

    Written in the same transaction as the decision itself, so nothing decided
    can be lost by a sink that is down: delivery is retried on every publish.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SinkState(Base):
    """The circuit breaker of each sink, shared by every task process."""

    __tablename__ = "sink_state"

    sink: Mapped[str] = mapped_column(Name, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PipelineRun(Base):
    """What each stage of each window did: the numbers behind the Airflow logs."""

    __tablename__ = "pipeline_runs"

    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
