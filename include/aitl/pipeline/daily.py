"""The daily cycle: user- and system-level analysis of a trailing window.

A run owns one day D (its data interval) and analyses the ``window_days``
(default 7) ending with D, reading only hourly summaries with hours before the
end of D: a backfilled run sees exactly what a live run on D saw. Anomalies are
reported for day D only; the same finding on consecutive days is one insight,
updated, with its days counted. The stages, their order and what each one
does are listed once, in ``aitl.cycles``; ``STAGES`` binds them to the
functions here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.config import Settings
from aitl.loop import filing, findings, insights
from aitl.mining import correlations, frequency, performance, sequences, users
from aitl.mining.pattern import PatternRow
from aitl.pipeline import acting
from aitl.pipeline.stage import StageResult, bind, count_by, owned_by
from aitl.stats.multiple import family_q_values
from aitl.store import reads, retention
from aitl.store.models import (
    HourlyRollup,
    Insight,
    LateArrival,
    Pattern,
    PerformanceTrend,
    PipelineRun,
    Tracking,
)
from aitl.store.writes import replace
from aitl.taxonomy import classify_error
from aitl.window import HOUR, Window

LEVEL = "daily"
SHOWN_LATE_DAYS = 30  # the latest days named in a summary
SEGMENT_KEYS = ["agent_tier", "task_type", "language", "model", "prompt_id", "prompt_version"]
STAT_SUMS = [
    "n",
    "successes",
    "quality_sum",
    "quality_n",
    "log_duration_sum",
    "duration_n",
    "error_events",
    "security_events",
    "syntax_error_events",
    "satisfaction_n",
    "satisfaction_sum",
    "cost_sum",
    "tokens_out_sum",
]


def analysis_window(day: Window, settings: Settings) -> Window:
    return Window(day.end - timedelta(days=settings.thresholds.window_days), day.end)


def collect(session: Session, day: Window, settings: Settings) -> StageResult:
    window = analysis_window(day, settings)
    table = HourlyRollup.__table__

    def volume(span: Window) -> tuple[int, int]:
        hours, events = session.execute(
            select(func.count(func.distinct(table.c.hour)), func.coalesce(func.sum(table.c.n), 0)).where(
                table.c.hour >= span.start, table.c.hour < span.end
            )
        ).one()
        return int(hours), int(events)

    hours, events = volume(window)
    day_hours, day_events = volume(day)
    summary = {
        "window_start": window.start.isoformat(),
        "window_days": settings.thresholds.window_days,
        "hours_with_events": hours,
        "events": events,
        "day_hours_with_events": day_hours,
        "day_events": day_events,
        **completeness(session, window, settings.thresholds.allowed_lateness, datetime.now(UTC)),
    }
    return StageResult(summary, stop=None if events else f"no normalized events in {window}")


def completeness(session: Session, window: Window, lateness: timedelta, now: datetime) -> dict[str, Any]:
    """How final the analysed hours are, and which analysed days changed since.

    The daily cycle reads the hourly summaries as they are when it runs. Hours
    still within ``allowed_lateness`` may yet get events (``open_hours``);
    ``late_days`` are days an earlier daily run analysed that got events after
    it ran: a rerun of such a day includes them.
    """
    open_hours = sum(1 for hour in window.hours() if hour + HOUR + lateness > now)
    runs = PipelineRun.__table__
    analysed = dict(
        session.execute(
            select(runs.c.window_start, runs.c.finished_at).where(
                runs.c.level == LEVEL, runs.c.stage == "collect"
            )
        ).all()
    )
    late = LateArrival.__table__
    changed = set()
    for hour, last_at in session.execute(select(late.c.hour, late.c.last_at)):
        day = hour.replace(hour=0)
        if day in analysed and last_at > analysed[day]:
            changed.add(day.date().isoformat())
    return {
        "open_hours": open_hours,
        "complete": open_hours == 0,
        "late_days": sorted(changed)[-SHOWN_LATE_DAYS:],
    }


def normalize(session: Session, day: Window, settings: Settings) -> StageResult:
    rollups = reads.rollup_frame_of(session, day, performance.ROLLUP_COLUMNS)
    signals = reads.window_signal_counts(session, day)
    rows = performance.tracking_rows(rollups, signals, day)
    replace(session, Tracking.__table__, Tracking.__table__.c.day == day.start, rows)
    return StageResult({"tracking_rows": len(rows), "dimensions": count_by(rows, "dimension")})


def _sequence_patterns(settings: Settings, window: Window, session: Session) -> list[PatternRow]:
    counts = reads.window_sequences(session, window)
    thresholds = settings.thresholds
    found = sequences.mine(counts, min_support=thresholds.pattern_support_threshold) if counts else []
    n_sessions = sum(counts.values())
    rows = []
    for rule in sequences.rules(found, min_confidence=thresholds.pattern_confidence_threshold):
        if set(rule.antecedent + rule.consequent) == {"ok"}:
            continue
        failures = [t for t in rule.consequent if t not in ("ok", "fail")]
        classification = classify_error(failures[-1]) if failures else classify_error("")
        rows.append(
            PatternRow(
                kind="sequence",
                signal_kind="rule",
                signal=f"{' '.join(rule.antecedent)} => {' '.join(rule.consequent)}",
                category=classification.category,
                subtype=classification.subtype,
                count=round(rule.support * n_sessions),
                segment_n=n_sessions,
                rate=rule.confidence,
                baseline_rate=rule.confidence / rule.lift if rule.lift else 0.0,
                lift=rule.lift,
                details={
                    "antecedent": list(rule.antecedent),
                    "consequent": list(rule.consequent),
                    "support": rule.support,
                    "confidence": rule.confidence,
                    "lift": rule.lift,
                },
            )
        )
    for pattern in found:
        if len(pattern.sequence) < 2 or set(pattern.sequence) == {"ok"}:  # all-success is no finding
            continue
        rows.append(
            PatternRow(
                kind="sequence",
                signal_kind="pattern",
                signal=" ".join(pattern.sequence),
                category="unclassified",
                subtype="unclassified",
                count=pattern.count,
                segment_n=n_sessions,
                rate=pattern.support,
                details={"sequence": list(pattern.sequence), "support": pattern.support},
            )
        )
    return rows


def _correlation_tests(session: Session, window: Window, day: Window) -> list[correlations.Correlation]:
    """Every pair tested over the window's segments and over a sample of the day's events."""
    rollups = reads.rollup_frame_of(session, window, [*SEGMENT_KEYS, *STAT_SUMS])
    by_segment = rollups.groupby(SEGMENT_KEYS)[STAT_SUMS].sum()
    return [
        *correlations.correlate(correlations.segment_metrics(by_segment), "segments"),
        *correlations.correlate(correlations.event_sample(session, day), "events"),
    ]


# Hourly metrics follow the day; with less than two days the daily season cannot be
# removed and every busy afternoon would look anomalous, so no anomaly is reported.
MIN_ANOMALY_HISTORY = timedelta(days=2)


def _anomaly_patterns(session: Session, window: Window, day: Window, settings: Settings) -> list[PatternRow]:
    """One ``anomaly`` pattern per episode of the day, the run's series flagged as one family.

    ``segment.hour`` is the episode's peak hour (what the page marks and the
    insight's title names); its first and last hours, peak score and q-value
    are in the details.
    """
    if window.end - window.start < MIN_ANOMALY_HISTORY:
        return []
    rollups = reads.rollup_frame_of(session, window, performance.ROLLUP_COLUMNS)
    sensitivity = settings.thresholds.sensitivity
    rows = []
    for found in performance.anomaly_episodes(rollups, window, day, sensitivity):
        episode, metric = found.episode, found.metric
        rows.append(
            PatternRow(
                kind="anomaly",
                signal_kind="metric",
                signal=metric.name,
                category=metric.taxonomy[0],
                subtype=metric.taxonomy[1],
                segment={**performance.segment_of(found.segment_key), "hour": episode.peak.isoformat()},
                count=episode.points,
                segment_n=found.hours_scored,
                rate=episode.peak_value,
                baseline_rate=found.expected,
                details={
                    "score": episode.peak_score,
                    "q_value": episode.q_value,
                    "start": episode.start.isoformat(),
                    "end": episode.end.isoformat(),
                    "hours": episode.points,
                    "sensitivity": sensitivity,
                },
            )
        )
    return rows


def extract_patterns(session: Session, day: Window, settings: Settings) -> StageResult:
    """The window's patterns; its frequency, correlation and user tests are one false-discovery family.

    Every test's p-value is adjusted over all of them (Benjamini-Hochberg at
    ``alpha``), so a week of thousands of segment, pair and user tests
    yields few discoveries when nothing is going on. Sequences and anomalies
    have their own controls (support and confidence; anomaly episodes).
    """
    window = analysis_window(day, settings)
    thresholds = settings.thresholds
    alpha = thresholds.alpha
    frequency_tests = frequency.frequency_tests(
        reads.window_signal_counts(session, window), thresholds.min_frequency
    )
    pair_tests = _correlation_tests(session, window, day)
    user_tests = [
        *users.failing_task_tests(reads.window_users(session, window)),
        *users.satisfaction_tests(reads.window_users(session, window, by_hour=True)),
    ]
    q_frequency, q_pairs, q_users = family_q_values(
        [
            frequency.p_values(frequency_tests),
            [c.p_value for c in pair_tests],
            [u.p_value for u in user_tests],
        ],
        alpha,
    )
    found = [
        *(p.pattern() for p in frequency.concentrations(frequency_tests, q_frequency, alpha)),
        *(
            correlations.as_pattern(c, q)
            for c, q in correlations.strong(pair_tests, q_pairs, thresholds.correlation_threshold, alpha)
        ),
        *(u.pattern(q) for u, q in zip(user_tests, q_users, strict=True) if q < alpha and u.notable),
        *_sequence_patterns(settings, window, session),
        *_anomaly_patterns(session, window, day, settings),
    ]
    rows = [pattern.as_row(LEVEL, day) for pattern in found]
    replace(session, Pattern.__table__, owned_by(Pattern, LEVEL, day), rows)
    summary = {
        "patterns": len(rows),
        "tests": sum(map(len, (q_frequency, q_pairs, q_users))),
        "by_kind": count_by(rows, "kind"),
        "by_category": count_by(rows, "category"),
    }
    # No stop without patterns: performance trends and user-level findings still follow.
    return StageResult(summary)


def analyze_performance(session: Session, day: Window, settings: Settings) -> StageResult:
    window = analysis_window(day, settings)
    rollups = reads.rollup_frame_of(session, window, performance.ROLLUP_COLUMNS)
    hours = int((window.end - window.start) / timedelta(hours=1))
    anomalies = _anomalies_by_series(session, day)
    rows = []
    for segment_key, subset in performance.segments(rollups, hours).items():
        series = performance.hourly_series(subset, window)
        for metric in performance.METRICS:
            analysed = performance.analyse_series(
                series[metric.name],
                metric,
                segment_key,
                anomalies.get((metric.name, segment_key), []),
                settings.thresholds.alpha,
            )
            rows.append(performance.trend_row(analysed, day))
    table = PerformanceTrend.__table__
    replace(session, table, table.c.day == day.start, rows)
    summary = {
        "series": len(rows),
        "by_direction": count_by(rows, "direction"),
        "recommendations": [r["recommendation"] for r in rows if r["recommendation"]][:5],
    }
    return StageResult(summary)


def _anomalies_by_series(session: Session, day: Window) -> dict[tuple[str, str], list[dict[str, str]]]:
    """The day's anomaly episodes per (metric, segment), as extract_patterns found them."""
    found: dict[tuple[str, str], list[dict[str, str]]] = {}
    query = select(Pattern.signal, Pattern.segment, Pattern.details).where(
        owned_by(Pattern, LEVEL, day), Pattern.kind == "anomaly"
    )
    for metric, segment, details in session.execute(query):
        rest = {k: v for k, v in segment.items() if k != "hour"}
        key = "all" if not rest else "&".join(f"{k}={v}" for k, v in sorted(rest.items()))
        episode = {"start": details["start"], "end": details["end"], "peak": segment["hour"]}
        found.setdefault((metric, key), []).append(episode)
    return found


