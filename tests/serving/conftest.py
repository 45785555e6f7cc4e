"""Fixtures of the serving tests: a service with a small trained anomaly model, per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_support import ADMIN, MODEL, readings

from vigil.config import Settings
from vigil.data.loading import Dataset
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec


@pytest.fixture(scope="session")
def trained_serving_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a VIGIL_HOME (built once) holding an isolation forest ``detector``; copy it."""
    home = tmp_path_factory.mktemp("serving-home")
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    spec = TrainSpec(task="anomaly", algorithm="isolation_forest", params={"n_estimators": 20})
    service.training.train(
        ADMIN, MODEL, Dataset(readings(600), "readings", "csv", "readings"), spec
    )
    service.store.engine.dispose()
    return home


@pytest.fixture
def service(trained_serving_home: Path, tmp_path: Path) -> Iterator[VigilService]:
    """Returns a service over this test's copy of the trained home; closed afterwards."""
    home = tmp_path / "home"
    shutil.copytree(trained_serving_home, home)
    running = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    yield running
    running.close()
    running.store.engine.dispose()
