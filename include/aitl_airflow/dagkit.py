"""Building block of the DAG files: one Airflow task per ``aitl`` stage.

Imported at parse time, so it imports nothing but the Task SDK and the stage
list (``aitl.cycles``, standard library only); the library is imported when a
task runs (``aitl_airflow.tasks``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from aitl.cycles import stage_doc


def stage_task(stage: str, level: str, **task_kwargs: Any):
    """A TaskFlow task (id ``stage``) running that stage of the ``level`` cycle for the run's window.

    Its doc is the stage's summary in ``aitl.cycles``, the one list of stages.
    """

    def run_stage(**context: Any) -> dict[str, Any]:
        from aitl_airflow.tasks import run

        return run(stage, context, level)

    run_stage.__doc__ = stage_doc(level, stage).summary
    return task(task_id=stage, **task_kwargs)(run_stage)
