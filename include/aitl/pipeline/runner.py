"""Running stages: one transaction per stage, recorded in ``pipeline_runs``.

A stage is a plain function of (session, window, settings) returning a small
summary. ``run_stage`` runs one inside a single transaction together with its
``pipeline_runs`` record, so a failed stage leaves no partial writes and a rerun
of the window replaces what the previous run wrote. A stage may end the cycle
early (``StageResult.stop``): Airflow shows that as a skip, not a failure.

``publish`` is the exception: it talks to the network, so it leaves the session
alone and commits its own short transactions around each send
(``aitl.publish.outbox``). Its stage transaction writes only the record, after
the stage, so it holds no write lock while the sink is called (nothing may
take one before calling the stage).

A dry run (``Settings.dry_run``) runs the stage, after the stages before it in
the cycle, in one transaction that is rolled back, and records nothing: it
reports what the stage would do (its summary, with ``dry_run: true``) on the
store as the earlier stages would have left it, and leaves every table as it
was. Each task of a dry run thus repeats its predecessors' work: a dry run
buys certainty that nothing changes with time.

On PostgreSQL a stage holds an advisory lock on its level and window for its
transaction (``aitl.store.locks``), so two runs of one hour take turns
instead of racing on the same rows; the shards of a sharded stage hold it
shared, so they run side by side.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from aitl.config import Settings
from aitl.cycles import LEVELS, needed, stage_doc
from aitl.pipeline.stage import Stage, StageResult
from aitl.shards import Shard
from aitl.store.database import check_schema, connect, rolled_back, transaction
from aitl.store.locks import advisory_lock
from aitl.store.models import PipelineRun
from aitl.store.writes import replace
from aitl.window import Window


def stages_of(level: str) -> dict[str, Stage]:
    """The stages of the ``hourly`` or the ``daily`` cycle, in order."""
    # Imported on use: an hourly task should not pay for the daily analytics' imports.
    if level == "hourly":
        from aitl.pipeline.hourly import STAGES
    elif level == "daily":
        from aitl.pipeline.daily import STAGES
    else:
        raise ValueError(f"level {level!r} is not one of {LEVELS}")
    return STAGES


def run_stage(name: str, window: Window, settings: Settings, level: str = "hourly") -> StageResult:
    """Run one stage of a cycle and record it, all in one transaction (a dry run: undone, unrecorded)."""
    check_schema(settings.store_url)  # an unmigrated store says `aitl db upgrade`, not "no such table"
    if settings.dry_run:
        return _dry_run(name, window, settings, level)
    stage = stages_of(level)[name]
    started = time.perf_counter()
    with transaction(connect(settings.store_url)) as session:
        # The shards of a sharded stage share the window's lock (aitl.shards: they write apart).
        advisory_lock(session, level, window.start.isoformat(), shared=settings.shard is not None)
        result = stage(session, window, settings)
        label = settings.shard.label(name) if settings.shard else name
        record = {
            "level": level,
            "window_start": window.start,
            "stage": label,
            "window_end": window.end,
            "status": "skipped" if result.stop else "success",
            "summary": {**result.summary, "stop": result.stop},
            "settings": {"profile": settings.profile, "dry_run": False, **settings.thresholds.as_dict()},
            "duration_s": round(time.perf_counter() - started, 6),
            "finished_at": datetime.now(UTC),
        }
        table = PipelineRun.__table__
        replace(
            session,
            table,
            (table.c.level == level) & (table.c.window_start == window.start) & (table.c.stage == label),
            [record],
        )
    return result


def _dry_run(name: str, window: Window, settings: Settings, level: str) -> StageResult:
    """The stage after its predecessors, all in one transaction that is rolled back."""
    results: dict[str, StageResult] = {}
    with rolled_back(connect(settings.store_url)) as session:
        advisory_lock(session, level, window.start.isoformat())
        for stage_name, stage in stages_of(level).items():
            if stage_name == name or runs_after(stage_name, results, level):
                results[stage_name] = stage(session, window, settings)
            if stage_name == name:
                break
    result = results[name]
    return StageResult({**result.summary, "dry_run": True}, result.stop)


def runs_after(name: str, results: dict[str, StageResult], level: str) -> bool:
    """Whether a cycle runs stage ``name`` after the stages in ``results``, as the DAGs do.

    A stage runs when the stage it needs (``aitl.cycles.needed``: the one
    before it, or ``normalize`` for planning, verification and publishing)
    ran and did not stop.
    """
    needs = needed(level, name)
    if needs is None:
        return True
    previous = results.get(needs)
    return previous is not None and previous.stop is None


def run_cycle(window: Window, settings: Settings, level: str = "hourly") -> dict[str, StageResult]:
    """All stages of a cycle in order outside Airflow, honoring early stops like the DAGs."""
    results: dict[str, StageResult] = {}
    for name in stages_of(level):
        if runs_after(name, results, level):
            results[name] = run_sharded(name, window, settings, level)
    return results


def run_sharded(name: str, window: Window, settings: Settings, level: str = "hourly") -> StageResult:
    """The stage, once per shard when it is sharded and the run has more than one (as the DAG maps it).

    The shards run one after another here; their summaries are listed under
    ``shards``, and the stage stops only when every shard stopped (a stop of
    a sharded stage, a pruned hour, holds for the whole hour).
    """
    count = settings.thresholds.shards
    if count == 1 or not stage_doc(level, name).sharded:
        return run_stage(name, window, settings, level)
    results = [
        run_stage(name, window, dataclasses.replace(settings, shard=Shard(index, count)), level)
        for index in range(count)
    ]
    stops = [result.stop for result in results]
    return StageResult(
        {"shards": [result.summary for result in results]}, stop=stops[0] if all(stops) else None
    )


def run_window(
    window: Window, settings: Settings, stages: tuple[str, ...] | None = None, level: str = "hourly"
) -> Iterator[tuple[Window, dict[str, StageResult]]]:
    """The cycle for every hour (hourly) or day (daily) of ``window``, or only the given stages of it.

    ``stages=("collect", "normalize")`` is what bringing history in needs: the
    events and the hourly summaries the daily analysis reads, without acting.
    """
    for unit_window in window.units(level):
        if stages is None:
            yield unit_window, run_cycle(unit_window, settings, level)
            continue
        results: dict[str, StageResult] = {}
        for name in stages:
            results[name] = run_sharded(name, unit_window, settings, level)
            if results[name].stop:
                break
        yield unit_window, results
