"""OpenTelemetry GenAI spans as feedback events: OTLP/JSON files, one event per agent run.

The OpenTelemetry Collector's file exporter writes one
``ExportTraceServiceRequest`` as JSON per line (``{"resourceSpans": [...]}``).
Such files, named ``*.otlp.json`` or ``*.otlp.jsonl``, are read here with
orjson (the OpenTelemetry SDK is not needed), leniently where the OTLP/JSON
encoding allows: ids in hex (or base64, protobuf's own JSON), 64-bit integers
as numbers or strings, enums as integers or names, unknown fields ignored.

A trace is assembled as its spans arrive. Children end, and are exported,
before their parents, so once a trace's root span is read (a span without a
parent, or whose parent is in another process) everything under it is there:
each agent run in it becomes one event (``aitl.ingest.otel_map``). The event
id derives from the trace and span ids, so reading a span again never stores
its run twice.

Spans of a trace whose root has not arrived are *held*: the file's consumed
offset stops at the first line holding one, so the next read of the grown
file starts there and assembles the trace whole (runs already stored in the
lines read again count as duplicates). A trace cannot hold a file forever:
once the file is *final* (``aitl ingest``; in the landing folder, unchanged
for the allowed lateness or read by the last run that reads its folder, see
``aitl.ingest.landing``) its rootless spans are quarantined as one record per
trace, field ``trace``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aitl.ingest.contract import ContractError
from aitl.ingest.otel_map import Span, SpanMapping, current_mapping, run_event
from aitl.ingest.readers import HASH_CHUNK, TRUNCATED, Progress, RawRecord, isolated

STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
# SpanFlags: whether the parent is known to be remote, and whether it is.
HAS_IS_REMOTE, IS_REMOTE = 0x100, 0x200


def _span_id(value: Any, size: int, name: str) -> str:
    """An id of ``size`` bytes as lowercase hex, from hex (the OTLP/JSON rule) or base64."""
    if not isinstance(value, str) or not value:
        raise ContractError(name, f"missing or not a string: {value!r}")
    if len(value) == 2 * size:
        try:
            data = bytes.fromhex(value)
        except ValueError:
            data = b""
    else:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if len(data) != size:
        raise ContractError(name, f"not a {size}-byte id in hex: {value!r}")
    if not any(data):
        raise ContractError(name, "all zeros, which OTLP reserves for no id")
    return data.hex()


def _uint(value: Any, name: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ContractError(name, f"not a non-negative integer: {value!r}")


def _any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (None when empty)."""
    if not isinstance(value, dict):
        raise ValueError(f"not an AnyValue object: {value!r}")
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        number = value["intValue"]
        if isinstance(number, bool) or not isinstance(number, int | str):
            raise ValueError(f"intValue {number!r} is not an integer")
        return int(number)
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, bool) or not isinstance(number, int | float | str):
            raise ValueError(f"doubleValue {number!r} is not a number")
        return float(number)
    if "arrayValue" in value:
        return [_any_value(item) for item in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return None


def _attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError("not a list of key/value objects")
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValueError(f"not a key/value object: {item!r}")
        out[item["key"]] = _any_value(item.get("value", {}))
    return out


def _checked_attributes(items: Any, name: str) -> dict[str, Any]:
    try:
        return _attributes(items)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ContractError(name, str(exc)) from None


def _status(status: Any) -> tuple[int, str]:
    if status is None:
        return 0, ""
    if not isinstance(status, dict):
        raise ContractError("status", f"not an object: {status!r}")
    code = status.get("code", 0)
    code = STATUS_CODES.get(code, code) if isinstance(code, str) else code
    if code not in (0, 1, 2) or isinstance(code, bool):
        raise ContractError("status", f"unknown status code {status.get('code')!r}")
    message = status.get("message") or ""
    return code, str(message)


def _exceptions(events: Any) -> list[tuple[Any, Any]]:
    """(type, message) of the span's exception events (the OTel convention for a raised exception)."""
    if not isinstance(events, list):
        return []
    found = []
    for event in events:
        if isinstance(event, dict) and event.get("name") == "exception":
            attributes = _checked_attributes(event.get("attributes"), "events")
            found.append((attributes.get("exception.type"), attributes.get("exception.message")))
    return found


@dataclass
class _Container:
    """The resource and scope a span was exported under, shared by the spans of one scopeSpans entry."""

    resource: dict[str, Any]  # the resource's JSON, as read
    scope: dict[str, Any]
    attributes: dict[str, Any]  # the resource's attributes, decoded


def parse_span(raw: Any, container: _Container, line: int, offset: int) -> Span:
    """One span JSON object checked for shape; ``ContractError`` names the OTLP field that is wrong."""
    if not isinstance(raw, dict):
        raise ContractError("span", f"not an object: {raw!r}")
    trace_id = _span_id(raw.get("traceId"), 16, "traceId")
    span_id = _span_id(raw.get("spanId"), 8, "spanId")
    parent = raw.get("parentSpanId") or ""
    # Empty means a root span; some producers write a root's parent as zeros instead.
    parent_id = "" if not parent or set(parent) == {"0"} else _span_id(parent, 8, "parentSpanId")
    start = _uint(raw.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _uint(raw.get("endTimeUnixNano"), "endTimeUnixNano")
    if end < start:
        raise ContractError("endTimeUnixNano", f"{end} is before startTimeUnixNano {start}")
    if start == 0:
        raise ContractError("startTimeUnixNano", "0: the span never started")
    flags = raw.get("flags") or 0
    flags = flags if isinstance(flags, int) else 0
    code, message = _status(raw.get("status"))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        remote_parent=bool(parent_id) and flags & (HAS_IS_REMOTE | IS_REMOTE) == HAS_IS_REMOTE | IS_REMOTE,
        start_ns=start,
        end_ns=end,
        attributes=_checked_attributes(raw.get("attributes"), "attributes"),
        resource=container.attributes,
        status_code=code,
        status_message=message,
        exceptions=_exceptions(raw.get("events")),
        line=line,
        offset=offset,
        raw=raw,
        scope=(container.resource, container.scope),
    )


def request_json(spans: Iterable[Span]) -> bytes:
    """``spans`` as one OTLP/JSON ``ExportTraceServiceRequest``: what a quarantined record keeps.

    Kept this way, a record is a line this reader reads again: ``reread``
    maps it afresh when the quarantine is replayed.
    """
    grouped: dict[int, tuple[dict[str, Any], dict[int, tuple[dict[str, Any], list[Any]]]]] = {}
    for span in spans:
        resource, scope = span.scope
        scopes = grouped.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(span.raw)
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": resource,
                    "scopeSpans": [{"scope": s, "spans": raw} for s, raw in scopes.values()],
                }
                for resource, scopes in grouped.values()
            ]
        }
    )


