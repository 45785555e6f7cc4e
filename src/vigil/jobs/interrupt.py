"""Stopping a running job from outside its thread: on cancellation or past its time limit.

A job checks for cancellation between its steps, but one step — a fit —
can run for minutes inside a library. Python cannot kill a thread; it can
raise an exception in one (``PyThreadState_SetAsyncExc``), delivered at the
thread's next Python bytecode. Fits that loop in Python (forests tree by
tree, boosting round by round, preprocessing column by column) stop within a
fraction of a second; a single long C call delays the stop until it returns.

``JobInterrupter`` watches from its own thread, every ``interval`` seconds,
whether the job was cancelled or ran past ``limit_seconds``, and raises the
matching exception in the job's thread once. A pending exception not yet
delivered when the job ends is withdrawn, so it never escapes into the
worker's next job.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("vigil.jobs")


class JobInterrupted(BaseException):
    """Raised into a job's thread from outside. A BaseException, so that the
    ``except Exception`` of library code cannot swallow it."""


class CancelledNow(JobInterrupted):
    """The job was cancelled while it ran."""


class TimeLimitReached(JobInterrupted):
    """The job ran past its time limit."""


class JobInterrupter:
    """While entered, raises ``cancelled_error`` or ``timeout_error`` in the entering thread."""

    def __init__(
        self,
        cancelled: Callable[[], bool],
        *,
        limit_seconds: float | None,
        cancelled_error: type[BaseException],
        timeout_error: type[BaseException],
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cancelled = cancelled
        self._limit = limit_seconds
        self._cancelled_error = cancelled_error
        self._timeout_error = timeout_error
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._fired: type[BaseException] | None = None
        self._target = 0
        self._watcher = threading.Thread(target=self._watch, name="vigil-job-watch", daemon=True)

    def __enter__(self) -> JobInterrupter:
        self._target = threading.get_ident()
        self._started = self._clock()
        self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._done.set()
            if self._fired is not None and exc_type is not self._fired:
                # Fired but not delivered (the job ended first): withdraw it.
                _raise_in(self._target, None)
        self._watcher.join()

    @property
    def fired(self) -> type[BaseException] | None:
        """Returns the exception raised in the job's thread, if any."""
        return self._fired

    def _watch(self) -> None:
        while not self._done.wait(self._interval):
            try:
                error = self._due()
            except Exception:  # a failed check is retried at the next interval
                log.exception("checking a running job for cancellation failed")
                continue
            if error is None:
                continue
            with self._lock:
                if self._done.is_set():
                    return
                self._fired = error
                _raise_in(self._target, error)
            return

    def _due(self) -> type[BaseException] | None:
        if self._limit is not None and self._clock() - self._started > self._limit:
            return self._timeout_error
        if self._cancelled():
            return self._cancelled_error
        return None


def _raise_in(thread_id: int, error: type[BaseException] | None) -> None:
    """Schedules ``error`` in the thread (None withdraws a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(error) if error is not None else None
    )
