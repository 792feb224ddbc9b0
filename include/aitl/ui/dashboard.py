"""The AITL dashboard's view model: one window of the loop, read from the store.

``dashboard(session, window)`` gathers what a person asks of the loop for a
span of time: how the platform did hour by hour (and the anomaly episodes
the daily analysis found, for the worse or for the better by each metric's
polarity), which patterns and insights it found, and where every
improvement stands, with each experiment's effect, interval and p-value, and
how to review the proposals waiting for a person; and how complete its data
was for the analysis (``aitl.ui.completeness``: late events, skipped landing
files, days to rerun). It only reads, and every read is bounded by the
window, so an old window shows what the loop knew then (improvement
statuses, late events and days to rerun excepted: they are as they stand
now).

``view(session, params, now)`` is what a request asks for: the window of its
parameters (by default the latest days that hold data) and its model.
``aitl.ui.page.render_html(model)`` draws it as a page.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from aitl.loop.insights import describe_segment
from aitl.loop.planning import ACTIVE_STATUSES, STATUSES
from aitl.store.database import schema_problem
from aitl.store.models import (
    Decision,
    Effectiveness,
    Event,
    Experiment,
    ExperimentResult,
    HourlyRollup,
    Improvement,
    Pattern,
    PromptVersion,
)
from aitl.ui import completeness
from aitl.ui.insights import top_insights
from aitl.ui.series import (
    SERIES_METRICS,
    anomalies,
    charted_metrics,
    empty_series,
    hourly_series,
    totals,
)
from aitl.window import HOUR, Window, parse_utc

DEFAULT_DAYS = 7
# A year of hourly points is still a light page; longer spans need a coarser series.
MAX_DAYS = 366
TOP = 10
# The DAG a person triggers to approve or reject a proposed improvement (dags/aitl_improvement_review.py).
REVIEW_DAG = "aitl_improvement_review"
MAX_REVIEW_ITEMS = 50
# Where each improvement status sits in the pipeline, left to right.
PIPELINE = STATUSES


class WindowParamError(ValueError):
    """A window parameter of the request that cannot be used; ``param`` names it for the 400 answer."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"invalid {param!r}: {problem}")
        self.param = param


# --------------------------------------------------------------------------- window


def _ceil_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + HOUR


def _instant(params: Mapping[str, str], name: str) -> datetime | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        raise WindowParamError(name, f"{text!r} is not an ISO 8601 date or time") from None


