"""The prediction log: every answer recorded in batches, off the request path.

A request only appends to an in-memory buffer; a writer thread flushes the
buffer to the database in bulk inserts (every ``flush_interval`` seconds or
``batch_size`` records). On shutdown the buffer is flushed. If the database
falls behind and the buffer reaches ``max_buffer`` records, new records are
dropped rather than slowing requests — and counted, so ``/metrics`` says how
many (nothing is dropped silently).

Turning answers into JSON also happens on the writer thread: a request hands
over its rows and output dicts as they are (or a ``DeferredInputs`` that
knows how to read them from the request's table), so the request path pays
for a deque append, not for serialisation.

Loss after a crash is counted, not prevented (issue 15): a writer started
with ``ledger_dir`` keeps its accepted and written counts in a small mapped
file (:mod:`vigil.serving.loss_ledger`); the next process to start on that
home turns a dead writer's ``accepted - written`` into a row of
``prediction_log_losses``, logs it, and ``/metrics`` reports the total as
``vigil_prediction_log_records_total{outcome="lost"}``. A write that fails
while running makes :attr:`PredictionLog.problem` say why (``/health`` turns
``degraded``) until a write succeeds again.

Retention: with ``retention`` set, the writer thread deletes records older
than that every ``purge_interval`` seconds (on its own monotonic clock, which
tests replace).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Dialect, Table, bindparam, delete, func, insert, select
from sqlalchemy.types import TypeDecorator

from vigil.registry.sessions import SqlStore
from vigil.registry.tables import PredictionLogLossRow, PredictionRow
from vigil.serving.loss_ledger import DeadWriter, LossLedger, collect_dead_writers

log = logging.getLogger("vigil.serving.log")


@dataclass
class PredictionLogStats:
    """Counters the metrics endpoint exposes."""

    logged: int = 0
    dropped: int = 0
    write_errors: int = 0
    flushes: int = 0
    pending: int = 0
    purged: int = 0
    purges: int = 0


class DeferredInputs:
    """The logged inputs of a batch, computed once, when the writer thread first needs them.

    ``compute`` returns one JSON-ready input per prediction of the batch (for
    a DataFrame, ``to_json`` of its rows); it runs off the request path.
    """

    def __init__(self, compute: Callable[[], list[Any]]) -> None:
        self._compute = compute
        self._rows: list[Any] | None = None
        self._lock = threading.Lock()

    def row(self, index: int) -> Any:
        """Returns the input of the ``index``-th prediction of the batch."""
        with self._lock:
            if self._rows is None:
                self._rows = self._compute()
                self._compute = _computed
            return self._rows[index]


def _computed() -> list[Any]:  # pragma: no cover - never called
    return []


@dataclass(frozen=True)
class DeferredInput:
    """One prediction's input, read from its batch's ``DeferredInputs`` when written."""

    batch: DeferredInputs
    index: int


@dataclass(frozen=True)
class LoggedPrediction:
    """One record of the prediction log."""

    id: str
    tenant: str
    model: str
    version: int
    shadow: bool
    # A row as the caller sent it or a DeferredInput; made JSON-safe when written.
    inputs: Any
    # The answer without id and version, as the model gave it; made JSON-safe when written.
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
        retention: timedelta | None = None,
        purge_interval: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        ledger_dir: Path | None = None,
        instance: str = "vigil",
    ) -> None:
        super().__init__(engine, now)
        # Where the writer counts what it accepted and wrote (None: not counted).
        self.ledger_dir = ledger_dir
        self.instance = instance
        self._ledger: LossLedger | None = None
        # Writers found dead at start, and why writes fail right now (None when they work).
        self.recovered: list[DeadWriter] = []
        self.problem: str | None = None
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.retention = retention
        self.purge_interval = purge_interval
        self._clock = clock
        self._last_purge: float | None = None
        # Set by the writer thread after each retention purge (tests wait on it).
        self.purged = threading.Event()
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
            if self._ledger is not None and kept:
                self._ledger.add_accepted(len(kept))
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
                if self._ledger is not None:
                    self._ledger.begin_write(len(batch), batch[0].id)
                try:
                    self._write(batch)
                except Exception as exc:
                    # Put the batch back: the next flush retries it; nothing is lost.
                    with self._buffer.lock:
                        self._buffer.records.extendleft(reversed(batch))
                        self.stats.pending = len(self._buffer.records)
                    self.stats.write_errors += 1
                    self.problem = f"prediction log writes are failing: {_first_line(exc)}"
                    log.exception("prediction log write failed; will retry")
                    return written
                self.problem = None
                if self._ledger is not None:
                    self._ledger.add_written(len(batch))
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
                "inputs": json_text(
                    r.inputs.batch.row(r.inputs.index)
                    if isinstance(r.inputs, DeferredInput)
                    else r.inputs
                ),
                "output": json_text(r.output),
                "latency_us": r.latency_us,
                "routing_key": r.routing_key,
                "created_at": r.created_at,
                "actual": None,
                "feedback_at": None,
            }
            for r in batch
        ]
        with self.writing() as session:
            session.execute(_INSERT, rows)

    @property
    def running(self) -> bool:
        """Returns whether a writer thread drains the buffer (so ``append`` never writes)."""
        return self._thread is not None

    def start(self) -> None:
        """Starts the writer thread (idempotent), after counting what dead writers lost."""
        if self._thread is not None:
            return
        if self.ledger_dir is not None:
            self.recovered = self.collect_losses()
            self._ledger = LossLedger(self.ledger_dir, self.instance)
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
        if self._ledger is not None:
            # Records still buffered could not be written: the file stays for the next
            # start to count them as lost.
            self._ledger.close(remove=self.stats.pending == 0)
            self._ledger = None

    def collect_losses(self) -> list[DeadWriter]:
        """Returns the writers that died on this home, their losses recorded in the database."""
        assert self.ledger_dir is not None
        dead = collect_dead_writers(self.ledger_dir, self._record_loss, self._is_logged)
        for writer in dead:
            if writer.lost:
                log.warning(
                    "%d predictions accepted by %s were never written to the prediction log "
                    "(the process stopped without flushing); counted as lost in /metrics",
                    writer.lost,
                    writer.instance,
                )
        return dead

    def _is_logged(self, prediction_id: str) -> bool:
        """Returns whether the prediction log holds the record ``prediction_id``."""
        table = cast(Table, PredictionRow.__table__)
        with self.writing() as session:
            found = session.execute(
                select(table.c.id).where(table.c.id == prediction_id).limit(1)
            ).first()
        return found is not None

    def _record_loss(self, writer: DeadWriter) -> None:
        if writer.lost == 0:
            return
        with self.writing() as session:
            session.add(
                PredictionLogLossRow(
                    instance=writer.instance[:128],
                    lost=writer.lost,
                    accepted=writer.accepted,
                    started_at=datetime.fromtimestamp(writer.started_at, UTC),
                    detected_at=self.now(),
                    detected_by=self.instance[:128],
                )
            )

    def lost_total(self) -> int:
        """Returns how many accepted predictions dead processes never wrote, over all time."""
        with self.reading() as session:
            total = session.execute(select(func.sum(PredictionLogLossRow.lost))).scalar()
        return int(total or 0)

    def wake(self) -> None:
        """Makes the writer thread run its round now rather than at its next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()
            self._purge_if_due()

    def _purge_if_due(self) -> None:
        """Applies the retention if ``purge_interval`` has passed since the last purge.

        The first round after start purges at once: a server restarted every
        day must still apply its retention.
        """
        if self.retention is None:
            return
        now = self._clock()
        if self._last_purge is not None and now - self._last_purge < self.purge_interval:
            return
        self._last_purge = now
        try:
            deleted = self.purge(self.retention)
        except Exception:
            # Retried at the next interval; old records staying a while longer harm nothing.
            log.exception("prediction log retention purge failed")
            return
        self.stats.purged += deleted
        self.stats.purges += 1
        if deleted:
            log.info("prediction log retention: deleted %d records", deleted)
        self.purged.set()

    def purge(self, older_than: timedelta) -> int:
        """Deletes records older than ``older_than``; returns how many (retention)."""
        cutoff = self.now() - older_than
        with self.writing() as session:
            result = session.execute(delete(PredictionRow).where(PredictionRow.created_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


def _first_line(exc: BaseException) -> str:
    """Returns the first line of an error, cut short (SQL errors run on for pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class _JsonText(TypeDecorator[Any]):
    """A JSON column bound from JSON text made beforehand (by ``json_text``), as it is.

    The engine's serializer walks every value in Python and then calls the
    standard library's encoder; for a logged row of 78 inputs that was most of
    the writer's time. orjson writes the same JSON in C (PostgreSQL still gets
    the value cast to its JSON type).
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        """Returns no processor: the value is JSON text already."""
        return None


_INSERT = insert(cast(Table, PredictionRow.__table__)).values(
    inputs=bindparam("inputs", type_=_JsonText()),
    output=bindparam("output", type_=_JsonText()),
)


def json_text(value: Any) -> str:
    """Returns ``value`` as JSON text: NumPy values as numbers, NaN and infinities as null.

    A value JSON has no form for is written as its text rather than refused:
    a record the writer cannot encode would otherwise be retried forever.
    """
    return orjson.dumps(value, default=_fallback, option=_JSON_OPTIONS).decode()


def _fallback(value: Any) -> Any:
    for method in ("tolist", "item", "isoformat"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    return str(value)
