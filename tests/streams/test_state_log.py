"""The stream state's log: batches write only what is new, and stale copies replay it.

Replicas are services in this process on one database (and one Redis
prefix), each with its own state cache, as two ``vigil serve`` processes
would be; the snapshot clock is held still, so only the log bound or the
test moves it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from stream_support import ADMIN, REDIS_URL, batch_scores, events_of, pieces, simulated, train

from clock_support import Clock
from vigil.config import Settings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.registry.tables import StreamLogRow, StreamStateRow
from vigil.service import VigilService
from vigil.streams.journal import LoggedBatch
from vigil.streams.state import StreamState
from vigil.streams.store import (
    Locked,
    RedisStateStore,
    Since,
    Snapshots,
    SqlStateStore,
    StateStore,
)


class StillClock:
    """A monotonic clock that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Replicas:
    """Services on one database and state store, started on demand."""

    def __init__(self, backend: str, tmp_path: Path, database_url: str) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.prefix = f"vigil-test:{uuid.uuid4().hex}:"
        self.clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
        self.snapshot_clock = StillClock()
        self.started: list[VigilService] = []
        self.engines: list[Any] = []

    def start(self) -> VigilService:
        """Returns a new replica: nothing cached, everything read from the stores."""
        settings = Settings.from_env(
            {"VIGIL_HOME": str(self.tmp_path / "home"), "VIGIL_SECRET_KEY": "s3cret"}
        )
        settings = replace(settings, database_url=self.database_url)
        if self.backend == "redis":
            settings = replace(settings, state_url=REDIS_URL)
        engine = create_engine_for(self.database_url)
        upgrade(engine)
        service = VigilService(
            settings,
            RegistryStore(engine, self.clock),
            LocalArtifactStore(self.tmp_path / "artifacts"),
            now=self.clock,
        )
        store = self.state(service)
        store.snapshots.clock = self.snapshot_clock  # type: ignore[attr-defined]
        if isinstance(store, RedisStateStore):
            store.prefix = self.prefix
        self.started.append(service)
        self.engines.append(engine)
        return service

    @staticmethod
    def state(service: VigilService) -> StateStore:
        return service.streams.state

    def close(self) -> None:
        if self.backend == "redis":
            client: Any = RedisStateStore(REDIS_URL).client
            for key in client.scan_iter(f"{self.prefix}*"):
                client.delete(key)
        for service in self.started:
            service.close()
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def replicas(state_backend: str, tmp_path: Path, database_url: str) -> Iterator[Replicas]:
    made = Replicas(state_backend, tmp_path, database_url)
    yield made
    made.close()


def _stream(service: VigilService, name: str, piece: list[dict[str, Any]]) -> list[float]:
    result = service.streams.ingest(ADMIN, name, piece, return_all=True)
    assert result.rejected == []
    return [p["score"] for p in result.predictions or []]


def _stored(service: VigilService, name: str) -> tuple[StreamState, int]:
    """Returns the state a fresh reader builds (snapshot + replayed log), and the log length."""
    fresh = Replicas.state(service)
    fresh.cache.forget(("default", name))  # type: ignore[attr-defined]
    with fresh.locked("default", name, _replayer(service, name)) as held:
        state = held.state
    if isinstance(fresh, RedisStateStore):
        length = int(fresh.client.llen(f"{fresh.prefix}default:{name}:log"))
    else:
        assert isinstance(fresh, SqlStateStore)
        with fresh.reading() as session:
            length = int(session.scalar(select(func.count()).select_from(StreamLogRow)) or 0)
    return state, length


def _replayer(service: VigilService, name: str) -> Any:
    from vigil.streams.replay import replay

    _, _, scorer = service.streams._scorer("default", name)
    return lambda state, logged: replay(state, logged, lambda _: scorer, service.streams.settings)


def test_replicas_taking_turns_and_a_restart_score_as_one_and_write_only_the_new(
    replicas: Replicas,
) -> None:
    one = replicas.start()
    train(one, "cpu", simulated("metrics", 600, seed=1), "metrics")
    test = simulated("metrics", 400, seed=2)
    expected = batch_scores(one, "cpu", test)
    two = replicas.start()
    batches = pieces(events_of(test), seed=5, largest=40)
    half = len(batches) // 2
    streamed: list[float] = []
    for i, piece in enumerate(batches[:half]):
        streamed += _stream((one, two)[i % 2], "cpu", piece)
    # Both wrote log entries, no snapshot after the first batch (the clock stands still).
    state, logged = _stored(one, "cpu")
    assert logged == half - 1
    # The log replayed from the snapshot gives the state the writers kept, byte for byte
    # (history, clocks, the online model's state).
    writer = Replicas.state((one, two)[(half - 1) % 2])
    kept = writer.cache._kept[("default", "cpu")].state  # type: ignore[attr-defined]
    assert state.to_bytes() == kept.to_bytes()
    # A replica started afresh (a restart) reads the snapshot and the log and carries on.
    three = replicas.start()
    for i, piece in enumerate(batches[half:]):
        streamed += _stream((three, one)[i % 2], "cpu", piece)
    assert len(streamed) == len(expected)
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9


