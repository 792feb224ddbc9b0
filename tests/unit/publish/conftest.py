"""The platform's endpoint, for the HTTP sink: a real server on 127.0.0.1 that can fail or hang."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

HANG = 0  # a planned "status": take the request and answer nothing until released


class Platform(ThreadingHTTPServer):
    """A stand-in for the platform's endpoint: answers from a plan of statuses, records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PlatformHandler)
        self.lock = threading.Lock()
        self.plan: deque[int] = deque()  # statuses of the next requests, then default_status
        self.default_status = 200
        self.requests: list[dict[str, Any]] = []
        self.hanging = threading.Event()  # set once a request hangs
        self.released = threading.Event()  # ends every hang (with a 200 nobody may read any more)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail_next(self, n: int, status: int = 503) -> None:
        with self.lock:
            self.plan.extend([status] * n)

    def hang_next(self) -> None:
        with self.lock:
            self.plan.append(HANG)

    def batches(self, status: int | None = None) -> list[list[str]]:
        """The message ids of each request (answered with ``status``, if given), in arrival order."""
        with self.lock:
            return [[m["id"] for m in r["messages"]] for r in self.requests if status in (None, r["status"])]


class _PlatformHandler(BaseHTTPRequestHandler):
    server: Platform

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            status = self.server.plan.popleft() if self.server.plan else self.server.default_status
            self.server.requests.append(
                {"status": status, "path": self.path, "headers": dict(self.headers), **body}
            )
        if status == HANG:
            self.server.hanging.set()
            self.server.released.wait(60)
            status = 200
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client gave up waiting, or was killed
            pass

    def log_message(self, *args: Any) -> None:
        """Quiet: the test output is not the place for an access log."""


@pytest.fixture
def platform() -> Iterator[Platform]:
    server = Platform()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
