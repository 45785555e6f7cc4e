"""The command line end to end: train, predict, evaluate, versions, deploy, rollback, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHURN = EXAMPLES / "churn.csv"
CHURN_NEW = EXAMPLES / "churn_new.csv"


def test_train_json_prints_model_version_task_algorithm_and_metrics(cli: Any) -> None:
    result = cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["model"] == "churn"
    assert document["version"] == 1
    assert document["task"] == "classification"
    assert document["algorithm"] == "random_forest"
    assert 0.6 < document["metrics"]["accuracy"] <= 1.0
    assert document["deployed"] is True  # the first version becomes production


def test_predict_json_answers_each_row_in_order(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    result = cli("predict", "churn", CHURN_NEW, "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    rows = pd.read_csv(CHURN_NEW)
    assert document["model"] == "churn"
    assert len(document["predictions"]) == len(rows)
    first = document["predictions"][0]
    assert first["version"] == 1 and first["prediction"] in ("yes", "no")
    assert set(first["probabilities"]) == {"no", "yes"}
    assert len({p["id"] for p in document["predictions"]}) == len(rows)


def test_predict_writes_an_output_file(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    out = tmp_path / "predictions.parquet"
    result = cli("predict", "churn", CHURN_NEW, "--output", out)
    assert result.code == 0, result.stderr
    written = pd.read_parquet(out)
    assert len(written) == 20 and {"id", "version", "prediction"} <= set(written.columns)


def test_later_versions_are_not_production_until_deployed(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    second = cli(
        "train",
        CHURN,
        "--name",
        "churn",
        "--target",
        "churned",
        "--algorithm",
        "logistic_regression",
        "--json",
    ).json()
    assert second["version"] == 2 and second["deployed"] is False
    assert cli("models", "show", "churn", "--json").json()["production_version"] == 1
    assert cli("predict", "churn", CHURN_NEW, "--json").json()["predictions"][0]["version"] == 1
    pinned = cli("predict", "churn", CHURN_NEW, "--version", "2", "--json").json()
    assert pinned["predictions"][0]["version"] == 2

    deployed = cli("models", "deploy", "churn", "2", "--json")
    assert deployed.code == 0 and deployed.json()["production_version"] == 2
    third = cli("train", CHURN, "--name", "churn", "--target", "churned", "--deploy", "--json")
    assert third.json()["deployed"] is True
    assert cli("models", "show", "churn", "--json").json()["production_version"] == 3


def test_rollback_returns_to_previous_production_and_records_history(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--deploy", "--json")
    rolled = cli("models", "rollback", "churn", "--json")
    assert rolled.code == 0, rolled.stderr
    assert rolled.json()["production_version"] == 1
    forward = cli("models", "rollback", "churn", "--to", "2", "--json")
    assert forward.json()["production_version"] == 2
    history = cli("models", "show", "churn", "--json").json()["history"]
    assert [e["action"] for e in history] == ["deploy", "deploy", "rollback", "rollback"]
    assert all(e["actor"].startswith("cli:") for e in history)


def test_deleting_the_production_version_is_refused(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    refused = cli("models", "delete", "churn", "--version", "1")
    assert refused.code == 1
    assert "production" in refused.stderr
    assert cli("models", "delete", "churn", "--version", "2", "--json").json() == {
        "model": "churn",
        "deleted_versions": [2],
    }
    versions = cli("models", "versions", "churn", "--json").json()["versions"]
    assert [v["version"] for v in versions] == [1]


def test_delete_model_removes_versions_and_artifacts(cli: Any, vigil_home: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    assert list((vigil_home / "artifacts").rglob("*.vigil"))
    assert cli("models", "delete", "churn", "--json").code == 0
    assert cli("models", "list", "--json").json() == {"models": []}
    assert not list((vigil_home / "artifacts").rglob("*.vigil"))
    missing = cli("models", "show", "churn")
    assert missing.code == 1 and "churn" in missing.stderr


def test_evaluate_json_scores_a_version(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    result = cli("evaluate", "churn", CHURN, "--target", "churned", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["model"] == "churn" and document["version"] == 1
    assert 0.6 < document["metrics"]["accuracy"] <= 1.0


def test_version_records_fingerprint_artifact_and_libraries(cli: Any) -> None:
    import hashlib

    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    version = cli("models", "versions", "churn", "--json").json()["versions"][0]
    assert version["data_fingerprint"] == hashlib.sha256(CHURN.read_bytes()).hexdigest()
    assert len(version["artifact_sha256"]) == 64
    assert {"python", "scikit-learn", "numpy", "vigil"} <= set(version["library_versions"])
    assert version["created_by"].startswith("cli:")
    assert [f["name"] for f in version["features"]][:2] == ["signup_at", "plan"]


def test_best_version_by_metric(cli: Any) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    cli(
        "train",
        CHURN,
        "--name",
        "churn",
        "--target",
        "churned",
        "--algorithm",
        "logistic_regression",
        "--json",
    )
    versions = cli("models", "versions", "churn", "--json").json()["versions"]
    expected = max(versions, key=lambda v: v["metrics"]["f1"])["version"]
    assert cli("models", "best", "churn", "--metric", "f1", "--json").json()["version"] == expected


def test_algorithms_json_lists_schemas(cli: Any) -> None:
    document = cli("algorithms", "--json").json()
    names = {a["name"] for a in document["algorithms"]}
    assert {"random_forest", "scratch_tree", "isolation_forest", "dbscan"} <= names
    forest = next(a for a in document["algorithms"] if a["name"] == "random_forest")
    n_estimators = next(p for p in forest["params"] if p["name"] == "n_estimators")
    assert n_estimators == {
        "name": "n_estimators",
        "type": "int",
        "default": 100,
        "minimum": 1,
        "maximum": 5000,
        "help": "number of trees",
    }


def test_compare_trains_each_algorithm_on_the_same_split(cli: Any) -> None:
    result = cli(
        "compare",
        CHURN,
        "--target",
        "churned",
        "--algorithms",
        "random_forest,logistic_regression",
        "--json",
    )
    assert result.code == 0, result.stderr
    rows = result.json()["comparison"]
    assert [r["algorithm"] for r in rows] == ["random_forest", "logistic_regression"]
    assert all(r["fit_seconds"] >= 0 and "accuracy" in r["metrics"] for r in rows)
    assert cli("models", "list", "--json").json() == {"models": []}


@pytest.mark.parametrize("command", ["list", "show churn", "versions churn"])
def test_people_output_is_not_json(cli: Any, command: str) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    result = cli("models", *command.split())
    assert result.code == 0
    assert not result.stdout.lstrip().startswith("{")
