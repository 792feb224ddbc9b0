"""Sinks: where published messages go (a file, an HTTP endpoint, a database table).

A sink takes a batch whole or raises ``SinkError``; the outbox
(``aitl.publish.outbox``) decides what to send, when, and how often to retry.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from sqlalchemy import Column, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from aitl.ids import stable_id
from aitl.store.database import connect
from aitl.store.models import SinkState, UTCDateTime


class SinkError(Exception):
    """A sink could not take a batch (unreachable, refused, failed to write).

    The only exception ``publish`` absorbs: anything else a sink raises is a bug
    and must surface instead of being retried forever as an outage.
    """


def canonical_json(payload: dict[str, Any]) -> str:
    """The payload's JSON with sorted keys: equal payloads give equal text, hence equal ids."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


class Sink(Protocol):
    """Where messages go. ``send`` takes a batch whole or raises ``SinkError``.

    ``name`` keys the sink's circuit breaker in ``sink_state`` (at most 128
    characters, no secrets). A message is a JSON-ready dict: ``id``, ``kind``,
    ``created_at`` (ISO 8601, UTC) and ``payload``.
    """

    name: str

    def send(self, messages: list[dict[str, Any]]) -> None: ...


def _sink_name(kind: str, target: str) -> str:
    """A readable breaker key, hashed when the target would not fit the column."""
    name = f"{kind}:{target}"
    return name if len(name) <= SinkState.__table__.c.sink.type.length else f"{kind}:{stable_id(target)}"


class FileSink:
    """Appends one JSON line per message to a local file (a spool another system tails)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = _sink_name("file", str(self.path.resolve()))

    def send(self, messages: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(message) + b"\n" for message in messages)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab+") as file:
                # A crash mid-write leaves a torn last line; starting on a fresh
                # line keeps it from swallowing the first redelivered message.
                if file.seek(0, os.SEEK_END):
                    file.seek(-1, os.SEEK_END)
                    if file.read(1) != b"\n":
                        data = b"\n" + data
                file.write(data)
                file.flush()
                # Delivered means durable: the outbox forgets the message on return.
                os.fsync(file.fileno())
        except OSError as exc:
            raise SinkError(f"cannot append to {self.path}: {exc}") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failure: urllib would replay a POST as a bodiless GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSink:
    """POSTs ``{"messages": [...]}`` as JSON; only a 2xx answer counts as delivered."""

    def __init__(self, url: str, timeout_s: float = 10, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        parts = urlsplit(url)
        # Without credentials or query string: the name is stored and logged.
        host = parts.netloc.rpartition("@")[2]
        self.name = _sink_name("http", urlunsplit((parts.scheme, host, parts.path, "", "")))
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, messages: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            self.url, data=orjson.dumps({"messages": messages}), headers=self.headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise SinkError(f"HTTP {exc.code} {exc.reason} from {self.name}") from exc
        except urllib.error.URLError as exc:
            raise SinkError(f"cannot reach {self.name}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:  # timeouts, dropped connections
            raise SinkError(f"cannot reach {self.name}: {exc!r}") from exc


class SqlSink:
    """Writes messages into a table of any SQLAlchemy database, once per message id.

    The table (``id`` primary key, ``kind``, ``payload`` as JSON text,
    ``created_at``, ``published_at``) is created if missing. Ids already there
    are skipped, so a redelivery after a crash never duplicates a decision.
    """

    def __init__(self, url: str, table: str = "aitl_published") -> None:
        self.url = url
        self.table = Table(
            table,
            MetaData(),
            Column("id", String(64), primary_key=True),
            Column("kind", String(64), nullable=False),
            Column("payload", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("published_at", UTCDateTime, nullable=False),
        )
        self.name = _sink_name("sql", f"{make_url(url).render_as_string(hide_password=True)}#{table}")

    def send(self, messages: list[dict[str, Any]]) -> None:
        ids = [message["id"] for message in messages]
        published_at = datetime.now(UTC)  # the receiver's own record of arrival
        try:
            with connect(self.url).begin() as connection:
                self.table.create(connection, checkfirst=True)
                # Select-then-insert works on every dialect; a concurrent writer
                # of the same id makes the insert fail and the retry skip it.
                known = set(connection.scalars(select(self.table.c.id).where(self.table.c.id.in_(ids))))
                rows = [
                    {
                        "id": message["id"],
                        "kind": message["kind"],
                        "payload": canonical_json(message["payload"]),
                        "created_at": datetime.fromisoformat(message["created_at"]),
                        "published_at": published_at,
                    }
                    for message in messages
                    if message["id"] not in known
                ]
                if rows:
                    connection.execute(insert(self.table), rows)
        except DBAPIError as exc:  # its text would carry the SQL and every payload
            raise SinkError(f"cannot write to {self.name}: {exc.orig!r}") from exc
        except OSError as exc:  # a SQLite file whose folder cannot be created
            raise SinkError(f"cannot write to {self.name}: {exc}") from exc


def sink_from_url(url: str) -> Sink:
    """The sink a URL names: a file (``file://`` or a plain path), HTTP(S), or a SQLAlchemy database."""
    scheme, separator, _ = url.partition("://")
    if not separator:
        return FileSink(url)
    scheme = scheme.lower()
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file sink url {url!r} names a remote host")
        return FileSink(urllib.request.url2pathname(parts.path))
    if scheme in ("http", "https"):
        return HttpSink(url)
    try:
        make_url(url).get_dialect()  # resolves the dialect without connecting
    except ArgumentError as exc:
        raise ValueError(f"unknown sink url {url!r}: not a file, HTTP(S) or SQLAlchemy url") from exc
    return SqlSink(url)
