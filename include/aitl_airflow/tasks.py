"""Running ``aitl`` stages as Airflow tasks."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

from aitl.config import Settings
from aitl.implementation import ReviewError, review
from aitl.runner import run_stage
from aitl.sinks import publish, sink_from_url
from aitl.store.database import connect, transaction
from aitl.window import Window

log = logging.getLogger(__name__)

STORE_CONN_ID = "aitl_store"
_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}


def store_url() -> str | None:
    """The store's SQLAlchemy URL from the ``aitl_store`` connection, if defined.

    The connection's extra ``sqlalchemy_url`` wins; otherwise its URI with the
    scheme mapped to a SQLAlchemy driver. Without the connection the library
    falls back to ``AITL_STORE_URL`` and then to its embedded SQLite default.
    """
    try:
        conn = BaseHook.get_connection(STORE_CONN_ID)
    except AirflowNotFoundException:
        return None
    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return explicit
    scheme, _, rest = conn.get_uri().partition("://")
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"


SINK_CONN_ID = "aitl_sink"


def sink_url() -> str | None:
    """Where decisions are published, from the ``aitl_sink`` connection, if defined.

    Its extra ``url`` (a file path, an http(s) URL or a SQLAlchemy URL) wins;
    otherwise its URI (``http://host:port/path``). Without the connection
    ``AITL_SINK_URL`` applies, then a JSON-lines file in ``AITL_HOME``.
    """
    try:
        conn = BaseHook.get_connection(SINK_CONN_ID)
    except AirflowNotFoundException:
        return None
    return conn.extra_dejson.get("url") or conn.get_uri()


def window_of(context: dict[str, Any]) -> Window:
    return Window(context["data_interval_start"], context["data_interval_end"])


# Params that override a threshold of the same name for one run.
THRESHOLD_PARAMS = ("window_days", "sensitivity")


def settings_of(context: dict[str, Any]) -> Settings:
    params = context.get("params") or {}
    return Settings.from_env(
        store_url=store_url(),
        profile=params.get("profile"),
        overrides={name: params[name] for name in THRESHOLD_PARAMS if params.get(name) is not None},
        dry_run=bool(params.get("dry_run", False)),
        sink_url=sink_url(),
    )


def run(stage: str, context: dict[str, Any], level: str = "hourly") -> dict[str, Any]:
    """Run one stage for the task's window; a stop becomes an AirflowSkipException."""
    window = window_of(context)
    result = run_stage(stage, window, settings_of(context), level)
    numbers = {k: v for k, v in result.summary.items() if isinstance(v, int | float | bool)}
    log.info("aitl %s %s %s: %s", level, stage, window, json.dumps(numbers, sort_keys=True))
    if result.stop:
        raise AirflowSkipException(f"{stage}: {result.stop}")
    return _json_safe(result.summary)


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
    """Approve or reject the improvement named by the run's params.

    A refused review (unknown id, not proposed, unsafe now) fails the task
    without retries: retrying cannot change the answer.
    """
    params = context["params"]
    settings = settings_of(context)
    reviewer = getattr(context.get("dag_run"), "triggering_user_name", None) or "airflow"
    try:
        with transaction(connect(settings.store_url)) as session:
            result = review(
                session,
                params["improvement_id"],
                params["decision"],
                at=datetime.now(UTC),
                thresholds=settings.thresholds,
                reviewer=reviewer,
                note=params.get("note") or "",
            )
    except ReviewError as exc:
        raise AirflowFailException(str(exc)) from exc
    # Tell the platform now rather than at the next hourly publish.
    with transaction(connect(settings.store_url)) as session:
        result["published"] = publish(session, sink_from_url(settings.sink_url), datetime.now(UTC))
    log.info("aitl review %s: %s", params["improvement_id"], json.dumps(result, sort_keys=True))
    return result
