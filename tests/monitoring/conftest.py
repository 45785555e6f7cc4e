"""An alert store on a migrated database (SQLite, then PostgreSQL) with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_support import StepClock
from sqlalchemy import Engine

from vigil.monitoring.alerts import AlertStore
from vigil.registry.db import create_engine_for, upgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Returns an engine on an empty database migrated to head."""
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> StepClock:
    """Returns the clock the store reads: one second later at every call."""
    return StepClock()


@pytest.fixture
def alerts(engine: Engine, clock: StepClock) -> AlertStore:
    """Returns an alert store on the migrated database."""
    return AlertStore(engine, now=clock)
