"""The feedback-event data contract: one typed definition, its JSON Schema, its enforcement.

``FeedbackEvent`` (a msgspec Struct) is the single source of truth. The
published JSON Schema (``schemas/feedback_event.schema.json``) is generated
from it (``aitl schema``; a test keeps the file in step), and validation is
msgspec decoding: parsing and checking a JSON line in one C pass, about 15x
faster than parsing it and then interpreting a schema, which is what makes
hundreds of thousands of events an hour cheap. Every rejection names the field.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

SCHEMA_ID = "https://aitl.dev/schemas/feedback_event/v1.json"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Label = Annotated[str, msgspec.Meta(max_length=64)]
Name = Annotated[str, msgspec.Meta(max_length=128)]
# Every number is bounded: counts fit the store's 64-bit integers, and
# measures are finite and small enough that a year of them summed (or
# squared and summed) in an hourly rollup stays far from float overflow.
INT64_MAX = 2**63 - 1
MAX_MEASURE = 1e12
Unit = Annotated[float, msgspec.Meta(ge=0, le=1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=MAX_MEASURE)]
Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Indicators = Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=100)]


class ErrorItem(msgspec.Struct, forbid_unknown_fields=False):
    """One error the execution reported."""

    type: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="e.g. timeout, syntax_error")]
    message: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class FeedbackEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """One execution of the AI code-generation platform and everything learned from it.

    Identity, timestamp and success are required; everything else (duration and quality too) is optional.
    Unknown extra fields are accepted and ignored, so producers can evolve first.
    """

    # identity
    event_id: Annotated[Id, _doc("Unique per event; ingesting the same id again is a no-op.")]
    execution_id: Id
    session_id: Id
    user_id: Id
    timestamp: Annotated[
        datetime,
        _doc("When the execution finished: ISO 8601 with a UTC offset (Z or +00:00; others are converted)."),
    ]
    # context
    agent_tier: Annotated[Label, _doc("e.g. T0..T3")] | None = None
    task_type: Label | None = None
    language: Label | None = None
    model: Name | None = None
    prompt_id: Name | None = None
    prompt_version: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] | None = None
    experiment_id: Name | None = None
    arm: Literal["control", "variant"] | None = None
    complexity: Annotated[Unit, _doc("0 = trivial, 1 = hardest")] | None = None
    size: Annotated[Count, _doc("Size of the generated code in lines")] | None = None
    # outcome
    success: bool
    # Optional: outcome-only sources (an agent benchmark, CI, a review tool) report neither.
    duration_s: NonNegative | None = None
    quality_score: Unit | None = None
    # validation
    syntax_errors: Count | None = None
    style_issues: (
        Annotated[Indicators, _doc('Quality, performance and prompt indicators, e.g. "long functions".')]
        | None
    ) = None
    security_warnings: Annotated[Indicators, _doc('Security indicators, e.g. "sql injection".')] | None = None
    test_coverage: Unit | None = None
    doc_score: Unit | None = None
    # user signals
    satisfaction: Annotated[float, msgspec.Meta(ge=1, le=5, description="User rating 1-5")] | None = None
    accepted: bool | None = None
    comment: Annotated[str, msgspec.Meta(max_length=10000, description="Free text: untrusted.")] | None = None
    # errors
    errors: Annotated[list[ErrorItem], msgspec.Meta(max_length=100)] | None = None
    # resources
    cpu_s: NonNegative | None = None
    memory_mb: NonNegative | None = None
    tokens_in: Count | None = None
    tokens_out: Count | None = None
    cost_usd: NonNegative | None = None


FIELDS: tuple[str, ...] = FeedbackEvent.__struct_fields__
REQUIRED: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(FeedbackEvent) if f.required)
LIST_FIELDS = ("style_issues", "security_warnings", "errors")


class ContractError(ValueError):
    """An event that breaks the contract; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@functools.cache
def schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12), generated from ``FeedbackEvent``."""
    _, components = msgspec.json.schema_components([FeedbackEvent])
    document = dict(components["FeedbackEvent"])
    document["properties"]["timestamp"]["format"] = "date-time"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **document,
        "additionalProperties": True,
        "$defs": {"ErrorItem": components["ErrorItem"]},
    }


_PATH = re.compile(r" - at `\$(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_INDEX = re.compile(r"\[(\d+)\]")


def _field_of(message: str) -> str:
    """``errors[0].type`` style msgspec paths as ``errors.0.type`` field names."""
    at = _PATH.search(message)
    path = _INDEX.sub(r".\1", at.group(1)).lstrip(".") if at else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or "event"


def _rejected(exc: msgspec.ValidationError) -> ContractError:
    message = str(exc)
    return ContractError(_field_of(message), _PATH.sub("", message))


def _row(event: FeedbackEvent, *, check_nul: bool = True) -> dict[str, Any]:
    row = msgspec.structs.asdict(event)
    if event.errors:
        row["errors"] = [{"type": e.type, "message": e.message} for e in event.errors]
    ts = row.pop("timestamp")
    if ts.tzinfo is None:
        raise ContractError("timestamp", f"has no UTC offset: {ts.isoformat()}")
    try:
        row["ts"] = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    except OverflowError:
        raise ContractError("timestamp", f"{ts.isoformat()} is outside years 1-9999 in UTC") from None
    nul = _nul_field(row) if check_nul else None
    if nul is not None:
        raise ContractError(nul, "contains a NUL character, which no store column can hold")
    return row


def _nul_field(row: dict[str, Any]) -> str | None:
    """The first text field holding U+0000 (PostgreSQL text cannot), or None."""
    for name, value in row.items():
        if isinstance(value, str):
            if "\x00" in value:
                return name
        elif name in LIST_FIELDS and value:
            for index, item in enumerate(value):
                texts = item.items() if isinstance(item, dict) else ((None, item),)
                for key, text in texts:
                    if isinstance(text, str) and "\x00" in text:
                        return f"{name}.{index}" + (f".{key}" if key else "")
    return None


_DECODER = msgspec.json.Decoder(FeedbackEvent)


def decode(raw: bytes) -> dict[str, Any]:
    """Parse and check one JSON-encoded event; return its store row.

    The row has the contract's fields (extras dropped), ``timestamp`` replaced
    by a UTC ``ts``, missing optional fields as ``None``.
    """
    try:
        event = _DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        raise _rejected(exc) from None
    except msgspec.DecodeError as exc:
        raise ContractError("event", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ContractError("event", "nested too deeply to decode") from None
    # An escaped \u0000 is the one way a NUL gets into valid JSON text: only
    # such lines pay for the scan of every text field.
    return _row(event, check_nul=b"\\u0000" in raw)


def validate(event: Any, *, from_text: bool = False) -> dict[str, Any]:
    """Check an already-decoded event (a dict); return its store row.

    ``from_text`` accepts the string spellings of numbers and booleans that CSV
    cells and some SQL drivers produce ("3.5", "true", "1").
    """
    if not isinstance(event, dict):
        raise ContractError("event", f"must be a JSON object, got {type(event).__name__}")
    try:
        return _row(msgspec.convert(event, FeedbackEvent, strict=not from_text))
    except msgspec.ValidationError as exc:
        raise _rejected(exc) from None


def decode_list_cells(record: dict[str, Any]) -> dict[str, Any]:
    """CSV cells and text SQL columns hold list fields as JSON text; decode them."""
    out = dict(record)
    for name in LIST_FIELDS:
        value = out.get(name)
        if isinstance(value, str | bytes):
            try:
                out[name] = msgspec.json.decode(value)
            except msgspec.DecodeError as exc:
                raise ContractError(name, f"not a JSON list: {exc}") from None
    return out
