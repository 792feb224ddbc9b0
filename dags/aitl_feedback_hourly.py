"""
### AITL feedback cycle, hourly

Every hour, for the hour that just closed (the run's data interval), the
stages of the AI-in-the-loop feedback cycle listed below.

A skipped task means the cycle ended early with nothing to do (its log says why);
the run is still a success. Each task returns a small summary (XCom) and writes
the same numbers to `pipeline_runs`. Rerunning or backfilling an hour replaces
that hour's results.

**Shards**: `collect` and `summarize` run once per shard of the hour (mapped
tasks, over what `shards` returns: the `shards` param, else the threshold, default 1);
`normalize` merges the shards' summaries. Several workers (CeleryExecutor) then
share one busy hour.

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

from aitl.cycles import stages_markdown
from aitl_airflow.alerts import on_run_failure, on_task_failure, run_deadline
from aitl_airflow.dagkit import DECISIONS, EXECUTION_TIMEOUTS, shards_task, stage_task
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
        "execution_timeout": EXECUTION_TIMEOUTS["hourly"],
    },
    on_failure_callback=on_run_failure(),
    deadline=run_deadline(timedelta(minutes=45)),
    tags=["aitl", "hourly", "feedback"],
    doc_md=f"{__doc__}\n#### Stages\n\n{stages_markdown('hourly')}\n",
    params=run_params("hourly"),
)
def aitl_feedback_hourly():
    def stage(name: str, **kwargs):
        return stage_task(name, "hourly", **kwargs)()

    shards = shards_task()()
    collect = stage_task("collect", "hourly").expand(shard=shards)
    summarize = stage_task("summarize", "hourly").expand(shard=shards)
    normalize = stage("normalize", outlets=[HOURLY_ROLLUPS])
    extract = stage("extract_patterns")
    insights = stage("generate_insights")
    plan = stage("plan_actions", trigger_rule="none_failed_min_one_success")
    implement = stage("implement")
    verify = stage("verify", trigger_rule="none_failed_min_one_success", outlets=[DECISIONS])

    publish = stage("publish", trigger_rule="none_failed_min_one_success")

    collect >> summarize >> normalize >> extract >> insights
    [normalize, insights] >> plan >> implement
    [normalize, implement] >> verify
    [normalize, verify] >> publish


aitl_feedback_hourly()
