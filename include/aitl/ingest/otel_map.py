"""One agent run's OpenTelemetry spans folded into one feedback event, by a mapping file.

Which attributes feed which contract field is data, not code: the mapping
(``otel_mapping.toml`` next to this module, overridden entry by entry by the
TOML file ``AITL_OTEL_MAPPING`` names) lists, per field, the attribute names
to try in order, and which spans are agent runs. Platforms name their
prompts, experiments and feedback scores differently; a deployment changes a
file, not the reader. What no mapping may change is the event's identity,
time and outcome, which come from the span itself (see ``COMPUTED``).

Spans reach here checked for shape by ``aitl.ingest.otel``, which reads the
files; this module only decides what they mean.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from aitl.ids import stable_id
from aitl.ingest.contract import FIELDS, REQUIRED, ContractError, validate

MAPPING_ENV = "AITL_OTEL_MAPPING"
DEFAULT_MAPPING = Path(__file__).with_name("otel_mapping.toml")
# Fields that come from the run span itself, never from a mapped attribute.
COMPUTED = ("event_id", "timestamp", "duration_s", "success", "errors")
# Fields summed over the spans of a run rather than looked up once.
SUMMED = ("tokens_in", "tokens_out", "cost_usd")
STATUS_ERROR = 2  # OTLP Status.StatusCode.STATUS_CODE_ERROR
# error.type's own fallback value in the OTel semantic conventions, for a span
# in error that says nothing about what kind.
OTHER_ERROR = "_OTHER"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MappingError(ValueError):
    """A mapping file that cannot be used: the run stops rather than mis-map every span."""


class Span(NamedTuple):
    """One span as read from OTLP/JSON, checked for shape; ``raw`` and ``scope`` keep its JSON for quarantine.

    A named tuple: a file holds many thousands of spans.
    """

    trace_id: str  # lowercase hex
    span_id: str
    parent_id: str  # "" for a root span
    remote_parent: bool  # the parent is in another process (its span cannot be in this file)
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]  # the attributes of the resource that emitted it
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    exceptions: list[tuple[Any, Any]]  # (exception.type, exception.message) of its exception events
    line: int  # the file line it was read from, and where that line starts
    offset: int
    raw: dict[str, Any]
    scope: tuple[dict[str, Any], dict[str, Any]]  # the JSON of its resource and instrumentation scope

    @property
    def local_root(self) -> bool:
        """The top of what one process exported of the trace: no parent, or a parent elsewhere."""
        return not self.parent_id or self.remote_parent


@dataclass(frozen=True)
class SpanMapping:
    """Per field the attribute names tried in order, and the attribute values that mark an agent run."""

    fields: Mapping[str, tuple[str, ...]]
    agent_spans: Mapping[str, tuple[str, ...]]

    def is_agent(self, attributes: Mapping[str, Any]) -> bool:
        return any(attributes.get(name) in values for name, values in self.agent_spans.items())


def _names(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MappingError(f"{where}: must be a list of attribute names (strings)")
    return tuple(value)


def _tables(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]] | None]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"OpenTelemetry mapping {path}: {exc}") from None
    unknown = set(document) - {"fields", "agent_spans"}
    if unknown:
        raise MappingError(f"OpenTelemetry mapping {path}: unknown tables {sorted(unknown)}")
    mappable = set(FIELDS) - set(COMPUTED)
    fields = {}
    for name, names in document.get("fields", {}).items():
        if name not in mappable:
            raise MappingError(f"OpenTelemetry mapping {path}: {name!r} is not a mappable event field")
        fields[name] = _names(f"{path}: fields.{name}", names)
    agents = document.get("agent_spans")
    if agents is None:
        return fields, None
    return fields, {key: _names(f"{path}: agent_spans.{key}", values) for key, values in agents.items()}


@functools.cache
def _load(override: str, version: tuple[int, int]) -> SpanMapping:
    """The default mapping with ``override``'s entries on top (cached per file version)."""
    fields, agents = _tables(DEFAULT_MAPPING)
    assert agents is not None, "the default mapping names its agent spans"
    if override:
        extra_fields, extra_agents = _tables(Path(override))
        fields.update(extra_fields)
        agents = extra_agents if extra_agents is not None else agents
    return SpanMapping(fields, agents)


