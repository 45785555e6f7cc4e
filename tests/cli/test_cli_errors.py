"""Bad input: a clear one-sentence error, the documented exit code, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHURN = EXAMPLES / "churn.csv"


def _registry_is_empty(cli: Any, vigil_home: Path) -> bool:
    models = cli("models", "list", "--json").json()["models"]
    artifacts = (
        list((vigil_home / "artifacts").rglob("*")) if (vigil_home / "artifacts").exists() else []
    )
    return models == [] and not [a for a in artifacts if a.is_file()]


def _assert_refused(result: Any, code: int, fragment: str) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert result.stdout == ""
    assert fragment in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_missing_file(cli: Any, vigil_home: Path, tmp_path: Path) -> None:
    result = cli("train", tmp_path / "nope.csv", "--name", "m", "--json")
    _assert_refused(result, 1, "does not exist")
    assert _registry_is_empty(cli, vigil_home)


def test_unknown_format(cli: Any, vigil_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    _assert_refused(cli("train", path, "--name", "m"), 1, "Unknown data format '.xlsx'")
    assert _registry_is_empty(cli, vigil_home)


def test_target_that_does_not_exist(cli: Any, vigil_home: Path) -> None:
    result = cli("train", CHURN, "--name", "m", "--target", "nope", "--json")
    _assert_refused(result, 1, "Target column 'nope' does not exist")
    assert _registry_is_empty(cli, vigil_home)


def test_classification_target_with_one_class(cli: Any, vigil_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(30), "y": ["a"] * 30}).to_csv(path, index=False)
    result = cli("train", path, "--name", "m", "--target", "y", "--task", "classification")
    _assert_refused(result, 1, "single class")
    assert _registry_is_empty(cli, vigil_home)


def test_fewer_rows_than_the_split_needs(cli: Any, vigil_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.5, 2.5, 3.5]}).to_csv(path, index=False)
    _assert_refused(cli("train", path, "--name", "m", "--target", "y"), 1, "Too few rows")
    assert _registry_is_empty(cli, vigil_home)


def test_entirely_empty_column(cli: Any, vigil_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    pd.DataFrame({"x": range(40), "blank": [None] * 40, "y": [0, 1] * 20}).to_csv(path, index=False)
    _assert_refused(
        cli("train", path, "--name", "m", "--target", "y"), 1, "'blank' is entirely empty"
    )
    assert _registry_is_empty(cli, vigil_home)


def test_unknown_parameter_is_bad_usage(cli: Any, vigil_home: Path) -> None:
    result = cli("train", CHURN, "--name", "m", "--target", "churned", "--param", "trees=5")
    _assert_refused(result, 2, "Unknown parameter 'trees' for random_forest")
    assert _registry_is_empty(cli, vigil_home)


def test_out_of_range_parameter_is_bad_usage(cli: Any, vigil_home: Path) -> None:
    result = cli("train", CHURN, "--name", "m", "--target", "churned", "--param", "n_estimators=0")
    _assert_refused(result, 2, "'n_estimators' of random_forest must be an integer in [1, 5000]")
    assert _registry_is_empty(cli, vigil_home)


def test_unknown_option_is_bad_usage(cli: Any) -> None:
    result = cli("train", CHURN, "--name", "m", "--colour", "blue")
    assert result.code == 2 and "--colour" in result.stderr


def test_predict_with_a_missing_feature_column(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    path = tmp_path / "rows.csv"
    pd.read_csv(CHURN).drop(columns=["churned", "plan"]).head(5).to_csv(path, index=False)
    _assert_refused(cli("predict", "churn", path, "--json"), 1, "Missing feature column 'plan'")


def test_predict_with_a_value_of_the_wrong_type(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    rows = pd.read_csv(CHURN).drop(columns=["churned"]).head(5)
    rows["tenure_months"] = rows["tenure_months"].astype(object)
    rows.loc[3, "tenure_months"] = "forever"
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    _assert_refused(
        cli("predict", "churn", path), 1, "Column 'tenure_months' must be a number, but row 3"
    )


def test_predict_ignores_extra_columns(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    path = tmp_path / "rows.csv"
    pd.read_csv(CHURN).head(4).assign(surprise=1).to_csv(path, index=False)
    result = cli("predict", "churn", path, "--json")
    assert result.code == 0 and len(result.json()["predictions"]) == 4


@pytest.mark.parametrize("args", [["models", "show", "ghost"], ["predict", "ghost", str(CHURN)]])
def test_unknown_model(cli: Any, args: list[str]) -> None:
    _assert_refused(cli(*args), 1, "ghost")


def test_tampered_artifact_is_refused_as_altered(cli: Any, vigil_home: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    [artifact] = list((vigil_home / "artifacts").rglob("*.vigil"))
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    result = cli("predict", "churn", EXAMPLES / "churn_new.csv", "--json")
    _assert_refused(result, 1, "altered")
