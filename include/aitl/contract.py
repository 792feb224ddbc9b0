"""The feedback-event data contract: the published JSON Schema and its enforcement.

The schema file ``schemas/feedback_event.schema.json`` is the single source of
truth; the validator is compiled from it once (fastjsonschema generates plain
Python, roughly 20x faster than interpreting the schema per record, which matters
at hundreds of thousands of events an hour). What the schema cannot say (a real
UTC-convertible timestamp) is checked here. Every rejection names the field.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import fastjsonschema
import orjson

SCHEMA_RESOURCE = "feedback_event.schema.json"

# Fields stored as JSON documents rather than scalar columns.
LIST_FIELDS = ("style_issues", "security_warnings", "errors")


class ContractError(ValueError):
    """An event that breaks the contract; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("aitl").joinpath("schemas", SCHEMA_RESOURCE).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator():
    return fastjsonschema.compile(schema())


@functools.cache
def field_types() -> dict[str, tuple[str, ...]]:
    """Each top-level field's JSON types, used to coerce untyped CSV cells."""
    types: dict[str, tuple[str, ...]] = {}
    for name, spec in schema()["properties"].items():
        declared = spec.get("type")
        if declared is None and "enum" in spec:
            declared = ["string", "null"]
        types[name] = tuple([declared] if isinstance(declared, str) else declared)
    return types


def _field_of(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """Turn fastjsonschema's path (["data", "errors", "0"]) into "errors.0".

    A missing required property is reported on its parent; name the property.
    """
    field = ".".join(str(part) for part in exc.path[1:])
    missing = _MISSING.search(exc.message)
    if missing:
        first = missing.group(1).split(",")[0].strip(" '\"")
        field = f"{field}.{first}" if field else first
    return field or "event"


_MISSING = re.compile(r"must contain \[(.*?)\] properties")


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 with an explicit offset, returned in UTC."""
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ContractError("timestamp", f"not an ISO 8601 date-time: {value!r}") from exc
    if ts.tzinfo is None:
        raise ContractError("timestamp", f"has no UTC offset: {value!r}")
    return ts.astimezone(UTC)


def validate(event: Any) -> dict[str, Any]:
    """Check one decoded event against the contract and return its store row.

    The row has the schema's fields (unknown extras dropped), ``timestamp``
    replaced by a UTC ``ts`` and missing optional fields as ``None``.
    """
    if not isinstance(event, dict):
        raise ContractError("event", f"must be a JSON object, got {type(event).__name__}")
    try:
        _validator()(event)
    except fastjsonschema.JsonSchemaValueException as exc:
        message = exc.message.removeprefix("data.").removeprefix("data ")
        raise ContractError(_field_of(exc), message) from None
    row = {name: event.get(name) for name in schema()["properties"]}
    row["ts"] = parse_timestamp(row.pop("timestamp"))
    return row


def decode_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("event", f"malformed JSON: {exc}") from None


_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _coerce_cell(name: str, text: str, types: tuple[str, ...]) -> Any:
    if "array" in types or "object" in types:
        return decode_json(text.encode("utf-8"))
    if "boolean" in types:
        folded = text.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ContractError(name, f"not a boolean: {text!r}")
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            raise ContractError(name, f"not an integer: {text!r}") from None
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            raise ContractError(name, f"not a number: {text!r}") from None
    return text


def coerce_text_record(record: dict[str, str | None]) -> dict[str, Any]:
    """Give the cells of a CSV row the JSON types the schema declares.

    An empty cell means "absent"; list fields hold JSON text.
    """
    types = field_types()
    out: dict[str, Any] = {}
    for name, text in record.items():
        if name is None or text is None or text == "":
            continue
        declared = types.get(name)
        out[name] = text if declared is None else _coerce_cell(name, text, declared)
    return out


def coerce_sql_record(record: dict[str, Any]) -> dict[str, Any]:
    """Make a row of a source SQL table look like a decoded JSON event.

    Drivers return datetimes for timestamps and text for JSON columns on some
    backends; normalize both so the one validator applies.
    """
    types = field_types()
    out: dict[str, Any] = {}
    for name, value in record.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            value = value.isoformat()
        elif isinstance(value, str) and name in LIST_FIELDS:
            value = decode_json(value.encode("utf-8"))
        elif isinstance(value, int) and "boolean" in types.get(name, ()):
            # SQLite and some warehouses store booleans as 0/1.
            value = bool(value)
        out[name] = value
    return out