def current_mapping() -> SpanMapping:
    """The mapping in force: the default, or with ``$AITL_OTEL_MAPPING``'s entries on top."""
    override = os.environ.get(MAPPING_ENV, "")
    try:
        info = Path(override).stat() if override else None
    except OSError as exc:
        raise MappingError(f"{MAPPING_ENV}={override}: {exc.strerror}") from None
    return _load(override, (info.st_mtime_ns, info.st_size) if info else (0, 0))


def _lookup(names: Sequence[str], spans: Sequence[Span], run: Span) -> tuple[Any, str] | None:
    """The first attribute of ``names`` present on ``spans`` in order, then on the run's resource."""
    for span in spans:
        for name in names:
            value = span.attributes.get(name)
            if value is not None:
                return value, name
    for name in names:
        value = run.resource.get(name)
        if value is not None:
            return value, name
    return None


def _summed(field: str, names: Sequence[str], spans: Sequence[Span], parents: Mapping[str, str]) -> Any:
    """``field`` summed over the run's spans, a span counting only if none below it carries the field.

    ``parents`` maps each span of the run to its parent, so the spans above a
    carrying span can be told apart from those beside it.
    """
    carried: dict[str, tuple[Any, str, Span]] = {}
    for span in spans:
        for name in names:
            value = span.attributes.get(name)
            if value is not None:
                carried[span.span_id] = (value, name, span)
                break
    if not carried:
        return None
    covered: set[str] = set()  # spans with a carrying span below them
    for span_id in carried:
        parent = parents.get(span_id)
        while parent is not None and parent not in covered:
            covered.add(parent)
            parent = parents.get(parent)
    total: int | float = 0
    for span_id, (value, name, span) in carried.items():
        if span_id in covered:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError(field, f"attribute {name} of span {span.span_id} is not a number: {value!r}")
        total += value
    return total


def _errors(spans: Sequence[Span]) -> list[dict[str, Any]]:
    """One error per span of the run that ended in error: error.type, else its exception's type."""
    errors = []
    for span in spans:
        kind = span.attributes.get("error.type")
        if span.status_code != STATUS_ERROR and kind is None:
            continue
        exception_type, exception_message = span.exceptions[0] if span.exceptions else (None, None)
        message = span.status_message or exception_message
        errors.append(
            {
                "type": str(kind or exception_type or OTHER_ERROR),
                "message": None if message is None else str(message),
            }
        )
    return errors


def _at(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


def run_event(
    run: Span, spans: Sequence[Span], above: Sequence[Span], mapping: SpanMapping
) -> dict[str, Any]:
    """The store row of the agent run ``run``.

    ``spans`` are the run's spans, ``run`` first; ``above`` are its ancestors,
    nearest first.

    Raises ``ContractError`` naming the field, and the attribute it came from
    when one did, if the event breaks the contract.
    """
    own = [run, *sorted(spans[1:], key=lambda s: s.start_ns)]
    parents = {span.span_id: span.parent_id or None for span in spans}
    event: dict[str, Any] = {
        "event_id": stable_id("otlp", run.trace_id, run.span_id),
        "execution_id": f"{run.trace_id}:{run.span_id}",
        "timestamp": _at(run.end_ns),
        "duration_s": (run.end_ns - run.start_ns) / 1e9,
        "success": run.status_code != STATUS_ERROR and run.attributes.get("error.type") is None,
        "errors": _errors(own),
    }
    origin: dict[str, str] = {}
    for field, names in mapping.fields.items():
        if not names:
            continue
        if field in SUMMED:
            total = _summed(field, names, spans, parents)
            if total is not None:
                event[field] = total
                origin[field] = "/".join(names)
            continue
        found = _lookup(names, [*own, *above], run)
        if found is not None:
            event[field], origin[field] = found
    for field in REQUIRED:
        if field not in event:
            names = mapping.fields.get(field, ())
            tried = ", ".join(names) if names else "none mapped"
            raise ContractError(field, f"no attribute for it on the run's spans or resource (tried: {tried})")
    try:
        return validate(event, from_text=True)
    except ContractError as exc:
        name = origin.get(exc.field.split(".", 1)[0])
        if name is None:
            raise
        raise ContractError(exc.field, f"{exc.message} (from attribute {name})") from None
