"""Fixtures: the REST API in-process (TestClient) and as a real ``vigil serve`` process.

Training is the slow part, so one VIGIL_HOME with trained models is built per
test session and copied for each test: ``churn`` (three versions, v1 in
production) in tenant ``default`` and ``fraud`` in tenant ``acme``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import VIGIL_ENV_NAMES, Api, open_api

from process_support import Server, vigil_serve
from vigil.api.settings import ApiSettings
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def pytest_configure(config: pytest.Config) -> None:
    """Silences Starlette's advice to install httpx2: the installed httpx works the same."""
    config.addinivalue_line("filterwarnings", "ignore:.*install `httpx2`")


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a VIGIL_HOME (built once per session) holding the trained models; copy it."""
    home = tmp_path_factory.mktemp("trained-home")
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    churn = load_dataset(EXAMPLES / "churn.csv")
    default = Caller(tenant="default", actor="test:setup", role="admin")
    for params in ({"n_estimators": 30}, {"n_estimators": 20}, {"max_depth": 4}):
        spec = TrainSpec(target="churned", algorithm="random_forest", params=params)
        service.training.train(default, "churn", churn, spec)
    acme = Caller(tenant="acme", actor="test:setup", role="admin")
    spec = TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 10})
    service.training.train(acme, "fraud", churn, spec)
    service.store.engine.dispose()
    return home


@pytest.fixture
def vigil_home(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Returns this test's own copy of the trained VIGIL_HOME, set in the environment."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    monkeypatch.setenv("VIGIL_HOME", str(home))
    for name in VIGIL_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def api_settings() -> ApiSettings:
    """Returns the API limits of a test (the defaults; a test parametrises to change them)."""
    return ApiSettings()


@pytest.fixture
def api(vigil_home: Path, api_settings: ApiSettings) -> Iterator[Api]:
    """Returns the in-process API over a copy of the trained home."""
    yield from open_api(vigil_home, api_settings)


@pytest.fixture(scope="module")
def server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Returns a real ``vigil serve --workers 2`` on a free port over a copy of the trained home.

    Start-up is awaited by reading the server's log until the app reports it
    (bounded by a deadline), never by sleeping.
    """
    home = tmp_path_factory.mktemp("server") / "home"
    shutil.copytree(trained_home, home)
    settings = {"VIGIL_MAX_BODY_BYTES": str(1024 * 1024), "VIGIL_LOG_LEVEL": "INFO"}
    with vigil_serve(home, settings, args=["--workers", "2"], json_summary=True) as running:
        assert httpx.get(f"{running.url}/health", timeout=30).status_code == 200
        yield running
