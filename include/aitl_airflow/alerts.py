"""Alerts: a failed task, a failed run, a run past its deadline.

``AitlAlert`` is an Airflow notifier. Every alert is one log line, always:

    AITL ALERT task_failed: dag=aitl_feedback_hourly run=scheduled__2026-11-20T05:00:00+00:00
    task=collect state=failed reason='OperationalError: ...' log=http://.../tasks/collect?try_number=3

and, when a webhook is configured, the same as JSON ``POST``ed to it:
``{"text": <the line>, "alert": {"event", "dag_id", "run_id", "task_id", "state",
"reason", "log_url", "at"}}`` (``text`` is what Slack-, Mattermost- and
Teams-style incoming webhooks show). The webhook is the Airflow connection
``aitl_alerts`` (extra ``webhook_url``, or a host holding the whole URL), else
the environment variable ``AITL_ALERT_WEBHOOK``. A webhook that is down, slow
(``TIMEOUT_S``), redirects or refuses is logged, never raised: an alert must
not fail what it reports on. The log names the webhook by scheme and host
only: a Slack-style webhook URL's path is its secret.

The DAGs use it three ways (the helpers below):

* ``on_task_failure()``: ``on_failure_callback`` of every task (``default_args``),
  run by the task's worker after its last try, with the exception and log URL;
* ``on_run_failure()``: the DAG's ``on_failure_callback``, run by the DAG
  processor when a run fails;
* ``run_deadline(after)``: a ``DeadlineAlert`` ``after`` the run was queued,
  an ``AsyncCallback`` run by the triggerer if the run has not finished by then.

Imported at DAG parse time (the callbacks are part of the DAG): standard
library, Task SDK and the library's webhook path (``aitl.publish.webhook``:
``httpx``, a Task SDK dependency, and the standard library), shared with the
alerts on what the loop finds (``aitl.publish.alerts``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import AsyncCallback, BaseHook, BaseNotifier, DeadlineAlert, DeadlineReference

from aitl.config import ALERT_WEBHOOK_ENV as WEBHOOK_ENV
from aitl.publish.webhook import TIMEOUT_S, one_line, post

log = logging.getLogger(__name__)

ALERTS_CONN_ID = "aitl_alerts"
EVENTS = ("task_failed", "run_failed", "deadline_missed")


def webhook_url() -> str | None:
    """The webhook alerts go to: connection ``aitl_alerts``, else ``AITL_ALERT_WEBHOOK``, else none."""
    try:
        conn = BaseHook.get_connection(ALERTS_CONN_ID)
    except Exception as exc:  # not defined, or no way to ask here: the variable may still say
        log.debug("no connection %s: %s", ALERTS_CONN_ID, exc)
    else:
        extra = conn.extra_dejson or {}
        url = extra.get("webhook_url") or extra.get("url")
        if not url and conn.host and conn.host.startswith(("http://", "https://")):
            url = conn.host
        if url:
            return url
    return os.environ.get(WEBHOOK_ENV) or None


def _field(obj: Any, *names: str) -> Any:
    """The first of ``names`` that ``obj`` (a dict or an object) has and is set."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return None


