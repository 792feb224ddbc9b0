"""Building block of the DAG files: one Airflow task per ``aitl`` stage.

Imported at parse time, so it imports nothing but the Task SDK and the stage
list (``aitl.cycles``, standard library only); the library is imported when a
task runs (``aitl_airflow.tasks``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, task

from aitl.cycles import stage_doc

# Every task's execution_timeout (the DAGs' default_args), per DAG: a task past
# it is failed (and retried), so a hang (a FIFO in the landing folder, a store
# or sink that never answers) cannot hold the run, and with max_active_runs=1
# every later run, forever. An hourly stage takes seconds to minutes and must
# end before the next hour's run is due; a daily stage reads a week of hourly
# summaries; a review is one transaction and a publish. A window override runs
# all its hours (days) inside each task under the same limit: past it, use a
# shorter window or a backfill. The daily wait is a deferred trigger firing at
# its target time: the limit covers its worker side only, and it cannot hang.
# Updated by every verify task (rollbacks on harm hourly, decision looks daily):
# a platform's own DAG can be scheduled on the loop's decisions.
DECISIONS = Asset("aitl_decisions", uri="aitl://store/decisions")

EXECUTION_TIMEOUTS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(hours=3),
    "review": timedelta(minutes=15),
}


def stage_task(stage: str, level: str, **task_kwargs: Any):
    """A TaskFlow task (id ``stage``) running that stage of the ``level`` cycle for the run's window.

    Its doc is the stage's summary in ``aitl.cycles``, the one list of stages.
    """

    def run_stage(**context: Any) -> dict[str, Any]:
        from aitl_airflow.tasks import run

        return run(stage, context, level)

    run_stage.__doc__ = stage_doc(level, stage).summary
    # doc_md too: a mapped task shows no docstring.
    return task(task_id=stage, doc_md=run_stage.__doc__, **task_kwargs)(run_stage)


def shards_task(**task_kwargs: Any):
    """A task (id ``shards``) returning the shards the hour is split into: what sharded stages map over."""

    def shards(**context: Any) -> list[dict[str, int]]:
        from aitl_airflow.tasks import shard_plan

        return shard_plan(context)

    shards.__doc__ = "The hour's shards (the shards param, else the threshold): what sharded stages map over."
    return task(task_id="shards", doc_md=shards.__doc__, **task_kwargs)(shards)


class WaitUntil(DateTimeSensorAsync):
    """A deferred wait for ``target_time`` that returns at once when the time has passed.

    ``DateTimeSensorAsync`` defers even then, and the round trip through the
    triggerer costs every backfilled or ad-hoc run of a past day a scheduler
    loop or two; ``TimeDeltaSensor`` returns at once, but measures from
    ``run_after`` when a run has no data interval.
    """

    def execute(self, context: Any) -> None:
        if datetime.now(UTC) >= datetime.fromisoformat(str(self.target_time)):
            return
        super().execute(context)


def wait_for_last_hour(delay: timedelta) -> DateTimeSensorAsync:
    """A deferred wait until ``delay`` after the end of the day the daily run owns.

    The day is the data interval, or, for a manual run without a logical date,
    the day that had closed at its ``run_after`` (as ``aitl_airflow.tasks.window_of``
    decides): so a scheduled run waits for the hourly run of 23:00, and a
    backfill or an ad-hoc run of a past day does not wait at all.
    """
    day_end = (
        "(data_interval_end if data_interval_end is defined"
        " else dag_run.run_after.replace(hour=0, minute=0, second=0, microsecond=0))"
    )
    target = f"({day_end} + macros.timedelta(seconds={delay.total_seconds():.0f})).isoformat()"
    return WaitUntil(
        task_id="wait_for_last_hour",
        target_time="{{ " + target + " }}",
        doc_md=stage_doc("daily", "wait_for_last_hour").summary,
    )
