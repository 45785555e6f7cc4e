"""Starting, stopping and waiting on the real processes tests run against.

Lives at the root of ``tests/`` (which the root ``conftest.py`` puts on the
import path) because ``tests/api``, ``tests/forecast``, ``tests/hardening``
and others start ``vigil serve``: one way to start it, wait for it and stop it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

STOP_TIMEOUT = 30.0
# How long a real server may take to import, migrate and start (a bound, never a wait).
SERVER_START_TIMEOUT = 60.0
# The admin key a test's server starts with unless the test names one.
SERVER_ADMIN_KEY = "server-test-admin-secret"
# The two uvicorn lines that together say the app is up (see read_until_started).
_STARTED = ("Application startup complete", "Uvicorn running on")
T = TypeVar("T")


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_server(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """Stops a ``vigil serve`` as Ctrl-C would and returns its exit code.

    SIGINT lets uvicorn run the app's shutdown (flushing the prediction log,
    releasing leases), which is what the tests check after a stop; a server
    that has not exited within ``timeout`` is killed so a test never hangs.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float) -> T:
    """Returns the first result of ``probe`` that ``accept`` takes, polling up to ``timeout``.

    For state another process converges to (a replica following a deployment);
    the last result is returned unaccepted when time runs out, for the assertion.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = probe()
        if accept(result) or time.monotonic() >= deadline:
            return result
        pause.wait(0.05)


def read_until_started(process: subprocess.Popen[bytes]) -> list[str]:
    """Returns the stderr lines up to the app's start-up; fails on exit or timeout.

    Started means both uvicorn lines: "Application startup complete" (the
    app's lifespan ran) and "Uvicorn running on" (the socket listens). One
    process logs the first before binding, so a request right after it may
    be refused; with ``--workers`` the parent binds before the workers start.
    """
    assert process.stderr is not None
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    buffer = b""
    try:
        while not all(any(ready in line for line in lines) for ready in _STARTED):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("vigil serve did not start:\n" + "\n".join(lines))
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                raise AssertionError(
                    f"vigil serve exited with {process.wait()}:\n" + "\n".join(lines)
                )
            *complete, buffer = (buffer + chunk).split(b"\n")
            lines.extend(line.decode(errors="replace") for line in complete)
    finally:
        selector.close()
    if buffer:
        lines.append(buffer.decode(errors="replace"))
    return lines


@dataclass
class Server:
    """A ``vigil`` process (``serve`` or ``worker``): its URL, admin key and stderr lines."""

    url: str
    admin_key: str
    process: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    # What ``vigil serve --json`` printed on stdout at start.
    summary: dict[str, Any] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    drainer: threading.Thread | None = None

    def add_line(self, line: str) -> None:
        """Records one stderr line and wakes whoever waits for it."""
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def log_lines(self) -> list[str]:
        """Returns the stderr lines written so far."""
        with self.changed:
            return list(self.lines)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        """Returns the first stderr line containing ``text``, waiting for it up to ``timeout``."""

        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        with self.changed:
            line = self.changed.wait_for(found, timeout=timeout)
        assert line is not None, f"no line with {text!r} in:\n" + "\n".join(self.lines[-50:])
        return line

    def drain(self) -> None:
        """Keeps reading stderr (until the process ends) so the server never blocks on it."""
        assert self.process.stderr is not None
        for raw in iter(self.process.stderr.readline, b""):
            self.add_line(raw.decode(errors="replace").rstrip("\n"))

    def keep_draining(self) -> None:
        """Reads stderr in a background thread from now on (lines go to ``lines``)."""
        self.drainer = threading.Thread(target=self.drain, daemon=True)
        self.drainer.start()

    def started(self) -> Server:
        """Returns this server once uvicorn says it is up, reading ``--json``'s summary too.

        Waits on the server's own log (bounded), never by sleeping; a server
        that exits or does not start in time is stopped and the test fails.
        """
        try:
            self.lines.extend(read_until_started(self.process))
            if self.process.stdout is not None:
                self.summary = json.loads(self.process.stdout.readline())
        except BaseException:
            self.stop()
            raise
        self.keep_draining()
        return self

    def interrupt(self) -> None:
        """Sends Ctrl-C (SIGINT) without waiting, so that several processes stop side by side."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def stop(self) -> int:
        """Stops the process as Ctrl-C would (see stop_server) and returns its exit code."""
        code = stop_server(self.process)
        if self.drainer is not None:
            self.drainer.join(timeout=STOP_TIMEOUT)  # it ends at the end of stderr
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def stop_all(servers: Sequence[Server]) -> list[int]:
    """Stops every process at once (a stop can take seconds) and returns their exit codes."""
    for server in servers:
        server.interrupt()
    return [server.stop() for server in servers]


def server_environment(home: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """Returns this run's environment for a server over ``home``: no VIGIL_* of the run leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_HOME"] = str(home)
    env.update(settings)
    return env


def launch_vigil(
    command: Sequence[str],
    home: Path,
    settings: Mapping[str, str] | None = None,
    *,
    admin_key: str = SERVER_ADMIN_KEY,
    port: int | None = None,
    json_summary: bool = False,
) -> Server:
    """Starts ``vigil COMMAND`` over ``home`` with ``settings`` (VIGIL_* variables), not awaited.

    ``serve`` gets ``--port`` (``port`` or a free one) and, with ``json_summary``,
    ``--json``. Several processes launched before any is awaited start side by
    side (imports dominate start-up); await each with ``started()``.
    """
    env = server_environment(home, {"VIGIL_ADMIN_KEY": admin_key, **(settings or {})})
    arguments = [sys.executable, "-m", "vigil.cli.main", *command]
    url = ""
    if command[0] == "serve":
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        arguments += ["--port", str(port), *(["--json"] if json_summary else [])]
    process = subprocess.Popen(
        arguments,
        env=env,
        stdout=subprocess.PIPE if json_summary else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return Server(url, admin_key, process)


def start_vigil_serve(
    home: Path,
    settings: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    admin_key: str = SERVER_ADMIN_KEY,
    port: int | None = None,
    json_summary: bool = False,
) -> Server:
    """Returns a started ``vigil serve ARGS`` over ``home``; the caller stops it (``stop()``)."""
    command = ["serve", *args]
    launched = launch_vigil(
        command, home, settings, admin_key=admin_key, port=port, json_summary=json_summary
    )
    return launched.started()


@contextmanager
def vigil_serve(
    home: Path,
    settings: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    admin_key: str = SERVER_ADMIN_KEY,
    json_summary: bool = False,
) -> Iterator[Server]:
    """Yields a started ``vigil serve ARGS`` over ``home`` and stops it afterwards."""
    server = start_vigil_serve(
        home, settings, args=args, admin_key=admin_key, json_summary=json_summary
    )
    try:
        yield server
    finally:
        server.stop()
