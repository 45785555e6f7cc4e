"""The alert routes on a bare app whose service stand-in answers from a real alert store.

The service methods are the lead's; this checks the router alone: roles, query
validation, the response shape and problem answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_support import StepClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.api.problems import install_problem_handlers
from vigil.api.ratelimit import RateLimiter
from vigil.api.routes.alerts import router
from vigil.errors import NotFound, Unauthorized
from vigil.monitoring.alerts import AlertStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.security import Caller

KEYS = {
    "viewer-key": Caller(tenant="acme", actor="key:viewer", role="viewer", key_id="v"),
    "trainer-key": Caller(tenant="acme", actor="key:trainer", role="trainer", key_id="t"),
}


class _Access:
    """Stands in for the access use case: the two keys above."""

    def authenticate(self, key: str) -> Caller:
        if key not in KEYS:
            raise Unauthorized("Unknown key.")
        return KEYS[key]


class _Alerts:
    """Stands in for the alerts use case over a real AlertStore: the two methods routed."""

    def __init__(self, alerts: AlertStore) -> None:
        self.alerts = alerts

    def list_alerts(
        self, caller: Caller, name: str, *, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        if name != "churn":
            raise NotFound(f"Model {name} does not exist.")
        found = self.alerts.list(caller.tenant, name, status=status, limit=limit)
        return [a.to_json() for a in found]

    def acknowledge_alert(self, caller: Caller, name: str, alert_id: str) -> dict[str, Any]:
        return self.alerts.acknowledge(caller.tenant, name, alert_id, caller.actor).to_json()


class _Service:
    """Stands in for VigilService: what the alert routes reach (access and alerts)."""

    def __init__(self, alerts: AlertStore) -> None:
        self.access = _Access()
        self.alerts = _Alerts(alerts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(engine)
    yield AlertStore(engine, now=StepClock())
    engine.dispose()


@pytest.fixture
def client(store: AlertStore) -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.service = _Service(store)
    app.state.rate_limiter = RateLimiter(rate=0, burst=1)
    with TestClient(app) as test_client:
        yield test_client


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _raise(store: AlertStore, key: str) -> str:
    alert, _ = store.raise_alert(
        "acme", "churn", kind="drift", severity="warning", message="Drift.", dedup_key=key
    )
    return alert.id


def test_a_viewer_lists_alerts_newest_first_filtered_by_status(
    client: TestClient, store: AlertStore
) -> None:
    older, newer = _raise(store, "a"), _raise(store, "b")
    store.acknowledge("acme", "churn", older, "key:ops")

    everything = client.get("/v1/models/churn/alerts", headers=_as("viewer-key"))
    still_open = client.get(
        "/v1/models/churn/alerts", params={"status": "open"}, headers=_as("viewer-key")
    )
    one = client.get("/v1/models/churn/alerts", params={"limit": 1}, headers=_as("viewer-key"))

    assert everything.status_code == 200
    body = everything.json()
    assert body["model"] == "churn"
    assert [a["id"] for a in body["alerts"]] == [newer, older]
    assert body["alerts"][1]["acknowledged_by"] == "key:ops"
    assert body["alerts"][0]["created_at"].endswith("+00:00")
    assert [a["id"] for a in still_open.json()["alerts"]] == [newer]
    assert [a["id"] for a in one.json()["alerts"]] == [newer]


@pytest.mark.parametrize("params", [{"status": "closed"}, {"limit": 0}, {"limit": 1001}])
def test_bad_query_values_are_a_422_problem(client: TestClient, params: dict[str, Any]) -> None:
    answer = client.get("/v1/models/churn/alerts", params=params, headers=_as("viewer-key"))

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_acknowledging_needs_the_trainer_role(client: TestClient, store: AlertStore) -> None:
    alert_id = _raise(store, "a")
    path = f"/v1/models/churn/alerts/{alert_id}/acknowledge"

    refused = client.post(path, headers=_as("viewer-key"))
    accepted = client.post(path, headers=_as("trainer-key"))
    again = client.post(path, headers=_as("trainer-key"))

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "acknowledged"
    assert accepted.json()["acknowledged_by"] == "key:trainer"
    assert again.json() == accepted.json()


def test_unknown_alerts_models_and_keys_are_problems(client: TestClient) -> None:
    missing = client.post("/v1/models/churn/alerts/nope/acknowledge", headers=_as("trainer-key"))
    no_model = client.get("/v1/models/fraud/alerts", headers=_as("viewer-key"))
    no_key = client.get("/v1/models/churn/alerts")

    assert missing.status_code == 404
    assert no_model.status_code == 404
    assert no_key.status_code == 401
