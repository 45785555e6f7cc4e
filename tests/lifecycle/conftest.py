"""A VigilService on SQLite or PostgreSQL with a local artifact folder and a movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clock_support import Clock
from vigil.config import Settings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.service import VigilService


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_SECRET_KEY": "s3cret"})


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Returns an engine on an empty database migrated to head."""
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def service(
    engine: Engine, database_url: str, settings: Settings, tmp_path: Path, clock: Clock
) -> Iterator[VigilService]:
    svc = VigilService(
        replace(settings, database_url=database_url),
        RegistryStore(engine, clock),
        LocalArtifactStore(tmp_path / "artifacts"),
        now=clock,
    )
    yield svc
    svc.jobs.stop_workers()
    svc.notifier.stop()
