"""How trustworthy the discovery side is, measured on simulated traffic through the real cycles.

Two measurements, shared by the tests (short) and ``bench/findings.py`` (long):

* ``null_run``: traffic with every planted effect off (``Scenario.named("null")``)
  through the full hourly cycle for every hour and the daily cycle for every
  day with enough history. Whatever is reported is a false finding (or a
  structural one: tiers and models do differ): insights observed per day, by
  kind, and improvements launched (an experiment started or a setting applied);
* ``outcome_only_hour``: an hour of events that report no error type and no
  indicator (an agent benchmark, a CI system): the hourly cycle must still
  compare models, tiers and resources;
* ``planted_run``: the default scenario's planted causes, each scored as
  found, and as reported by exactly one insight at the planted segment (the
  security hotspot and the complex tasks' timeouts by the daily cycle, the
  anomalous hour as one incident, the regression by the hourly cycles in the
  hours after it ships);
* ``drawn_run``: the null scenario plus failure causes drawn from the seed
  (``aitl.sim.causes``), through every hour's and every day's cycle: each
  cause scored the same way, and the insights about none of them counted.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aitl.config import Settings
from aitl.loop.planning import STATUSES
from aitl.pipeline.runner import run_cycle, run_stage, run_window
from aitl.sim.scenario import Scenario
from aitl.sim.simulate import simulate
from aitl.store import connect, transaction, upgrade
from aitl.store.models import Improvement, Insight, InsightObservation
from aitl.window import HOUR, Window

DAY = timedelta(days=1)
# The daily cycle needs two days of history before it scores anomalies.
HISTORY = timedelta(days=2)
# Improvement statuses that mean it reached the platform: every one past planning and review.
LAUNCHED = tuple(s for s in STATUSES if s not in ("planned", "proposed", "deferred", "rejected"))


def _store(work: Path) -> Settings:
    url = f"sqlite:///{work / 'store.db'}"
    upgrade(url)
    return Settings(store_url=url, landing_dir=work / "landing")


def null_run(window: Window, *, rate: float, seed: int) -> dict[str, Any]:
    """Insights per day and improvements launched on null traffic over ``window`` (whole days)."""
    with tempfile.TemporaryDirectory(prefix="aitl-null-") as work:
        settings = _store(Path(work))
        simulate(settings.landing_dir, window, rate=rate, seed=seed, scenario=Scenario.named("null"))
        for _ in run_window(window, settings):
            pass
        days = [start for start in Window(window.start + HISTORY, window.end).hours() if start.hour == 0]
        for day in days:
            run_cycle(Window(day, day + DAY), settings, level="daily")
        with transaction(connect(settings.store_url)) as session:
            observed = session.execute(
                select(InsightObservation.level, InsightObservation.window_start, InsightObservation.evidence)
            ).all()
            launched = session.scalars(select(Improvement).where(Improvement.status.in_(LAUNCHED))).all()
    scored_days = set(days)
    per_day: Counter[Any] = Counter()
    by_kind: Counter[str] = Counter()
    for level, start, evidence in observed:
        day = start.replace(hour=0)
        if day in scored_days:
            per_day[day] += 1
            by_kind[f"{level} {evidence.get('finding', '?')}"] += 1
    weeks = (window.end - window.start) / timedelta(days=7)
    return {
        "days": len(days),
        "insights_per_day": sum(per_day.values()) / len(days),
        "max_insights_in_a_day": max(per_day.values(), default=0),
        "by_kind_per_day": {k: round(v / len(days), 3) for k, v in sorted(by_kind.items())},
        "launched": len(launched),
        "launched_per_week": len(launched) / weeks,
        "launched_types": dict(Counter(i.type for i in launched)),
    }


def outcome_only_hour(hour: Window, *, rate: float, seed: int) -> dict[str, Any]:
    """The hourly cycle on an hour whose events carry outcomes only: which stages ran, what was planned."""
    with tempfile.TemporaryDirectory(prefix="aitl-outcomes-") as work:
        settings = _store(Path(work))
        simulate(settings.landing_dir, hour, rate=rate, seed=seed)
        for path in settings.landing_dir.rglob("*.jsonl"):
            events = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
            stripped = [{**e, "errors": [], "security_warnings": [], "style_issues": []} for e in events]
            path.write_text("".join(json.dumps(e) + "\n" for e in stripped), "utf-8")
        results = run_cycle(hour, settings)
    return {
        "stages": {name: result.stop or "ok" for name, result in results.items()},
        "planned": results["plan_actions"].summary.get("by_type", {}) if "plan_actions" in results else None,
    }


def _at(segment: dict[str, Any], planted: dict[str, Any]) -> bool:
    """Whether an insight's segment is the planted one.

    The simulator's prompt ``<task>-gen`` serves that task type alone, so the
    two name the same events and either may describe the planted segment.
    """
    if any(segment.get(key) != value for key, value in planted.items()):
        return False
    task_prompt = f"{segment.get('task_type')}-gen"
    return set(segment) - set(planted) <= {"prompt_id", "task_type"} and (
        segment.get("prompt_id", task_prompt) == task_prompt
    )


def _scored(insights: list[Insight], name: str, signal: str, segment: dict[str, Any]) -> dict[str, Any]:
    """One cause: found at its segment, and whether exactly one insight is about its signal.

    Counted over the insights that stand on their own: an hourly finding the
    day's cycle placed at another segment is part of the insight that
    superseded it (``aitl.loop.filing.supersede``); ``filed`` counts them too.
    """
    filed = [i for i in insights if i.signal == signal and i.segment]
    about = [i for i in filed if i.superseded_by is None]
    return {
        "cause": name,
        "found": any(_at(i.segment, segment) for i in about),
        "insights": len(about),
        "filed": len(filed),
        "exactly_one_at_segment": len(about) == 1 and _at(about[0].segment, segment),
        "segments": [i.segment for i in about],
        "superseded": [i.segment for i in filed if i.superseded_by is not None],
    }


def drawn_run(window: Window, *, rate: float, seed: int, causes: int) -> dict[str, Any]:
    """``causes`` drawn causes on null traffic: each scored, and the insights about none of them.

    Every hour runs the full hourly cycle and every day the daily cycle, as
    deployed (the days after all the hours: the result does not depend on the
    order of runs). A cause planted in one language is looked for at its
    prompt and language, one in every language at its prompt. Each cause is
    scored over the insights of both levels and, as ``daily``, over those the
    daily cycle observed.
    """
    scenario = Scenario.named("null").with_random_causes(causes, seed)
    with tempfile.TemporaryDirectory(prefix="aitl-drawn-") as work:
        settings = _store(Path(work))
        simulate(settings.landing_dir, window, rate=rate, seed=seed, scenario=scenario)
        for _ in run_window(window, settings):
            pass
        for day in window.units("daily"):
            run_cycle(day, settings, level="daily")
        with transaction(connect(settings.store_url)) as session:
            insights = session.scalars(select(Insight)).all()
            by_daily = select(InsightObservation.insight_id).where(InsightObservation.level == "daily")
            daily = set(session.scalars(by_daily))
    rows = []
    for c in scenario.causes:
        name = f"{c.indicator} in {c.rate:.0%} of {c.where}"
        segment = {"prompt_id": f"{c.task_type}-gen", **({"language": c.language} if c.language else {})}
        row = _scored(insights, name, c.indicator, segment)
        row["daily"] = _scored([i for i in insights if i.id in daily], name, c.indicator, segment)
        rows.append(row)
    planted = {c.indicator for c in scenario.causes}
    others = [i for i in insights if i.signal not in planted]
    return {
        "causes": rows,
        "other_insights": len(others),
        "other_kinds": dict(Counter(i.evidence.get("finding", "?") for i in others)),
    }


def planted_run(window: Window, *, rate: float, seed: int) -> list[dict[str, Any]]:
    """Each planted cause of the default scenario: found, and reported once at its segment."""
    scenario = Scenario()
    with tempfile.TemporaryDirectory(prefix="aitl-planted-") as work:
        settings = _store(Path(work))
        simulate(settings.landing_dir, window, rate=rate, seed=seed, scenario=scenario)
        for _ in run_window(window, settings, ("collect", "normalize")):
            pass
        incident = scenario.anomaly_hours[0]
        run_cycle(Window(incident.replace(hour=0), incident.replace(hour=0) + DAY), settings, level="daily")
        shipped = scenario.regression_at
        for hour in Window(shipped + 9 * HOUR, shipped + 15 * HOUR).hours():
            for stage in ("extract_patterns", "generate_insights"):
                run_stage(stage, Window(hour, hour + HOUR), settings)
        with transaction(connect(settings.store_url)) as session:
            insights = session.scalars(select(Insight)).all()
    security = {
        "task_type": scenario.security_task_type,
        "language": scenario.security_language,
        "prompt_id": f"{scenario.security_task_type}-gen",
    }
    causes = [
        ("security hotspot", scenario.security_indicator, security),
        ("complex tasks' timeouts", "timeout", {"complexity_band": "high"}),
        ("prompt regression (hourly)", "misunderstood_task", {"prompt_id": scenario.regression_prompt}),
    ]
    rows = [_scored(insights, name, signal, segment) for name, signal, segment in causes]
    hour = scenario.anomaly_hours[0].isoformat()[:13]
    episodes = [
        i
        for i in insights
        if i.evidence.get("finding") == "anomaly"
        and i.evidence.get("start", "")[:13] <= hour <= i.evidence.get("end", "")[:13]
    ]
    rows.append(
        {
            "cause": "anomalous hour",
            "found": bool(episodes),
            "insights": len(episodes),
            "exactly_one_at_segment": len(episodes) == 1,
            "segments": [i.title[:80] for i in episodes],
        }
    )
    return rows
