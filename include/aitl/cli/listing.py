"""What ``aitl improvements`` and ``aitl experiments`` list: the store's rows as flat records, and lines.

Each record is a flat dict of JSON-ready values (times as ISO 8601 strings);
``--json`` prints one per line, the readable listing prints the same records
as one aligned line each, newest first.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.loop.decisions import FINAL
from aitl.loop.implementation import COST
from aitl.loop.planning import STATUSES
from aitl.store.models import Decision, Experiment, Improvement

# Every type planning produces: each has a cost in the improvement budget.
IMPROVEMENT_TYPES = tuple(COST)
# The life of an improvement, in the order it moves through the loop.
IMPROVEMENT_STATUSES = STATUSES
EXPERIMENT_STATUSES = ("running", *FINAL)


class ListingError(ValueError):
    """A filter value the store never holds: the message names the valid ones."""


def _check(option: str, value: str | None, valid: tuple[str, ...]) -> None:
    if value is not None and value not in valid:
        raise ListingError(f"{option}: unknown value {value!r}; valid: {', '.join(valid)}")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def review_command(improvement_id: str, store: str | None = None) -> str:
    """The command that approves a proposed improvement (``reject`` in its place rejects it)."""
    command = ["aitl", "review", improvement_id, "approve"]
    if store:
        command += ["--store", store]
    return shlex.join(command)


def improvements(
    session: Session, *, status: str | None = None, kind: str | None = None, store: str | None = None
) -> list[dict[str, Any]]:
    """Improvements, newest first (by the end of the window that planned them), then by priority.

    ``review`` is the command that approves a proposed one (None for any other status).
    """
    _check("--status", status, IMPROVEMENT_STATUSES)
    _check("--type", kind, IMPROVEMENT_TYPES)
    query = select(Improvement).order_by(
        Improvement.window_end.desc(), Improvement.priority_score.desc(), Improvement.id
    )
    if status is not None:
        query = query.where(Improvement.status == status)
    if kind is not None:
        query = query.where(Improvement.type == kind)
    return [
        {
            "id": row.id,
            "type": row.type,
            "target_kind": row.target_kind,
            "target_id": row.target_id,
            "status": row.status,
            "priority": row.priority,
            "priority_score": row.priority_score,
            "confidence": row.confidence,
            "reason": row.status_reason,
            "created_at": _iso(row.window_end),
            "updated_at": _iso(row.updated_at),
            "review": review_command(row.id, store) if row.status == "proposed" else None,
        }
        for row in session.scalars(query)
    ]


def experiments(session: Session, *, status: str | None = None) -> list[dict[str, Any]]:
    """Experiments, newest first, each with its latest decision look (None before the first)."""
    _check("--status", status, EXPERIMENT_STATUSES)
    latest = (
        select(Decision.experiment_id, func.max(Decision.window_end).label("window_end"))
        .group_by(Decision.experiment_id)
        .subquery()
    )
    query = (
        select(Experiment, Decision)
        .outerjoin(latest, latest.c.experiment_id == Experiment.id)
        .outerjoin(
            Decision,
            (Decision.experiment_id == latest.c.experiment_id) & (Decision.window_end == latest.c.window_end),
        )
        .order_by(Experiment.started_at.desc(), Experiment.id)
    )
    if status is not None:
        query = query.where(Experiment.status == status)
    return [
        {
            "id": experiment.id,
            "improvement_id": experiment.improvement_id,
            "prompt_id": experiment.prompt_id,
            "control_version": experiment.control_version,
            "variant_version": experiment.variant_version,
            "traffic_split": experiment.traffic_split,
            "status": experiment.status,
            "started_at": _iso(experiment.started_at),
            "ended_at": _iso(experiment.ended_at),
            "planned_n_per_arm": experiment.planned_n_per_arm,
            "last_decision": decision.decision if decision else None,
            "last_decision_at": _iso(decision.window_end) if decision else None,
            "last_reason": decision.reason if decision else None,
        }
        for experiment, decision in session.execute(query)
    ]


# --------------------------------------------------------------------------- readable lines


def _short(iso: str | None) -> str:
    """``2026-11-10T05:00Z``: minutes are the finest time the loop works in."""
    return "-" if iso is None else datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%MZ")


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _table(rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell; the last column (free text) is left as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def improvement_lines(records: list[dict[str, Any]]) -> list[str]:
    """A header and one line per improvement; a proposed one ends with its review command."""
    if not records:
        return ["no improvements"]
    rows = [["ID", "TYPE", "TARGET", "STATUS", "PRIORITY", "CONFIDENCE", "CREATED", "REASON"]]
    for r in records:
        reason = _one_line(r["reason"])
        if r["review"]:
            reason = f"{reason}; review: {r['review']} (or reject)"
        rows.append(
            [
                r["id"],
                r["type"],
                r["target_id"],
                r["status"],
                f"{r['priority']} {r['priority_score']:.2f}",
                f"{r['confidence']:.3f}",
                _short(r["created_at"]),
                reason,
            ]
        )
    return _table(rows)


def experiment_lines(records: list[dict[str, Any]]) -> list[str]:
    """A header and one line per experiment, ending with its last decision and the reason."""
    if not records:
        return ["no experiments"]
    rows = [["ID", "PROMPT", "CONTROL->VARIANT", "STATUS", "STARTED", "PLANNED/ARM", "LAST DECISION"]]
    for r in records:
        last = "-"
        if r["last_decision"]:
            last = f"{r['last_decision']} {_short(r['last_decision_at'])}: {_one_line(r['last_reason'])}"
        rows.append(
            [
                r["id"],
                r["prompt_id"],
                f"v{r['control_version']}->v{r['variant_version']}",
                r["status"],
                _short(r["started_at"]),
                str(r["planned_n_per_arm"]),
                last,
            ]
        )
    return _table(rows)
