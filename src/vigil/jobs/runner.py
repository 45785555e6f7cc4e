"""Worker threads that claim jobs from the database and run them.

The same runner serves the embedded default (threads inside the API process)
and scale mode (`vigil worker` processes): every worker claims from the one
queue in the database, so adding processes adds capacity without
coordination. While a job runs, a ticker thread keeps its heartbeat fresh;
a job whose heartbeat goes stale (its process died) is recovered by any
worker's periodic sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from vigil.ids import uuid7
from vigil.registry.jobs import JobRecord

log = logging.getLogger("vigil.jobs")

HEARTBEAT_INTERVAL_SECONDS = 5.0
# Twelve missed heartbeats: a worker this late is dead, not slow.
STALE_AFTER = timedelta(seconds=60)
POLL_INTERVAL_SECONDS = 2.0


def new_worker_id() -> str:
    """Returns an id naming this process's worker: host, pid and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid7()[-6:]}"


def worker_is_dead(worker_id: str) -> bool:
    """Returns whether ``worker_id`` names a process of this host that no longer runs.

    Workers on other hosts are judged by their heartbeat alone.
    """
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


class JobRunner:
    """Runs jobs on ``threads`` threads until stopped.

    ``run_one`` claims one job and runs it to the end (or returns None when
    the queue is empty); ``execute`` is the service's function that does the
    work of a claimed job.
    """

    def __init__(
        self,
        claim: Callable[[str], JobRecord | None],
        execute: Callable[[JobRecord, str], None],
        recover: Callable[[], object],
        *,
        threads: int = 2,
        worker_id: str | None = None,
        poll_interval: float = POLL_INTERVAL_SECONDS,
    ) -> None:
        self.claim = claim
        self.execute = execute
        self.recover = recover
        self.threads = threads
        self.worker_id = worker_id or new_worker_id()
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []

    def run_one(self) -> JobRecord | None:
        """Returns the job it claimed and ran, or None if nothing was queued."""
        job = self.claim(self.worker_id)
        if job is None:
            return None
        self.execute(job, self.worker_id)
        return job

    def wake(self) -> None:
        """Tells idle threads a job was just submitted, so they need not wait for the poll."""
        self._wake.set()

    def start(self) -> None:
        """Starts the worker threads (idempotent)."""
        if self._workers:
            return
        self._stop.clear()
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"vigil-job-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)
        log.info("job runner %s started with %d threads", self.worker_id, self.threads)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Asks the threads to stop after their current job and waits for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._workers:
            thread.join(timeout)
        self._workers = []

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.recover()
                ran = self.run_one()
            except Exception:  # a broken job must not kill the worker thread
                log.exception("job runner %s: unexpected error", self.worker_id)
                ran = None
            if ran is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()


class Heartbeat:
    """Beats for a running job on a ticker thread until closed."""

    def __init__(self, beat: Callable[[], object], interval: float = HEARTBEAT_INTERVAL_SECONDS):
        self._beat = beat
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                self._beat()
            except Exception:  # a missed beat is recovered by the next one
                log.exception("heartbeat failed")