def describe(event: str, context: dict[str, Any], detail: str = "") -> dict[str, Any]:
    """What an alert says, from whichever context Airflow gave the callback.

    A task callback's context has ``ti``, ``dag_run`` and ``exception``; a
    DAG callback's has the last failed ``ti`` and a ``reason``; a deadline
    callback's has ``dag_run`` as a plain dict (the REST API's shape) and
    ``deadline``.
    """
    dag_run = context.get("dag_run") or {}
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = _field(dag_run, "dag_id") or _field(dag, "dag_id") or _field(ti, "dag_id")
    run_id = context.get("run_id") or _field(dag_run, "run_id", "dag_run_id") or _field(ti, "run_id")
    if event == "task_failed":
        exception = context.get("exception")
        reason = f"{type(exception).__name__}: {exception}" if exception is not None else "task failed"
        state = "failed"
    elif event == "run_failed":
        reason = str(context.get("reason") or "run failed")
        if ti is not None:
            reason += f" (last failed task {_field(ti, 'task_id')})"
        state = "failed"
    else:
        deadline = context.get("deadline") or {}
        reason = f"not finished by {_field(deadline, 'deadline_time') or 'its deadline'}"
        state = str(_field(dag_run, "state") or "unknown")
    if detail:
        reason += f" [{detail}]"
    try:
        log_url = _field(ti, "log_url") if ti is not None else None
    except Exception:  # log_url reads the configuration; never let it cost the alert
        log_url = None
    return {
        "event": event,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": _field(ti, "task_id") if ti is not None else None,
        "state": state,
        "reason": one_line(reason),
        "log_url": log_url,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def alert_line(alert: dict[str, Any]) -> str:
    parts = [f"dag={alert['dag_id']}", f"run={alert['run_id']}"]
    if alert["task_id"]:
        parts.append(f"task={alert['task_id']}")
    parts += [f"state={alert['state']}", f"reason={alert['reason']!r}"]
    if alert["log_url"]:
        parts.append(f"log={alert['log_url']}")
    return f"AITL ALERT {alert['event']}: " + " ".join(parts)


class AitlAlert(BaseNotifier):
    """Log one line per alert and, if a webhook is configured, POST it (see the module docstring).

    :param event: ``task_failed``, ``run_failed`` or ``deadline_missed``.
    :param detail: appended to the reason (e.g. which deadline).
    :param webhook_url: a fixed webhook instead of the connection / variable.
    """

    template_fields = ()

    def __init__(
        self,
        event: str = "task_failed",
        detail: str = "",
        webhook_url: str | None = None,
        timeout_s: float = TIMEOUT_S,
        context: dict[str, Any] | None = None,
    ):
        super().__init__(context=context)
        if event not in EVENTS:
            raise ValueError(f"event {event!r} is not one of {EVENTS}")
        self.event, self.detail, self.webhook_url, self.timeout_s = event, detail, webhook_url, timeout_s

    def render_template_fields(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        """Nothing to render (no template fields).

        Also spares the alert a context Jinja cannot work with: ``dag.test()``
        hands DAG callbacks a serialized DAG without a template environment.
        """

    def notify(self, context: dict[str, Any]) -> None:
        try:
            alert = describe(self.event, context, self.detail)
        except Exception as exc:  # an unexpected context still gets its line
            alert = dict.fromkeys(("dag_id", "run_id", "task_id", "log_url"))
            alert |= {"event": self.event, "state": "unknown", "reason": f"(context unreadable: {exc})"}
        line = alert_line(alert)
        log.log(logging.WARNING if self.event == "deadline_missed" else logging.ERROR, line)
        try:
            url = self.webhook_url or webhook_url()
            if url:
                post(url, {"text": line, "alert": alert}, self.timeout_s)
        except Exception as exc:
            log.warning("AITL alert not delivered: %s", one_line(exc))

    async def async_notify(self, context: dict[str, Any]) -> None:
        """The triggerer's way (deadline alerts): the same, off the event loop."""
        await asyncio.to_thread(self.notify, context)


def on_task_failure() -> AitlAlert:
    """For ``default_args["on_failure_callback"]``: a task failed after its last try."""
    return AitlAlert("task_failed")


def on_run_failure() -> AitlAlert:
    """For the DAG's ``on_failure_callback``: a run failed."""
    return AitlAlert("run_failed")


def run_deadline(after: timedelta) -> DeadlineAlert:
    """Alert when a run has not finished ``after`` it was queued.

    Counted from when the run was queued, not from its logical date: a
    scheduled run is queued as its interval closes, so this is "``after``
    past the end of the interval", while a backfill or a manual run of an old
    interval gets the same allowance instead of missing its deadline at once.
    """
    minutes = int(after.total_seconds() // 60)
    _keep_dag_test_working()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=after,
        callback=AsyncCallback(
            AitlAlert, kwargs={"event": "deadline_missed", "detail": f"{minutes} min after it was queued"}
        ),
    )


# --------------------------------------------------------------------------- Airflow 3.3.2 workaround


def _keep_dag_test_working() -> None:
    """Let ``dag.test()`` / ``airflow dags test`` finish a successful run of a DAG with a deadline.

    Airflow 3.3.2 bug apache/airflow#73428 (fix proposed in #73430): ``DAG.test()``
    gives the run an in-memory copy of the DAG whose ``deadline`` holds the
    serialized alerts instead of their ``deadline_alert`` ids, and the run's
    final ``update_state`` passes those to ``DeadlineAlert.get_by_id``, which
    fails (``'dict' object has no attribute 'hex'``) after every task
    succeeded. The scheduler's own path reads ids and is not affected.

    This wraps ``DAG.test`` (Task SDK; nothing is imported at parse time) so
    that, for a DAG with a deadline, ``get_by_id`` first accepts the
    serialized form, as the upstream fix does. Remove once fixed upstream.
    """
    from airflow.sdk.definitions.dag import DAG

    if getattr(DAG.test, "_aitl_deadline_fix", False):
        return
    original = DAG.test

    @functools.wraps(original)
    def test(self, *args, **kwargs):
        if self.deadline:
            _accept_serialized_deadline_alerts()
        return original(self, *args, **kwargs)

    test._aitl_deadline_fix = True  # type: ignore[attr-defined]
    DAG.test = test  # type: ignore[method-assign]


def _accept_serialized_deadline_alerts() -> None:
    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel

    if getattr(DeadlineAlertModel.get_by_id, "_aitl_deadline_fix", False):
        return
    by_id = DeadlineAlertModel.get_by_id

    class Unsaved:
        """A serialized alert, as much of it as ``DagRun.update_state`` reads: its reference class."""

        reference_class = property(DeadlineAlertModel.reference_class.fget)

        def __init__(self, data: dict[str, Any]):
            self.reference = data.get("__var", data).get("reference") or {}

    def get_by_id(deadline_alert_id, *args, **kwargs):
        if isinstance(deadline_alert_id, dict):
            return Unsaved(deadline_alert_id)
        return by_id(deadline_alert_id, *args, **kwargs)

    get_by_id._aitl_deadline_fix = True  # type: ignore[attr-defined]
    DeadlineAlertModel.get_by_id = staticmethod(get_by_id)  # type: ignore[method-assign, assignment]
