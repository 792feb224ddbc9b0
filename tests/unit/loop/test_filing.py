"""Filing findings: an hourly finding at a neighbouring segment is superseded by the day's placement."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from aitl.loop.filing import file_findings, finding_id, overlap
from aitl.store import connect, transaction
from aitl.store.models import Insight
from aitl.ui.insights import top_insights
from aitl.window import Window

DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
NEXT_DAY = Window(DAY.end, DAY.end + timedelta(days=1))
HOT = {"prompt_id": "api_endpoint-gen", "task_type": "api_endpoint", "language": "python"}
PROMPT = {"prompt_id": "api_endpoint-gen", "task_type": "api_endpoint"}


def finding(segment: dict, signal: str = "sql injection", kind: str = "frequency", q: float = 1e-9) -> dict:
    return {
        "kind": kind,
        "category": "security",
        "subtype": "input_validation",
        "signal": signal,
        "segment": segment,
        "title": f"{signal!r} in {segment}",
        "evidence": {"q_value": q, "excess": 10.0},
        "severity": "high",
        "confidence": 1 - q,
    }


def hour(at: int, day: Window = DAY) -> Window:
    start = day.start + timedelta(hours=at)
    return Window(start, start + timedelta(hours=1))


def superseded(url: str) -> dict[str, str | None]:
    with transaction(connect(url)) as session:
        return {i.id: i.superseded_by for i in session.query(Insight).order_by(Insight.id)}


def test_segments_overlap_unless_a_shared_key_differs():
    assert overlap(HOT, PROMPT) and overlap(PROMPT, HOT)
    assert overlap({"language": "python"}, PROMPT)  # python executions of the prompt
    assert overlap({}, HOT)  # the whole platform holds every segment
    assert not overlap({"language": "go"}, HOT)


def test_hourly_findings_at_neighbouring_segments_are_superseded_by_the_days_insight(sqlite_url):
    at_prompt, in_python, at_hot = finding(PROMPT), finding({"language": "python"}), finding(HOT)
    other_language, other_signal = finding({"language": "go"}), finding(PROMPT, signal="xss")
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "hourly", hour(9), [at_prompt, other_language, other_signal])
        file_findings(session, "hourly", hour(13), [in_python])
        file_findings(session, "hourly", hour(14), [at_hot])
        file_findings(session, "daily", DAY, [at_hot])
    assert superseded(sqlite_url) == {
        finding_id(at_prompt): finding_id(at_hot),
        finding_id(in_python): finding_id(at_hot),
        finding_id(at_hot): None,  # the day's placement stands
        finding_id(other_language): None,  # no python execution is a go execution
        finding_id(other_signal): None,  # the day did not place this signal
    }
    with transaction(connect(sqlite_url)) as session:
        groups = top_insights(session, DAY, top=10)
    shown = {i["title"]: i["seen"] for g in groups for i in g["insights"]}
    assert len(shown) == 3  # the day's placement, the go and the xss findings: the superseded are folded
    # The superseded insights' hours count under the insight that placed them.
    assert shown[at_hot["title"]] == {"hourly": 3, "daily": 1}
    assert at_prompt["title"] not in shown and in_python["title"] not in shown


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_supersession_does_not_depend_on_the_order_of_runs(sqlite_url, order):
    runs = [
        ("hourly", hour(10), [finding({"language": "python"})]),
        ("hourly", hour(11), [finding(PROMPT), finding(HOT)]),
        ("daily", DAY, [finding(HOT)]),
        ("hourly", hour(2, NEXT_DAY), [finding({"language": "python"})]),
    ]
    with transaction(connect(sqlite_url)) as session:
        for index in order:
            file_findings(session, *runs[index])
    found = superseded(sqlite_url)
    # Seen the next day too, before that day's run: it stands on its own again.
    assert found[finding_id(finding({"language": "python"}))] is None
    assert found[finding_id(finding(PROMPT))] == finding_id(finding(HOT))
    assert found[finding_id(finding(HOT))] is None


def test_a_rerun_of_the_day_that_no_longer_places_a_finding_restores_it(sqlite_url):
    in_python = finding({"language": "python"})
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "hourly", hour(13), [in_python])
        file_findings(session, "daily", DAY, [finding(HOT)])
    assert superseded(sqlite_url)[finding_id(in_python)] == finding_id(finding(HOT))
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "daily", DAY, [])
        file_findings(session, "daily", NEXT_DAY, [finding(HOT)])  # another day places nothing here
    assert superseded(sqlite_url) == {finding_id(in_python): None, finding_id(finding(HOT)): None}


def test_a_rerun_of_the_day_that_drops_an_insights_daily_observation_lets_another_day_place_it(sqlite_url):
    at_prompt = finding(PROMPT)
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "daily", DAY, [at_prompt])
        file_findings(session, "hourly", hour(3, NEXT_DAY), [at_prompt])
        file_findings(session, "daily", NEXT_DAY, [finding(HOT)])
    assert superseded(sqlite_url)[finding_id(at_prompt)] is None  # the first day's cycle saw it there
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "daily", DAY, [])
    assert superseded(sqlite_url)[finding_id(at_prompt)] == finding_id(finding(HOT))


def test_only_frequency_findings_seen_by_hourly_runs_alone_are_superseded(sqlite_url):
    anomaly = finding(PROMPT, kind="anomaly")
    both = finding(PROMPT, signal="xss")
    with transaction(connect(sqlite_url)) as session:
        file_findings(session, "hourly", hour(13), [anomaly, both])
        file_findings(session, "daily", DAY, [finding(HOT), finding(HOT, signal="xss"), both])
    found = superseded(sqlite_url)
    assert found[finding_id(anomaly)] is None  # an anomaly's segment is where the series broke
    assert found[finding_id(both)] is None  # the day saw it at its own segment too
