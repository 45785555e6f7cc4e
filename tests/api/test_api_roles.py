"""The role matrix: each endpoint allowed from its role up, refused (403) below it."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api, churn_rows, labelled_rows

from vigil.security import ROLES

# (method, path, JSON body, the lowest role allowed)
MATRIX: list[tuple[str, str, Any, str]] = [
    ("GET", "/v1/algorithms", None, "viewer"),
    ("GET", "/v1/models", None, "viewer"),
    ("GET", "/v1/models/churn", None, "viewer"),
    ("GET", "/v1/models/churn/versions", None, "viewer"),
    ("GET", "/v1/models/churn/versions/2", None, "viewer"),
    ("GET", "/v1/models/churn/deployments", None, "viewer"),
    ("GET", "/v1/jobs", None, "viewer"),
    ("GET", "/v1/models/churn/performance", None, "viewer"),
    ("GET", "/v1/models/churn/drift", None, "viewer"),
    ("POST", "/v1/models/churn/predict", {"instances": churn_rows(2)}, "predictor"),
    (
        "POST",
        "/v1/models/churn/feedback",
        {"items": [{"prediction_id": "unknown", "actual": "yes"}]},
        "predictor",
    ),
    ("POST", "/v1/models/churn/deploy", {"version": 2}, "trainer"),
    ("POST", "/v1/models/churn/rollback", {"version": 2}, "trainer"),
    (
        "POST",
        "/v1/models/churn/train",
        {"data": {"rows": labelled_rows(60)}, "target": "churned"},
        "trainer",
    ),
    ("POST", "/v1/datasets", {"name": "tiny", "rows": [{"a": 1}]}, "trainer"),
    ("DELETE", "/v1/models/churn/versions/3", None, "trainer"),
    ("DELETE", "/v1/models/churn", None, "trainer"),
    ("POST", "/v1/keys", {"role": "viewer"}, "admin"),
    ("GET", "/v1/audit", None, "admin"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "lowest"),
    MATRIX,
    ids=[f"{m} {p} ({r})" for m, p, _, r in MATRIX],
)
def test_role_matrix(api: Api, method: str, path: str, body: Any, lowest: str) -> None:
    # Lowest role first: refused calls change nothing, and the first allowed one
    # must succeed on untouched state (higher roles may then find it changed).
    for role in ROLES:
        kwargs = {"json": body} if body is not None else {}
        response = api.request(method, path, role=role, **kwargs)
        if ROLES.index(role) < ROLES.index(lowest):
            assert response.status_code == 403, (role, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert lowest in response.json()["detail"]
        elif role == lowest:
            assert 200 <= response.status_code < 300, (role, response.text)
        else:
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)


def test_job_and_dataset_reads_need_viewer_and_cancel_needs_trainer(api: Api) -> None:
    dataset = api.request("POST", "/v1/datasets", json={"rows": [{"a": 1}, {"a": 2}]}).json()
    job = api.request(
        "POST", "/v1/models/churn/train", json={"data": {"dataset_id": dataset["id"]}}
    ).json()
    for role in ROLES:
        assert api.request("GET", f"/v1/jobs/{job['job_id']}", role=role).status_code == 200
        assert api.request("GET", f"/v1/datasets/{dataset['id']}", role=role).status_code == 200
    for role in ("viewer", "predictor"):
        refused = api.request("POST", f"/v1/jobs/{job['job_id']}/cancel", role=role)
        assert refused.status_code == 403
    cancelled = api.request("POST", f"/v1/jobs/{job['job_id']}/cancel", role="trainer")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_a_key_created_through_the_api_works_with_its_role(api: Api) -> None:
    created = api.request("POST", "/v1/keys", json={"role": "predictor"})
    assert created.status_code == 201
    document = created.json()
    assert document["role"] == "predictor" and document["tenant"] == "default"
    headers = {"Authorization": f"Bearer {document['key']}"}
    assert api.client.get("/v1/models", headers=headers).status_code == 200
    assert api.client.post("/v1/keys", json={"role": "admin"}, headers=headers).status_code == 403


def test_actions_are_recorded_with_the_key_as_actor(api: Api) -> None:
    api.request("POST", "/v1/models/churn/deploy", role="trainer", json={"version": 2})
    history = api.request("GET", "/v1/models/churn/deployments").json()["history"]
    trainer_key_id = api.keys[("default", "trainer")].split("_")[1]
    assert history[-1]["actor"] == f"key:{trainer_key_id}"
