"""
### AITL system analysis, daily

Every day, for the day that just closed, the user- and system-level loops over
a trailing window (default 7 days, the `window_days` param). It reads only the
hourly summaries that `aitl_feedback_hourly` wrote for hours before the end of
the day, so a backfilled run reproduces exactly what a live run saw.

1. **wait_for_last_hour**: a deferrable wait of 20 minutes past midnight, so the
   hourly run of 23:00 is in (a backfill does not wait).
2. **collect**: how much of the window is summarised (hours, events).
3. **normalize**: the day's tracking by agent tier x task type and by language (`tracking`).
4. **extract_patterns**: frequency, sequence (PrefixSpan, rules), correlation and
   anomaly patterns (`patterns`, level `daily`).
5. **analyze_performance**: trend (Mann-Kendall, Sen's slope), next-day forecast
   and a recommendation per metric and segment (`performance_trends`).
6. **generate_insights**: findings filed under the taxonomy; a finding seen
   again updates its insight (`insights.occurrences`, `insight_observations`).
7. **plan_actions** / **implement**: as hourly, at the daily level.
8. **verify**: the daily *decision look* at every running experiment: promote,
   roll back, stop as inconclusive or continue, with alpha spending over the
   daily looks and multiple-testing correction (`decisions`); before/after
   impact of settings changed without an experiment (`impact_measurements`);
   the loop's effectiveness for the day (`effectiveness`).
9. **publish**: delivers decisions to the platform through the sink (`outbox`).

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
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import Param, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from aitl_airflow.alerts import on_run_failure, on_task_failure, run_deadline
from aitl_airflow.dagkit import stage_task
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
    },
    on_failure_callback=on_run_failure(),
    deadline=run_deadline(timedelta(hours=3)),
    tags=["aitl", "daily", "analysis"],
    doc_md=__doc__,
    params={
        "window_days": Param(
            7, type="integer", minimum=1, maximum=90, description="Trailing window in days."
        ),
        "sensitivity": Param(
            0.95,
            type="number",
            exclusiveMinimum=0,
            exclusiveMaximum=1,
            description="Anomaly sensitivity: about 1 - sensitivity of normal hours get flagged.",
        ),
        **run_params("daily"),
    },
)
def aitl_system_daily():
    wait = TimeDeltaSensor(
        task_id="wait_for_last_hour",
        delta=timedelta(minutes=20),
        deferrable=True,
        doc_md="Give the hourly run of the day's last hour time to finish.",
    )

    def stage(name: str, doc: str, **kwargs):
        return stage_task(name, "daily", doc, **kwargs)()

    collect = stage("collect", "How much of the window the hourly cycle has summarised.")
    normalize = stage("normalize", "The day's tracking by agent tier x task type and by language.")
    extract = stage(
        "extract_patterns", "Frequency, sequence, correlation and anomaly patterns over the window."
    )
    performance = stage(
        "analyze_performance", "Trends, forecasts and recommendations per metric and segment."
    )
    insights = stage("generate_insights", "Findings filed under LEARNING_PATTERNS; recurring ones updated.")
    plan = stage("plan_actions", "Prompt refinements for the day's findings, never repeating an active one.")
    implement = stage("implement", "Gate the plans by the profile's thresholds; launch experiments.")
    verify = stage(
        "verify",
        "Decide every running experiment; measure changed settings; record effectiveness.",
        trigger_rule="none_failed_min_one_success",
    )
    publish = stage(
        "publish",
        "Deliver queued decisions through the sink (retries, circuit breaker).",
        trigger_rule="none_failed_min_one_success",
    )

    wait >> collect >> normalize >> extract >> performance >> insights >> plan >> implement
    [normalize, implement] >> verify
    [normalize, verify] >> publish


aitl_system_daily()
