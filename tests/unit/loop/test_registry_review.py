"""The configuration registry, a person's review of proposed improvements, and before/after impact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from aitl.config import ConfigError, Settings, Thresholds
from aitl.loop import registry
from aitl.loop.decisions import FINAL, AlreadyEnded, apply_decision, promotion_levels
from aitl.loop.decisions import decide as daily_decide
from aitl.loop.impact import IMPACT_PERIOD, TEST, measure
from aitl.loop.implementation import PAUSED, ReviewError, control, implement, review
from aitl.loop.planning import MEMORY, STATUSES
from aitl.loop.sizing import sample_size
from aitl.pipeline.acting import implement_stage
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.stats.online_fdr import gamma, initial_wealth
from aitl.store import connect, transaction
from aitl.store.models import (
    ConfigVersion,
    Decision,
    Experiment,
    HourlyRollup,
    ImpactMeasurement,
    Improvement,
    OutboxMessage,
)
from aitl.window import Window
from tests import factories

AT = datetime(2026, 11, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def decide(session, improvement_id: str, decision: str, **kwargs):
    """A review at ``AT`` by reviewer "r" under the staging thresholds."""
    return review(
        session,
        improvement_id,
        decision,
        **{"at": AT, "thresholds": Thresholds.resolve(), "reviewer": "r"} | kwargs,
    )


def improvement(**fields) -> Improvement:
    """A proposed prompt refinement from the daily run that ended at ``AT``."""
    proposed = {"status": "proposed", "status_reason": "awaiting approval"}
    return factories.improvement(AT, **({"level": "daily", "confidence": 0.85} | proposed | fields))


SETTING = {
    "type": "model_selection",
    "target_kind": "config",
    "target_id": "model:api_endpoint",
    "change": {"model": "atlas-large"},
}


def test_config_versions_keep_lineage_diff_and_history(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        registry.apply_config(session, "model:refactor", "model", {}, at=AT, reason="default")
        v2 = registry.apply_config(
            session,
            "model:refactor",
            "model",
            {"model": "nova-mid"},
            at=AT + DAY,
            reason="better",
            improvement_id="i2",
        )
        assert (v2.version, v2.parent_version) == (2, 1)
        assert '+  "model": "nova-mid"' in v2.diff
        v3 = registry.revert_config(session, "model:refactor", at=AT + 2 * DAY, reason="rolled back")
        assert v3.value == {} and v3.parent_version == 2
        history = registry.history(session, "model:refactor")
        assert [(h["version"], h["current"]) for h in history] == [(1, False), (2, False), (3, True)]
        assert history[1]["improvement_id"] == "i2"
        with pytest.raises(registry.RegistryError, match="neither"):
            registry.history(session, "nothing")
        registry.apply_config(session, "model:x", "model", {"model": "a"}, at=AT, reason="r")
        with pytest.raises(registry.RegistryError, match="no earlier version"):
            registry.revert_config(session, "model:x", at=AT, reason="r")


def test_approving_a_prompt_refinement_launches_its_experiment(store_url):
    with transaction(connect(store_url)) as session:
        registry.ensure_registered(session, "p", "Write an endpoint.", at=AT - DAY)
        session.add(improvement())
    with transaction(connect(store_url)) as session:
        result = decide(session, "imp-1", "approve", reviewer="ana", note="looks right")
    assert result == {"improvement_id": "imp-1", "status": "running"}
    with transaction(connect(store_url)) as session:
        stored = session.get(Improvement, "imp-1")
        assert stored.status_reason.startswith("approved by ana: looks right; experiment exp-")
        experiment = session.scalars(select(Experiment)).one()
        assert experiment.assignment_unit == "execution_id" and experiment.started_at == AT
        assert session.scalars(select(OutboxMessage.kind)).all() == ["experiment_started"]
        # Sized for its promotion level, the first of the stream's (no traffic yet: success 0.5).
        level = promotion_levels(session, 0.05)[experiment.id]
        assert level == pytest.approx(gamma(1) * initial_wealth(0.05))
        assert experiment.planned_n_per_arm == sample_size(0.5, experiment.traffic_split, level)
        assert experiment.planned_n_per_arm > 1.5 * sample_size(0.5, experiment.traffic_split, 0.05)


def test_approving_a_setting_applies_a_new_version_after_the_default(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.add(improvement(**SETTING))
    with transaction(connect(sqlite_url)) as session:
        assert decide(session, "imp-1", "approve")["status"] == "applied"
    with transaction(connect(sqlite_url)) as session:
        versions = session.scalars(select(ConfigVersion).order_by(ConfigVersion.version)).all()
        assert [(v.version, v.value, v.improvement_id) for v in versions] == [
            (1, {}, None),
            (2, {"model": "atlas-large"}, "imp-1"),
        ]
        (message,) = session.scalars(select(OutboxMessage)).all()
        assert message.kind == "config_change" and message.payload["value"] == {"model": "atlas-large"}


def test_rejection_and_refusals(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "p", "Write an endpoint.", at=AT - DAY)
        session.add(improvement())
        session.add(improvement(id="imp-2", dedupe_key="k2"))
        session.add(improvement(id="imp-3", dedupe_key="k3", status="running"))
    with transaction(connect(sqlite_url)) as session:
        assert decide(session, "imp-1", "reject")["status"] == "rejected"
        assert decide(session, "imp-2", "approve")["status"] == "running"
    with transaction(connect(sqlite_url)) as session, pytest.raises(ReviewError, match="is rejected"):
        decide(session, "imp-1", "approve")
    with transaction(connect(sqlite_url)) as session, pytest.raises(ReviewError, match="does not exist"):
        decide(session, "nope", "approve")
    with (
        transaction(connect(sqlite_url)) as session,
        pytest.raises(ReviewError, match="'approve', 'reject', 'stop' or 'rollback'"),
    ):
        decide(session, "imp-1", "maybe")
    with transaction(connect(sqlite_url)) as session:
        session.add(improvement(id="imp-4", dedupe_key="k4"))
    with transaction(connect(sqlite_url)) as session, pytest.raises(ReviewError, match="conflict"):
        decide(session, "imp-4", "approve")
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-4").status == "proposed"


def _five_running(session):
    """Five experiments running on other prompts: safety mode's cap under the staging profile."""
    for i in range(5):
        session.add(
            factories.experiment(AT - DAY, id=f"exp-{i}", prompt_id=f"other-{i}", improvement_id=f"x{i}")
        )


