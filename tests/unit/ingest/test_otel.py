"""OpenTelemetry GenAI spans in: one event per agent run, every field equal to what the SDK's spans say.

The spans come from the real OpenTelemetry SDK (``otel_traffic``), written as
OTLP/JSON lines the way the Collector's file exporter writes them.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from aitl.cli.main import main
from aitl.config import Settings
from aitl.ids import stable_id
from aitl.ingest import files, otel_map
from aitl.ingest.collector import Privacy
from aitl.ingest.otel import read_otlp
from aitl.ingest.readers import Progress, landing_hour_dir, scan_landing
from aitl.ingest.replay import replay_quarantine
from aitl.pipeline.runner import run_stage
from aitl.store import connect, transaction
from aitl.store.models import Event, IngestedFile, Quarantine
from aitl.window import Window
from tests.unit.ingest import otel_traffic
from tests.unit.ingest.otel_traffic import Traffic, lines, otlp_json

DAY = datetime(2026, 11, 20, tzinfo=UTC)
HOURS = [DAY + timedelta(hours=h) for h in (3, 4, 5)]
LAST = Window(HOURS[-1], HOURS[-1] + timedelta(hours=1))


def settings(store_url: str, landing: Path) -> Settings:
    return Settings(store_url=store_url, landing_dir=landing)


def hex_ids(span) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def expected_events(spans) -> dict[str, dict]:
    """Per agent run, the event its SDK spans call for, worked out from the ReadableSpan objects."""
    children = defaultdict(list)
    by_id = {span.context.span_id: span for span in spans}
    for span in spans:
        if span.parent is not None:
            children[span.parent.span_id].append(span)

    def below(span):
        found = [span]
        for child in children[span.context.span_id]:
            found.extend(below(child))
        return found

    def above(span):
        chain = []
        while span.parent is not None:
            span = by_id[span.parent.span_id]
            chain.append(span)
        return chain

    def agent(span):
        return span.attributes.get("gen_ai.operation.name") == "invoke_agent"

    expected = {}
    for run in spans:
        if agent(run):
            if any(agent(a) for a in above(run)):
                continue
        elif run.parent is not None or any(agent(s) for s in below(run)):
            continue
        own = below(run)
        context = [run, *above(run)]
        chats = sorted(
            (s for s in own if s.attributes.get("gen_ai.operation.name") == "chat"),
            key=lambda s: s.start_time,
        )

        def first(*names, spans=context):
            return next((s.attributes[n] for s in spans for n in names if n in s.attributes), None)

        costs = [s.attributes["llm.cost.total"] for s in chats if "llm.cost.total" in s.attributes]
        trace_id, span_id = hex_ids(run)
        expected[stable_id("otlp", trace_id, span_id)] = {
            "execution_id": f"{trace_id}:{span_id}",
            "ts": datetime.fromtimestamp(run.end_time // 1000 / 1e6, UTC),
            "duration_s": pytest.approx((run.end_time - run.start_time) / 1e9),
            "success": run.status.status_code.name != "ERROR" and "error.type" not in run.attributes,
            "errors": sorted(s.attributes["error.type"] for s in own if s.status.status_code.name == "ERROR"),
            "session_id": first("gen_ai.conversation.id", "session.id"),
            "user_id": first("enduser.id", "user.id"),
            "task_type": run.attributes["gen_ai.operation.name"],
            "agent_tier": run.attributes.get("gen_ai.agent.name"),
            "model": run.attributes.get("gen_ai.request.model")
            or chats[0].attributes["gen_ai.request.model"],
            "prompt_id": run.attributes["traceloop.prompt.key"],
            "prompt_version": run.attributes["traceloop.prompt.version"],
            "experiment_id": run.attributes.get("aitl.experiment_id"),
            "arm": run.attributes.get("aitl.arm"),
            "quality_score": run.attributes["aitl.quality_score"],
            "satisfaction": run.attributes["aitl.satisfaction"],
            "accepted": run.attributes["aitl.accepted"],
            "tokens_in": sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats),
            "tokens_out": sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats),
            "cost_usd": pytest.approx(sum(costs)) if costs else None,
        }
    return expected


def stored_events(url: str) -> dict[str, dict]:
    with transaction(connect(url)) as session:
        rows = session.scalars(select(Event)).all()
        events = {}
        for row in rows:
            event = {name: getattr(row, name) for name in ("execution_id", "ts", "duration_s", "success")}
            event["errors"] = sorted(error["type"] for error in row.errors or [])
            for name in expected_fields():
                event[name] = getattr(row, name)
            events[row.event_id] = event
        return events


def expected_fields() -> tuple[str, ...]:
    return (
        "session_id", "user_id", "task_type", "agent_tier", "model", "prompt_id", "prompt_version",
        "experiment_id", "arm", "quality_score", "satisfaction", "accepted",
        "tokens_in", "tokens_out", "cost_usd",
    )  # fmt: skip


def quarantined(url: str) -> dict[str, tuple[str, str]]:
    with transaction(connect(url)) as session:
        return {row.locator: (row.field, row.reason) for row in session.scalars(select(Quarantine))}


def write_hours(traffic: Traffic, landing: Path, name: str = "traces.otlp.jsonl") -> dict[datetime, Path]:
    """Each hour's spans into its folder, in end order, as export batches (one JSON request per line)."""
    rng = random.Random(7)
    by_hour = defaultdict(list)
    for span in traffic.spans():
        by_hour[datetime.fromtimestamp(span.end_time // 10**9, UTC).replace(minute=0, second=0)].append(span)
    paths = {}
    for hour, spans in by_hour.items():
        path = landing_hour_dir(landing, hour) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(lines(spans, rng)))
        paths[hour] = path
    return paths


def test_sdk_spans_become_one_event_per_agent_run_with_the_spans_attributes(store_url, tmp_path):
    traffic = Traffic()
    for hour in HOURS:
        traffic.hour(hour, 25)
    spans = traffic.spans()
    assert len(spans) > 250 and len({span.end_time // 3_600_000_000_000 for span in spans}) == 3
    landing = tmp_path / "landing"
    write_hours(traffic, landing)
    expected = expected_events(spans)
    assert len(expected) == 75

    summary = run_stage("collect", LAST, settings(store_url, landing)).summary

    assert summary["read"] == summary["stored"] + summary["duplicates"] + summary["quarantined"]
    assert (summary["read"], summary["stored"], summary["quarantined"]) == (75, 75, 0)
    assert summary["files"] == 3
    assert stored_events(store_url) == expected
    # Every shape of run was there, and failures were.
    assert {e["task_type"] for e in expected.values()} == {"invoke_agent", "chat"}
    assert any(not e["success"] for e in expected.values()) and any(e["errors"] for e in expected.values())


def open_traces(file_lines: list[bytes]) -> set[str]:
    """The traces with spans in these lines whose root span is not among them."""
    seen, rooted = set(), set()
    for line in file_lines:
        for resource in orjson.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    seen.add(span["traceId"])
                    if not span.get("parentSpanId"):
                        rooted.add(span["traceId"])
    return seen - rooted


def test_a_growing_file_stores_every_run_once(sqlite_url, tmp_path):
    traffic = Traffic(rng=random.Random(3))
    traffic.hour(HOURS[-1], 30, shapes=("agent", "behind_http", "nested"))
    spans = traffic.spans()
    file_lines = lines(spans, random.Random(5))
    # Cut after a line where a run has begun to be exported but its root span has not.
    roots = {span.context.trace_id for span in spans if span.parent is None}
    cut = next(i for i in range(len(file_lines) // 3, len(file_lines)) if open_traces(file_lines[: i + 1]))
    landing = tmp_path / "landing"
    path = landing_hour_dir(landing, HOURS[-1]) / "live.otlp.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(file_lines[: cut + 1]))

    first = run_stage("collect", LAST, settings(sqlite_url, landing)).summary
    with transaction(connect(sqlite_url)) as session:
        manifest = session.scalars(select(IngestedFile)).one()
        held_at = manifest.offset
    assert held_at < path.stat().st_size, "the lines of the unfinished run are held for the next read"
    assert first["quarantined"] == 0 and 0 < first["stored"] < len(roots)

    with path.open("ab") as handle:
        handle.write(b"".join(file_lines[cut + 1 :]))
    second = run_stage("collect", LAST, settings(sqlite_url, landing)).summary

    assert first["stored"] + second["stored"] == len(roots) == len(expected_events(spans))
    assert second["read"] == second["stored"] + second["duplicates"] + second["quarantined"]
    assert second["quarantined"] == 0 and second["duplicates"] > 0  # the held lines were read again
    assert stored_events(sqlite_url) == expected_events(spans)
    with transaction(connect(sqlite_url)) as session:
        assert session.scalars(select(IngestedFile)).one().offset == path.stat().st_size


def test_malformed_spans_are_quarantined_with_a_reason_naming_the_field(sqlite_url, tmp_path):
    traffic = Traffic(rng=random.Random(11))
    at = HOURS[-1] + timedelta(minutes=5)
    for minute in range(6):
        traffic.run(at + timedelta(minutes=minute * 8), "llm_only")
    runs = [[span] for span in traffic.spans()]
    traffic.run(at + timedelta(minutes=50), "agent", user=False)
    no_user = traffic.spans()[len(runs) :]
    good = [otlp_json(run) for run in runs[:3]]
    no_trace = otlp_json(runs[3])
    del no_trace["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    backwards = otlp_json(runs[4])
    span = backwards["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["endTimeUnixNano"] = str(int(span["startTimeUnixNano"]) - 1)
    cut = orjson.dumps(otlp_json(runs[5]))
    file_lines = [
        *(orjson.dumps(request) for request in good),  # lines 1-3
        b'{"resourceSpans": [{"scopeSpans": [',  # 4: bad JSON
        orjson.dumps(no_trace),  # 5
        orjson.dumps(backwards),  # 6
        orjson.dumps(otlp_json(no_user)),  # 7: an agent run without a user id
        b"",  # 8: blank
        cut[: len(cut) // 2],  # 9: the last line, cut short
    ]
    export = tmp_path / "export.otlp.jsonl"
    export.write_bytes(b"\n".join(file_lines))

    assert main(["ingest", str(export), "--store", sqlite_url]) == 0

    reasons = quarantined(sqlite_url)
    trace_of = {i: hex_ids(runs[i][0]) for i in range(6)}
    assert reasons["line:4"][0] == "event" and "malformed JSON" in reasons["line:4"][1]
    no_trace_locator = f"line:5/span:{trace_of[3][1]}"
    assert reasons[no_trace_locator] == ("traceId", "traceId: missing or not a string: None")
    backwards_field, backwards_reason = reasons[f"line:6/span:{trace_of[4][1]}"]
    assert backwards_field == "endTimeUnixNano" and "before startTimeUnixNano" in backwards_reason
    agent = next(s for s in no_user if s.attributes.get("gen_ai.operation.name") == "invoke_agent")
    user_field, user_reason = reasons[f"line:7/span:{hex_ids(agent)[1]}"]
    assert user_field == "user_id" and "enduser.id, user.id" in user_reason
    assert reasons["line:9"][0] == "event" and reasons["line:9"][1].startswith("event: truncated")
    assert len(reasons) == 5
    events = stored_events(sqlite_url)
    assert sorted(events) == sorted(stable_id("otlp", *trace_of[i]) for i in range(3))


def test_an_import_reports_read_stored_duplicates_and_quarantined(sqlite_url, tmp_path, capsys):
    traffic = Traffic(rng=random.Random(21))
    traffic.hour(HOURS[0], 10)
    export = tmp_path / "spans.otlp.json"
    export.write_bytes(b"".join(lines(traffic.spans(), random.Random(1))))
    runs = len(expected_events(traffic.spans()))

    assert main(["ingest", str(export), str(export), "--store", sqlite_url]) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["read"], report["stored"], report["duplicates"], report["quarantined"]) == (
        2 * runs,
        runs,
        runs,
        0,
    )
    assert stored_events(sqlite_url) == expected_events(traffic.spans())


def test_a_trace_whose_root_never_comes_is_held_then_quarantined_once_the_file_is_final(sqlite_url, tmp_path):
    traffic = Traffic(rng=random.Random(4))
    traffic.hour(HOURS[-1], 6, shapes=("agent",))
    spans = traffic.spans()
    lost_root = next(span for span in spans if span.parent is None)
    kept = [span for span in spans if span is not lost_root]
    landing = tmp_path / "landing"
    path = landing_hour_dir(landing, HOURS[-1]) / "traces.otlp.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(lines(kept, random.Random(2))))

    first = run_stage("collect", LAST, settings(sqlite_url, landing)).summary
    assert (first["stored"], first["quarantined"]) == (5, 0)
    again = run_stage("collect", LAST, settings(sqlite_url, landing)).summary
    assert again["files"] == 0, "an unchanged file that is not final is not read again"

    # Unmodified for the allowed lateness (6 h): the file is final.
    old = (datetime.now(UTC) - timedelta(hours=7)).timestamp()
    os.utime(path, (old, old))
    final = run_stage("collect", LAST, settings(sqlite_url, landing)).summary

    assert final["read"] == final["stored"] + final["duplicates"] + final["quarantined"]
    assert (final["stored"], final["quarantined"]) == (0, 1)
    ((locator, (field, reason)),) = quarantined(sqlite_url).items()
    trace_id = f"{lost_root.context.trace_id:032x}"
    orphans = [span for span in kept if span.context.trace_id == lost_root.context.trace_id]
    assert locator.endswith(f"/trace:{trace_id}") and field == "trace"
    assert reason == (
        f"trace: {len(orphans)} span(s) of trace {trace_id} never got their root span"
        " (one without parentSpanId), and the file is final"
    )
    with transaction(connect(sqlite_url)) as session:
        assert session.scalars(select(IngestedFile)).one().offset == path.stat().st_size
    assert run_stage("collect", LAST, settings(sqlite_url, landing)).summary["files"] == 0


def test_the_last_run_that_reads_a_folder_settles_its_open_traces(sqlite_url, tmp_path):
    traffic = Traffic(rng=random.Random(8))
    traffic.hour(HOURS[0], 4, shapes=("behind_http",))
    spans = traffic.spans()
    lost_root = spans[-1]
    assert lost_root.parent is None
    landing = tmp_path / "landing"
    path = landing_hour_dir(landing, HOURS[0]) / "traces.otlp.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(lines(spans[:-1], random.Random(2))))

    earlier = run_stage(
        "collect",
        Window(HOURS[0] + timedelta(hours=5), HOURS[0] + timedelta(hours=6)),
        settings(sqlite_url, landing),
    )
    assert (earlier.summary["stored"], earlier.summary["quarantined"]) == (3, 0)
    last = Window(
        HOURS[0] + timedelta(hours=6), HOURS[0] + timedelta(hours=7)
    )  # reads back to HOURS[0], no further
    summary = run_stage("collect", last, settings(sqlite_url, landing)).summary

    assert (summary["stored"], summary["quarantined"]) == (0, 1)
    assert summary["duplicates"] == summary["read"] - 1
    ((field, reason),) = quarantined(sqlite_url).values()
    assert field == "trace" and "file is final" in reason


def test_a_quarantined_run_comes_back_when_the_mapping_names_its_attribute(sqlite_url, tmp_path, monkeypatch):
    traffic = Traffic(rng=random.Random(12))
    traffic.run(HOURS[0] + timedelta(minutes=3), "agent", user=False)
    run = next(span for span in traffic.spans() if span.parent is None)
    request = otlp_json(traffic.spans())
    for span in request["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        if span["spanId"] == hex_ids(run)[1]:
            span["attributes"].append({"key": "platform.account", "value": {"stringValue": "acct-9"}})
    export = tmp_path / "run.otlp.jsonl"
    export.write_bytes(orjson.dumps(request) + b"\n")
    assert main(["ingest", str(export), "--store", sqlite_url]) == 0
    assert [field for field, _ in quarantined(sqlite_url).values()] == ["user_id"]

    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[fields]\nuser_id = ["platform.account"]\n')
    monkeypatch.setenv(otel_map.MAPPING_ENV, str(mapping))
    with transaction(connect(sqlite_url)) as session:
        report = replay_quarantine(session, None, datetime.now(UTC), Privacy())

    assert (report.stored, report.still_quarantined) == (1, 0)
    assert quarantined(sqlite_url) == {}
    ((event_id, event),) = stored_events(sqlite_url).items()
    assert event_id == stable_id("otlp", *hex_ids(run)) and event["user_id"] == "acct-9"


def test_the_mapping_file_overrides_entries_and_refuses_unknown_fields(tmp_path, monkeypatch):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[fields]\ntask_type = ["platform.task"]\nagent_tier = []\n')
    monkeypatch.setenv(otel_map.MAPPING_ENV, str(mapping))
    current = otel_map.current_mapping()
    assert current.fields["task_type"] == ("platform.task",) and current.fields["agent_tier"] == ()
    assert current.fields["user_id"] == ("enduser.id", "user.id", "traceloop.association.properties.user_id")
    assert current.is_agent({"gen_ai.operation.name": "invoke_agent"})
    assert current.is_agent({"openinference.span.kind": "AGENT"})

    mapping.write_text('[fields]\nevent_id = ["x"]\n')
    with pytest.raises(otel_map.MappingError, match="'event_id' is not a mappable event field"):
        otel_map.current_mapping()
    monkeypatch.setenv(otel_map.MAPPING_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(otel_map.MappingError, match="No such file"):
        otel_map.current_mapping()


def test_the_reader_is_lenient_where_otlp_json_allows(tmp_path):
    """Protobuf's own JSON (base64 ids, enum names) and integers as numbers read the same as OTLP/JSON."""
    traffic = Traffic(rng=random.Random(30))
    traffic.run(HOURS[0], "llm_only")
    spans = traffic.spans()
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    protobuf_json = MessageToDict(encode_spans(spans))  # base64 ids, enum names, 64-bit ints as strings
    span = protobuf_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
    for item in span["attributes"]:
        if "intValue" in item["value"]:
            item["value"]["intValue"] = int(item["value"]["intValue"])
    a, b = tmp_path / "a.otlp.json", tmp_path / "b.otlp.json"
    a.write_bytes(orjson.dumps(otlp_json(spans)) + b"\n")
    b.write_bytes(orjson.dumps(protobuf_json) + b"\n")

    (one,), (other,) = list(read_otlp(a, "a")), list(read_otlp(b, "b"))
    assert one.problem is None and other.problem is None
    assert one.row == other.row


def test_otlp_files_are_found_by_name_and_kept_from_the_columnar_reader(tmp_path):
    folder = landing_hour_dir(tmp_path, HOURS[0])
    folder.mkdir(parents=True)
    for name in ("a.otlp.json", "b.otlp.jsonl", "c.jsonl", "d.json", "e.otlp.json.tmp"):
        (folder / name).write_text("")
    scan = scan_landing(tmp_path, iter([HOURS[0]]), 0, datetime.now(UTC))
    assert [p.name for p in scan.files] == ["a.otlp.json", "b.otlp.jsonl", "c.jsonl"]


def test_a_read_that_holds_lines_hashes_only_what_it_consumed(tmp_path):
    traffic = Traffic(rng=random.Random(6))
    traffic.run(HOURS[0], "agent")
    spans = traffic.spans()
    path = tmp_path / "x.otlp.jsonl"
    path.write_bytes(orjson.dumps(otlp_json(spans[:-1])) + b"\n")
    progress = Progress()
    assert list(read_otlp(path, "x", progress, final=False)) == []
    assert (progress.offset, progress.lines) == (0, 0)
    records = list(read_otlp(path, "x", Progress(), final=True))
    assert [r.problem.field for r in records] == ["trace"]


def test_columnar_ingest_leaves_otlp_files_to_their_reader(sqlite_url, tmp_path, monkeypatch):
    """Forced columnar, with any file large enough for it: span files still go through the OTLP reader."""
    monkeypatch.setenv("AITL_INGEST_COLUMNAR", "1")
    monkeypatch.setattr(files, "COLUMNAR_MIN_BYTES", 0)
    traffic = Traffic(rng=random.Random(9))
    traffic.hour(HOURS[-1], 8)
    write_hours(traffic, tmp_path / "landing", name="spans.otlp.jsonl")

    summary = run_stage("collect", LAST, settings(sqlite_url, tmp_path / "landing")).summary

    assert (summary["read"], summary["stored"], summary["quarantined"]) == (8, 8, 0)
    assert stored_events(sqlite_url) == expected_events(traffic.spans())


def test_a_value_that_breaks_the_contract_is_quarantined_naming_its_attribute(tmp_path):
    traffic = Traffic()
    start = otel_traffic.ns(HOURS[0])
    attributes = {"session.id": "s-1", "user.id": "u-1", "llm.prompt_template.version": "v1.0"}
    traffic.tracer.start_span("chat", start_time=start, attributes=attributes).end(end_time=start + 10**9)
    path = tmp_path / "x.otlp.jsonl"
    path.write_bytes(b"".join(lines(traffic.spans(), random.Random(0))))

    (record,) = read_otlp(path, "x")

    assert record.problem.field == "prompt_version"
    assert str(record.problem).endswith("(from attribute llm.prompt_template.version)")