def _containers(request: Any) -> Iterator[tuple[str, _Container | None, Any]]:
    """(where, container, spans JSON) per scopeSpans entry; container None with a problem in ``spans``."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
        yield "", None, ContractError("resourceSpans", "the line is not an ExportTraceServiceRequest object")
        return
    for r, resource_spans in enumerate(request["resourceSpans"]):
        where = f"resourceSpans.{r}"
        if not isinstance(resource_spans, dict) or not isinstance(resource_spans.get("scopeSpans", []), list):
            yield where, None, ContractError("resourceSpans", f"{where} is not an object with scopeSpans")
            continue
        resource = resource_spans.get("resource") or {}
        try:
            attributes = _checked_attributes(resource.get("attributes"), "resource")
        except (ContractError, AttributeError) as exc:
            yield where, None, exc if isinstance(exc, ContractError) else ContractError("resource", str(exc))
            continue
        for s, scope_spans in enumerate(resource_spans.get("scopeSpans", [])):
            inner = f"{where}.scopeSpans.{s}"
            if not isinstance(scope_spans, dict) or not isinstance(scope_spans.get("spans", []), list):
                yield inner, None, ContractError("scopeSpans", f"{inner} is not an object with spans")
                continue
            scope = scope_spans.get("scope") or {}
            yield inner, _Container(resource, scope, attributes), scope_spans.get("spans", [])


@dataclass
class _Trace:
    """The spans of one trace read and not yet part of an event."""

    spans: dict[str, Span] = field(default_factory=dict)

    def first(self) -> Span:
        return min(self.spans.values(), key=lambda s: s.offset)


class Assembler:
    """Spans in, one record per agent run out, as each run's trace root arrives."""

    def __init__(self, source: str, mapping: SpanMapping) -> None:
        self.source = source
        self.mapping = mapping
        self.pending: dict[str, _Trace] = {}
        self.completed: dict[str, int] = {}  # trace id -> line of the root that completed it

    def line(self, data: bytes, lineno: int, offset: int) -> Iterator[RawRecord]:
        """The records of one line: its malformed parts, and the runs its root spans complete."""
        try:
            request = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            yield RawRecord(
                self.source, f"line:{lineno}", data, problem=ContractError("event", f"malformed JSON: {exc}")
            )
            return
        roots: list[Span] = []
        index = 0
        for where, container, spans in _containers(request):
            if container is None:
                locator = f"line:{lineno}/{where}" if where else f"line:{lineno}"
                yield RawRecord(self.source, locator, data, problem=spans)
                continue
            for raw in spans:
                span, problem = isolated(lambda r, c=container: parse_span(r, c, lineno, offset), raw)
                if span is None:
                    spanid = raw.get("spanId") if isinstance(raw, dict) else None
                    at = f"span:{spanid}" if isinstance(spanid, str) and spanid else f"span#{index}"
                    yield RawRecord(self.source, f"line:{lineno}/{at}", orjson.dumps(raw), problem=problem)
                else:
                    self.pending.setdefault(span.trace_id, _Trace()).spans.setdefault(span.span_id, span)
                    if span.local_root:
                        roots.append(span)
                index += 1
        for root in roots:
            yield from self._complete(root)

    def _complete(self, root: Span) -> Iterator[RawRecord]:
        """The runs under ``root``, now that its trace is there; their spans leave the pending trace."""
        trace = self.pending.get(root.trace_id)
        if trace is None or trace.spans.get(root.span_id) is not root:
            return  # a repeated root span: the first one's runs were made already
        children: dict[str, list[Span]] = {}
        for span in trace.spans.values():
            if span.parent_id and span is not root:
                children.setdefault(span.parent_id, []).append(span)

        def below(top: Span) -> list[Span]:
            found, stack = [], [top]
            while stack:
                span = stack.pop()
                found.append(span)
                stack.extend(children.get(span.span_id, ()))
            return found

        runs: list[tuple[Span, list[Span]]] = []  # each agent run and the spans above it
        stack: list[tuple[Span, list[Span]]] = [(root, [])]
        while stack:
            span, above = stack.pop()
            if self.mapping.is_agent(span.attributes):
                runs.append((span, above))
                continue
            stack.extend((child, [span, *above]) for child in children.get(span.span_id, ()))
        if not runs and root.trace_id not in self.completed:
            # A trace without agent spans is one run; the part of another process above them is not.
            runs = [(root, [])]
        for span in below(root):
            del trace.spans[span.span_id]
        if not trace.spans:
            del self.pending[root.trace_id]
        self.completed[root.trace_id] = root.line
        for run, above in sorted(runs, key=lambda item: (item[0].end_ns, item[0].span_id)):
            spans = below(run)
            row, problem = isolated(functools.partial(run_event, run, spans, above), self.mapping)
            raw = request_json([*reversed(above), *spans])
            yield RawRecord(self.source, f"line:{run.line}/span:{run.span_id}", raw, row=row, problem=problem)

    def finish(self, final: bool) -> tuple[Iterator[RawRecord], Span | None]:
        """The records of traces left without a root, and the first span of those still held (or None).

        Such spans wait for their root unless the file is ``final``. Spans that
        came after their root (a child ending after its parent) look the same
        as the part of a trace another process has yet to finish, so they wait
        too: at worst lines are read once more.
        """
        if not final:
            firsts = [trace.first() for trace in self.pending.values()]
            return iter(()), min(firsts, key=lambda s: s.offset, default=None)
        records = []
        for trace_id, trace in self.pending.items():
            first = trace.first()
            reason = f"{len(trace.spans)} span(s) of trace {trace_id} never got their root span"
            reason += " (one without parentSpanId), and the file is final"
            if trace_id in self.completed:
                reason += f"; a root of this trace at line {self.completed[trace_id]} came before them"
            locator = f"line:{first.line}/trace:{trace_id}"
            raw = request_json(trace.spans.values())
            records.append(RawRecord(self.source, locator, raw, problem=ContractError("trace", reason)))
        return iter(records), None


