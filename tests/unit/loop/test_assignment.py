"""The arm assignment rule: docs, code, the platform's message and an independent reading agree.

docs/event-contract.md publishes the rule, a reference implementation and test
vectors; the platform implements the rule from them. Each vector is checked
against ``aitl.loop.registry.assign_arm``, against an implementation written
here from the documented rule alone, against the docs' reference code and
against the expression the ``experiment_started`` message carries.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aitl.config import Thresholds
from aitl.loop import registry
from aitl.loop.implementation import review
from aitl.store import connect, transaction
from aitl.store.models import OutboxMessage
from tests import factories
from tests.conftest import ROOT

CONTRACT = (ROOT / "docs" / "event-contract.md").read_text()
AT = datetime(2026, 11, 10, tzinfo=UTC)


def _vectors() -> list[tuple[str, str, float, str, float, str]]:
    """The rows of the published table: (experiment, execution, split, first 8 bytes hex, value, arm)."""
    block = re.search(r"<!-- assignment-vectors -->\n(.*?)\n<!-- /assignment-vectors -->", CONTRACT, re.S)
    assert block is not None, "docs/event-contract.md has no assignment-vectors table"
    lines = block[1].splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "experiment_id",
        "execution_id",
        "traffic_split",
        "first 8 bytes",
        "value",
        "arm",
    ]
    rows = []
    for line in lines[2:]:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        experiment_id, execution_id, split, prefix, value, arm = cells
        rows.append((experiment_id, execution_id, float(split), prefix, float(value), arm))
    return rows


VECTORS = _vectors()


def independent(experiment_id: str, execution_id: str, traffic_split: float) -> tuple[str, float, str]:
    """The documented rule, written from the text only: (first 8 bytes hex, value, arm)."""
    key = (experiment_id + ":" + execution_id).encode("utf-8")
    first8 = hashlib.sha256(key).digest()[0:8]
    n = int.from_bytes(first8, byteorder="big", signed=False)
    value = float(n) / 18446744073709551616.0  # 2**64: converting then scaling is exact after rounding
    return first8.hex(), value, ("variant" if value < traffic_split else "control")


def test_the_table_is_a_real_test_set():
    assert len(VECTORS) >= 8
    assert {arm for *_, arm in VECTORS} == {"control", "variant"}
    # Some values within 1e-5 of their split: an off-by-one byte or a flipped comparison shows.
    assert sum(abs(value - split) < 1e-5 for _, _, split, _, value, _ in VECTORS) >= 3
    assert any(not execution.isascii() for _, execution, *_ in VECTORS), "a non-ASCII id pins UTF-8"


@pytest.mark.parametrize(("experiment_id", "execution_id", "split", "prefix", "value", "arm"), VECTORS)
def test_each_vector_against_the_project(experiment_id, execution_id, split, prefix, value, arm):
    assert registry.assign_arm(experiment_id, execution_id, split) == arm


@pytest.mark.parametrize(("experiment_id", "execution_id", "split", "prefix", "value", "arm"), VECTORS)
def test_each_vector_against_an_independent_implementation(
    experiment_id, execution_id, split, prefix, value, arm
):
    assert independent(experiment_id, execution_id, split) == (prefix, value, arm)
    # The comparison is strict: at value == split the execution is in the control.
    assert independent(experiment_id, execution_id, value)[2] == "control"


def test_the_docs_reference_implementation_gives_every_vector():
    section = CONTRACT[CONTRACT.index("### Assignment") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    assert len([line for line in code[1].splitlines() if line.strip()]) <= 5
    namespace: dict = {}
    exec(code[1], namespace)
    for experiment_id, execution_id, split, _, _, arm in VECTORS:
        assert namespace["assign_arm"](experiment_id, execution_id, split) == arm


def _published_rule(store_url: str) -> str:
    """The ``assignment`` field of a real ``experiment_started`` message."""
    with transaction(connect(store_url)) as session:
        registry.ensure_registered(session, "p", "Write an endpoint.", at=AT - timedelta(days=1))
        session.add(factories.improvement(AT, status="proposed", confidence=0.85))
    with transaction(connect(store_url)) as session:
        review(session, "imp-1", "approve", at=AT, thresholds=Thresholds.resolve(), reviewer="r")
    with transaction(connect(store_url)) as session:
        message = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "experiment_started")
        ).one()
        return message.payload["assignment"]


def test_the_experiment_started_message_carries_the_exact_rule(sqlite_url):
    rule = _published_rule(sqlite_url)
    assert f"`{rule}`" in CONTRACT, "the docs quote the message's assignment expression verbatim"
    for experiment_id, execution_id, split, _, _, arm in VECTORS:
        names = {"experiment_id": experiment_id, "execution_id": execution_id, "traffic_split": split}
        assert eval(rule, {"sha256": hashlib.sha256}, names) == arm
