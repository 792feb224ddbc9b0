"""The configuration registry, a person's review of proposed improvements, and before/after impact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from aitl.config import Thresholds
from aitl.loop import registry
from aitl.loop.impact import IMPACT_PERIOD, TEST, measure
from aitl.loop.implementation import ReviewError, review
from aitl.sim.evaluate import Traffic, synthetic_rollup
from aitl.store import connect, transaction
from aitl.store.models import (
    ConfigVersion,
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
        pytest.raises(ReviewError, match="'approve' or 'reject'"),
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
