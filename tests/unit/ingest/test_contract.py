"""The published event contract and its enforcement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from aitl.ingest import contract
from aitl.ingest.contract import ContractError, decode, decode_list_cells, validate
from tests.factories import event

TS = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "include/aitl/ingest/schemas/feedback_event.schema.json"


def test_published_schema_is_valid_and_generated_from_the_contract():
    published = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(published)
    assert published == contract.schema(), "regenerate it: aitl schema > " + str(SCHEMA_FILE)
    assert published["required"] == [
        "event_id",
        "execution_id",
        "session_id",
        "user_id",
        "timestamp",
        "success",
    ]


def test_an_outcome_only_event_is_valid():
    """An agent benchmark's run: identity, time, outcome, model and task, nothing measured."""
    fields = {
        "event_id",
        "execution_id",
        "session_id",
        "user_id",
        "timestamp",
        "success",
        "model",
        "task_type",
    }
    row = validate({k: v for k, v in event(TS).items() if k in fields})
    assert row["duration_s"] is None and row["quality_score"] is None
    assert row["success"] is True and row["model"] == "atlas-large"


def test_valid_event_becomes_a_store_row():
    row = validate(event(TS, comment="<script>alert(1)</script>", extra_field="ignored"))
    assert row["ts"] == TS
    assert "timestamp" not in row
    assert "extra_field" not in row
    assert row["comment"] == "<script>alert(1)</script>"


def test_minimal_event_has_optional_fields_as_none():
    minimal = {k: event(TS)[k] for k in contract.REQUIRED}
    row = validate(minimal)
    assert row["agent_tier"] is None
    assert row["errors"] is None


def test_schema_and_decoder_agree_on_examples():
    """What the JSON Schema accepts, the decoder accepts, and the other way round."""
    validator = jsonschema.Draft202012Validator(contract.schema())
    good = event(TS, errors=[{"type": "timeout", "message": None}], arm="variant")
    bad = event(TS, quality_score=2.0)
    assert validator.is_valid(good) and decode(json.dumps(good).encode())
    assert not validator.is_valid(bad)
    with pytest.raises(ContractError):
        decode(json.dumps(bad).encode())


@pytest.mark.parametrize("field", contract.REQUIRED)
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
    with pytest.raises(ContractError, match="no UTC offset") as info:
        validate(event("2026-11-20T05:30:00"))
    assert info.value.field == "timestamp"
    with pytest.raises(ContractError) as info:
        validate(event("yesterday"))
    assert info.value.field == "timestamp"
    assert validate(event("2026-11-20T07:30:00+02:00"))["ts"] == TS


def test_non_object_is_refused():
    with pytest.raises(ContractError) as info:
        validate([1, 2])
    assert info.value.field == "event"


def test_json_lines_are_decoded_and_checked_in_one_step():
    row = decode(json.dumps(event(TS, event_id="j1")).encode())
    assert (row["event_id"], row["ts"]) == ("j1", TS)
    with pytest.raises(ContractError, match="malformed JSON") as info:
        decode(b'{"event_id": "x", ')
    assert info.value.field == "event"


def test_text_cells_take_the_declared_types():
    cells = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in event(TS).items()
        if not isinstance(v, list)
    }
    cells |= {"errors": '[{"type": "timeout"}]', "prompt_version": "2", "success": "true"}
    row = validate(decode_list_cells(cells), from_text=True)
    assert (row["success"], row["prompt_version"], row["duration_s"]) == (True, 2, 12.5)
    assert row["errors"] == [{"type": "timeout", "message": None}]
    with pytest.raises(ContractError) as info:
        validate(cells | {"prompt_version": "two"}, from_text=True)
    assert info.value.field == "prompt_version"
    with pytest.raises(ContractError) as info:
        decode_list_cells({"errors": "[{"})
    assert info.value.field == "errors"
