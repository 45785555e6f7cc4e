"""Helpers of the API tests: sample rows, the in-process ``Api``, clocks.

A real ``vigil serve`` is started with ``process_support.start_vigil_serve``.

Fixtures live in ``conftest.py``; what tests import by name lives here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd

from vigil.api.app import create_app
from vigil.api.settings import ApiSettings
from vigil.config import Settings
from vigil.security import ROLES
from vigil.service import VigilService

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHURN = EXAMPLES / "churn.csv"
CHURN_NEW = EXAMPLES / "churn_new.csv"
TENANTS = ("default", "acme")
# Every variable that would point a test's server somewhere else or change its limits.
VIGIL_ENV_NAMES = (
    "VIGIL_DATABASE_URL",
    "VIGIL_ARTIFACT_URI",
    "VIGIL_SECRET_KEY",
    "VIGIL_ADMIN_KEY",
    "VIGIL_MAX_BODY_BYTES",
    "VIGIL_MAX_INSTANCES",
    "VIGIL_RATE_LIMIT",
    "VIGIL_RATE_BURST",
    "VIGIL_METRICS_REQUIRE_KEY",
    "VIGIL_SCHEDULER",
    "VIGIL_SCHEDULER_INTERVAL",
)
# Replicas (worker processes) follow a deployment change within two seconds.
REPLICA_FOLLOW_SECONDS = 5.0


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Returns the rows of ``frame`` as JSON-ready objects (missing values as null)."""
    rows: list[dict[str, Any]] = (
        frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    )
    return rows


def churn_rows(count: int | None = None) -> list[dict[str, Any]]:
    """Returns rows of the unlabelled churn file as JSON-ready objects."""
    return json_rows(pd.read_csv(CHURN_NEW).head(count))


def labelled_rows(count: int) -> list[dict[str, Any]]:
    """Returns the first ``count`` labelled churn rows as JSON-ready objects."""
    return json_rows(pd.read_csv(CHURN).head(count))


class ManualClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """Returns the current reading."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Moves the clock forward."""
        self.now += seconds


@dataclass
class Api:
    """An in-process app: its client, service, rate-limit clock and a key per tenant and role."""

    client: TestClient
    service: VigilService
    clock: ManualClock
    keys: dict[tuple[str, str], str] = field(default_factory=dict)

    def auth(self, role: str = "admin", tenant: str = "default") -> dict[str, str]:
        """Returns the Authorization header of the key with ``role`` in ``tenant``."""
        return {"Authorization": f"Bearer {self.keys[(tenant, role)]}"}

    def request(
        self, method: str, path: str, *, role: str = "admin", tenant: str = "default", **kw: Any
    ) -> httpx.Response:
        """Sends a request with the key of ``role`` in ``tenant``."""
        headers = {**self.auth(role, tenant), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def run_jobs(self) -> int:
        """Runs every queued job to its end in this thread; returns how many ran."""
        return self.service.jobs.run_pending_jobs()


def open_api(home: Path, settings: ApiSettings) -> Iterator[Api]:
    """Yields an in-process Api over ``home`` with keys for every role of both tenants.

    The keys are created through ``POST /v1/keys`` with the admin key the app
    wrote at its first start, as an operator would.
    """
    from fastapi.testclient import TestClient

    # Only ``home`` counts: VIGIL_* variables of the test run must not leak in.
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    clock = ManualClock()
    # Jobs run when a test calls Api.run_jobs, in its own thread, and policies when it
    # calls the scheduler: no background timing.
    app = create_app(service, replace(settings, job_threads=0, scheduler=False), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, service, clock)
        admin = (home / "admin.key").read_text().strip()
        api.keys[("default", "admin")] = admin
        for tenant in TENANTS:
            for role in ROLES:
                if (tenant, role) in api.keys:
                    continue
                # Setup must not spend the admin's rate-limit tokens a test may count.
                clock.advance(3600)
                created = client.post(
                    "/v1/keys",
                    json={"role": role, "tenant": tenant},
                    headers={"Authorization": f"Bearer {admin}"},
                )
                assert created.status_code == 201, created.text
                api.keys[(tenant, role)] = created.json()["key"]
        clock.advance(3600)
        yield api
    service.store.engine.dispose()
