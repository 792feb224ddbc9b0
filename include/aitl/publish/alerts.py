"""Alerts on what the loop finds and does, posted to the deployment's webhook.

A critical or high insight, an anomaly incident, a promotion, a rollback, a
stop on a sample-ratio mismatch, a setting applied or rolled back: each
reaches a person without their opening the view. The ``publish`` stage of
both cycles calls ``notify`` (so ``aitl run`` and the Airflow tasks share this
one path); Airflow's own failures alert from ``aitl_airflow.alerts`` through
the same webhook code (``aitl.publish.webhook``).

* **What**: insights observed by this run at severity high or critical (an
  anomaly incident is its own kind), and the outbox messages this window's
  decisions enqueued (promotions, rollbacks, SRM stops, settings).
* **Once**: an insight alerts once, and again only when its severity rises
  (the ``alerts`` table remembers each subject's severity); a decision once.
* **Capped**: at most ``CAP_PER_KIND_PER_DAY`` alerts of a kind a day; the rest
  are counted in the stage's summary, not sent.
* **Delivered at least once**: an alert is recorded, then posted; one the
  webhook did not take is posted again by the next run.

Each message is Slack-compatible (``text``, with the link to the AITL view
for its window) plus the structured ``alert``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from aitl.config import Settings
from aitl.ids import stable_id
from aitl.publish.webhook import post
from aitl.store.database import transaction
from aitl.store.models import Alert, Insight, InsightObservation, OutboxMessage
from aitl.window import Window

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ALERTED_SEVERITIES = ("high", "critical")
CAP_PER_KIND_PER_DAY = 20
# Outbox messages that alert, as (kind, severity); an experiment decision by its outcome.
DECISIONS = {"promoted": ("promotion", "high"), "rolled_back": ("rollback", "critical")}
DECISIONS |= {"stopped_srm": ("srm_stop", "critical")}
SETTINGS = {
    "config_change": ("setting_applied", "high"),
    "config_rollback": ("setting_rolled_back", "critical"),
}


def _view_link(settings: Settings, window: Window) -> str:
    """The AITL view over the day(s) around the window."""
    start = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    end = max(window.end, start + timedelta(days=1))
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    return f"{settings.view_url.rstrip('/')}/?{query}"


def _insight_candidates(session: Session, level: str, window: Window) -> list[dict[str, Any]]:
    observation = InsightObservation.__table__
    rows = session.execute(
        select(
            Insight.id,
            Insight.title,
            Insight.category,
            Insight.subtype,
            observation.c.severity,
            observation.c.evidence,
        )
        .join(observation, observation.c.insight_id == Insight.id)
        .where(
            observation.c.level == level,
            observation.c.window_start == window.start,
            observation.c.severity.in_(ALERTED_SEVERITIES),
        )
    )
    return [
        {
            "kind": "anomaly" if (evidence or {}).get("finding") == "anomaly" else "insight",
            "subject": insight_id,
            "severity": severity,
            "title": title,
            "fields": {"insight_id": insight_id, "category": category, "subtype": subtype},
        }
        for insight_id, title, category, subtype, severity, evidence in rows
    ]


def _decision_candidates(session: Session, window: Window) -> list[dict[str, Any]]:
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload).where(
            OutboxMessage.created_at > window.start, OutboxMessage.created_at <= window.end
        )
    )
    found = []
    for message_id, kind, payload in rows:
        if kind == "experiment_decision" and payload.get("decision") in DECISIONS:
            alert_kind, severity = DECISIONS[payload["decision"]]
            title = f"Experiment {payload['experiment_id']} on {payload['prompt_id']}: {payload['decision']}"
        elif kind in SETTINGS:
            alert_kind, severity = SETTINGS[kind]
            verb = "applied" if kind == "config_change" else "rolled back"
            title = f"Setting {payload['target_id']} {verb}"
        else:
            continue
        reason = payload.get("reason")
        found.append(
            {
                "kind": alert_kind,
                "subject": message_id,
                "severity": severity,
                "title": title + (f" ({reason})" if reason else ""),
                "fields": payload,
            }
        )
    return found


def _already(session: Session, candidate: dict[str, Any]) -> bool:
    """Alerted before at this severity or a higher one."""
    severities = session.scalars(select(Alert.severity).where(Alert.subject == candidate["subject"]))
    return any(SEVERITY_RANK[s] >= SEVERITY_RANK[candidate["severity"]] for s in severities)


def record(session: Session, settings: Settings, level: str, window: Window, now: datetime) -> dict[str, int]:
    """Record this run's new alerts (deduplicated, capped); how many were new, and capped."""
    day = window.end.replace(hour=0, minute=0, second=0, microsecond=0)
    if window.end == day:
        day -= timedelta(days=1)  # a window ending at midnight belongs to the day before
    counts = {"new": 0, "capped": 0}
    for candidate in [*_insight_candidates(session, level, window), *_decision_candidates(session, window)]:
        if _already(session, candidate):
            continue
        sent_today = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.kind == candidate["kind"], Alert.day == day)
        )
        if sent_today >= CAP_PER_KIND_PER_DAY:
            counts["capped"] += 1
            continue
        link = _view_link(settings, window)
        alert = {
            "kind": candidate["kind"],
            "severity": candidate["severity"],
            "title": candidate["title"],
            "level": level,
            "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
            "link": link,
            **candidate["fields"],
        }
        text = f"AITL {candidate['severity']} {candidate['kind']}: {candidate['title']} <{link}|open in AITL>"
        session.add(
            Alert(
                id=stable_id("alert", candidate["subject"], candidate["severity"]),
                kind=candidate["kind"],
                subject=candidate["subject"],
                severity=candidate["severity"],
                day=day,
                message={"text": text, "alert": alert},
                created_at=now,
                delivered_at=None,
            )
        )
        session.flush()
        counts["new"] += 1
    return counts


def notify(engine: Engine, settings: Settings, level: str, window: Window, now: datetime) -> dict[str, Any]:
    """Record this run's alerts, then post every undelivered one; the numbers for the stage's summary.

    Without a webhook nothing is recorded, so configuring one later does not
    replay the past.
    """
    if not settings.alert_webhook:
        return {"webhook": False}
    with transaction(engine) as session:
        counts = record(session, settings, level, window, now)
        pending = session.execute(
            select(Alert.id, Alert.message)
            .where(Alert.delivered_at.is_(None))
            .order_by(Alert.created_at, Alert.id)
        ).all()
    delivered = 0
    for alert_id, message in pending:  # no transaction open while the webhook is called
        if not post(settings.alert_webhook, message):
            break  # the webhook is down: the rest wait for the next run, in order
        with transaction(engine) as session:
            session.execute(update(Alert).where(Alert.id == alert_id).values(delivered_at=now))
        delivered += 1
    return {"webhook": True, **counts, "delivered": delivered, "undelivered": len(pending) - delivered}
