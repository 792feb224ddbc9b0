"""The write primitives: the fast SQLite insert stores exactly what SQLAlchemy would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select, text

from aitl.ingest.contract import validate
from aitl.store import connect, transaction
from aitl.store.models import Event, Quarantine
from aitl.store.writes import insert_ignore
from tests.factories import event

JSON_COLUMNS = {c.name for c in Event.__table__.columns if c.type.__class__.__name__ == "JSON"}


def raw_rows(url: str) -> list[dict]:
    """The stored values as SQLite holds them; JSON text compared as the value it encodes."""
    with transaction(connect(url)) as session:
        rows = session.execute(text("SELECT * FROM events ORDER BY event_id")).mappings().all()
    return [
        {k: json.loads(v) if k in JSON_COLUMNS and v is not None else v for k, v in r.items()} for r in rows
    ]


def test_fast_sqlite_insert_matches_sqlalchemys_own_binding(tmp_path):
    from tests.conftest import fresh_store

    fast_url = fresh_store("sqlite", tmp_path / "fast")
    slow_url = fresh_store("sqlite", tmp_path / "slow")
    cest = timezone(timedelta(hours=2))
    rows = []
    for i, fields in enumerate(
        [
            {},
            {"errors": [{"type": "timeout", "message": "é ✓"}], "security_warnings": ["xss"]},
            {"errors": None, "style_issues": None, "accepted": False, "satisfaction": 4.5},
        ]
    ):
        row = validate(
            event(datetime(2026, 11, 20, 5, 0, 0, 123 * i, tzinfo=UTC), event_id=f"w{i}", **fields)
        )
        row |= {
            "source": "test",
            "ingested_at": datetime(2026, 11, 20, 8, 0, tzinfo=cest),
            "session_bucket": i,
        }
        rows.append(row)
    with transaction(connect(fast_url)) as session:
        insert_ignore(session, Event.__table__, rows)
        insert_ignore(session, Event.__table__, rows)  # conflicts are ignored
    with transaction(connect(slow_url)) as session:
        session.execute(insert(Event.__table__), rows)
    assert raw_rows(fast_url) == raw_rows(slow_url)
    with transaction(connect(fast_url)) as session:
        stored = session.get(Event, "w1")
        assert stored.ingested_at == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
        assert stored.errors == [{"type": "timeout", "message": "é ✓"}]
        assert session.scalars(select(Event.event_id).where(Event.ts > rows[0]["ts"])).all() == ["w1", "w2"]


def test_insert_ignore_keeps_the_first_row_on_both_backends(store_url):
    at = datetime(2026, 11, 20, tzinfo=UTC)
    row = {
        "key": "f/line:1",
        "source": "f",
        "locator": "line:1",
        "window_start": at,
        "window_end": at,
        "field": "x",
        "reason": "first",
        "raw": "{",
    }
    with transaction(connect(store_url)) as session:
        insert_ignore(session, Quarantine.__table__, [row])
        insert_ignore(session, Quarantine.__table__, [row | {"reason": "second"}])
    with transaction(connect(store_url)) as session:
        assert session.scalars(select(Quarantine.reason)).all() == ["first"]
