"""
### AITL feedback cycle, hourly

Every hour, for the hour that just closed (the run's data interval), the seven
stages of the AI-in-the-loop feedback cycle:

1. **collect**: ingest feedback events from the landing directory / source table;
   invalid records go to `quarantine` with the reason.
2. **normalize**: hourly rollups of sufficient statistics per segment (`hourly_rollups`).
3. **extract_patterns**: frequent indicators and error types per segment (`patterns`).
4. **generate_insights**: significant concentrations, filed under the taxonomy (`insights`).
5. **plan_actions**: prompt refinements and workflow settings (`improvements`).
6. **implement**: launches safe improvements as A/B experiments (`prompt_versions`, `experiments`).
7. **verify**: tests each running experiment, variant vs control (`experiment_results`).

A skipped task means the cycle ended early with nothing to do (its log says why);
the run is still a success. Each task returns a small summary (XCom) and writes
the same numbers to `pipeline_runs`. Rerunning or backfilling an hour replaces
that hour's results. Once the hour's rollups are written, `normalize` updates the `aitl_hourly_rollups` asset.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

HOURLY_ROLLUPS = Asset("aitl_hourly_rollups", uri="aitl://store/hourly_rollups")


def _stage(name: str, context) -> dict:
    from aitl_airflow.tasks import run  # imported in the task: keeps DAG parsing light

    return run(name, context)


@dag(
    dag_id="aitl_feedback_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "aitl", "retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["aitl", "hourly", "feedback"],
    doc_md=__doc__,
    params={
        "profile": Param(
            "staging",
            enum=["production", "staging", "development"],
            description="Environment profile: which AITL_CONFIG thresholds apply.",
        ),
        "dry_run": Param(False, type="boolean", description="Analyze and plan, but launch nothing."),
    },
)
def aitl_feedback_hourly():
    @task
    def collect(**context):
        """Ingest the hour's events; quarantine what breaks the contract."""
        return _stage("collect", context)

    @task(outlets=[HOURLY_ROLLUPS])
    def normalize(**context):
        """Replace the hour's rollups of sufficient statistics."""
        return _stage("normalize", context)

    @task
    def extract_patterns(**context):
        """Frequencies of indicators and error types, overall and per segment."""
        return _stage("extract_patterns", context)

    @task
    def generate_insights(**context):
        """Significant concentrations, mapped to LEARNING_PATTERNS."""
        return _stage("generate_insights", context)

    @task
    def plan_actions(**context):
        """Prompt refinements and workflow settings, prioritized and capped."""
        return _stage("plan_actions", context)

    @task
    def implement(**context):
        """Gate the plans by the profile's thresholds; launch experiments."""
        return _stage("implement", context)

    @task(trigger_rule="none_failed_min_one_success")
    def verify(**context):
        """Test every running experiment on all it has collected so far."""
        return _stage("verify", context)

    normalized = collect() >> normalize()
    implemented = normalized >> extract_patterns() >> generate_insights() >> plan_actions() >> implement()
    [normalized, implemented] >> verify()


aitl_feedback_hourly()
