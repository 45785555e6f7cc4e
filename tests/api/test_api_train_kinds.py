"""Training over REST with one request contract: log, metric and request models, and refusals.

The three models are trained once per module through ``POST …/train`` on
simulated JSON events; each test reads or predicts with them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import CHURN, Api, labelled_rows, open_api
from kind_models import KINDS, simulated_rows, train_kind_models, unlabelled

from vigil.api.settings import ApiSettings
from vigil.cli.main import main as vigil_main


@dataclass
class KindModels:
    """An in-process API and the finished training job of each kind's model."""

    api: Api
    jobs: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def kinds(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindModels]:
    """Returns one in-process API whose tenant has a model of each kind trained over REST."""
    home = tmp_path_factory.mktemp("kinds") / "home"
    shutil.copytree(trained_home, home)
    for api in open_api(home, ApiSettings()):
        yield KindModels(api, train_kind_models(api))


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_of_each_feature_kind_trains_over_rest(kinds: KindModels, kind: str) -> None:
    job = kinds.jobs[kind]
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert result["model"] == kind and result["version"] == 1 and result["task"] == "anomaly"
    assert result["features"]["kind"] == kind
    assert {"precision", "recall", "roc_auc"} <= set(result["metrics"])


@pytest.mark.parametrize("kind", KINDS)
def test_versions_of_each_feature_kind_are_readable(kinds: KindModels, kind: str) -> None:
    listed = kinds.api.request("GET", f"/v1/models/{kind}/versions", role="viewer")
    assert listed.status_code == 200, listed.text
    assert [v["version"] for v in listed.json()["versions"]] == [1]
    one = kinds.api.request("GET", f"/v1/models/{kind}/versions/1", role="viewer")
    assert one.status_code == 200, one.text
    features = one.json()["features"]
    assert features["kind"] == kind and isinstance(features["options"], dict)
    tabular = kinds.api.request("GET", "/v1/models/churn/versions/1", role="viewer").json()
    assert {"name", "kind", "dtype"} <= set(tabular["features"][0])


@pytest.mark.parametrize("kind", KINDS)
def test_each_feature_kind_predicts_over_rest(kinds: KindModels, kind: str) -> None:
    events = unlabelled(simulated_rows(kind, 40, seed=2))
    response = kinds.api.request(
        "POST", f"/v1/models/{kind}/predict", role="predictor", json={"instances": events}
    )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(events)
    assert all(0.0 <= p["score"] <= 1.0 and isinstance(p["is_anomaly"], bool) for p in predictions)
    assert {p["version"] for p in predictions} == {1}


def test_exclude_leaves_a_column_out_of_a_rest_trained_model(api: Api) -> None:
    body = {"data": {"rows": labelled_rows(300)}, "target": "churned", "exclude": ["region"]}
    queued = api.request("POST", "/v1/models/lean/train", role="trainer", json=body)
    assert queued.status_code == 202, queued.text
    api.run_jobs()
    job = api.request("GET", f"/v1/jobs/{queued.json()['job_id']}").json()
    assert job["status"] == "succeeded", job["error"]
    version = api.request("GET", "/v1/models/lean/versions/1").json()
    columns = {column["name"] for column in version["features"]}
    assert "region" not in columns and "plan" in columns
    assert version["train_spec"]["exclude"] == ["region"]


def test_cli_exclude_is_the_rest_exclude(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    args = [
        "train",
        str(CHURN),
        "--name",
        "lean",
        "--target",
        "churned",
        "--exclude",
        "region,plan",
    ]
    with pytest.raises(SystemExit) as exited:
        vigil_main([*args, "--param", "n_estimators=10", "--json"])
    assert exited.value.code == 0, capsys.readouterr().err
    version = api.request("GET", "/v1/models/lean/versions/1").json()
    assert {"region", "plan"}.isdisjoint(column["name"] for column in version["features"])
    assert version["train_spec"]["exclude"] == ["region", "plan"]


def _cli_error(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Returns the exit code and the stderr sentence of ``vigil ARGS`` run in-process."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        vigil_main(list(args))
    return int(exited.value.code or 0), capsys.readouterr().err.strip()


# (vigil train flags, the same request's REST fields, where the error is)
REFUSED = [
    (
        ["--features", "metrics", "--session-key", "blk"],
        {"features": "metrics", "feature_options": {"session_key": "blk"}},
        ["body", "feature_options", "session_key"],
    ),
    (
        ["--session-field", "request_id"],
        {"feature_options": {"session_field": "request_id"}},
        ["body", "feature_options", "session_field"],
    ),
    (
        ["--features", "logs", "--log-format", "syslog"],
        {"features": "logs", "feature_options": {"log_format": "syslog"}},
        ["body", "feature_options"],
    ),
    (
        ["--features", "logs", "--window", "soon"],
        {"features": "logs", "feature_options": {"window": "soon"}},
        ["body", "feature_options"],
    ),
    (["--task", "forecast"], {"task": "forecast"}, ["body", "horizon"]),
    (["--test-size", "1.5"], {"test_size": 1.5}, ["body", "test_size"]),
]


@pytest.mark.parametrize(("flags", "fields", "loc"), REFUSED)
def test_a_bad_request_is_refused_alike_by_cli_and_rest(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    fields: dict[str, Any],
    loc: list[str],
) -> None:
    body = {"data": {"rows": labelled_rows(20)}, **fields}
    response = api.request("POST", "/v1/models/bad/train", role="trainer", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["loc"] == loc
    code, stderr = _cli_error(
        capsys, "train", str(tmp_path / "unread.csv"), "--name", "bad", *flags
    )
    assert code == 2
    assert stderr == f"error: {problem['detail']}"


def test_planned_features_are_refused_with_a_clear_message(api: Api) -> None:
    data = {"rows": labelled_rows(20)}
    planned = api.request(
        "POST", "/v1/models/f/train", role="trainer", json={"data": data, "task": "recommendation"}
    )
    assert planned.status_code == 422
    assert "'recommendation' is not available yet" in planned.json()["detail"]
    search = api.request(
        "POST", "/v1/models/f/train", role="trainer", json={"data": data, "search": {"trials": 5}}
    )
    assert search.status_code == 422
    assert search.json()["detail"].startswith("search is not available yet")
    assert search.json()["errors"][0]["loc"] == ["body", "search"]


def test_the_openapi_document_describes_the_train_request(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/models/{name}/train"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TrainRequest"}
    schema = document["components"]["schemas"]["TrainRequest"]
    kinds = [s for s in schema["properties"]["features"]["anyOf"] if "enum" in s]
    assert kinds[0]["enum"] == ["tabular", "logs", "metrics", "requests"]
    assert {"feature_options", "exclude", "params", "deploy", "data"} <= set(schema["properties"])
    assert "holdout_rows" not in schema["properties"]
    version = document["components"]["schemas"]["VersionPublic"]["properties"]["features"]
    assert len(version["anyOf"]) == 2
