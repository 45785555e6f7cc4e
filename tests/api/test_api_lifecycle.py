"""Policies, retraining, alerts and the scheduler over HTTP."""

from __future__ import annotations

import pandas as pd
from api_support import CHURN, Api, json_rows


def test_policy_is_read_with_defaults_replaced_and_checked(api: Api) -> None:
    empty = api.request("GET", "/v1/models/churn/policy", role="viewer")
    assert empty.status_code == 200, empty.text
    assert empty.json()["policy"]["rollback"] == {"enabled": False, "metric_drop": 0.1}
    assert empty.json()["paused"] is False and empty.json()["next_run_at"] is None

    body = {
        "schedule": {"cron": "0 3 * * *"},
        "triggers": {"feedback_count": 500},
        "rollback": {"enabled": True},
        "canary": {"steps": [10, 50]},
    }
    refused = api.request("PUT", "/v1/models/churn/policy", role="predictor", json=body)
    assert refused.status_code == 403
    stored = api.request("PUT", "/v1/models/churn/policy", role="trainer", json=body)
    assert stored.status_code == 200, stored.text
    document = stored.json()
    assert document["policy"]["canary"]["steps"] == [10.0, 50.0, 100.0]
    assert document["next_run_at"].endswith("03:00:00+00:00")
    assert api.request("GET", "/v1/models/churn/policy").json()["policy"] == document["policy"]

    bad = api.request("PUT", "/v1/models/churn/policy", json={"rollback": {"metric_drop": -1}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["rollback", "metric_drop"]
    assert "between 0 and" in bad.json()["detail"]
    typo = api.request("PUT", "/v1/models/churn/policy", json={"trigers": {}})
    assert typo.status_code == 422 and "trigers" in typo.json()["detail"]
    cron = api.request("PUT", "/v1/models/churn/policy", json={"schedule": {"cron": "99 * *"}})
    assert cron.status_code == 422 and "crontab" in cron.json()["detail"]
    foreign = api.request("GET", "/v1/models/churn/policy", tenant="acme")
    assert foreign.status_code == 404


def test_pause_resume_and_scheduler_run(api: Api) -> None:
    paused = api.request("POST", "/v1/models/churn/policy/pause", role="trainer")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    resumed = api.request("POST", "/v1/models/churn/policy/resume", role="trainer")
    assert resumed.json()["paused"] is False
    assert api.request("POST", "/v1/scheduler/run", role="trainer").status_code == 403
    ran = api.request("POST", "/v1/scheduler/run")
    assert ran.status_code == 200, ran.text
    assert ran.json()["ran"] is True
    # The acme tenant's model is checked too, but not shown to the default tenant.
    assert [m["model"] for m in ran.json()["models"]] == ["churn"]


def test_retrain_runs_as_a_job_and_is_compared_on_the_same_data(api: Api) -> None:
    labelled = pd.read_csv(CHURN).head(120)
    answer = api.request(
        "POST",
        "/v1/models/churn/predict",
        role="predictor",
        json={"instances": json_rows(labelled.drop(columns=["churned"]))},
    ).json()
    items = [
        {"prediction_id": p["id"], "actual": actual}
        for p, actual in zip(answer["predictions"], labelled["churned"], strict=True)
    ]
    api.request("POST", "/v1/models/churn/feedback", role="predictor", json={"items": items})

    queued = api.request(
        "POST", "/v1/models/churn/retrain", role="trainer", json={"reason": "new labels"}
    )
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    assert queued.headers["Location"] == f"/v1/jobs/{job_id}"
    again = api.request("POST", "/v1/models/churn/retrain", role="trainer")
    assert again.json()["job_id"] == job_id  # one waiting retraining per model
    assert api.run_jobs() == 1
    job = api.request("GET", f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["champion"] == 1 and result["challenger"] == 4
    assert result["data"]["recent_evaluation_rows"] == 36  # 3 of every 10 labelled
    assert result["data"]["recent_train_rows"] == 84
    better = result["challenger_score"] > result["champion_score"] + result["margin"]
    assert result["promoted"] is better
    model = api.request("GET", "/v1/models/churn").json()
    assert model["production_version"] == (4 if better else 1)

    alerts = api.request("GET", "/v1/models/churn/alerts", role="viewer").json()["alerts"]
    assert alerts[0]["kind"] == ("promoted" if better else "retrained")
    acked = api.request(
        "POST", f"/v1/models/churn/alerts/{alerts[0]['id']}/acknowledge", role="trainer"
    )
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert not api.request("GET", "/v1/models/churn/alerts?status=open").json()["alerts"]


def test_retraining_another_tenants_or_a_missing_model_is_not_found(api: Api) -> None:
    foreign = api.request("POST", "/v1/models/fraud/retrain", role="trainer")
    assert foreign.status_code == 404
    missing = api.request("POST", "/v1/models/nope/retrain", role="trainer")
    assert missing.status_code == 404
