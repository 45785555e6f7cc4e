"""Models, versions, deployments, predictions and training through the REST API."""

from __future__ import annotations

import io

import pandas as pd
from api_support import CHURN, Api, churn_rows, labelled_rows


def test_models_list_shows_the_tenant_models_with_pointers(api: Api) -> None:
    response = api.request("GET", "/v1/models", role="viewer")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["name"] for m in models] == ["churn"]
    assert models[0]["production_version"] == 1 and models[0]["latest_version"] == 3


def test_model_and_versions_are_readable(api: Api) -> None:
    model = api.request("GET", "/v1/models/churn", role="viewer").json()
    assert model["task"] == "classification" and model["production_version"] == 1
    versions = api.request("GET", "/v1/models/churn/versions", role="viewer").json()
    assert versions["model"] == "churn"
    assert [v["version"] for v in versions["versions"]] == [1, 2, 3]
    one = api.request("GET", "/v1/models/churn/versions/2", role="viewer").json()
    assert one["version"] == 2 and one["algorithm"] == "random_forest"
    assert one["params"]["n_estimators"] == 20 and "accuracy" in one["metrics"]


def test_predict_answers_each_instance_in_order_with_id_and_version(api: Api) -> None:
    rows = churn_rows(5)
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "churn" and len(body["predictions"]) == 5
    first = body["predictions"][0]
    assert first["version"] == 1 and first["prediction"] in ("yes", "no")
    assert set(first["probabilities"]) == {"yes", "no"}
    assert "score" not in first  # only anomaly models add a score
    assert len({p["id"] for p in body["predictions"]}) == 5


def test_predict_pinned_version_answers_from_that_version(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/models/churn/predict",
        role="predictor",
        json={"instances": churn_rows(2), "version": 3},
    )
    assert {p["version"] for p in response.json()["predictions"]} == {3}


def test_deploy_then_rollback_moves_production_and_records_history(api: Api) -> None:
    deployed = api.request(
        "POST", "/v1/models/churn/deploy", role="trainer", json={"version": 3, "reason": "better"}
    )
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["production_version"] == 3
    predicted = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": churn_rows(1)}
    )
    assert predicted.json()["predictions"][0]["version"] == 3

    rolled = api.request("POST", "/v1/models/churn/rollback", role="trainer")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["production_version"] == 1

    history = api.request("GET", "/v1/models/churn/deployments", role="viewer").json()
    actions = [(e["action"], e["version"], e["previous_version"]) for e in history["history"]]
    assert actions == [("deploy", 1, None), ("deploy", 3, 1), ("rollback", 1, 3)]
    assert history["history"][1]["reason"] == "better"
    assert history["history"][1]["actor"].startswith("key:")


def test_rollback_to_a_named_version(api: Api) -> None:
    api.request("POST", "/v1/models/churn/deploy", json={"version": 3})
    rolled = api.request("POST", "/v1/models/churn/rollback", json={"version": 2})
    assert rolled.json()["production_version"] == 2


def test_canary_and_shadow_deployments(api: Api) -> None:
    canary = api.request(
        "POST",
        "/v1/models/churn/deploy",
        json={"version": 2, "strategy": "canary", "weight": 10},
    )
    assert canary.status_code == 200, canary.text
    assert canary.json()["canary_version"] == 2 and canary.json()["canary_weight"] == 10
    shadow = api.request(
        "POST", "/v1/models/churn/deploy", json={"version": 3, "strategy": "shadow"}
    )
    assert shadow.json()["shadow_versions"] == [3]


def test_deleting_the_production_version_is_a_conflict(api: Api) -> None:
    response = api.request("DELETE", "/v1/models/churn/versions/1", role="trainer")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "production" in response.json()["detail"]


def test_delete_version_then_model(api: Api) -> None:
    deleted = api.request("DELETE", "/v1/models/churn/versions/2", role="trainer")
    assert deleted.json() == {"model": "churn", "deleted_versions": [2]}
    assert api.request("GET", "/v1/models/churn/versions/2").status_code == 404
    gone = api.request("DELETE", "/v1/models/churn", role="trainer")
    assert gone.json() == {"model": "churn", "deleted_versions": [1, 3]}
    assert api.request("GET", "/v1/models/churn").status_code == 404


