"""
### AITL improvement review

A person's decision on the loop's work. Trigger this DAG with:

- `decision`: `approve` or `reject` an improvement waiting as **proposed**
  (its confidence is below the profile's `auto_implement_threshold`, or it
  changes a setting while `safety_mode` is on); `stop` or `rollback` a
  **running** A/B experiment;
- `improvement_id`: the id from the `improvements` table: a proposed one to
  approve or reject, or one whose experiment is running to stop or roll back;
- `experiment_id`: for `stop` / `rollback`, the running experiment's id
  instead (from the `experiments` table or `aitl experiments`);
- `note`: why (stored with the improvement and the decision).

- `override`: only where the deployment allows it (`AITL_REVIEW_OVERRIDES`),
  `safety_mode` sets that gate aside for this approval; a note is required and
  the override is recorded with the improvement.

Approving a prompt refinement launches its A/B experiment; approving a setting
applies a new version of it (measured before/after by the daily DAG). Approval
overrides the confidence gates only: if the change would break safety mode, the
budget or an experiment already running on its prompt, or launches are paused
(`pause_launches`), the run fails and its log says why, and the improvement
stays proposed. A rejected improvement is not planned again for a week.

`stop` ends the experiment as `stopped` (no verdict on the variant; not
planned again for a week), `rollback` as `rolled_back` (the variant judged
worse; a month). Either way the control is served, and the decision is
recorded as the daily decisions are: a `decisions` row (look 0) whose reason
names the person, the experiment and its improvement ended, and an
`experiment_decision` message for the platform. Both work while launches
are paused.

The review acts under the deployment's profile (`AITL_PROFILE`): a conf key
that is not one of the params above, such as `profile`, fails the run. What
the platform must learn of (a launched experiment, a changed setting, a
stopped experiment) is published through the sink right away.

This DAG has no schedule and is created unpaused, so a trigger runs at once.
Who may trigger it: the `AITL Reviewer` role (`access_control`; see
docs/operations.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from aitl.config import OVERRIDABLE_GATES
from aitl_airflow.alerts import on_run_failure, on_task_failure
from aitl_airflow.dagkit import EXECUTION_TIMEOUTS
from aitl_airflow.params import REVIEWER_ROLE


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
        "execution_timeout": EXECUTION_TIMEOUTS["review"],
    },
    on_failure_callback=on_run_failure(),
    tags=["aitl", "review"],
    doc_md=__doc__,
    params={
        # Required, but checked by the task: a Param without a default breaks Airflow 3.3.2's
        # run-failure callbacks (they resolve the params without the run's conf).
        "improvement_id": Param(
            None,
            type=["null", "string"],
            minLength=1,
            maxLength=64,
            description=(
                "Id of an improvement (table improvements): a proposed one to approve or reject, or "
                "a running one whose experiment to stop or roll back. Required, except for stop / "
                "rollback given an experiment_id."
            ),
        ),
        "decision": Param(
            "approve",
            enum=["approve", "reject", "stop", "rollback"],
            description=(
                "approve or reject a proposed improvement; stop or rollback a running experiment "
                "(the control is served either way)."
            ),
        ),
        "experiment_id": Param(
            None,
            type=["null", "string"],
            minLength=1,
            maxLength=64,
            description="For stop / rollback: the running experiment's id, instead of improvement_id.",
        ),
        "note": Param(
            "", type="string", maxLength=2000, description="Why; kept with the improvement and decision."
        ),
        "override": Param(
            None,
            type=["null", "string"],
            enum=[None, *OVERRIDABLE_GATES],
            description=(
                "A gate to set aside for this approval, where the deployment allows it "
                "(AITL_REVIEW_OVERRIDES); needs a note. Recorded with the improvement."
            ),
        ),
    },
    is_paused_upon_creation=False,
    access_control={
        REVIEWER_ROLE: {"DAGs": {"can_read", "can_edit"}, "DAG Runs": {"can_create", "can_read"}}
    },
)
def aitl_improvement_review():
    @task(task_id="review")
    def review(**context) -> dict:
        """Apply the approval, rejection, stop or rollback; a refusal fails the run with the reason."""
        from aitl_airflow.tasks import review_improvement

        return review_improvement(context)

    review()


aitl_improvement_review()
