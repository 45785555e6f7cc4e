"""A VigilService whose stream state lives in SQLite, PostgreSQL or Redis, with models to stream to.

Models are trained in process (small simulated sets, seconds each) once per
test module and copied into each test's service by training again with the
same seed, so every state store sees the same model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from stream_support import REDIS_URL, redis_available

from clock_support import Clock
from vigil.config import Settings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.service import VigilService
from vigil.streams.store import RedisStateStore


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        "redis",
    ]
)
def state_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not redis_available():
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    return str(request.param)


@pytest.fixture
def database_url(state_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The registry database of a stream test: PostgreSQL's for that backend, else SQLite."""
    if state_backend == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@pytest.fixture
def stream_service(state_backend: str, tmp_path: Path, database_url: str) -> Iterator[VigilService]:
    settings = Settings.from_env(
        {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_SECRET_KEY": "s3cret"}
    )
    prefix = f"vigil-test:{uuid.uuid4().hex}:"
    if state_backend == "redis":
        settings = replace(settings, state_url=REDIS_URL)
    engine = create_engine_for(database_url)
    upgrade(engine)
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    service = VigilService(
        replace(settings, database_url=database_url),
        RegistryStore(engine, clock),
        LocalArtifactStore(tmp_path / "artifacts"),
        now=clock,
    )
    if state_backend == "redis":
        # Each test its own key prefix, so tests never share a stream.
        store = service.streams.state
        assert isinstance(store, RedisStateStore)
        store.prefix = prefix
    yield service
    if state_backend == "redis":
        client: Any = RedisStateStore(REDIS_URL).client
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    service.close()
    engine.dispose()
