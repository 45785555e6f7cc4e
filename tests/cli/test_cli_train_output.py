"""``vigil train`` says which columns it left out of the features, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn.csv"
TRAIN_CHURN = ("train", CHURN, "--name", "churn", "--target", "churned")


def test_train_json_reports_the_excluded_columns_with_why(cli: Any) -> None:
    result = cli(*TRAIN_CHURN, "--exclude", "region,plan", "--json")

    assert result.code == 0, result.stderr
    assert result.json()["excluded"] == {"region": "excluded as asked", "plan": "excluded as asked"}


def test_train_prints_one_line_naming_the_columns_left_out(cli: Any) -> None:
    result = cli(*TRAIN_CHURN, "--exclude", "region,plan")

    assert result.code == 0, result.stderr
    left_out = [line for line in result.stdout.splitlines() if "Left out" in line]
    assert left_out == [
        "Left out of the features: region (excluded as asked); plan (excluded as asked)."
    ]


def test_train_prints_no_left_out_line_when_every_column_is_used(cli: Any) -> None:
    result = cli(*TRAIN_CHURN)

    assert result.code == 0, result.stderr
    assert "Left out" not in result.stdout