def read_otlp(
    path: Path,
    source: str,
    progress: Progress | None = None,
    *,
    final: bool = True,
    mapping: SpanMapping | None = None,
) -> Iterator[RawRecord]:
    """The runs and quarantined parts of an OTLP/JSON file from ``progress`` on, advancing it.

    Unless ``final``, the consumed offset stops before the first line holding
    a span of a trace still waiting for its root, so those lines are read
    again next time; a last line without its newline that does not parse is
    quarantined as truncated and (unless ``final``) not consumed.
    """
    progress = progress or Progress()
    assembler = Assembler(source, mapping or current_mapping())
    start = progress.offset
    offset, lines = start, progress.lines
    with path.open("rb") as handle:
        handle.seek(start)
        for line in handle:
            lineno = lines + 1
            data = line.rstrip(b"\r\n")
            if data.isspace() or not data:
                offset, lines = offset + len(line), lineno
                continue
            if not line.endswith(b"\n") and not _parses(data):
                cut = ContractError("event", f"{TRUNCATED}: no newline yet, and not valid JSON")
                yield RawRecord(source, f"line:{lineno}", data, problem=cut)
                if not final:
                    break
            else:
                yield from assembler.line(data, lineno, offset)
            offset, lines = offset + len(line), lineno
        orphans, held = assembler.finish(final)
        yield from orphans
        if held is not None:
            offset, lines = held.offset, held.line - 1
        handle.seek(start)
        remaining = offset - start
        while remaining > 0 and (chunk := handle.read(min(HASH_CHUNK, remaining))):
            progress.digest.update(chunk)
            remaining -= len(chunk)
    progress.offset, progress.lines = offset, lines


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def reread(source: str, locator: str, data: bytes) -> RawRecord:
    """A quarantined record of an OTLP file read again (``aitl quarantine replay``), with its first locator.

    Its raw text is an OTLP/JSON request of the run's spans (or the line as
    read); it is read as a final file of one line, and the run of the span
    the locator names is mapped with the mapping in force now.
    """
    assembler = Assembler(source, current_mapping())
    records = list(assembler.line(data, 1, 0))
    orphans, _ = assembler.finish(final=True)
    records.extend(orphans)
    wanted = locator.rsplit("/", 1)[-1]
    found = [record for record in records if record.locator.rsplit("/", 1)[-1] == wanted] or records
    if not found:
        return RawRecord(source, locator, data, problem=ContractError("event", "no span to read"))
    return found[0]._replace(locator=locator)
