"""The loop's own counts as Airflow metrics, so a platform's existing dashboards see them.

They go through Airflow's stats API, hence to whatever the deployment
configured in ``[metrics]`` (statsd, OpenTelemetry, Datadog), or nowhere.
Names start with ``aitl.``; each carries the cycle as the tag ``level``
(statsd without tags sees one series per name). A dry run emits nothing:
it changed nothing.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from airflow.sdk.observability.stats import Stats


class Metric(NamedTuple):
    """One value to send: a counter increment or a gauge reading."""

    kind: Literal["incr", "gauge"]
    name: str
    value: int


def metrics_of(level: str, stage: str, summary: dict[str, Any]) -> list[Metric]:
    """What a stage's summary says that a monitoring system should count."""
    found: list[Metric] = []
    if stage == "collect" and level == "hourly":
        found += [Metric("incr", f"aitl.events.{key}", summary.get(key, 0)) for key in ("read", "stored")]
        found.append(Metric("incr", "aitl.events.quarantined", summary.get("quarantined", 0)))
    elif stage == "generate_insights":
        for severity, count in (summary.get("by_severity") or {}).items():
            found.append(Metric("incr", f"aitl.insights.{severity}", count))
    elif stage == "implement":
        found.append(Metric("incr", "aitl.launches", summary.get("launched", 0)))
        found.append(Metric("incr", "aitl.settings_applied", summary.get("applied", 0)))
    elif stage == "verify":
        found.append(Metric("gauge", "aitl.experiments.running", summary.get("experiments", 0)))
        for decision, count in ((summary.get("decisions") or {}).get("decisions") or {}).items():
            found.append(Metric("incr", f"aitl.decisions.{decision}", count))
    elif stage == "publish" and "still_pending" in summary:
        found.append(Metric("gauge", "aitl.outbox.backlog", summary["still_pending"]))
        found.append(Metric("incr", "aitl.outbox.delivered", summary.get("delivered", 0)))
    return found


def emit(level: str, stage: str, summary: dict[str, Any]) -> None:
    """Send a stage's metrics through Airflow's stats API (a no-op where metrics are off)."""
    if summary.get("dry_run"):
        return
    for metric in metrics_of(level, stage, summary):
        if metric.kind == "gauge":
            Stats.gauge(metric.name, metric.value, tags={"level": level})
        else:
            Stats.incr(metric.name, metric.value, tags={"level": level})
