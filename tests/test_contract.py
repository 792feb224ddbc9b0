"""The published event contract and its enforcement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from aitl import contract
from aitl.contract import ContractError, coerce_text_record, validate
from tests.factories import event

TS = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "include/aitl/schemas/feedback_event.schema.json"


def test_published_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))
    assert contract.schema()["required"] == [
        "event_id",
        "execution_id",
        "session_id",
        "user_id",
        "timestamp",
        "success",
        "duration_s",
        "quality_score",
    ]


def test_valid_event_becomes_a_store_row():
    row = validate(event(TS, comment="<script>alert(1)</script>", extra_field="ignored"))
    assert row["ts"] == TS
    assert "timestamp" not in row
    assert "extra_field" not in row
    assert row["comment"] == "<script>alert(1)</script>"


def test_minimal_event_has_optional_fields_as_none():
    minimal = {k: event(TS)[k] for k in contract.schema()["required"]}
    row = validate(minimal)
    assert row["agent_tier"] is None
    assert row["errors"] is None


@pytest.mark.parametrize("field", contract.schema()["required"])
def test_missing_required_field_is_named(field):
    broken = event(TS)
    del broken[field]
    with pytest.raises(ContractError) as info:
        validate(broken)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("success", "yes"),
        ("duration_s", -1),
        ("quality_score", 1.5),
        ("prompt_version", 1.5),
        ("arm", "treatment"),
        ("security_warnings", "sql injection"),
        ("event_id", ""),
    ],
)
def test_wrong_value_is_named(field, value):
    with pytest.raises(ContractError) as info:
        validate(event(TS, **{field: value}))
    assert info.value.field == field


def test_nested_error_problem_names_the_path():
    with pytest.raises(ContractError) as info:
        validate(event(TS, errors=[{"message": "no type"}]))
    assert info.value.field == "errors.0.type"


def test_timestamp_needs_an_offset_and_is_converted_to_utc():
    with pytest.raises(ContractError, match="timestamp must be date-time") as info:
        validate(event("2026-11-20T05:30:00"))
    assert info.value.field == "timestamp"
    with pytest.raises(ContractError, match="no UTC offset"):
        contract.parse_timestamp("2026-11-20T05:30:00")
    assert validate(event("2026-11-20T07:30:00+02:00"))["ts"] == TS


def test_non_object_is_refused():
    with pytest.raises(ContractError) as info:
        validate([1, 2])
    assert info.value.field == "event"


def test_csv_cells_take_the_declared_types():
    record = coerce_text_record(
        {
            "success": "true",
            "duration_s": "3.5",
            "prompt_version": "2",
            "errors": '[{"type": "timeout"}]',
            "comment": "",
            "task_type": "refactor",
        }
    )
    assert record == {
        "success": True,
        "duration_s": 3.5,
        "prompt_version": 2,
        "errors": [{"type": "timeout"}],
        "task_type": "refactor",
    }
    with pytest.raises(ContractError) as info:
        coerce_text_record({"prompt_version": "two"})
    assert info.value.field == "prompt_version"
