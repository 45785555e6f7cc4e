"""The prediction log: JSON made by the writer, retention applied by the writer thread."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from vigil.config import Settings
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.tables import PredictionRow
from vigil.serving.prediction_log import (
    DeferredInput,
    DeferredInputs,
    LoggedPrediction,
    PredictionLog,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clocks:
    """The log's wall clock (record times, cut-offs) and its monotonic clock (purge timing)."""

    def __init__(self) -> None:
        self.wall = START
        self.monotonic = 500.0

    def now(self) -> datetime:
        return self.wall

    def tick(self) -> float:
        return self.monotonic


@pytest.fixture
def engine(database_url: str) -> Iterator[object]:
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _record(key: str, at: datetime, inputs: object = None) -> LoggedPrediction:
    return LoggedPrediction(
        id=key,
        tenant="default",
        model="m",
        version=1,
        shadow=False,
        inputs=inputs if inputs is not None else {"x": 1.0},
        output={"prediction": True},
        latency_us=5.0,
        created_at=at,
    )


def _stored(engine: object) -> dict[str, tuple[object, object]]:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.execute(
            select(PredictionRow.id, PredictionRow.inputs, PredictionRow.output)
        ).all()
    return {row.id: (row.inputs, row.output) for row in rows}


def test_values_json_cannot_hold_are_written_as_json_can(engine: object) -> None:
    log = PredictionLog(engine, lambda: START)
    record = LoggedPrediction(
        id="a",
        tenant="default",
        model="m",
        version=1,
        shadow=False,
        inputs={"x": float("nan"), "y": np.float32(1.5), 3: "three"},
        output={"prediction": np.bool_(True), "score": np.float64(0.25), "p": np.arange(2)},
        latency_us=5.0,
        created_at=START,
    )

    log.append([record])

    assert _stored(engine)["a"] == (
        {"x": None, "y": 1.5, "3": "three"},
        {"prediction": True, "score": 0.25, "p": [0, 1]},
    )


def test_deferred_inputs_are_computed_once_by_the_writer(engine: object) -> None:
    calls: list[int] = []

    def compute() -> list[object]:
        calls.append(1)
        return [{"row": 0}, {"row": 1}]

    batch = DeferredInputs(compute)
    log = PredictionLog(engine, lambda: START)
    log.start()
    log.append([_record(f"r{i}", START, DeferredInput(batch, i)) for i in range(2)])
    assert calls == []  # appended, not yet serialised: the request path did no JSON work
    log.stop()

    assert calls == [1]
    assert {key: value[0] for key, value in _stored(engine).items()} == {
        "r0": {"row": 0},
        "r1": {"row": 1},
    }


def test_retention_is_applied_at_start_then_once_per_interval(engine: object) -> None:
    clocks = Clocks()
    log = PredictionLog(
        engine,
        clocks.now,
        retention=timedelta(days=30),
        purge_interval=3600,
        clock=clocks.tick,
    )
    log.append([_record("old", START - timedelta(days=31)), _record("new", START)])

    log._purge_if_due()
    assert set(_stored(engine)) == {"new"} and log.stats.purged == 1

    clocks.wall += timedelta(days=40)
    log.append([_record("recent", clocks.wall)])
    clocks.monotonic += 3599
    log._purge_if_due()
    assert set(_stored(engine)) == {"new", "recent"}  # not due yet
    clocks.monotonic += 1
    log._purge_if_due()
    assert set(_stored(engine)) == {"recent"}
    assert (log.stats.purges, log.stats.purged) == (2, 2)


def test_the_writer_thread_applies_the_retention(engine: object) -> None:
    clocks = Clocks()
    log = PredictionLog(
        engine,
        clocks.now,
        retention=timedelta(days=7),
        purge_interval=3600,
        clock=clocks.tick,
        flush_interval=3600,  # rounds run when woken, not on a timer
    )
    log.append([_record("old", START - timedelta(days=8))])
    log.start()
    try:
        log.wake()
        assert log.purged.wait(timeout=30)
        assert _stored(engine) == {}

        log.purged.clear()
        log.append([_record("aged", START)])
        clocks.wall += timedelta(days=8)
        clocks.monotonic += 3600
        log.wake()
        assert log.purged.wait(timeout=30)
        assert _stored(engine) == {}
    finally:
        log.stop()


def test_without_retention_nothing_is_purged(engine: object) -> None:
    log = PredictionLog(engine, lambda: START)
    log.append([_record("ancient", START - timedelta(days=3650))])

    log._purge_if_due()

    assert set(_stored(engine)) == {"ancient"} and log.stats.purges == 0


@pytest.mark.parametrize(("value", "days"), [("", 30.0), ("0", 0.0), ("7", 7.0), ("0.5", 0.5)])
def test_the_retention_setting(tmp_path: object, value: str, days: float) -> None:
    environ = {"VIGIL_HOME": str(tmp_path), "VIGIL_PREDICTION_RETENTION_DAYS": value}
    assert Settings.from_env(environ).prediction_retention_days == days


@pytest.mark.parametrize("value", ["-1", "a week", "nan", "inf"])
def test_a_bad_retention_setting_is_refused(tmp_path: object, value: str) -> None:
    environ = {"VIGIL_HOME": str(tmp_path), "VIGIL_PREDICTION_RETENTION_DAYS": value}
    with pytest.raises(ValueError, match="VIGIL_PREDICTION_RETENTION_DAYS"):
        Settings.from_env(environ)
