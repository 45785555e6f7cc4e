"""Starting, stopping and waiting on the real processes tests run against.

Lives at the root of ``tests/`` (which the root ``conftest.py`` puts on the
import path) because ``tests/api``, ``tests/docs`` and others start servers.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TypeVar

STOP_TIMEOUT = 30.0
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
