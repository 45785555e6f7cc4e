"""What the hardening tests share: a model of every kind, a real server, waiting for it."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

ADMIN_KEY = "hardening-test-admin-secret"
# How long a real server may take to import, migrate and start (a bound, never a wait).
SERVER_START_TIMEOUT = 60.0
# Variables of the test run that would point a server elsewhere or change its limits.
VIGIL_ENV_NAMES = tuple(name for name in os.environ if name.startswith("VIGIL_"))


@dataclass(frozen=True)
class KindModel:
    """A trained model of one kind and rows it answers."""

    name: str
    rows: list[dict[str, Any]]


@dataclass
class RunningServer:
    """A ``vigil serve`` process, its URL and its stderr lines."""

    url: str
    process: subprocess.Popen[bytes]
    lines: list[str]

    def drain(self) -> None:
        """Keeps reading stderr so the server never blocks on a full pipe."""
        assert self.process.stderr is not None
        for raw in iter(self.process.stderr.readline, b""):
            self.lines.append(raw.decode(errors="replace"))


def wait_until_healthy(server: RunningServer, timeout: float = SERVER_START_TIMEOUT) -> None:
    """Returns once ``/health`` answers; fails if the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError("vigil serve exited:\n" + "".join(server.lines[-40:]))
        try:
            if httpx.get(f"{server.url}/health", timeout=5).status_code in (200, 503):
                return
        except httpx.TransportError:
            pass
        pause.wait(0.1)
    raise AssertionError("vigil serve did not start:\n" + "".join(server.lines[-40:]))