def _days(params: Mapping[str, str]) -> int | None:
    text = (params.get("days") or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise WindowParamError("days", f"{text!r} is not a whole number of days from 1 to {MAX_DAYS}")
    return int(text)


def window_from_params(params: Mapping[str, str], now: datetime, latest: datetime | None = None) -> Window:
    """The window a request asks for: ``start``/``end`` (ISO 8601, UTC if no offset) or ``days``.

    ``start`` defaults to ``days`` (default 7) before ``end``. ``end`` defaults
    to ``latest``, the end of the store's latest hour that holds data (see
    ``latest_data``), so a store whose data is months old opens on its data,
    not on empty recent days; to now if the store holds nothing or a ``start``
    is given (from then on). Giving both ``start`` and ``days`` is ambiguous
    and refused. Both ends are widened to whole hours, the resolution of the
    store's summaries, so every plotted hour is complete. Empty values count
    as absent (an HTML form sends its empty fields).
    """
    start, end, days = _instant(params, "start"), _instant(params, "end"), _days(params)
    if start is not None and days is not None:
        raise WindowParamError("days", "give either start or days, not both")
    anchor = latest if start is None and latest is not None else now
    try:
        end = _ceil_hour(end or anchor.astimezone(UTC))
        start = (start or end - timedelta(days=days or DEFAULT_DAYS)).replace(
            minute=0, second=0, microsecond=0
        )
    except OverflowError:  # an end within a window of year 1 or year 9999
        raise WindowParamError("end", "is too close to the limits of the calendar") from None
    if start >= end:
        raise WindowParamError("start", f"{start.isoformat()} is not before end {end.isoformat()}")
    if end - start > timedelta(days=MAX_DAYS):
        raise WindowParamError("start", f"the window may span at most {MAX_DAYS} days")
    return Window(start, end)


def latest_data(session: Session) -> datetime | None:
    """The end of the latest hour holding data: the last rollup hour or the last event, whichever is later.

    None for a store without data (or without tables). Both columns are
    indexed, so this costs two index look-ups.
    """
    tables = inspect(session.connection())
    ends = []
    if tables.has_table(HourlyRollup.__tablename__):
        hour = session.scalar(select(func.max(HourlyRollup.hour)))
        if hour is not None:
            ends.append(hour.astimezone(UTC) + HOUR)
    if tables.has_table(Event.__tablename__):
        last = session.scalar(select(func.max(Event.ts)))
        if last is not None:
            # An event at 10:00:00 belongs to the hour 10:00-11:00.
            ends.append(last.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR)
    return max(ends, default=None)


def view(session: Session, params: Mapping[str, str], now: datetime, top: int = TOP) -> dict[str, Any]:
    """The model a request asks for: its window (see ``window_from_params``) read from the store.

    Raises ``WindowParamError`` for a parameter that cannot be used.
    """
    latest = latest_data(session)
    window = window_from_params(params, now, latest)
    model = dashboard(session, window, top)
    model["window"]["latest_data"] = latest.isoformat() if latest is not None else None
    return model


# --------------------------------------------------------------------------- view model


def dashboard(session: Session, window: Window, top: int = TOP) -> dict[str, Any]:
    """The view model of ``window``: plain JSON-ready values, empty lists where the store has nothing.

    A store whose schema is not this version's (never migrated, as a fresh
    home before ``aitl db upgrade``, or migrated by an older version) gives the
    empty model with a ``notice`` saying what to do instead of an error page.
    """
    problem = schema_problem(session.connection())
    if problem:
        return _model(window, empty_series(window), notice=f"The store {problem}.")
    flagged = anomalies(session, window)
    charted = charted_metrics(flagged)
    return _model(
        window,
        hourly_series(session, window, charted),
        charted=list(charted),
        anomalies=[a for a in flagged if a["adverse"]],
        good_news=[a for a in flagged if not a["adverse"]],
        patterns=_top_patterns(session, window, top),
        insights=top_insights(session, window, top),
        pipeline=_pipeline(session, window, top),
        experiments=_experiments(session, window),
        effectiveness=_effectiveness(session, window),
        completeness=completeness.completeness(session, window),
    )


def _model(window: Window, series: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "charted": list(SERIES_METRICS),
        "anomalies": [],
        "good_news": [],
        "patterns": [],
        "insights": [],
        "pipeline": {"counts": {}, "items": [], "review": [], "review_total": 0},
        "experiments": [],
        "effectiveness": None,
        "completeness": completeness.empty(),
        "notice": None,
    }
    model = {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "latest_data": None},
        "totals": totals(series),
        "series": series,
        **empty,
        **parts,
    }
    model["tiles"] = _tiles(model)
    return model


