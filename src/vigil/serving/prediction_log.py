"""The prediction log: every answer recorded in batches, off the request path.

A request only appends to an in-memory buffer; a writer thread flushes the
buffer to the database in bulk inserts (every ``flush_interval`` seconds or
``batch_size`` records). On shutdown the buffer is flushed. If the database
falls behind and the buffer reaches ``max_buffer`` records, new records are
dropped rather than slowing requests — and counted, so ``/metrics`` says how
many (nothing is dropped silently).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert

from vigil.registry.sessions import SqlStore
from vigil.registry.tables import PredictionRow

log = logging.getLogger("vigil.serving.log")


@dataclass
class PredictionLogStats:
    """Counters the metrics endpoint exposes."""

    logged: int = 0
    dropped: int = 0
    write_errors: int = 0
    flushes: int = 0
    pending: int = 0


@dataclass(frozen=True)
class LoggedPrediction:
    """One record of the prediction log."""

    id: str
    tenant: str
    model: str
    version: int
    shadow: bool
    inputs: dict[str, Any]
    output: dict[str, Any]
    latency_us: float
    created_at: datetime
    routing_key: str | None = None


@dataclass
class _Buffer:
    records: deque[LoggedPrediction] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PredictionLog(SqlStore):
    """Buffers predictions and writes them in batches from a background thread."""

    def __init__(
        self,
        engine: Any,
        now: Callable[[], datetime],
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_buffer: int = 100_000,
    ) -> None:
        super().__init__(engine, now)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.stats = PredictionLogStats()
        self._buffer = _Buffer()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    def append(self, records: list[LoggedPrediction]) -> None:
        """Queues records for writing; drops (and counts) what does not fit in the buffer.

        Without a writer thread (a command-line run) the records are written
        at once, so a batch job never depends on a buffer it does not drain.
        """
        if self._thread is None:
            with self._buffer.lock:
                self._buffer.records.extend(records)
            self.flush()
            return
        with self._buffer.lock:
            room = self.max_buffer - len(self._buffer.records)
            kept = records[: max(room, 0)]
            self._buffer.records.extend(kept)
            dropped = len(records) - len(kept)
            self.stats.dropped += dropped
            self.stats.pending = len(self._buffer.records)
            full_batch = len(self._buffer.records) >= self.batch_size
        if dropped:
            log.warning("prediction log buffer full: dropped %d records", dropped)
        if full_batch:
            self._wake.set()

    def flush(self) -> int:
        """Writes everything buffered now; returns how many records were written."""
        written = 0
        with self._flush_lock:
            while True:
                with self._buffer.lock:
                    batch = [
                        self._buffer.records.popleft()
                        for _ in range(min(self.batch_size, len(self._buffer.records)))
                    ]
                    self.stats.pending = len(self._buffer.records)
                if not batch:
                    return written
                try:
                    self._write(batch)
                except Exception:
                    # Put the batch back: the next flush retries it; nothing is lost.
                    with self._buffer.lock:
                        self._buffer.records.extendleft(reversed(batch))
                        self.stats.pending = len(self._buffer.records)
                    self.stats.write_errors += 1
                    log.exception("prediction log write failed; will retry")
                    return written
                written += len(batch)
                self.stats.logged += len(batch)
                self.stats.flushes += 1

    def _write(self, batch: list[LoggedPrediction]) -> None:
        rows = [
            {
                "id": r.id,
                "tenant": r.tenant,
                "model": r.model,
                "version": r.version,
                "shadow": r.shadow,
                "inputs": r.inputs,
                "output": r.output,
                "latency_us": r.latency_us,
                "routing_key": r.routing_key,
                "created_at": r.created_at,
                "actual": None,
                "feedback_at": None,
            }
            for r in batch
        ]
        with self.writing() as session:
            session.execute(insert(PredictionRow), rows)

    def start(self) -> None:
        """Starts the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vigil-prediction-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the writer thread after flushing everything buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def purge(self, older_than: timedelta) -> int:
        """Deletes records older than ``older_than``; returns how many (retention)."""
        cutoff = self.now() - older_than
        with self.writing() as session:
            result = session.execute(delete(PredictionRow).where(PredictionRow.created_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)