def test_a_snapshot_is_written_once_the_interval_passed_and_empties_the_log(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    one = replicas.start()
    train(one, "web", simulated("logs", 600, seed=1), "logs")
    events = events_of(simulated("logs", 120, seed=2))
    for piece in (events[:40], events[40:50], events[50:60]):
        _stream(one, "web", piece)
    state, logged = _stored(one, "web")
    assert logged == 2
    # An entry holds the batch's events, not the history: a fraction of the snapshot.
    entry = LoggedBatch.after(state, events[50:60], version=1, flush=False, now_ns=0)
    assert len(entry.to_bytes()) * 3 < len(state.to_bytes())
    # Read back afresh (the log kept), then a batch once the interval passed: a snapshot.
    _stream(one, "web", events[60:65])
    replicas.snapshot_clock.now += 1.0
    _stream(one, "web", events[65:70])
    state, logged = _stored(one, "web")
    assert logged == 0 and state.sequence == 70
    # A restarted replica says what it read back.
    _stream(one, "web", events[70:80])
    caplog.set_level(logging.INFO, logger="vigil.streams")
    restarted = replicas.start()
    expected = batch_scores(one, "web", simulated("logs", 120, seed=2))
    assert np.allclose(_stream(restarted, "web", events[80:]), expected[80:], rtol=0, atol=1e-9)
    assert "recovered: snapshot plus 1 logged batches (10 events" in caplog.text


def test_a_state_written_before_the_log_existed_is_read_as_its_own_snapshot(
    replicas: Replicas,
) -> None:
    one = replicas.start()
    store = Replicas.state(one)
    with store.locked("default", "old") as held:
        held.state.sequence = 7
        store.save("default", "old", held)
    if isinstance(store, SqlStateStore):
        with store.writing() as session:
            row = session.get(StreamStateRow, ("default", "old"))
            assert row is not None
            row.snapshot_revision = None
    else:
        assert isinstance(store, RedisStateStore)
        store.client.delete(f"{store.prefix}default:old:snapshot-revision")
    store.cache.forget(("default", "old"))
    with store.locked("default", "old") as held:
        assert held.state.sequence == 7
        held.state.sequence = 8
        store.save(
            "default",
            "old",
            held,
            LoggedBatch.after(held.state, [], version=1, flush=False, now_ns=0),
        )
    store.cache.forget(("default", "old"))
    with store.locked("default", "old", lambda state, logged: replace(state, sequence=8)) as held:
        assert held.state.sequence == 8


def test_a_snapshot_waits_for_the_interval_and_a_log_worth_a_share_of_it() -> None:
    clock = StillClock()
    snapshots = Snapshots(seconds=1.0, clock=clock)
    state = StreamState(sequence=3)
    held = Locked(state, revision=5, snapshot_revision=5, read=state)
    held.since = Since(snapshot_bytes=1_000_000, at=clock())
    logged = LoggedBatch.after(state, [{"value": 1.0}], version=1, flush=False, now_ns=0)
    # Within the interval: the entry.
    snapshot, payload = snapshots.payload(held, logged)
    assert not snapshot and LoggedBatch.from_bytes(payload).records == [{"value": 1.0}]
    # Past it, a log far smaller than the snapshot still appends.
    clock.now += 5.0
    assert not snapshots.payload(held, logged)[0]
    # A log worth a quarter of the snapshot: a snapshot, which the interval then restarts from.
    held.since = replace(held.since, bytes=250_000)
    snapshot, payload = snapshots.payload(held, logged)
    assert snapshot and StreamState.from_bytes(payload).sequence == 3
    snapshots.wrote(held, 6, snapshot, payload, logged)
    assert held.since == Since(snapshot_bytes=len(payload), at=clock.now)
    # Past the bound of logged events, a snapshot whatever the clock says.
    held.since = replace(held.since, events=snapshots.log_events)
    assert snapshots.payload(held, logged)[0]
    # A state no larger than the entry: written whole.
    held.since = Since(snapshot_bytes=10, at=clock.now)
    assert snapshots.payload(held, logged)[0]
