"""Feedback joined to predictions, live performance per version, and input drift."""

from __future__ import annotations

import pandas as pd
from api_support import CHURN, Api, json_rows


def test_feedback_then_performance_shows_live_metrics(api: Api) -> None:
    labelled = pd.read_csv(CHURN).head(40)
    rows = json_rows(labelled.drop(columns=["churned"]))
    answer = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows}
    ).json()
    items = [
        {"prediction_id": p["id"], "actual": actual}
        for p, actual in zip(answer["predictions"], labelled["churned"], strict=True)
    ]
    items.append({"prediction_id": "no-such-prediction", "actual": "yes"})
    joined = api.request(
        "POST", "/v1/models/churn/feedback", role="predictor", json={"items": items}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json() == {"accepted": 40, "unchanged": 0, "unknown": ["no-such-prediction"]}
    again = api.request(
        "POST", "/v1/models/churn/feedback", role="predictor", json={"items": items[:5]}
    )
    assert again.json()["unchanged"] == 5

    performance = api.request("GET", "/v1/models/churn/performance", role="viewer")
    assert performance.status_code == 200, performance.text
    document = performance.json()
    assert document["model"] == "churn" and document["production_version"] == 1
    assert set(document["windows"]) >= {"last_hour", "since_deploy"}
    assert "1" in document["windows"]["last_hour"]["versions"]


def test_feedback_needs_predictor_and_names_bad_items(api: Api) -> None:
    body = {"items": [{"prediction_id": "x", "actual": 1}]}
    refused = api.request("POST", "/v1/models/churn/feedback", role="viewer", json=body)
    assert refused.status_code == 403
    invalid = api.request(
        "POST",
        "/v1/models/churn/feedback",
        role="predictor",
        json={"items": [{"prediction_id": "x", "actual": 1}, {"actual": 2}]},
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "items", 1, "prediction_id"]
    foreign = api.request("POST", "/v1/models/churn/feedback", tenant="acme", json=body)
    assert foreign.status_code == 404


def test_drift_compares_production_inputs_with_training(api: Api) -> None:
    rows = json_rows(pd.read_csv(CHURN).drop(columns=["churned"]).head(300))
    api.request("POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows})
    response = api.request("GET", "/v1/models/churn/drift", role="viewer")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["model"] == "churn" and document["version"] == 1
    assert document["drifted"] is False  # the same distribution it was trained on
    assert {"plan", "tenure_months"} <= set(document["features"])
    assert api.request("GET", "/v1/models/churn/drift", tenant="acme").status_code == 404
