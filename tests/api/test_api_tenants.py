"""Two tenants see nothing of each other: another tenant's resource is a 404, never a 403."""

from __future__ import annotations

import pytest
from api_support import Api, churn_rows, labelled_rows

# Tenant default owns model "churn"; tenant acme owns model "fraud".
FOREIGN_MODEL_CALLS = [
    ("GET", "/v1/models/churn", None),
    ("GET", "/v1/models/churn/versions", None),
    ("GET", "/v1/models/churn/versions/1", None),
    ("GET", "/v1/models/churn/deployments", None),
    ("POST", "/v1/models/churn/predict", {"instances": churn_rows(1)}),
    ("POST", "/v1/models/churn/deploy", {"version": 2}),
    ("POST", "/v1/models/churn/rollback", None),
    ("DELETE", "/v1/models/churn/versions/3", None),
    ("DELETE", "/v1/models/churn", None),
    ("GET", "/v1/models/churn/performance", None),
    ("GET", "/v1/models/churn/drift", None),
    ("POST", "/v1/models/churn/feedback", {"items": [{"prediction_id": "p", "actual": 1}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_MODEL_CALLS)
def test_another_tenants_model_is_not_found(api: Api, method: str, path: str, body: object) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = api.request(method, path, tenant="acme", role="admin", **kwargs)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    # And nothing changed for the owner.
    model = api.request("GET", "/v1/models/churn").json()
    assert model["production_version"] == 1 and model["latest_version"] == 3


def test_model_lists_are_per_tenant(api: Api) -> None:
    default = api.request("GET", "/v1/models", tenant="default", role="viewer").json()
    acme = api.request("GET", "/v1/models", tenant="acme", role="viewer").json()
    assert [m["name"] for m in default["models"]] == ["churn"]
    assert [m["name"] for m in acme["models"]] == ["fraud"]
    assert api.request("GET", "/v1/models/fraud", tenant="default").status_code == 404


def test_the_same_model_name_in_two_tenants_is_two_models(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/models/churn/train",
        tenant="acme",
        json={"data": {"rows": labelled_rows(100)}, "target": "churned"},
    )
    assert response.status_code == 202, response.text
    api.run_jobs()
    acme = api.request("GET", "/v1/models/churn", tenant="acme").json()
    assert acme["latest_version"] == 1 and acme["production_version"] == 1
    default = api.request("GET", "/v1/models/churn").json()
    assert default["latest_version"] == 3


def test_jobs_are_per_tenant(api: Api) -> None:
    job_id = api.request(
        "POST", "/v1/models/churn/train", json={"data": {"rows": labelled_rows(50)}}
    ).json()["job_id"]
    assert api.request("GET", f"/v1/jobs/{job_id}", tenant="acme").status_code == 404
    assert api.request("POST", f"/v1/jobs/{job_id}/cancel", tenant="acme").status_code == 404
    assert api.request("GET", "/v1/jobs", tenant="acme").json()["jobs"] == []
    assert api.request("GET", f"/v1/jobs/{job_id}").json()["status"] == "queued"


def test_datasets_are_per_tenant(api: Api) -> None:
    dataset_id = api.request(
        "POST", "/v1/datasets", json={"name": "mine", "rows": labelled_rows(50)}
    ).json()["id"]
    assert api.request("GET", f"/v1/datasets/{dataset_id}", tenant="acme").status_code == 404
    borrowed = api.request(
        "POST",
        "/v1/models/stolen/train",
        tenant="acme",
        json={"data": {"dataset_id": dataset_id}, "target": "churned"},
    )
    assert borrowed.status_code == 404, borrowed.text


def test_audit_logs_are_per_tenant(api: Api) -> None:
    api.request("POST", "/v1/models/churn/deploy", json={"version": 2})
    api.request("POST", "/v1/datasets", json={"name": "only-default", "rows": [{"a": 1}]})
    acme_events = api.request("GET", "/v1/audit", tenant="acme").json()["events"]
    assert all(event.get("tenant", "acme") == "acme" for event in acme_events)
    assert not any("only-default" in str(event) for event in acme_events)
    default_events = api.request("GET", "/v1/audit").json()["events"]
    assert any("only-default" in str(event) for event in default_events)


def test_a_tenant_admin_cannot_mint_keys_for_another_tenant(api: Api) -> None:
    response = api.request(
        "POST", "/v1/keys", tenant="acme", json={"role": "admin", "tenant": "default"}
    )
    assert response.status_code in (403, 404), response.text
