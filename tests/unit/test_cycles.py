"""The stage list is written once (aitl.cycles): the pipeline and the DAGs follow it."""

from __future__ import annotations

import pytest

from aitl import cycles
from aitl.pipeline.runner import stages_of
from aitl.pipeline.stage import bind


@pytest.mark.parametrize("level", cycles.LEVELS)
def test_pipeline_runs_the_listed_stages_in_order(level):
    listed = [stage.name for stage in cycles.stages(level) if stage.in_library]
    assert list(stages_of(level)) == listed


def test_bind_refuses_stages_out_of_step_with_the_list():
    with pytest.raises(ValueError, match=r"not aitl\.cycles'"):
        bind("hourly", {"normalize": print, "collect": print})


def test_the_seed_stages_plus_publish_and_the_daily_extras():
    """The seed's seven, publish in both; hourly adds summarize; daily the wait, analysis and prune."""
    seed = ["collect", "normalize", "extract_patterns", "generate_insights", "plan_actions", "implement"]
    assert [s.name for s in cycles.HOURLY if s.name != "summarize"] == [*seed, "verify", "publish"]
    assert [s.name for s in cycles.HOURLY][:3] == ["collect", "summarize", "normalize"]
    daily = [s.name for s in cycles.DAILY]
    assert daily[0] == "wait_for_last_hour" and not cycles.DAILY[0].in_library
    assert [n for n in daily if n not in ("wait_for_last_hour", "analyze_performance")] == [
        *seed,
        "verify",
        "publish",
        "prune",
    ]


def test_unknown_level_and_stage_are_refused():
    with pytest.raises(ValueError, match="weekly"):
        cycles.stages("weekly")
    with pytest.raises(KeyError, match="train"):
        cycles.stage_doc("hourly", "train")
