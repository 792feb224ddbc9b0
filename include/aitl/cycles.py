"""The two cycles and their stages: the one place that says what runs, in what order, and why.

The DAG files build their task docs and their ``doc_md`` stage lists from here,
the pipeline binds its stage functions to these names (``aitl.pipeline.stage.bind``),
and ``docs/dags.md`` carries the generated lists (a test keeps it in step).
Standard library only: the DAG files import it at parse time.

What runs is the seed's seven FeedbackPipeline stages (collect, normalize,
extract_patterns, generate_insights, plan_actions, implement, verify), plus
``publish`` in both cycles, ``summarize`` (a sharded hour's partial summaries)
in the hourly one, plus ``analyze_performance``, ``prune`` and the
wait for the day's last hour in the daily cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("hourly", "daily")


@dataclass(frozen=True)
class StageDoc:
    """One stage of a cycle: its task id, a one-line task doc and the paragraph the DAG docs show."""

    name: str
    summary: str
    detail: str
    # False for a stage that only Airflow runs (a wait), not ``aitl.pipeline``.
    in_library: bool = True
    # The stage whose early stop ends this one; None: the stage before it.
    needs: str | None = None
    # One task per shard of the hour when the run is sharded (aitl.shards).
    sharded: bool = False


HOURLY = (
    StageDoc(
        "collect",
        "Ingest the hour's events; quarantine what breaks the contract.",
        "ingest feedback events from the landing directory / source table; invalid records go to "
        "`quarantine` with the reason. A sharded run (`shards`) maps it over the shards, each reading "
        "its share of the landing files.",
        sharded=True,
    ),
    StageDoc(
        "summarize",
        "A sharded run: each shard's partial summaries of its sessions.",
        "a sharded run only: each shard summarises its share of the hour's sessions (by a hash of "
        "`session_id`, so no session is split) into `summary_parts`.",
        sharded=True,
    ),
    StageDoc(
        "normalize",
        "Replace the hour's rollups and summaries.",
        "hourly rollups of sufficient statistics per segment (`hourly_rollups`), merged from the "
        "shards' parts when sharded; updates the `aitl_hourly_rollups` asset.",
    ),
    StageDoc(
        "extract_patterns",
        "Frequencies of indicators and error types, tested on every segment; root causes found.",
        "frequent indicators and error types tested on every segment, false discovery rate controlled "
        "over the run, each concentration's root cause marked (`patterns`).",
    ),
    StageDoc(
        "generate_insights",
        "Root causes, strong or confirmed, filed under LEARNING_PATTERNS.",
        "root causes, strong or confirmed in a second hour, filed under the taxonomy; a cause seen "
        "before (another hour, a day) updates its insight (`insights`, `insight_observations`).",
    ),
    StageDoc(
        "plan_actions",
        "Prompt refinements and workflow settings, prioritized and capped.",
        "prompt refinements and workflow settings (`improvements`): from the insights, and from the "
        "hour's evidence on models, agent tiers and resources even when no insight was found.",
        needs="normalize",
    ),
    StageDoc(
        "implement",
        "Gate the plans by the profile's thresholds; launch experiments, apply settings.",
        "launches safe improvements as A/B experiments (`prompt_versions`, `experiments`).",
    ),
    StageDoc(
        "verify",
        "Test every running experiment on all it has collected so far.",
        "tests each running experiment, variant vs control, on success rate, error rate, quality and "
        "duration (`experiment_results`: evidence; the daily DAG decides), and records the loop's "
        "effectiveness (`effectiveness`).",
        needs="normalize",
    ),
    StageDoc(
        "publish",
        "Deliver queued launches and decisions through the sink (retries, circuit breaker).",
        "delivers launches and decisions to the platform through the sink (`outbox`); a sink that is "
        "down delays delivery, never loses it.",
        needs="normalize",
    ),
)

DAILY = (
    StageDoc(
        "wait_for_last_hour",
        "Give the hourly run of the day's last hour time to finish.",
        "a deferrable wait of 20 minutes past midnight, so the hourly run of 23:00 is in (a backfill "
        "does not wait).",
        in_library=False,
    ),
    StageDoc(
        "collect",
        "How much of the window the hourly cycle has summarised.",
        "how much of the window is summarised (hours, events).",
    ),
    StageDoc(
        "normalize",
        "The day's tracking by agent tier x task type and by language.",
        "the day's tracking by agent tier x task type and by language (`tracking`).",
    ),
    StageDoc(
        "extract_patterns",
        "Frequency, sequence, correlation and anomaly patterns over the window.",
        "frequency, sequence (PrefixSpan, rules), correlation and anomaly patterns (`patterns`, level "
        "`daily`).",
    ),
    StageDoc(
        "analyze_performance",
        "Trends, forecasts and recommendations per metric and segment.",
        "trend (Mann-Kendall, Sen's slope), next-day forecast and a recommendation per metric and "
        "segment (`performance_trends`).",
    ),
    StageDoc(
        "generate_insights",
        "Findings filed under LEARNING_PATTERNS; recurring ones updated.",
        "findings filed under the taxonomy; a finding seen again updates its insight "
        "(`insights.occurrences`, `insight_observations`); an hourly finding of the day at a "
        "neighbouring segment of one of the day's findings is superseded by it "
        "(`insights.superseded_by`).",
    ),
    StageDoc(
        "plan_actions",
        "Prompt refinements for the day's findings, never repeating an active one.",
        "as hourly, at the daily level (`improvements`).",
        needs="normalize",
    ),
    StageDoc(
        "implement",
        "Gate the plans by the profile's thresholds; launch experiments.",
        "as hourly, at the daily level.",
    ),
    StageDoc(
        "verify",
        "Decide every running experiment; measure changed settings; record effectiveness.",
        "the daily *decision look* at every running experiment: promote, roll back, stop as "
        "inconclusive or continue, with alpha spending over the daily looks and multiple-testing "
        "correction (`decisions`); before/after impact of settings changed without an experiment "
        "(`impact_measurements`); the loop's effectiveness for the day (`effectiveness`).",
        needs="normalize",
    ),
    StageDoc(
        "publish",
        "Deliver queued decisions through the sink (retries, circuit breaker).",
        "delivers decisions to the platform through the sink (`outbox`).",
        needs="normalize",
    ),
    StageDoc(
        "prune",
        "Delete raw events and quarantine rows past retention_days; keep everything derived.",
        "deletes the raw events and quarantine rows of summarised hours that ended more than "
        "`retention_days` (30) before the day (`pruned_hours`); rollups, summaries and everything "
        "derived are kept.",
        needs="collect",
    ),
)


def stages(level: str) -> tuple[StageDoc, ...]:
    """The stages of the ``hourly`` or ``daily`` cycle, in the order they run."""
    if level == "hourly":
        return HOURLY
    if level == "daily":
        return DAILY
    raise ValueError(f"level {level!r} is not one of {LEVELS}")


def needed(level: str, name: str) -> str | None:
    """The stage whose early stop ends ``name`` in the library's cycle (None for the first).

    A stop ends only the work that depends on it: with no pattern or no
    insight, ``plan_actions`` still compares models, agent tiers and
    resources; running experiments get their look (``verify``) and queued
    messages their delivery (``publish``) whenever the window was normalized.
    """
    doc = stage_doc(level, name)
    if doc.needs is not None:
        return doc.needs
    order = [stage.name for stage in stages(level) if stage.in_library]
    index = order.index(name)
    return order[index - 1] if index else None


def stage_doc(level: str, name: str) -> StageDoc:
    """One stage of a cycle, by task id."""
    for stage in stages(level):
        if stage.name == name:
            return stage
    raise KeyError(f"the {level} cycle has no stage {name!r}")


def stages_markdown(level: str) -> str:
    """The numbered stage list the DAG docs and ``docs/dags.md`` show."""
    return "\n".join(
        f"{number}. **{stage.name}**: {stage.detail}" for number, stage in enumerate(stages(level), start=1)
    )


if __name__ == "__main__":  # python -m aitl.cycles: the blocks docs/dags.md carries
    for level in LEVELS:
        print(f"<!-- stages:{level} -->\n{stages_markdown(level)}\n<!-- /stages:{level} -->\n")
