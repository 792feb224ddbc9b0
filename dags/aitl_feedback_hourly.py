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
7. **verify**: tests each running experiment, variant vs control, on success
   rate, error rate, quality and duration (`experiment_results`: evidence; the
   daily DAG decides), and records the loop's effectiveness (`effectiveness`).
8. **publish**: delivers launches and decisions to the platform through the
   sink (`outbox`); a sink that is down delays delivery, never loses it.

A skipped task means the cycle ended early with nothing to do (its log says why);
the run is still a success. Each task returns a small summary (XCom) and writes
the same numbers to `pipeline_runs`. Rerunning or backfilling an hour replaces
that hour's results. Once the hour's rollups are written, `normalize` updates the `aitl_hourly_rollups` asset.

**Manual runs** (params): `hours` or `window_start`/`window_end` run the cycle for
each hour of that window instead (each task loops over the hours); `thresholds`
overrides AITL_CONFIG values for the run; `segment` plans only improvements
within a segment. A failed task or run, and a run not finished 45 minutes after
it was queued, raise an alert (log line; webhook if `aitl_alerts` is set).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from aitl_airflow.alerts import on_run_failure, on_task_failure, run_deadline
from aitl_airflow.dagkit import stage_task
from aitl_airflow.params import run_params

HOURLY_ROLLUPS = Asset("aitl_hourly_rollups", uri="aitl://store/hourly_rollups")


@dag(
    dag_id="aitl_feedback_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "aitl",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": on_task_failure(),
    },
    on_failure_callback=on_run_failure(),
    deadline=run_deadline(timedelta(minutes=45)),
    tags=["aitl", "hourly", "feedback"],
    doc_md=__doc__,
    params=run_params("hourly"),
)
def aitl_feedback_hourly():
    def stage(name: str, doc: str, **kwargs):
        return stage_task(name, "hourly", doc, **kwargs)()

    collect = stage("collect", "Ingest the hour's events; quarantine what breaks the contract.")
    normalize = stage("normalize", "Replace the hour's rollups and summaries.", outlets=[HOURLY_ROLLUPS])
    extract = stage("extract_patterns", "Frequencies of indicators and error types, overall and per segment.")
    insights = stage("generate_insights", "Significant concentrations, mapped to LEARNING_PATTERNS.")
    plan = stage("plan_actions", "Prompt refinements and workflow settings, prioritized and capped.")
    implement = stage(
        "implement", "Gate the plans by the profile's thresholds; launch experiments, apply settings."
    )
    verify = stage(
        "verify",
        "Test every running experiment on all it has collected so far.",
        trigger_rule="none_failed_min_one_success",
    )

    publish = stage(
        "publish",
        "Deliver queued launches and decisions through the sink (retries, circuit breaker).",
        trigger_rule="none_failed_min_one_success",
    )

    collect >> normalize >> extract >> insights >> plan >> implement
    [normalize, implement] >> verify
    [normalize, verify] >> publish


aitl_feedback_hourly()
