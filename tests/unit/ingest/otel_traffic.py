"""Agent runs traced by the real OpenTelemetry SDK, written as the Collector's file exporter writes them.

Spans are made with a ``TracerProvider`` and explicit start and end times,
collected by an ``InMemorySpanExporter``, encoded by the OTLP exporter's own
encoder (``encode_spans``: protobuf ``ExportTraceServiceRequest``) and turned
into OTLP/JSON with protobuf's ``MessageToDict`` plus the two rules in which
OTLP/JSON differs from protobuf's JSON: trace and span ids in lowercase hex
(not base64), enums as integers. Nothing here writes a span by hand.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

MODELS = ("atlas-large", "atlas-small", "quill-2")
TIERS = ("T0", "T1", "T2", "T3")


def ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


@dataclass
class Traffic:
    """An SDK tracer and everything it finished, in the order the spans ended."""

    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    rng: random.Random = field(default_factory=lambda: random.Random(14))

    def __post_init__(self) -> None:
        provider = TracerProvider(resource=Resource.create({"service.name": "codegen-platform"}))
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("aitl.tests.platform", "1.0")

    def spans(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: (s.end_time, s.start_time))

    def _span(self, name, parent, start, end, attributes, error=None):
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, start_time=start, attributes=attributes)
        if error is not None:
            span.set_attribute("error.type", error)
            span.add_event("exception", {"exception.type": error, "exception.message": f"{error} in {name}"})
            span.set_status(Status(StatusCode.ERROR, f"{name} failed: {error}"))
        return span, end

    def _llm_calls(self, parent, start: int, end: int, calls: int, model: str) -> None:
        step = (end - start) // (calls + 1)
        for i in range(calls):
            at = start + step * i + 1000
            retry_failed = self.rng.random() < 0.1
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.response.model": f"{model}-2026-11",
                "gen_ai.usage.input_tokens": self.rng.randint(200, 4000),
                "gen_ai.usage.output_tokens": self.rng.randint(50, 1500),
                "llm.cost.total": round(self.rng.uniform(0.0005, 0.05), 6),
            }
            span, stop = self._span(
                f"chat {model}",
                parent,
                at,
                at + step // 2,
                attributes,
                "rate_limited" if retry_failed else None,
            )
            if self.rng.random() < 0.3:
                tool, tool_stop = self._span(
                    "execute_tool run_tests",
                    parent,
                    at + 10,
                    at + step // 4,
                    {"gen_ai.operation.name": "execute_tool"},
                )
                tool.end(end_time=tool_stop)
            span.end(end_time=stop)

    def run(self, start: datetime, shape: str, *, user: bool = True) -> None:
        """One agent run starting at ``start``, lasting under four minutes.

        Shapes: ``agent`` (an invoke_agent root over LLM calls), ``behind_http``
        (the run under an HTTP server root that carries session and user),
        ``nested`` (a sub-agent that also reports its own token total),
        ``llm_only`` (a trace of one chat span, no agent).
        """
        rng = self.rng
        begin = ns(start)
        finish = begin + rng.randint(5, 230) * 1_000_000_000
        model = rng.choice(MODELS)
        ids = {
            "session.id" if rng.random() < 0.5 else "gen_ai.conversation.id": f"conv-{rng.randint(1, 40)}",
            "enduser.id" if rng.random() < 0.5 else "user.id": f"user-{rng.randint(1, 25):03d}",
        }
        if not user:
            ids = {key: value for key, value in ids.items() if key not in ("enduser.id", "user.id")}
        feedback = {
            "traceloop.prompt.key": rng.choice(("api_endpoint-gen", "refactor-gen", "test-gen")),
            "traceloop.prompt.version": rng.randint(1, 4),
            "aitl.quality_score": round(rng.random(), 3),
            "aitl.satisfaction": float(rng.randint(1, 5)),
            "aitl.accepted": rng.random() < 0.6,
        }
        if rng.random() < 0.4:
            feedback |= {"aitl.experiment_id": "exp-otel-1", "aitl.arm": rng.choice(("control", "variant"))}
        failed = "timeout" if rng.random() < 0.15 else None
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": rng.choice(TIERS), **feedback}
        if shape == "llm_only":
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": rng.randint(10, 900),
                "gen_ai.usage.output_tokens": rng.randint(10, 900),
                **ids,
                **feedback,
            }
            span, stop = self._span(f"chat {model}", None, begin, finish, attributes, failed)
            span.end(end_time=stop)
            return
        outer = None
        if shape == "behind_http":
            outer, outer_stop = self._span(
                "POST /v1/generate", None, begin, finish + 2_000_000, {"http.request.method": "POST", **ids}
            )
            ids = {}
        root, stop = self._span(
            f"invoke_agent {agent['gen_ai.agent.name']}",
            outer,
            begin + 1000,
            finish,
            {**agent, **ids},
            failed,
        )
        calls = rng.randint(1, 4)
        if shape == "nested":
            sub, sub_stop = self._span(
                "invoke_agent helper",
                root,
                begin + 2000,
                finish - 1000,
                {"gen_ai.operation.name": "invoke_agent"},
            )
            before = {id(s) for s in self.exporter.get_finished_spans()}
            self._llm_calls(sub, begin + 3000, finish - 2000, calls, model)
            made = [
                s
                for s in self.exporter.get_finished_spans()
                if id(s) not in before and s.attributes.get("gen_ai.operation.name") == "chat"
            ]
            sub.set_attribute(
                "gen_ai.usage.input_tokens", sum(s.attributes["gen_ai.usage.input_tokens"] for s in made)
            )
            sub.end(end_time=sub_stop)
            self._llm_calls(root, begin + 3000, finish - 2000, 1, model)
        else:
            self._llm_calls(root, begin + 2000, finish - 1000, calls, model)
        root.end(end_time=stop)
        if outer is not None:
            outer.end(end_time=outer_stop)

    def hour(
        self,
        hour: datetime,
        runs: int,
        *,
        shapes: Sequence[str] = ("agent", "behind_http", "nested", "llm_only"),
    ) -> None:
        for _ in range(runs):
            self.run(hour + timedelta(seconds=self.rng.randint(0, 55 * 60)), self.rng.choice(shapes))


def otlp_json(spans: Sequence[ReadableSpan]) -> dict:
    """The spans as one OTLP/JSON ExportTraceServiceRequest object."""
    message = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource in message["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return message


def batches(
    spans: Sequence[ReadableSpan], rng: random.Random, largest: int = 8
) -> Iterator[list[ReadableSpan]]:
    """Spans in end order, cut into export batches of 1..``largest``, like a batching exporter."""
    i = 0
    while i < len(spans):
        size = rng.randint(1, largest)
        yield list(spans[i : i + size])
        i += size


def lines(spans: Sequence[ReadableSpan], rng: random.Random) -> list[bytes]:
    """The file exporter's lines for ``spans``: one request per batch, newline-terminated."""
    return [orjson.dumps(otlp_json(batch)) + b"\n" for batch in batches(spans, rng)]


def hour_of(span: ReadableSpan) -> int:
    return span.end_time // 3_600_000_000_000
