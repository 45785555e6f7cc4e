"""Helpers of the alert tests: a stepping clock and a scripted webhook receiver on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from vigil.monitoring.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = b"webhook-test-secret"
# The sender's clock and the receiver's "now" in the tests: signatures are
# checked against a fixed instant, never against the wall clock.
SIGNED_AT = 1_767_600_000


class StepClock:
    """A clock that returns START, START + 1 s, START + 2 s, ... one step per call."""

    def __init__(self) -> None:
        self.current = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now = self.current
            self.current = now + timedelta(seconds=1)
            return now


class RecordingSleep:
    """A ``sleep`` that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Received:
    """One request the receiver got, and whether its signature was valid."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Script:
    """What the receiver answers: one (status, headers) per request, the last one repeated."""

    answers: list[tuple[int, dict[str, str]]]
    received: list[Received] = field(default_factory=list)
    # Set when a request arrives; the handler waits for ``release`` before answering.
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            index = min(len(self.received), len(self.answers)) - 1
            return self.answers[max(index, 0)]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified = verify(
                SECRET,
                body,
                self.headers.get(TIMESTAMP_HEADER),
                self.headers.get(SIGNATURE_HEADER),
                now=SIGNED_AT,
            )
            with script.lock:
                script.received.append(Received(self.path, dict(self.headers), body, verified))
            script.arrived.set()
            script.release.wait(30)
            status, headers = script.next_answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            """Keeps the test output quiet."""

    return Handler


@contextmanager
def receiver(
    *answers: int | tuple[int, dict[str, str]], hold: bool = False
) -> Iterator[tuple[str, Script]]:
    """Yields the URL of a loopback HTTP server answering ``answers`` in turn, and its script.

    With ``hold`` the server answers only once ``script.release`` is set.
    """
    script = Script([a if isinstance(a, tuple) else (a, {}) for a in answers])
    if not hold:
        script.release.set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    # A short poll interval only makes shutdown() quick; requests are served at once.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="test-webhook", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", script
    finally:
        script.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
