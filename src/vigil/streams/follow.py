"""Lines of a file or of stdin in batches, following appends and rotation like ``tail -F``.

:class:`LineSource` yields batches of lines: up to ``batch_size`` lines, or
what arrived within ``max_wait`` seconds once a line is pending, so a quiet
log still sends its few lines promptly. With ``follow`` a file is watched
after its end: appended lines are read as they come, and when the path
names another file (rotated: renamed away and created again) or the file
shrinks (truncated), the rest of the old file is read and the new one is
opened from its start. :func:`event_of` turns a line into an event: a JSON
object as it is, anything else as a raw log line ``{"line": ...}``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

# How often a followed file is looked at when nothing new was read.
POLL_SECONDS = 0.1


def event_of(line: str) -> Any:
    """Returns the event a line holds: its JSON object, else the raw line ``{"line": text}``."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return {"line": text}


class LineSource:
    """Batches of lines from ``path`` (``-`` for stdin), following the file when asked."""

    def __init__(
        self,
        path: str,
        *,
        follow: bool = False,
        batch_size: int = 1000,
        max_wait: float = 0.5,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.follow = follow
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.stop = stop or threading.Event()
        self.clock = clock
        # Lines are read on a thread, so a batch can be sent while the source is quiet.
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=batch_size * 4)

    def batches(self) -> Iterator[list[str]]:
        """Yields batches of lines until the source ends (or ``stop`` is set)."""
        reader = threading.Thread(target=self._read, name="vigil-watch-reader", daemon=True)
        reader.start()
        pending: list[str] = []
        first_at = 0.0
        while True:
            timeout = POLL_SECONDS
            if pending:
                timeout = max(0.0, first_at + self.max_wait - self.clock())
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                line = ""
                if self.stop.is_set() and not pending:
                    return
            if line is None:
                if pending:
                    yield pending
                return
            if line:
                if not pending:
                    first_at = self.clock()
                pending.append(line)
            if pending and (
                len(pending) >= self.batch_size or self.clock() - first_at >= self.max_wait
            ):
                yield pending
                pending = []

    def _read(self) -> None:
        try:
            if self.path == "-":
                import sys

                for line in sys.stdin:
                    if self.stop.is_set():
                        break
                    self._put(line)
            else:
                self._read_file(Path(self.path))
        finally:
            self._lines.put(None)

    def _put(self, line: str) -> None:
        if line.strip():
            self._lines.put(line)

    def _read_file(self, path: Path) -> None:
        handle: IO[str] = path.open("r", encoding="utf-8", errors="replace")
        try:
            partial = ""
            while not self.stop.is_set():
                chunk = handle.readline()
                if chunk:
                    if not chunk.endswith("\n") and self.follow:
                        # A line still being written: wait for its end.
                        partial += chunk
                        continue
                    self._put(partial + chunk)
                    partial = ""
                    continue
                if not self.follow:
                    if partial:
                        self._put(partial)
                    return
                replaced = self._replaced(handle, path)
                if replaced is not None:
                    # Lines written to the old file between its last read and the rotation.
                    rest = partial + handle.read()
                    for line in rest.splitlines(keepends=True):
                        self._put(line)
                    partial = ""
                    handle.close()
                    handle = replaced
                    continue
                self.stop.wait(POLL_SECONDS)
        finally:
            handle.close()

    @staticmethod
    def _replaced(handle: IO[str], path: Path) -> IO[str] | None:
        """Returns the file now at ``path`` if it is not the one open (rotated or truncated)."""
        try:
            now = os.stat(path)
        except FileNotFoundError:
            # Renamed away and not created again yet: keep reading the old one.
            return None
        current = os.fstat(handle.fileno())
        if (now.st_ino, now.st_dev) != (current.st_ino, current.st_dev):
            return path.open("r", encoding="utf-8", errors="replace")
        if now.st_size < handle.tell():
            handle.seek(0)
        return None
