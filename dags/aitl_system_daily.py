"""
### AITL system analysis, daily

Every day, for the day that just closed, the user- and system-level loops over
a trailing window (default 7 days, the `window_days` param). It reads only the
hourly summaries that `aitl_feedback_hourly` wrote for hours before the end of
the day, so a backfilled run reproduces exactly what a live run saw. The
stages are listed below.

A skipped task means there was nothing to do; its log says why.

**Manual runs** (params): `hours` (a multiple of 24) or `window_start`/`window_end`
(midnights) analyse each day of that window instead, each with its trailing
`window_days`; `thresholds` overrides AITL_CONFIG values for the run; `segment`
plans only improvements within a segment. A failed task or run, and a run not
finished 3 hours after it was queued, raise an alert.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from aitl.cycles import stages_markdown
from aitl_airflow.alerts import on_run_failure, on_task_failure, run_deadline
from aitl_airflow.dagkit import DECISIONS, EXECUTION_TIMEOUTS, stage_task, wait_for_last_hour
from aitl_airflow.params import run_params


@dag(
    dag_id="aitl_system_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "aitl",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": on_task_failure(),
        "execution_timeout": EXECUTION_TIMEOUTS["daily"],
    },
    on_failure_callback=on_run_failure(),
    deadline=run_deadline(timedelta(hours=3)),
    tags=["aitl", "daily", "analysis"],
    doc_md=f"{__doc__}\n#### Stages\n\n{stages_markdown('daily')}\n",
    params={
        "window_days": Param(
            7, type="integer", minimum=1, maximum=90, description="Trailing window in days."
        ),
        "sensitivity": Param(
            0.95,
            type="number",
            exclusiveMinimum=0,
            exclusiveMaximum=1,
            description=(
                "Anomaly sensitivity: 1 - the false discovery rate of anomalous hours over every "
                "metric and segment of the run; a day with no anomaly gets no episode with "
                "probability about sensitivity."
            ),
        ),
        **run_params("daily"),
    },
)
def aitl_system_daily():
    wait = wait_for_last_hour(timedelta(minutes=20))

    def stage(name: str, **kwargs):
        return stage_task(name, "daily", **kwargs)()

    collect = stage("collect")
    normalize = stage("normalize")
    extract = stage("extract_patterns")
    performance = stage("analyze_performance")
    insights = stage("generate_insights")
    plan = stage("plan_actions", trigger_rule="none_failed_min_one_success")
    implement = stage("implement")
    verify = stage("verify", trigger_rule="none_failed_min_one_success", outlets=[DECISIONS])
    publish = stage("publish", trigger_rule="none_failed_min_one_success")
    prune = stage("prune", trigger_rule="none_failed_min_one_success")

    wait >> collect >> normalize >> extract >> performance >> insights
    [normalize, insights] >> plan >> implement
    [normalize, implement] >> verify
    [normalize, verify] >> publish
    [collect, publish] >> prune


aitl_system_daily()
