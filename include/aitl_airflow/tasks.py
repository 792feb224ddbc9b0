"""Running ``aitl`` stages as Airflow tasks."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Variable
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from sqlalchemy.exc import SQLAlchemyError

from aitl.config import ConfigError, Settings, switch_on
from aitl.cycles import needed
from aitl.loop.implementation import MANUAL_ACTIONS, ReviewError, control, review
from aitl.pipeline.runner import run_stage
from aitl.pipeline.stage import StageResult
from aitl.publish.outbox import publish
from aitl.publish.sinks import sink_from_url
from aitl.shards import Shard, shard_list
from aitl.store.database import StoreSchemaError, check_schema, connect, store_error, transaction
from aitl.window import UNITS, Window, parse_utc
from aitl_airflow.alerts import webhook_url
from aitl_airflow.connections import sink_url, store_url
from aitl_airflow.metrics import emit
from aitl_airflow.params import MAX_OVERRIDE_HOURS

log = logging.getLogger(__name__)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ParamError(AirflowFailException):
    """A run param Airflow's schema cannot refuse (how params combine): fails the task without retries."""


class UnmigratedStore(AirflowFailException):
    """The store's schema is not this version's: fails without retries, as only ``aitl db upgrade`` helps."""


@contextmanager
def store_failures(url: str) -> Iterator[None]:
    """A store failure as one line naming the store (password masked) and what to do.

    That line is the task's error message (and its alert's reason); the
    original traceback stays chained below it in the task log, without event
    values (``aitl.store.database.connect`` hides statement parameters).
    """
    try:
        yield
    except StoreSchemaError as exc:
        raise UnmigratedStore(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise store_error(exc, url) from exc


def window_of(context: dict[str, Any], level: str) -> Window:
    """The window a run owns: its data interval, or for a run without one, the unit just closed.

    Scheduled runs and backfills have a data interval (the hour or day they
    own). A manual run triggered without a logical date (``airflow dags
    trigger``, the REST API with ``"logical_date": null``) has none: it owns
    the hour (daily: the day, midnight UTC) that had just closed when it was
    triggered, its ``run_after``. A run with neither fails without retries.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None:
        return Window(start, end)
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if run_after is None:
        raise ParamError("the run has no data interval and no run_after: give window_start/window_end")
    unit = UNITS[level]
    closed = _EPOCH + ((_as_utc(run_after) - _EPOCH) // unit) * unit
    return Window(closed - unit, closed)


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ParamError(f"run_after {instant!r} has no time zone")
    return datetime.fromtimestamp(instant.timestamp(), UTC)


def check_conf(context: dict[str, Any]) -> None:
    """Refuse a run whose conf names a param the DAG does not declare (``dryrun`` for ``dry_run``).

    Airflow validates the declared params' values but passes unknown keys
    through; a misspelt switch would then run for real. Called before
    anything is written, and fails the task without retries.
    """
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    declared = set(context["dag"].params)
    unknown = sorted(set(conf) - declared)
    if unknown:
        raise ParamError(
            f"param {unknown[0]}: not a param of this DAG (unknown: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(declared))})"
        )


# Params that override a threshold of the same name for one run (shortcuts
# for thresholds of the ``thresholds`` param: the daily DAG's two, the hourly one's).
THRESHOLD_PARAMS = ("window_days", "sensitivity", "shards")


def threshold_overrides(params: dict[str, Any], conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's threshold overrides: the named threshold params, then the ``thresholds`` object.

    A threshold given both ways in the run's conf is refused: which one was
    meant cannot be told. A named param left at its default yields to the
    ``thresholds`` entry.
    """
    explicit = params.get("thresholds") or {}
    both = sorted(name for name in THRESHOLD_PARAMS if name in (conf or {}) and name in explicit)
    if both:
        raise ParamError(f"param thresholds: {', '.join(both)} is also given as its own param; give it once")
    named = {name: params[name] for name in THRESHOLD_PARAMS if params.get(name) is not None}
    return {**named, **explicit}


# The Airflow Variable that pauses every launch of the deployment (the
# pause_launches threshold), switched in the UI or with `airflow variables set`.
PAUSE_VARIABLE = "aitl_pause_launches"


def launches_paused() -> bool:
    """Whether the Variable ``aitl_pause_launches`` is on (true, 1, yes, on); unset is off.

    Read at every task, so switching it takes effect at the next task. A value
    that is neither on nor off fails the task: a safety switch is not guessed.
    """
    value = Variable.get(PAUSE_VARIABLE, default=None)
    try:
        return switch_on(f"Variable {PAUSE_VARIABLE}", None if value is None else str(value))
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from exc


def settings_of(context: dict[str, Any]) -> Settings:
    """The run's settings: the deployment's, the profile, the run's threshold overrides.

    ``pause_launches`` is on when the run asks for it, ``AITL_PAUSE_LAUNCHES``
    says so or the Variable ``aitl_pause_launches`` does; a run cannot switch
    a deployment's pause off.
    """
    params = context.get("params") or {}
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    overrides = threshold_overrides(params, conf)
    if launches_paused():
        overrides = {**overrides, "pause_launches": True}
    try:
        return Settings.from_env(
            store_url=store_url(),
            profile=params.get("profile"),
            overrides=overrides,
            dry_run=bool(params.get("dry_run", False)),
            sink_url=sink_url(),
            segment=params.get("segment") or {},
            alert_webhook=webhook_url(),  # the aitl_alerts connection, else AITL_ALERT_WEBHOOK
        )
    except ConfigError as exc:
        # An unknown threshold or segment key, or a value of the wrong kind.
        raise ParamError(f"param {_param_of(exc)}: {exc}") from exc


def _param_of(error: ConfigError) -> str:
    text = str(error)
    return "segment" if text.startswith("segment") else "profile" if "profile" in text else "thresholds"


def override_window(params: dict[str, Any], interval: Window, level: str) -> Window | None:
    """The window a manual run asked for instead of its data interval, or None.

    ``hours``: the N hours ending at the data interval's end; or
    ``window_start`` / ``window_end`` (ISO 8601, no offset = UTC). Either
    form, not both; the window must start before it ends, lie on the
    cycle's unit boundaries (hours; days at midnight UTC for the daily
    cycle) and span at most ``MAX_OVERRIDE_HOURS``. Raises ``ParamError``
    naming the param otherwise.
    """
    start, end, hours = params.get("window_start"), params.get("window_end"), params.get("hours")
    if hours is None and start is None and end is None:
        return None
    unit = UNITS[level]
    unit_name = "an hour" if level == "hourly" else "a day (midnight UTC)"
    if hours is not None:
        if start is not None or end is not None:
            raise ParamError("param hours: give either hours or window_start/window_end, not both")
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
            raise ParamError(f"param hours: must be a whole number of hours >= 1, got {hours!r}")
        if timedelta(hours=hours) % unit:
            raise ParamError(f"param hours: {hours} is not a whole number of days (the daily cycle's unit)")
        start_at, end_at = interval.end - timedelta(hours=hours), interval.end
    else:
        if start is None or end is None:
            missing = "window_end" if end is None else "window_start"
            raise ParamError(
                f"param {missing}: window_start and window_end go together; {missing} is missing"
            )
        start_at, end_at = _instant("window_start", start), _instant("window_end", end)
        if end_at <= start_at:
            raise ParamError(f"param window_end: {end} is not after window_start {start}")
        for name, instant in (("window_start", start_at), ("window_end", end_at)):
            if (instant - _EPOCH) % unit:
                raise ParamError(f"param {name}: {instant.isoformat()} is not on {unit_name} boundary")
    if end_at - start_at > timedelta(hours=MAX_OVERRIDE_HOURS):
        name = "hours" if hours is not None else "window_end"
        raise ParamError(
            f"param {name}: the window spans more than {MAX_OVERRIDE_HOURS} hours; backfill instead"
        )
    return Window(start_at, end_at)


def _instant(name: str, text: Any) -> datetime:
    try:
        return parse_utc(str(text))
    except ValueError as exc:
        raise ParamError(f"param {name}: {text!r} is not an ISO 8601 date-time") from exc


def run(stage: str, context: dict[str, Any], level: str = "hourly") -> dict[str, Any]:
    """Run one stage for the task's window; a stop becomes an AirflowSkipException.

    A manual run with a window override runs the stage for each unit (hour,
    or day) of the override instead: see ``run_units``.
    """
    check_conf(context)
    settings = settings_of(context)
    if context.get("shard") is not None:  # a mapped task's shard of the hour
        settings = dataclasses.replace(settings, shard=_shard_of(context["shard"], settings))
    window = window_of(context, level)
    override = override_window(context.get("params") or {}, window, level)
    with store_failures(settings.store_url):
        check_schema(settings.store_url)
        if override is not None:
            return run_units(stage, override, settings, level, context)
        result = run_stage(stage, window, settings, level)
    _log(level, stage, window, result)
    emit(level, stage, result.summary)
    if result.stop:
        raise AirflowSkipException(f"{stage}: {result.stop}")
    return _json_safe(result.summary)


def shard_plan(context: dict[str, Any]) -> list[dict[str, int]]:
    """The shards of the run's hour (``shards`` param, else the threshold): what sharded stages map over."""
    check_conf(context)
    return shard_list(settings_of(context).thresholds.shards)


def _shard_of(argument: dict[str, int], settings: Settings) -> Shard:
    """The mapped task's shard, which must be one of the count this run's settings say."""
    shard = Shard(argument["index"], argument["count"])
    if shard.count != settings.thresholds.shards:
        raise AirflowFailException(
            f"shard {shard.index} of {shard.count}, but this run's shards are {settings.thresholds.shards}"
        )
    return shard


def _continuing(upstream: Any) -> set[str]:
    """The units (window starts) that continue after the upstream task: every shard's, when mapped."""
    results = upstream if isinstance(upstream, list) else [upstream or {}]
    going = [{u["window_start"] for u in r.get("units", []) if u["stop"] is None} for r in results if r]
    return set.intersection(*going) if going else set()


def _numbers(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if isinstance(v, int | float | bool)}


def _log(level: str, stage: str, window: Window, result: StageResult) -> None:
    log.info(
        "aitl %s %s %s: %s",
        level,
        stage,
        window,
        json.dumps(_json_safe(_numbers(result.summary)), sort_keys=True),
    )


def run_units(
    stage: str, window: Window, settings: Settings, level: str, context: dict[str, Any]
) -> dict[str, Any]:
    """The stage for every hour (hourly) or day (daily) of an override window, in order.

    Each unit runs in its own transaction and is recorded in
    ``pipeline_runs`` as a scheduled run of that unit would be. A unit whose
    previous stage stopped (this task's upstream XCom says which) is not run,
    as in ``aitl.pipeline.runner.run_cycle``. Returns per-unit stops and numbers and
    the sums of the integer counts; skips when every unit stopped.
    """
    previous = needed(level, stage)
    going: set[str] | None = None
    if previous is not None:
        going = _continuing(context["ti"].xcom_pull(task_ids=previous))
    units: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    for unit in window.units(level):
        entry: dict[str, Any] = {"window_start": unit.start.isoformat(), "window_end": unit.end.isoformat()}
        if going is not None and entry["window_start"] not in going:
            units.append({**entry, "stop": f"{previous} did not continue", "ran": False})
            continue
        result = run_stage(stage, unit, settings, level)
        _log(level, stage, unit, result)
        emit(level, stage, result.summary)
        numbers = _json_safe(_numbers(result.summary))
        for key, value in numbers.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
        units.append({**entry, "stop": result.stop, "ran": True, "numbers": numbers})
    ran = [u for u in units if u["ran"]]
    going_on = [u for u in ran if u["stop"] is None]
    summary = {
        "window": str(window),
        "unit_count": len(units),
        "ran": len(ran),
        "continued": len(going_on),
        "totals": totals,
        "units": units,  # what the downstream tasks read
    }
    log.info(
        "aitl %s %s %s: %d of %d units ran, %d continue",
        level,
        stage,
        window,
        len(ran),
        len(units),
        len(going_on),
    )
    if not going_on:
        reasons = sorted({u["stop"] for u in units if u["stop"]})
        raise AirflowSkipException(f"{stage}: stopped for every unit of {window}: {'; '.join(reasons)[:500]}")
    return summary


def _json_safe(value: Any) -> Any:
    """The summary with non-finite numbers (a rate of nothing, NaN) as None: XCom is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def review_improvement(context: dict[str, Any]) -> dict[str, Any]:
    """Apply the review named by the run's params.

    ``approve`` / ``reject`` take a proposed ``improvement_id``; ``stop`` /
    ``rollback`` a running ``experiment_id``, or the ``improvement_id`` of a
    running experiment. A refused review (unknown id, wrong status, unsafe
    now) fails the task without retries: retrying cannot change the answer.
    """
    check_conf(context)
    params = context["params"]
    decision = params["decision"]
    improvement_id, experiment_id = params.get("improvement_id"), params.get("experiment_id")
    if decision in MANUAL_ACTIONS:
        if params.get("override"):
            raise ParamError(f"param override: goes with an approval, not with {decision}")
        if bool(improvement_id) == bool(experiment_id):
            raise ParamError(
                f"param experiment_id: {decision} takes experiment_id (a running experiment; see aitl "
                "experiments) or the improvement_id of one, exactly one of them"
            )
    elif experiment_id:
        raise ParamError(f"param experiment_id: only with decision stop or rollback, not {decision}")
    elif not improvement_id:
        raise ParamError("param improvement_id: required (a proposed improvement; see aitl improvements)")
    settings = settings_of(context)
    reviewer = getattr(context.get("dag_run"), "triggering_user_name", None) or "airflow"
    note = params.get("note") or ""
    with store_failures(settings.store_url):
        check_schema(settings.store_url)
        try:
            with transaction(connect(settings.store_url)) as session:
                if experiment_id:
                    result = control(
                        session,
                        experiment_id,
                        decision,
                        at=datetime.now(UTC),
                        thresholds=settings.thresholds,
                        reviewer=reviewer,
                        note=note,
                    )
                else:
                    result = review(
                        session,
                        improvement_id,
                        decision,
                        at=datetime.now(UTC),
                        thresholds=settings.thresholds,
                        reviewer=reviewer,
                        note=note,
                        override=params.get("override"),
                        allowed_overrides=settings.review_overrides,
                    )
        except ReviewError as exc:
            raise AirflowFailException(str(exc)) from exc
        # Tell the platform now rather than at the next hourly publish.
        result["published"] = publish(
            connect(settings.store_url), sink_from_url(settings.sink_url), datetime.now(UTC)
        )
    log.info(
        "aitl review %s %s: %s", decision, experiment_id or improvement_id, json.dumps(result, sort_keys=True)
    )
    return result