def test_safety_mode_holds_unless_an_allowed_override_is_given_with_a_note(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        session.add(improvement(**SETTING))
        _five_running(session)
    with transaction(connect(sqlite_url)) as session, pytest.raises(ReviewError, match="safety mode: 5"):
        decide(session, "imp-1", "approve")
    refusals = [
        ({"override": "safety_mode", "note": "urgent"}, "not allowed in this deployment"),
        ({"override": "budget", "note": "urgent", "allowed_overrides": frozenset({"budget"})}, "not one of"),
        ({"override": "safety_mode", "allowed_overrides": frozenset({"safety_mode"})}, "a note"),
    ]
    for kwargs, reason in refusals:
        with transaction(connect(sqlite_url)) as session, pytest.raises(ReviewError, match=reason):
            decide(session, "imp-1", "approve", **kwargs)
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-1").status == "proposed"
        allowed = {
            "override": "safety_mode",
            "note": "incident 42",
            "allowed_overrides": frozenset({"safety_mode"}),
        }
        assert decide(session, "imp-1", "approve", **allowed)["status"] == "applied"
    with transaction(connect(sqlite_url)) as session:
        reason = session.get(Improvement, "imp-1").status_reason
    assert reason.startswith("approved by r, overriding safety_mode: incident 42")


def running_experiment(session, started: datetime = AT - 2 * DAY, worse: float = 0.0) -> None:
    """Experiment exp-1 (imp-1, prompt p v1 vs v2) running since ``started``, with one day of traffic.

    A daily look at the end of that day has spent some alpha already.
    """
    registry.ensure_registered(session, "p", "Write an endpoint.", at=started - DAY)
    registry.add_version(
        session, "p", "Write an endpoint.\nBe careful.\n", at=started, reason="t", make_current=False
    )
    session.add(improvement(status="running", status_reason="experiment exp-1 launched"))
    session.add(factories.experiment(started, planned_n_per_arm=1000))
    rng = np.random.default_rng(5)
    rows = [
        synthetic_rollup(rng, started + timedelta(hours=h), "exp-1", arm, 50, Traffic(success=0.75 - cut))
        for h in range(6)
        for arm, cut in (("control", 0.0), ("variant", worse))
    ]
    session.execute(HourlyRollup.__table__.insert(), [r | {"prompt_id": "p"} for r in rows])
    daily_decide(session, Window(started, started + DAY), Thresholds.resolve(), dry_run=False)


@pytest.mark.parametrize(("action", "status"), [("stop", "stopped"), ("rollback", "rolled_back")])
def test_a_person_stops_or_rolls_back_a_running_experiment(store_url, action, status):
    with transaction(connect(store_url)) as session:
        running_experiment(session, worse=0.1)
    with transaction(connect(store_url)) as session:
        result = control(
            session,
            "exp-1",
            action,
            at=AT,
            thresholds=Thresholds.resolve(),
            reviewer="ana",
            note="complaints",
        )
    assert result == {
        "experiment_id": "exp-1",
        "improvement_id": "imp-1",
        "status": status,
        "serve_version": 1,
        "n_control": 300,
        "n_variant": 300,
    }
    reason = f"manual {action} by ana: complaints; control v1 served"
    with transaction(connect(store_url)) as session:
        first, manual = session.scalars(select(Decision).order_by(Decision.window_end)).all()
        assert (first.look, first.decision) == (1, "continue")
        assert (manual.look, manual.decision, manual.reason, manual.window_end) == (0, status, reason, AT)
        assert (manual.n_control, manual.n_variant, manual.metric) == (300, 300, "success_rate")
        assert manual.effect < 0 and manual.p_adjusted is None  # evidence only, at the fixed level
        assert manual.alpha_spent == first.alpha_spent and manual.information_fraction == 0.3
        assert manual.details["manual"] == {"action": action, "by": "ana", "note": "complaints"}
        experiment = session.get(Experiment, "exp-1")
        assert (experiment.status, experiment.ended_at) == (status, AT)
        stored = session.get(Improvement, "imp-1")
        assert (stored.status, stored.status_reason, stored.updated_at) == (status, reason, AT)
        assert registry.current(session, "p").version == 1  # the control is served
        (message,) = session.scalars(select(OutboxMessage)).all()
        assert message.kind == "experiment_decision"
        assert message.payload | {"decided_at": None} == {
            "experiment_id": "exp-1",
            "improvement_id": "imp-1",
            "prompt_id": "p",
            "decision": status,
            "serve_version": 1,
            "reason": reason,
            "n_control": 300,
            "n_variant": 300,
            "decided_at": None,
        }
    # The next daily look leaves it alone: it no longer runs, and its decision stands.
    with transaction(connect(store_url)) as session:
        later = daily_decide(session, Window(AT, AT + DAY), Thresholds.resolve(), dry_run=False)
        assert later["experiments"] == 0
        assert session.get(Experiment, "exp-1").status == status


ALLOWED = frozenset({"safety_mode"})


def test_stop_and_rollback_through_the_review_and_their_refusals(sqlite_url):
    with transaction(connect(sqlite_url)) as session:
        running_experiment(session)
        session.add(improvement(id="imp-2", dedupe_key="k2"))  # proposed, no experiment
    with transaction(connect(sqlite_url)) as session:
        with pytest.raises(ReviewError, match="override goes with an approval"):
            decide(session, "imp-1", "stop", override="safety_mode", note="x", allowed_overrides=ALLOWED)
        with pytest.raises(ReviewError, match="is proposed: only one with a running experiment"):
            decide(session, "imp-2", "rollback")
        with pytest.raises(ReviewError, match="'stop' or 'rollback', got 'approve'"):
            control(session, "exp-1", "approve", at=AT, thresholds=Thresholds.resolve(), reviewer="r")
        with pytest.raises(ReviewError, match="experiment 'exp-9' does not exist"):
            control(session, "exp-9", "stop", at=AT, thresholds=Thresholds.resolve(), reviewer="r")
        result = decide(session, "imp-1", "stop", reviewer="bo")
    assert (result["experiment_id"], result["status"]) == ("exp-1", "stopped")
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-1").status_reason == "manual stop by bo; control v1 served"
        with pytest.raises(ReviewError, match="is stopped: only one with a running experiment"):
            decide(session, "imp-1", "rollback")
        with pytest.raises(ReviewError, match="'exp-1' is stopped: only a running one"):
            control(session, "exp-1", "rollback", at=AT, thresholds=Thresholds.resolve(), reviewer="r")


def test_a_decision_never_overwrites_one_made_meanwhile(store_url):
    """A daily look that read the experiment before a person stopped it fails instead of promoting it."""
    with transaction(connect(store_url)) as session:
        running_experiment(session)
    with transaction(connect(store_url)) as session:
        experiment = session.get(Experiment, "exp-1")
        assert experiment.status == "running"
        with transaction(connect(store_url)) as other:
            control(other, "exp-1", "stop", at=AT, thresholds=Thresholds.resolve(), reviewer="r")
        with pytest.raises(AlreadyEnded, match="exp-1 is no longer running"):
            apply_decision(session, experiment, "promoted", "significant", AT + DAY, 300, 300)
    with transaction(connect(store_url)) as session:
        assert session.get(Experiment, "exp-1").status == "stopped"
        assert registry.current(session, "p").version == 1


def test_every_final_decision_is_an_improvement_status_and_a_person_s_stop_is_remembered():
    assert set(FINAL) <= set(STATUSES) and set(MEMORY) <= set(STATUSES)
    assert MEMORY["stopped"] == timedelta(days=7) and MEMORY["rolled_back"] == timedelta(days=30)


def test_pause_launches_defers_every_launch_and_refuses_approvals(sqlite_url):
    paused = Thresholds.resolve("development", {"pause_launches": True})
    hour = Window(AT - timedelta(hours=1), AT)
    with transaction(connect(sqlite_url)) as session:
        running_experiment(session, started=AT - 3 * DAY)
        session.add(improvement(id="imp-2", dedupe_key="k2", target_id="q", level="hourly", status="planned"))
        session.add(improvement(id="imp-3", dedupe_key="k3", level="hourly", status="planned", **SETTING))
        session.add(
            improvement(id="imp-4", dedupe_key="k4", level="hourly", status="planned", confidence=0.1)
        )
        session.add(improvement(id="imp-5", dedupe_key="k5", target_id="q"))  # proposed
        registry.ensure_registered(session, "q", "Refactor.", at=AT - DAY)
    settings = Settings(store_url=sqlite_url, landing_dir=None, thresholds=paused)
    with transaction(connect(sqlite_url)) as session:
        result = implement_stage(session, hour, settings, level="hourly")
    assert result.stop == f"{PAUSED} (2 deferred)"
    assert (result.summary["paused"], result.summary["launched"], result.summary["applied"]) == (True, 0, 0)
    assert result.summary["improvement_ids"]["rejected"] == ["imp-4"]  # the other gates still judge
    with transaction(connect(sqlite_url)) as session:
        for deferred in ("imp-2", "imp-3"):
            assert (
                session.get(Improvement, deferred).status,
                session.get(Improvement, deferred).status_reason,
            ) == (
                "deferred",
                PAUSED,
            )
        with pytest.raises(ReviewError, match="cannot be implemented now: launches paused"):
            decide(session, "imp-5", "approve", thresholds=paused)
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-5").status == "proposed"
        assert session.scalars(select(Experiment.id)).all() == ["exp-1"]
        assert session.scalars(select(ConfigVersion)).all() == []
        # Decisions go on: a person may still stop what runs.
        assert decide(session, "imp-1", "rollback", thresholds=paused)["status"] == "rolled_back"
    with transaction(connect(sqlite_url)) as session:
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        assert kinds == ["experiment_decision"]
        again = implement(session, hour, Thresholds.resolve("development"), dry_run=True, level="hourly")
        assert again["paused"] is False


def test_pause_launches_for_a_whole_deployment(monkeypatch, tmp_path):
    store = f"sqlite:///{tmp_path / 'unused.db'}"
    assert Settings.from_env(store_url=store).thresholds.pause_launches is False
    monkeypatch.setenv("AITL_PAUSE_LAUNCHES", "true")
    # A run cannot switch a deployment's pause off.
    settings = Settings.from_env(store_url=store, overrides={"pause_launches": False, "alpha": 0.01})
    assert settings.thresholds.pause_launches is True and settings.thresholds.alpha == 0.01
    monkeypatch.setenv("AITL_PAUSE_LAUNCHES", "0")
    assert Settings.from_env(store_url=store).thresholds.pause_launches is False
    monkeypatch.setenv("AITL_PAUSE_LAUNCHES", "maybe")
    with pytest.raises(ConfigError, match="AITL_PAUSE_LAUNCHES 'maybe' is neither true"):
        Settings.from_env(store_url=store)


def rollups(session, start: datetime, days: int, task_type: str, traffic: Traffic, n: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        for hour in range(0, 24, 6):  # a few hours a day is enough for sums
            row = synthetic_rollup(rng, start + d * DAY + timedelta(hours=hour), "", "", n, traffic)
            rows.append(row | {"task_type": task_type, "experiment_id": "", "arm": "", "prompt_id": ""})
    session.execute(HourlyRollup.__table__.insert(), rows)


@pytest.mark.parametrize(("after", "status"), [(0.55, "rolled_back"), (0.75, "kept")])
def test_impact_of_an_applied_setting(sqlite_url, after, status):
    applied = AT
    with transaction(connect(sqlite_url)) as session:
        session.add(improvement(**SETTING))
        decide(session, "imp-1", "approve", at=applied)
        rollups(session, applied - 7 * DAY, 7, "api_endpoint", Traffic(), 100, seed=1)
        rollups(session, applied - 7 * DAY, 7, "refactor", Traffic(), 200, seed=2)
        rollups(session, applied, 7, "api_endpoint", Traffic(success=after), 100, seed=3)
        rollups(session, applied, 7, "refactor", Traffic(), 200, seed=4)
    outcomes = []
    for d in range(1, 8):
        with transaction(connect(sqlite_url)) as session:
            window = Window(applied + (d - 1) * DAY, applied + d * DAY)
            outcomes.append(measure(session, window, Thresholds.resolve(), dry_run=False)["outcome"])
        if outcomes[-1].get("imp-1") != "applied":
            break
    assert outcomes[-1]["imp-1"] == status
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-1").status == status
        current = registry.current_config(session, "model:api_endpoint")
        assert current.value == ({} if status == "rolled_back" else {"model": "atlas-large"})
        rows = session.scalars(
            select(ImpactMeasurement).where(ImpactMeasurement.metric == "success_rate")
        ).all()
        assert rows and all(r.test == TEST for r in rows)
        kinds = session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.created_at)).all()
    if status == "rolled_back":
        assert rows[-1].verdict == "degraded" and rows[-1].effect < -0.1
        assert kinds == ["config_change", "config_rollback"]
        assert len(outcomes) < 7  # caught before the end of the period
    else:
        assert len(outcomes) == IMPACT_PERIOD.days
