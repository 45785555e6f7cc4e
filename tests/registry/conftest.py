"""A migrated registry database, a clock that only moves when asked, and version factories."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.entities import NewVersion
from vigil.registry.store import RegistryStore

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """A clock that returns START, START + 1 s, START + 2 s, ... one step per call."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.current = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """Returns the next instant (thread-safe: concurrent tests share the clock)."""
        with self._lock:
            now = self.current
            self.current = now + self.step
            return now


MakeVersion = Callable[..., NewVersion]


def new_version(**changes: Any) -> NewVersion:
    """Returns a NewVersion of a classification model, with ``changes`` applied."""
    base = NewVersion(
        task="classification",
        algorithm="random_forest",
        params={"n_estimators": 100, "max_depth": None},
        metrics={"accuracy": 0.9, "f1": 0.8},
        feature_schema=[{"name": "plan", "dtype": "category"}, {"name": "age", "dtype": "int"}],
        data_fingerprint="a" * 64,
        artifact_key="default/models/churn/artifact.vigil",
        artifact_sha256="b" * 64,
        artifact_hmac="c" * 64,
        artifact_size=1234,
        library_versions={"python": "3.11.7", "scikit-learn": "1.5.0"},
        created_by="tester",
        job_id="job-1",
        target="churned",
        extra={"rows": 100},
    )
    return replace(base, **changes)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Returns an engine on an empty database migrated to head (SQLite, then PostgreSQL)."""
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> StepClock:
    """Returns the deterministic clock the store under test reads."""
    return StepClock()


@pytest.fixture
def store(engine: Engine, clock: StepClock) -> RegistryStore:
    """Returns a registry store on the migrated database, reading ``clock``."""
    return RegistryStore(engine, now=clock)


@pytest.fixture
def make_version() -> MakeVersion:
    """Returns a factory of NewVersion records: ``make_version(metrics={...})``."""
    return new_version