def _tiles(model: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers. Every count of improvements is read from the pipeline's counts,
    the one query behind the pipeline bar, so a tile and the bar can never disagree."""
    counts = model["pipeline"]["counts"]
    return {
        "events": model["totals"]["events"],
        "success_rate": model["totals"]["success_rate"],
        "mean_quality": model["totals"]["mean_quality"],
        "error_rate": model["totals"]["error_rate"],
        # Anomaly episodes for the worse, on any metric and segment: one alert per incident.
        "anomaly_episodes": len(model["anomalies"]),
        # Episodes for the better only counted apart: good news is not an alarm.
        "good_news_episodes": len(model["good_news"]),
        "running": counts.get("running", 0),
        "proposed": counts.get("proposed", 0),
        "promoted": counts.get("promoted", 0),
        "rolled_back": counts.get("rolled_back", 0),
    }


def _latest_per_key(rows: Iterable[Any], key: Callable[[Any], tuple]) -> list[tuple[Any, list[Any]]]:
    """Rows grouped by ``key``: the latest of each group (by window end) with all of its rows.

    Hourly runs find the same pattern hour after hour and daily runs over
    overlapping windows; a person wants each finding once, with how often it was seen.
    """
    groups: dict[tuple, list[Any]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [(max(group, key=lambda r: r.window_end), group) for group in groups.values()]


def _segment_key(segment: dict[str, Any] | None) -> str:
    return describe_segment(segment or {})


# Kinds of pattern in the order shown; the others (sequence rules, ...) follow.
PATTERN_KINDS = ("frequency", "sequence", "correlation")


def _pattern_strength(pattern: Pattern) -> float:
    """How a pattern ranks within its kind: |r| for a correlation (its count is every event), else events."""
    return pattern.rate if pattern.kind == "correlation" else pattern.count


def _top_patterns(session: Session, window: Window, top: int) -> list[dict[str, Any]]:
    """The strongest patterns of each kind found by runs in the window (anomalies are plotted instead).

    Each kind is ranked on its own: a correlation counts every event of the
    window and would crowd out the signal frequencies a person acts on.
    Frequencies get ``top`` rows, the other kinds half as many.
    """
    rows = session.scalars(
        select(Pattern).where(
            Pattern.kind != "anomaly", Pattern.window_start >= window.start, Pattern.window_start < window.end
        )
    )
    by_kind: dict[str, list[tuple[Pattern, list[Pattern]]]] = {}
    for latest, group in _latest_per_key(
        rows, lambda p: (p.level, p.kind, p.signal, _segment_key(p.segment))
    ):
        by_kind.setdefault(latest.kind, []).append((latest, group))
    kinds = [k for k in PATTERN_KINDS if k in by_kind] + sorted(set(by_kind) - set(PATTERN_KINDS))
    ranked = []
    for kind in kinds:
        best = sorted(by_kind[kind], key=lambda lg: (-_pattern_strength(lg[0]), -len(lg[1]), lg[0].signal))
        ranked.extend(best[: top if kind == "frequency" else max(top // 2, 1)])
    return [
        {
            "level": p.level,
            "kind": p.kind,
            "signal": p.signal,
            "category": p.category,
            "subtype": p.subtype,
            "segment": p.segment or {},
            "count": p.count,
            "segment_n": p.segment_n,
            "rate": p.rate,
            "lift": p.lift,
            "p_value": p.p_value,
            "runs": len(group),
        }
        for p, group in ranked
    ]


def _pipeline(session: Session, window: Window, top: int) -> dict[str, Any]:
    """Every improvement in the pipeline at some time in the window, counted by its current status.

    The one query behind every count of improvements on the page (the bar and
    the tiles), the most recently updated ones, and the proposals awaiting a
    person's review with the commands that approve or reject them.
    """
    rows = session.scalars(
        select(Improvement)
        .where(
            Improvement.window_start < window.end,
            or_(Improvement.status.in_(ACTIVE_STATUSES), Improvement.updated_at >= window.start),
        )
        .order_by(Improvement.updated_at.desc(), Improvement.priority_score.desc(), Improvement.id)
    ).all()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    ordered = {s: counts.pop(s) for s in PIPELINE if s in counts} | dict(sorted(counts.items()))
    items = [_improvement(r) for r in rows[:top]]
    proposed = [r for r in rows if r.status == "proposed"]
    review = [
        {**_improvement(r), "confidence": r.confidence, "commands": review_commands(r.id)}
        for r in proposed[:MAX_REVIEW_ITEMS]
    ]
    return {"counts": ordered, "items": items, "review": review, "review_total": len(proposed)}


def _improvement(row: Improvement) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "target_id": row.target_id,
        "status": row.status,
        "status_reason": row.status_reason,
        "modification": row.modification,
        "priority": row.priority,
        "updated_at": row.updated_at.isoformat(),
    }


def review_commands(improvement_id: str) -> dict[str, str]:
    """Shell commands that review a proposed improvement: the review DAG's trigger and the CLI's equivalent.

    The params are those of ``dags/aitl_improvement_review.py``
    (``improvement_id``, ``decision`` approve or reject, ``note``). The id is
    store text: each argument is quoted for a POSIX shell, so a copied command
    passes it as one word whatever it holds (the page escapes it for HTML).
    """
    conf = json.dumps({"improvement_id": improvement_id, "decision": "approve", "note": ""})
    return {
        "airflow": f"airflow dags trigger {REVIEW_DAG} --conf {shlex.quote(conf)}",
        "cli": f"aitl review {shlex.quote(improvement_id)} approve --note ''",
    }


def _experiments(session: Session, window: Window) -> list[dict[str, Any]]:
    """Experiments running at some time in the window, each with its latest evidence by the window's end."""
    rows = session.scalars(
        select(Experiment)
        .where(
            Experiment.started_at < window.end,
            or_(Experiment.ended_at.is_(None), Experiment.ended_at >= window.start),
        )
        .order_by(Experiment.started_at, Experiment.id)
    )
    return [_experiment(session, e, window) for e in rows]


def _experiment(session: Session, experiment: Experiment, window: Window) -> dict[str, Any]:
    ended = experiment.ended_at is not None and experiment.ended_at <= window.end
    improvement = session.get(Improvement, experiment.improvement_id)
    return {
        "id": experiment.id,
        "improvement_id": experiment.improvement_id,
        "prompt_id": experiment.prompt_id,
        "control_version": experiment.control_version,
        "variant_version": experiment.variant_version,
        # Point in time: an experiment decided after the window was still running in it.
        "status": experiment.status if ended else "running",
        "modification": improvement.modification if improvement else "",
        "variant_adds": _added_lines(session, experiment),
        "look": _latest_decision(session, experiment, window) or _latest_result(session, experiment, window),
    }


def _added_lines(session: Session, experiment: Experiment) -> str:
    """What the variant prompt adds to its parent: the ``+`` lines of its stored diff."""
    variant = session.get(PromptVersion, (experiment.prompt_id, experiment.variant_version))
    if variant is None:
        return ""
    added = [
        line[1:] for line in variant.diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    return "\n".join(added)


def _latest_decision(session: Session, experiment: Experiment, window: Window) -> dict[str, Any] | None:
    decision = session.scalars(
        select(Decision)
        .where(Decision.experiment_id == experiment.id, Decision.window_end <= window.end)
        .order_by(Decision.window_end.desc())
        .limit(1)
    ).first()
    if decision is None:
        return None
    return {
        "source": "decision",
        "at": decision.window_end.isoformat(),
        "look": decision.look,
        "decision": decision.decision,
        "metric": decision.metric,
        "effect": decision.effect,
        "ci_low": decision.ci_low,
        "ci_high": decision.ci_high,
        "p_value": decision.p_value,
        "p_adjusted": decision.p_adjusted,
        "reason": decision.reason,
    }


def _latest_result(session: Session, experiment: Experiment, window: Window) -> dict[str, Any] | None:
    """Before the first daily look, the latest test of the primary metric (evidence, not a decision)."""
    result = session.scalars(
        select(ExperimentResult)
        .where(
            ExperimentResult.experiment_id == experiment.id,
            ExperimentResult.metric == experiment.primary_metric,
            ExperimentResult.window_end <= window.end,
        )
        .order_by(ExperimentResult.window_end.desc())
        .limit(1)
    ).first()
    if result is None:
        return None
    return {
        "source": "evidence",
        "at": result.window_end.isoformat(),
        "look": None,
        "decision": None,
        "metric": result.metric,
        "effect": result.effect,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "p_adjusted": None,
        "reason": f"{result.test}: {result.verdict}",
    }


def _effectiveness(session: Session, window: Window) -> dict[str, Any] | None:
    """The loop's own scorecard as of the latest run in the window (a daily one if there is one)."""
    row = session.scalars(
        select(Effectiveness)
        .where(Effectiveness.window_start >= window.start, Effectiveness.window_start < window.end)
        .order_by((Effectiveness.level == "daily").desc(), Effectiveness.window_end.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {"level": row.level, "window_end": row.window_end.isoformat(), "metrics": row.metrics}


# --------------------------------------------------------------------------- rendering
