"""Counting predictions a process accepted but never wrote, across a crash.

The prediction log buffers answers in memory for up to half a second before
writing them in bulk. A process killed in that window (``kill -9``, the OOM
killer, a power cut of the container) takes the buffer with it. Vigil counts
that loss rather than paying a disk write per request (issue 15): each
running writer keeps two counters — records accepted into its buffer, records
written to the database — in a small memory-mapped file under
``$VIGIL_HOME/prediction-log/``. The counters live in the page cache, so they
survive the death of the process (not of the machine) at the cost of a memory
write per request.

The writer holds an exclusive ``flock`` on its file while it lives. At start,
a process tries the lock of every other file: one it gets belonged to a
process that is gone; ``accepted - written`` of that file is the loss, which
the caller records in the database (``prediction_log_losses``) before the
file is removed. A clean stop writes everything and removes its own file.

A batch is written in one transaction, and a process can die after its
commit reached the database but before ``written`` was counted (the commit's
fsync is the slow part of a write, so that window is real). The file also
names the batch in flight — its size and the id of its first record — and
the collector asks the database whether that id is there: the transaction
is all or nothing, so one id settles the whole batch.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("vigil.serving.log")

# accepted, written (unsigned 64-bit), the owner's start time (epoch seconds), its pid,
# the size of the batch being written and the id of its first record (ASCII, padded).
_LAYOUT = struct.Struct("<QQdQQ64s")
_SUFFIX = ".counts"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_ID_BYTES = 64


@dataclass(frozen=True)
class DeadWriter:
    """What a dead process's file said: its name, counts and when it started."""

    instance: str
    accepted: int
    written: int
    started_at: float
    # The batch being written when the process died (0 records: none) and its first id.
    in_flight: int = 0
    in_flight_first_id: str = ""

    @property
    def lost(self) -> int:
        """Returns how many accepted records were never written."""
        return max(self.accepted - self.written, 0)


class LossLedger:
    """This process's counters of accepted and written records, in a locked mapped file."""

    def __init__(self, directory: Path, instance: str) -> None:
        self.directory = directory
        self.instance = _UNSAFE.sub("_", instance)
        self.path = directory / f"{self.instance}{_SUFFIX}"
        directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self._fd, _LAYOUT.size)
        self._map = mmap.mmap(self._fd, _LAYOUT.size)
        self.accepted = 0
        self.written = 0
        self._in_flight = 0
        self._in_flight_first_id = b""
        self._started = time.time()
        self._lock = threading.Lock()
        self._store()

    def add_accepted(self, count: int) -> None:
        """Counts records taken into the buffer."""
        with self._lock:
            self.accepted += count
            self._store()

    def begin_write(self, count: int, first_id: str) -> None:
        """Names the batch about to be written: ``count`` records, the first with ``first_id``."""
        with self._lock:
            self._in_flight = count
            self._in_flight_first_id = first_id.encode("ascii", "replace")[:_ID_BYTES]
            self._store()

    def add_written(self, count: int) -> None:
        """Counts records written to the database (the batch in flight, if any, is done)."""
        with self._lock:
            self.written += count
            self._in_flight = 0
            self._in_flight_first_id = b""
            self._store()

    def _store(self) -> None:
        _LAYOUT.pack_into(
            self._map,
            0,
            self.accepted,
            self.written,
            self._started,
            os.getpid(),
            self._in_flight,
            self._in_flight_first_id,
        )

    def close(self, *, remove: bool) -> None:
        """Releases the file; ``remove`` when everything accepted was written (a clean stop)."""
        with self._lock:
            if self._map.closed:
                return
            self._map.close()
            if remove:
                self.path.unlink(missing_ok=True)
            os.close(self._fd)


def collect_dead_writers(
    directory: Path,
    record: Callable[[DeadWriter], None],
    committed: Callable[[str], bool] = lambda first_id: False,
) -> list[DeadWriter]:
    """Returns the files of processes that died, each handed to ``record`` and then removed.

    A file whose lock cannot be taken belongs to a running process and is
    left alone. ``record`` runs while the lock is held, so two processes
    starting at once never count the same file twice. A batch in flight whose
    first id ``committed`` finds in the database counts as written.
    """
    found: list[DeadWriter] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # another process collected it just now
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            # Collected and removed by another process between our open and our lock?
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue
            raw = os.read(fd, _LAYOUT.size)
            if len(raw) == _LAYOUT.size:
                accepted, written, started, _pid, in_flight, first = _LAYOUT.unpack(raw)
                first_id = first.rstrip(b"\0").decode("ascii", "replace")
                if in_flight and first_id and committed(first_id):
                    written, in_flight = written + in_flight, 0
                dead = DeadWriter(
                    path.name[: -len(_SUFFIX)], accepted, written, started, in_flight, first_id
                )
                record(dead)
                found.append(dead)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return found
