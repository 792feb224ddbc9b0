"""``aitl experiment stop|rollback ID``: a person ends a running experiment outside Airflow.

The same as the ``aitl_improvement_review`` DAG's ``stop`` / ``rollback``
(``aitl.loop.implementation.control``): a look-0 decision naming the person,
the experiment and its improvement ended, the control served, and an
``experiment_decision`` message, published at once as the DAG does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from aitl.config import Settings

ACTIONS = {
    "stop": "stop a running experiment: no verdict on the variant, the control is served",
    "rollback": "roll a running experiment back: the variant is judged worse, the control is served",
}


def add_experiment_parser(
    commands: Any,
    with_store: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    command: Callable[[argparse.Namespace], int],
) -> None:
    """``aitl experiment stop|rollback EXPERIMENT_ID [--note TEXT] [--reviewer NAME]``."""
    experiment = commands.add_parser("experiment", help="stop or roll back a running experiment by hand")
    actions = experiment.add_subparsers(dest="action", required=True)
    for action, text in ACTIONS.items():
        parser = with_store(actions.add_parser(action, help=text))
        parser.add_argument("experiment_id", help="a running experiment (aitl experiments --status running)")
        parser.add_argument("--note", default="", help="why (kept with the decision and the improvement)")
        parser.add_argument("--reviewer", default="cli", help="who decided (default: cli)")
        parser.set_defaults(func=command)


def end_experiment(store: Engine, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Apply the stop or rollback in one transaction, then publish what is queued.

    Raises ``ReviewError`` when the experiment does not exist or no longer
    runs, or when the sink's URL is not one (then before anything is
    written). A sink that is down leaves the message queued for the next
    publish; the summary under ``published`` says so.
    """
    from aitl.loop.implementation import ReviewError, control
    from aitl.publish.outbox import publish
    from aitl.publish.sinks import sink_from_url
    from aitl.store import transaction

    try:
        sink = sink_from_url(settings.sink_url)
    except ValueError as exc:
        raise ReviewError(f"AITL_SINK_URL: {exc}; nothing was done") from None
    with transaction(store) as session:
        result = control(
            session,
            args.experiment_id,
            args.action,
            at=datetime.now(UTC),
            thresholds=settings.thresholds,
            reviewer=args.reviewer,
            note=args.note,
        )
    result["published"] = publish(store, sink, datetime.now(UTC))
    return result
