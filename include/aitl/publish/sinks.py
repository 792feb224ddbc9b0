"""Sinks: where published messages go (a file, an HTTP endpoint, a database table).

A sink takes a batch whole or raises ``SinkError``; the outbox
(``aitl.publish.outbox``) decides what to send, when, and how often to retry.
"""

from __future__ import annotations

import os
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Column, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from aitl.ids import stable_id
from aitl.publish.urls import mask_httpx_log, url_origin
from aitl.store.base import UTCDateTime
from aitl.store.database import connect
from aitl.store.models import SinkState


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


class HttpSink:
    """POSTs ``{"messages": [...]}`` as JSON; only a 2xx answer counts as delivered.

    A redirect is not followed: it is a failure, like any answer but 2xx (the
    endpoint moved, and the sink should be pointed at its new address rather
    than resend the batch wherever a redirect leads). The connect timeout is
    separate from the read timeout (the longest wait for the next bytes of the
    answer), so an unreachable host fails fast while a slow endpoint gets its
    time. The name, stored in ``sink_state`` and shown in every error, is the
    URL's origin only (``aitl.publish.urls``): no credentials, path or query.
    """

    def __init__(
        self,
        url: str,
        *,
        read_timeout_s: float = 10,
        connect_timeout_s: float = 5,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid http sink url {url_origin(url)}: {exc}") from None
        self.url = url
        self.timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.name = _sink_name("http", url_origin(url))
        mask_httpx_log()

    def send(self, messages: list[dict[str, Any]]) -> None:
        try:
            response = httpx.post(
                self.url,
                content=orjson.dumps({"messages": messages}),
                headers=self.headers,
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:  # refused, timed out, dropped: its text never holds the URL
            raise SinkError(f"cannot reach {self.name}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise SinkError(f"HTTP {response.status_code} {response.reason_phrase} from {self.name}")


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
            raise ValueError(f"file sink url {url_origin(url)} names a remote host")
        return FileSink(urllib.request.url2pathname(parts.path))
    if scheme in ("http", "https"):
        return HttpSink(url)
    try:
        make_url(url).get_dialect()  # resolves the dialect without connecting
    except ArgumentError as exc:
        raise ValueError(
            f"unknown sink url {url_origin(url)}: not a file, HTTP(S) or SQLAlchemy url"
        ) from exc
    return SqlSink(url)
