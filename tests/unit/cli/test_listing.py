"""`aitl improvements`, `aitl experiments` and `aitl --version`: find things in the store from a shell."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from aitl.cli.main import main
from aitl.store import connect, transaction
from aitl.store.database import masked_url
from aitl.store.models import Decision
from tests import factories

AT = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


def decision(experiment_id: str, at: datetime, verdict: str, reason: str) -> Decision:
    return Decision(
        experiment_id=experiment_id,
        window_end=at,
        look=1,
        decision=verdict,
        reason=reason,
        n_control=10,
        n_variant=10,
        information_fraction=0.1,
        alpha_spent=0.0,
        nominal_alpha=0.0,
        details={},
    )


@pytest.fixture
def store(store_url):
    """Four improvements over three hours, two experiments, three looks (SQLite and PostgreSQL)."""
    with transaction(connect(store_url)) as session:
        session.add_all(
            [
                factories.improvement(
                    AT - 2 * HOUR, id="imp-old", status="rejected", status_reason="confidence 0.5 too low"
                ),
                factories.improvement(
                    AT - HOUR, id="imp-run", status="running", status_reason="experiment exp-1 launched"
                ),
                factories.improvement(
                    AT,
                    id="imp-prop",
                    status="proposed",
                    confidence=0.95,
                    status_reason="awaiting approval: confidence 0.950 below\nauto_implement_threshold 0.98",
                ),
                factories.improvement(
                    AT,
                    id="imp-set",
                    type="model_selection",
                    target_kind="config",
                    target_id="model:api_endpoint",
                    status="applied",
                    status_reason="model:api_endpoint v2 applied",
                    priority="low",
                    priority_score=0.5,
                ),
                factories.experiment(AT - 3 * HOUR, id="exp-1", improvement_id="imp-run"),
                factories.experiment(
                    AT - 5 * HOUR,
                    id="exp-0",
                    improvement_id="imp-gone",
                    prompt_id="q",
                    status="promoted",
                    ended_at=AT,
                ),
                decision("exp-0", AT - HOUR, "continue", "look 1: not yet"),
                decision("exp-0", AT, "promoted", "success_rate +0.06, p_adj 0.001"),
                decision("exp-1", AT, "continue", "information 0.3"),
            ]
        )
    return store_url


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def test_improvements_newest_first_one_line_each(store, capsys):
    status, lines, _ = run(capsys, "improvements", "--store", store)
    assert status == 0
    assert lines[0].split()[:4] == ["ID", "TYPE", "TARGET", "STATUS"]
    # Newest planning window first; within one window the higher priority first.
    assert [line.split()[0] for line in lines[1:]] == ["imp-prop", "imp-set", "imp-run", "imp-old"]
    proposed, setting = lines[1], lines[2]
    assert "prompt_refinement" in proposed and " p " in proposed and "2026-11-20T00:00Z" in proposed
    assert "high 3.00" in proposed and "0.950" in proposed
    assert "awaiting approval: confidence 0.950 below auto_implement_threshold 0.98" in proposed
    assert proposed.endswith(
        f"review: aitl review imp-prop approve --store {shlex.quote(masked_url(store))} (or reject)"
    )
    assert "model_selection" in setting and "model:api_endpoint" in setting and "low 0.50" in setting
    assert "review:" not in setting
    assert "confidence 0.5 too low" in lines[4]


def test_improvements_filter_by_status_and_type(store, capsys):
    _, lines, _ = run(capsys, "improvements", "--store", store, "--status", "proposed")
    assert [line.split()[0] for line in lines[1:]] == ["imp-prop"]
    _, lines, _ = run(capsys, "improvements", "--store", store, "--type", "model_selection")
    assert [line.split()[0] for line in lines[1:]] == ["imp-set"]
    _, lines, _ = run(
        capsys, "improvements", "--store", store, "--type", "prompt_refinement", "--status", "running"
    )
    assert [line.split()[0] for line in lines[1:]] == ["imp-run"]
    status, lines, _ = run(capsys, "improvements", "--store", store, "--status", "kept")
    assert status == 0 and lines == ["no improvements"]


def test_improvements_as_json_lines(store, capsys):
    status, lines, _ = run(capsys, "improvements", "--store", store, "--json")
    assert status == 0
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["imp-prop", "imp-set", "imp-run", "imp-old"]
    proposed = records[0]
    assert proposed == {
        "id": "imp-prop",
        "type": "prompt_refinement",
        "target_kind": "prompt",
        "target_id": "p",
        "status": "proposed",
        "priority": "high",
        "priority_score": 3.0,
        "confidence": 0.95,
        "reason": "awaiting approval: confidence 0.950 below\nauto_implement_threshold 0.98",
        "created_at": "2026-11-20T00:00:00+00:00",
        "updated_at": "2026-11-20T00:00:00+00:00",
        "review": f"aitl review imp-prop approve --store {shlex.quote(masked_url(store))}",
    }
    assert all(r["review"] is None for r in records[1:])
    _, lines, _ = run(capsys, "improvements", "--store", store, "--json", "--status", "kept")
    assert lines == []


def test_the_review_command_shown_approves(sqlite_url, capsys):
    from aitl.loop import registry
    from aitl.store.models import Improvement

    with transaction(connect(sqlite_url)) as session:
        registry.ensure_registered(session, "p", "Write an endpoint.", at=AT - HOUR)
        session.add(factories.improvement(AT, status="proposed", confidence=0.9))
    _, lines, _ = run(capsys, "improvements", "--store", sqlite_url, "--json")
    command = json.loads(lines[0])["review"].split()
    assert command[:4] == ["aitl", "review", "imp-1", "approve"]
    status, lines, _ = run(capsys, *command[1:])
    assert status == 0 and json.loads(lines[0]) == {"improvement_id": "imp-1", "status": "running"}
    with transaction(connect(sqlite_url)) as session:
        assert session.get(Improvement, "imp-1").status == "running"


def test_experiments_with_their_last_decision(store, capsys):
    status, lines, _ = run(capsys, "experiments", "--store", store)
    assert status == 0
    assert lines[0].split()[:3] == ["ID", "PROMPT", "CONTROL->VARIANT"]
    assert [line.split()[0] for line in lines[1:]] == ["exp-1", "exp-0"]
    running, promoted = lines[1], lines[2]
    assert "v1->v2" in running and " running " in running and "2026-11-19T21:00Z" in running
    assert " 100 " in running and running.endswith("continue 2026-11-20T00:00Z: information 0.3")
    assert promoted.endswith("promoted 2026-11-20T00:00Z: success_rate +0.06, p_adj 0.001")
    _, lines, _ = run(capsys, "experiments", "--store", store, "--status", "promoted", "--json")
    assert [json.loads(line) for line in lines] == [
        {
            "id": "exp-0",
            "improvement_id": "imp-gone",
            "prompt_id": "q",
            "control_version": 1,
            "variant_version": 2,
            "traffic_split": 0.5,
            "status": "promoted",
            "started_at": "2026-11-19T19:00:00+00:00",
            "ended_at": "2026-11-20T00:00:00+00:00",
            "planned_n_per_arm": 100,
            "last_decision": "promoted",
            "last_decision_at": "2026-11-20T00:00:00+00:00",
            "last_reason": "success_rate +0.06, p_adj 0.001",
        }
    ]


def test_an_experiment_before_its_first_look(sqlite_url, capsys):
    with transaction(connect(sqlite_url)) as session:
        session.add(factories.experiment(AT))
    _, lines, _ = run(capsys, "experiments", "--store", sqlite_url)
    assert lines[1].endswith(" -")
    _, lines, _ = run(capsys, "experiments", "--store", sqlite_url, "--json")
    record = json.loads(lines[0])
    assert record["last_decision"] is record["last_reason"] is record["last_decision_at"] is None
    _, lines, _ = run(capsys, "experiments", "--store", sqlite_url, "--status", "inconclusive")
    assert lines == ["no experiments"]


@pytest.mark.parametrize(
    ("argv", "named", "valid"),
    [
        (["improvements", "--status", "done"], "--status: unknown value 'done'", "planned, proposed"),
        (["improvements", "--type", "prompt"], "--type: unknown value 'prompt'", "prompt_refinement"),
        (["experiments", "--status", "halted"], "--status: unknown value 'halted'", "running, promoted"),
    ],
)
def test_unknown_filter_values_get_one_line_naming_the_valid_ones(sqlite_url, capsys, argv, named, valid):
    status, lines, err = run(capsys, *argv, "--store", sqlite_url)
    assert status == 2 and lines == []
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"aitl {argv[0]}: {named}; valid: ") and valid in err


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"aitl {version('aitl')}\n"