def test_algorithms_lists_the_catalogue(api: Api) -> None:
    response = api.request("GET", "/v1/algorithms", role="viewer")
    names = {a["name"] for a in response.json()["algorithms"]}
    assert {"random_forest", "logistic_regression", "isolation_forest"} <= names


def test_train_from_inline_rows_queues_a_job_that_adds_a_version(api: Api) -> None:
    rows = labelled_rows(200)
    response = api.request(
        "POST",
        "/v1/models/churn/train",
        role="trainer",
        json={
            "data": {"rows": rows},
            "target": "churned",
            "algorithm": "random_forest",
            "params": {"n_estimators": 10},
            "deploy": "always",
        },
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["location"] == f"/v1/jobs/{accepted['job_id']}"
    assert api.run_jobs() == 1
    job = api.request("GET", f"/v1/jobs/{accepted['job_id']}", role="viewer").json()
    assert job["status"] == "succeeded", job
    assert job["kind"] == "train" and job["progress"] == 1.0
    assert job["result"]["model"] == "churn" and job["result"]["version"] == 4
    assert api.request("GET", "/v1/models/churn").json()["production_version"] == 4
    listed = api.request("GET", "/v1/jobs", role="viewer").json()["jobs"]
    assert [j["id"] for j in listed] == [accepted["job_id"]]


def test_dataset_upload_then_train_from_dataset_id(api: Api) -> None:
    upload = api.request(
        "POST",
        "/v1/datasets",
        role="trainer",
        files={"file": ("churn.csv", CHURN.read_bytes(), "text/csv")},
        data={"name": "churn history"},
    )
    assert upload.status_code == 201, upload.text
    dataset = upload.json()
    assert dataset["name"] == "churn history" and dataset["rows"] == 1200
    assert len(dataset["fingerprint"]) == 64
    fetched = api.request("GET", f"/v1/datasets/{dataset['id']}", role="viewer")
    assert fetched.json()["id"] == dataset["id"]
    response = api.request(
        "POST",
        "/v1/models/newmodel/train",
        role="trainer",
        json={"data": {"dataset_id": dataset["id"]}, "target": "churned"},
    )
    assert response.status_code == 202, response.text
    api.run_jobs()
    job = api.request("GET", f"/v1/jobs/{response.json()['job_id']}").json()
    assert job["status"] == "succeeded", job
    assert api.request("GET", "/v1/models/newmodel").json()["production_version"] == 1


def test_dataset_from_inline_rows(api: Api) -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": None, "b": "z"}]
    response = api.request("POST", "/v1/datasets", json={"name": "tiny", "rows": rows})
    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 3


def test_dataset_upload_in_parquet(api: Api) -> None:
    buffer = io.BytesIO()
    pd.read_csv(CHURN).head(50).to_parquet(buffer)
    response = api.request(
        "POST", "/v1/datasets", files={"file": ("part.parquet", buffer.getvalue())}
    )
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "parquet" and response.json()["rows"] == 50


def test_cancel_a_queued_job(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/models/churn/train",
        json={"data": {"rows": churn_rows(20)}, "task": "clustering"},
    )
    job_id = response.json()["job_id"]
    cancelled = api.request("POST", f"/v1/jobs/{job_id}/cancel", role="trainer")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = api.request("POST", f"/v1/jobs/{job_id}/cancel", role="trainer")
    assert again.status_code == 409


def test_a_failed_job_reports_its_error(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/models/churn/train",
        json={"data": {"rows": churn_rows(20)}, "target": "no_such_column"},
    )
    if response.status_code == 422:  # checked up front: fine too
        assert "no_such_column" in response.json()["detail"]
        return
    api.run_jobs()
    job = api.request("GET", f"/v1/jobs/{response.json()['job_id']}").json()
    assert job["status"] == "failed" and "no_such_column" in job["error"]
