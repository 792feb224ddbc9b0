"""A readable account of what the pipeline did over a span of time, from the store."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aitl.loop.insights import SEVERITY_WEIGHT
from aitl.store.models import (
    Decision,
    Effectiveness,
    Experiment,
    ExperimentResult,
    Improvement,
    Insight,
    InsightObservation,
    Pattern,
    PerformanceTrend,
    PipelineRun,
    PromptVersion,
    Tracking,
)
from aitl.ui.completeness import completeness, facts
from aitl.window import Window

INGEST_KEYS = ("read", "stored", "duplicates", "quarantined")


def summarize(session: Session, window: Window) -> dict[str, Any]:
    """Totals and highlights of every hourly run whose window starts in ``window``."""
    runs = session.scalars(
        select(PipelineRun).where(
            PipelineRun.level == "hourly",
            PipelineRun.window_start >= window.start,
            PipelineRun.window_start < window.end,
        )
    ).all()
    ingest = Counter()
    quarantined_by_field = Counter()
    stages: dict[str, Counter] = {}
    for run in runs:
        stages.setdefault(run.stage, Counter())[run.status] += 1
        if run.stage == "collect":
            ingest.update({k: run.summary.get(k, 0) for k in INGEST_KEYS})
            quarantined_by_field.update(run.summary.get("quarantine_reasons", {}))
    in_span = (
        (Pattern.level == "hourly")
        & (Pattern.window_start >= window.start)
        & (Pattern.window_start < window.end)
    )
    top_patterns = Counter()
    for p in session.scalars(select(Pattern).where(in_span)):
        if p.segment:  # window-wide rows would count the same events twice
            top_patterns[(p.category, p.subtype, p.signal)] += p.count
    observed_hourly = select(InsightObservation.insight_id).where(
        InsightObservation.level == "hourly",
        InsightObservation.window_start >= window.start,
        InsightObservation.window_start < window.end,
    )
    insight_rows = _standing(session, select(Insight).where(Insight.id.in_(observed_hourly)))
    improvements = session.scalars(
        select(Improvement).where(
            Improvement.window_start >= window.start, Improvement.window_start < window.end
        )
    ).all()
    experiments = session.scalars(select(Experiment).order_by(Experiment.started_at)).all()
    return {
        "window": str(window),
        "hours_run": len({r.window_start for r in runs}),
        "stages": {name: dict(c) for name, c in stages.items()},
        "ingest": dict(ingest),
        "quarantined_by_field": dict(quarantined_by_field.most_common()),
        "top_patterns": [
            {"category": c, "subtype": s, "signal": sig, "events": n}
            for (c, s, sig), n in top_patterns.most_common(5)
        ],
        "insights": Counter(i.severity for i in insight_rows),
        "insight_examples": _distinct_insights(insight_rows, 4),
        "improvements": Counter(i.status for i in improvements),
        "improvement_examples": [
            {"type": i.type, "target": i.target_id, "status": i.status, "why": i.status_reason}
            for i in sorted(improvements, key=lambda i: -i.priority_score)[:4]
        ],
        "experiments": [_experiment_view(session, e) for e in experiments],
        "completeness": completeness(session, window),
    }


def _standing(session: Session, query: Select[tuple[Insight]]) -> list[Insight]:
    """The insights of ``query``, each superseded one replaced by the one that superseded it (once)."""
    ids = {insight.superseded_by or insight.id for insight in session.scalars(query)}
    return list(session.scalars(select(Insight).where(Insight.id.in_(ids)).order_by(Insight.id)))


def _distinct_insights(rows: list[Insight], limit: int) -> list[str]:
    """The most severe insights, one per signal and segment (hours repeat each other)."""
    seen: set[tuple[str, str]] = set()
    chosen: list[str] = []
    for insight in sorted(rows, key=lambda i: (-SEVERITY_WEIGHT[i.severity], -i.confidence, i.id)):
        key = (insight.signal, str(insight.segment.get("prompt_id", "")))
        if key not in seen and len(chosen) < limit:
            seen.add(key)
            chosen.append(f"[{insight.severity}] {insight.title}")
    return chosen


def _experiment_view(session: Session, experiment: Experiment) -> dict[str, Any]:
    latest = session.scalars(
        select(ExperimentResult)
        .where(ExperimentResult.experiment_id == experiment.id)
        .order_by(ExperimentResult.window_end.desc())
    ).all()
    variant = session.get(PromptVersion, (experiment.prompt_id, experiment.variant_version))
    results = {}
    for result in latest:
        results.setdefault(result.metric, result)
    return {
        "id": experiment.id,
        "prompt": f"{experiment.prompt_id} v{experiment.control_version} vs v{experiment.variant_version}",
        "status": experiment.status,
        "change": variant.diff.splitlines()[-1].lstrip("+") if variant and variant.diff else "",
        "planned_n_per_arm": experiment.planned_n_per_arm,
        "results": {
            metric: {
                "test": r.test,
                "n": [r.n_control, r.n_variant],
                "control": r.value_control,
                "variant": r.value_variant,
                "effect": r.effect,
                "ci": [r.ci_low, r.ci_high],
                "p_value": r.p_value,
                "verdict": r.verdict,
            }
            for metric, r in results.items()
        },
    }


def render(summary: dict[str, Any]) -> str:
    """The summary as a short text for a person."""
    lines = [f"AITL feedback cycle over {summary['window']}: {summary['hours_run']} hourly runs"]
    ingest = summary["ingest"]
    lines.append(
        "  events: read {read}, stored {stored}, duplicates {duplicates}, quarantined {quarantined}".format(
            **{k: ingest.get(k, 0) for k in INGEST_KEYS}
        )
    )
    if summary["quarantined_by_field"]:
        lines.append("  quarantined by field: " + _counts(summary["quarantined_by_field"]))
    lines.append("  completeness: " + "; ".join(facts(summary["completeness"])))
    lines.extend(f"    rerun {d['day']}: {d['command']}" for d in summary["completeness"]["late_days"])
    for stage, statuses in summary["stages"].items():
        lines.append(f"  stage {stage:<18} " + ", ".join(f"{v} {k}" for k, v in sorted(statuses.items())))
    lines.append("  top patterns (events, summed over hours):")
    for p in summary["top_patterns"]:
        lines.append(f"    {p['events']:>6}  {p['signal']:<22} {p['category']}/{p['subtype']}")
    lines.append("  insights by severity: " + _counts(summary["insights"]))
    for title in summary["insight_examples"]:
        lines.append(f"    - {title}")
    lines.append("  improvements by status: " + _counts(summary["improvements"]))
    for imp in summary["improvement_examples"]:
        lines.append(f"    - {imp['type']} -> {imp['target']}: {imp['status']} ({imp['why']})")
    lines.append(f"  experiments: {len(summary['experiments'])}")
    for exp in summary["experiments"]:
        lines.append(
            f"    {exp['id']} {exp['prompt']} [{exp['status']}], planned {exp['planned_n_per_arm']}/arm"
        )
        if exp["change"]:
            lines.append(f"      change: {exp['change'][:110]}")
        for metric, r in exp["results"].items():
            lines.append(
                f"      {metric:<14} control {r['control']:.3f} vs variant {r['variant']:.3f} "
                f"(n {r['n'][0]}/{r['n'][1]}), effect {r['effect']:+.3f} "
                f"[{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}], p={r['p_value']:.3g} {r['test']}: {r['verdict']}"
            )
    return "\n".join(lines)


def summarize_daily(session: Session, day: Window) -> dict[str, Any]:
    """What the daily run for ``day`` found: patterns, insights, trends, the weakest spots."""
    patterns = session.scalars(
        select(Pattern).where(Pattern.level == "daily", Pattern.window_start == day.start)
    ).all()
    observed = select(InsightObservation.insight_id).where(
        InsightObservation.level == "daily", InsightObservation.window_start == day.start
    )
    insights = session.scalars(select(Insight).where(Insight.id.in_(observed))).all()
    trends = session.scalars(
        select(PerformanceTrend).where(
            PerformanceTrend.day == day.start, PerformanceTrend.segment_key == "all"
        )
    ).all()
    weakest = session.scalars(
        select(Tracking)
        .where(Tracking.day == day.start, Tracking.dimension == "tier_task", Tracking.attempts >= 30)
        .order_by(Tracking.success_rate)
        .limit(3)
    ).all()
    return {
        "day": str(day),
        "patterns": dict(Counter(p.kind for p in patterns)),
        "insights": dict(Counter(i.severity for i in insights)),
        "insight_examples": _distinct_insights(insights, 5),
        "trends": [
            {
                "metric": t.metric,
                "direction": t.direction,
                "slope_per_day": t.slope_per_day,
                "p_value": t.p_value,
                "next_day_mean": (sum(f["mean"] for f in t.forecast) / len(t.forecast))
                if t.forecast
                else None,
            }
            for t in trends
        ],
        "weakest": [(t.key, t.attempts, t.success_rate, t.error_types) for t in weakest],
        "decisions": [
            {
                "experiment": d.experiment_id,
                "decision": d.decision,
                "look": d.look,
                "metric": d.metric,
                "effect": d.effect,
                "ci": [d.ci_low, d.ci_high],
                "p_value": d.p_value,
                "p_adjusted": d.p_adjusted,
                "reason": d.reason,
            }
            for d in session.scalars(
                select(Decision).where(Decision.window_end == day.end).order_by(Decision.experiment_id)
            )
        ],
        "effectiveness": getattr(session.get(Effectiveness, ("daily", day.start)), "metrics", None),
    }


def render_daily(summary: dict[str, Any]) -> str:
    lines = [f"AITL daily analysis of {summary['day']}"]
    lines.append("  patterns by kind: " + _counts(summary["patterns"]))
    lines.append("  insights by severity: " + _counts(summary["insights"]))
    lines.extend(f"    - {title}" for title in summary["insight_examples"])
    lines.append("  platform metrics (trend needs 5+ days; forecast = mean of the next 24 h):")
    for t in summary["trends"]:
        forecast = f"{t['next_day_mean']:.3g}" if t["next_day_mean"] is not None else "-"
        lines.append(f"    {t['metric']:<16} {t['direction']:<18} next day {forecast}")
    lines.append("  weakest agent tier x task type:")
    for key, attempts, rate, errors in summary["weakest"]:
        top = ", ".join(f"{k} {v}" for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"    {key:<22} {rate:.0%} of {attempts} succeeded; errors: {top or 'none'}")
    lines.append("  experiment decisions (deciding metric: effect, repeated-look interval, p-values):")
    for d in summary["decisions"]:
        numbers = ""
        if d["effect"] is not None:
            numbers = (
                f" {d['metric']} {d['effect']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}],"
                f" p={d['p_value']:.3g}, adjusted {d['p_adjusted']:.3g}"
                if d["p_adjusted"] is not None
                else f" {d['metric']} {d['effect']:+.3f}, p={d['p_value']:.3g}"
            )
        lines.append(f"    {d['experiment']} look {d['look']}: {d['decision'].upper()}{numbers}")
        lines.append(f"      {d['reason']}")
    if not summary["decisions"]:
        lines.append("    none (no experiment running)")
    metrics = summary["effectiveness"]
    if metrics:
        totals = metrics["totals"]
        lines.append(
            f"  loop effectiveness: {metrics['generated']} improvements planned, "
            f"{metrics['implemented']} implemented today; since the start {totals['promoted']} promoted, "
            f"{totals['rolled_back']} rolled back, {totals['inconclusive']} inconclusive; "
            f"platform success rate {metrics['success_rate']}"
        )
    return "\n".join(lines)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"
