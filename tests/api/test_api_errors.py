"""Every error is application/problem+json with the status DESIGN.md names, and no internals."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api, churn_rows

from vigil.usecases.models import Models

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Asserts ``response`` is a problem document with ``status``; returns the document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(document)
    assert document["status"] == status
    assert document["request_id"] == response.headers["x-request-id"]
    return document


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer vk_nope_nope"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "not-even-a-scheme"},
    ],
)
def test_missing_or_invalid_key_is_401(api: Api, headers: dict[str, str]) -> None:
    response = api.client.get("/v1/models", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_key(api: Api) -> None:
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_unknown_route_is_a_404_problem(api: Api) -> None:
    document = assert_problem(api.client.get("/v1/nothing-here"), 404)
    assert "/v1/nothing-here" in document["detail"]


def test_wrong_method_is_a_405_problem_with_allow(api: Api) -> None:
    response = api.request("PUT", "/v1/models")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_allow_lists_every_method_the_path_has(api: Api) -> None:
    response = api.request("PATCH", "/v1/models/churn")
    document = assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET"
    assert document["detail"].endswith("allowed: DELETE, GET.")
    assert api.request("PUT", "/v1/keys").headers["allow"] == "GET, POST"


def test_unknown_model_is_a_404_problem(api: Api) -> None:
    document = assert_problem(api.request("GET", "/v1/models/nope"), 404)
    assert "nope" in document["detail"]
    assert document["type"] == "urn:vigil:problem:not-found"


def test_unknown_version_and_job_and_dataset_are_404(api: Api) -> None:
    assert_problem(api.request("GET", "/v1/models/churn/versions/99"), 404)
    assert_problem(api.request("GET", "/v1/jobs/no-such-job"), 404)
    assert_problem(api.request("GET", "/v1/datasets/no-such-dataset"), 404)


def test_instance_that_is_not_an_object_is_named_by_row(api: Api) -> None:
    instances = [*churn_rows(2), 42]
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": instances}
    )
    document = assert_problem(response, 422)
    assert document["errors"][0]["loc"] == ["body", "instances", 2]
    assert "instances[2]" in document["detail"]


def test_nested_value_in_an_instance_names_row_and_field(api: Api) -> None:
    rows = churn_rows(3)
    rows[1]["tenure_months"] = {"years": 2}
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows}
    )
    document = assert_problem(response, 422)
    assert document["errors"] == [
        {
            "loc": ["body", "instances", 1, "tenure_months"],
            "msg": "must be a string, number, boolean or null",
        }
    ]


def test_value_of_the_wrong_kind_names_row_and_column(api: Api) -> None:
    rows = churn_rows(4)
    rows[3]["tenure_months"] = "a long time"
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows}
    )
    document = assert_problem(response, 422)
    assert document["errors"][0]["loc"] == ["body", "instances", 3, "tenure_months"]
    assert "row 3" in document["detail"]


def test_missing_feature_column_is_422(api: Api) -> None:
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": [{"x": 1}]}
    )
    document = assert_problem(response, 422)
    assert "Missing feature column" in document["detail"]


def test_unknown_field_in_a_body_is_named(api: Api) -> None:
    response = api.request("POST", "/v1/models/churn/deploy", json={"verison": 2})
    document = assert_problem(response, 422)
    locs = [e["loc"] for e in document["errors"]]
    assert ["body", "verison"] in locs and ["body", "version"] in locs


def test_malformed_json_is_422(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/models/churn/predict",
        role="predictor",
        content=b'{"instances": [',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422)


def test_bad_query_parameter_is_422(api: Api) -> None:
    document = assert_problem(api.request("GET", "/v1/audit", params={"limit": 0}), 422)
    assert document["errors"][0]["loc"] == ["query", "limit"]


def test_train_without_a_data_source_is_422(api: Api) -> None:
    response = api.request("POST", "/v1/models/churn/train", json={"data": {}})
    assert_problem(response, 422)


def test_dataset_without_file_or_rows_is_422(api: Api) -> None:
    assert_problem(api.request("POST", "/v1/datasets", data={"name": "x"}), 422)
    assert_problem(api.request("POST", "/v1/datasets", json={"name": "x", "rows": []}), 422)
    unknown = api.request(
        "POST", "/v1/datasets", files={"file": ("data.xlsx", b"PK..")}, data={"name": "x"}
    )
    assert "xlsx" in assert_problem(unknown, 422)["detail"]


def test_unexpected_error_is_a_500_problem_without_internals(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Models, caller: object) -> None:
        raise RuntimeError("connection to postgres://admin:hunter2@db failed")

    monkeypatch.setattr(Models, "list_models", explode)
    response = api.request("GET", "/v1/models")
    document = assert_problem(response, 500)
    assert "hunter2" not in response.text and "postgres" not in response.text
    assert document["request_id"] in document["detail"]


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    echoed = api.client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert echoed.headers["x-request-id"] == "trace-42.a:b"
    generated = api.client.get("/health", headers={"X-Request-ID": "bad id\nforged"})
    assert generated.headers["x-request-id"] != "bad id\nforged"
    assert len(generated.headers["x-request-id"]) == 32
    assert api.client.get("/health").headers["x-request-id"] != generated.headers["x-request-id"]