def generate_insights(session: Session, day: Window, settings: Settings) -> StageResult:
    """File the day's findings; a finding seen before updates its insight instead of repeating it."""
    alpha = settings.thresholds.alpha
    patterns = [
        dict(r)
        for r in session.execute(select(Pattern.__table__).where(owned_by(Pattern, LEVEL, day))).mappings()
    ]
    trends = session.scalars(select(PerformanceTrend).where(PerformanceTrend.day == day.start)).all()
    found = [
        *insights.frequency_findings(patterns, alpha),
        *findings.incidents(findings.pattern_findings(patterns, alpha)),
        *findings.trend_findings(trends, alpha),
    ]
    observed = filing.file_findings(session, LEVEL, day, found)
    summary = {
        "insights": len(observed),
        "new": sum(1 for i in observed if session.get(Insight, i).occurrences == 1),
        "recurring": sum(1 for i in observed if session.get(Insight, i).occurrences > 1),
        "by_kind": count_by(list(observed.values()), "kind"),
        "by_severity": count_by(list(observed.values()), "severity"),
    }
    return StageResult(summary, stop=None if observed else "no finding")


def plan_actions(session: Session, day: Window, settings: Settings) -> StageResult:
    """Plan from the day's own observations (``aitl.loop.filing.observed_by``) of frequency findings.

    Only frequency findings name a prompt or a workflow to change; the
    configuration changes (models, tiers) come from the day's evidence.
    """
    found = filing.observed_by(session, LEVEL, day, kind="frequency")
    return acting.plan_and_store(session, day, settings, found, None, LEVEL)


def prune(session: Session, day: Window, settings: Settings) -> StageResult:
    """Prune the raw events and quarantine rows that retention no longer keeps (``aitl.store.retention``)."""
    thresholds = settings.thresholds
    now = datetime.now(UTC)
    before = retention.cutoff(day, thresholds.retention_days, thresholds.allowed_lateness, now)
    summary = {
        "before": before.isoformat(),
        **retention.prune(session, retention.prunable(session, before), now),
    }
    return StageResult(summary, stop=None if summary["hours"] else "nothing past retention")


STAGES = bind(
    LEVEL,
    {
        "collect": collect,
        "normalize": normalize,
        "extract_patterns": extract_patterns,
        "analyze_performance": analyze_performance,
        "generate_insights": generate_insights,
        "plan_actions": plan_actions,
        "implement": partial(acting.implement_stage, level=LEVEL),
        "verify": partial(acting.verify_stage, level=LEVEL),
        "publish": partial(acting.publish_stage, level=LEVEL),
        "prune": prune,
    },
)
