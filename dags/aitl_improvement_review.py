"""
### AITL improvement review

Approve or reject an improvement that is waiting as **proposed** (its
confidence is below the profile's `auto_implement_threshold`, or it changes a
setting while `safety_mode` is on). Trigger this DAG with:

- `improvement_id`: the id from the `improvements` table (status `proposed`);
- `decision`: `approve` or `reject`;
- `note`: why (stored with the improvement).

Approving a prompt refinement launches its A/B experiment; approving a setting
applies a new version of it (measured before/after by the daily DAG). Approval
overrides the confidence gates only: if the change would break safety mode, the
budget or an experiment already running on its prompt, the run fails and its
log says why, and the improvement stays proposed. A rejected improvement is
not planned again for a week. What the platform must learn of (a launched
experiment, a changed setting) is published through the sink right away.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from aitl_airflow.alerts import on_run_failure, on_task_failure
from aitl_airflow.params import run_params


@dag(
    dag_id="aitl_improvement_review",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "aitl",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": on_task_failure(),
    },
    on_failure_callback=on_run_failure(),
    tags=["aitl", "review"],
    doc_md=__doc__,
    params={
        "improvement_id": Param(
            type="string",
            minLength=1,
            maxLength=64,
            description="Id of a proposed improvement (table improvements, status proposed).",
        ),
        "decision": Param("approve", enum=["approve", "reject"], description="Approve or reject it."),
        "note": Param("", type="string", maxLength=2000, description="Why; kept with the improvement."),
        "profile": run_params()["profile"],
    },
)
def aitl_improvement_review():
    @task(task_id="review")
    def review(**context) -> dict:
        """Apply the approval or rejection; a refusal fails the run with the reason."""
        from aitl_airflow.tasks import review_improvement

        return review_improvement(context)

    review()


aitl_improvement_review()
