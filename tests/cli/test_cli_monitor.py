"""`vigil feedback` and `vigil monitor` on a model trained and used from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHURN = EXAMPLES / "churn.csv"


def test_feedback_then_monitor_shows_metrics_from_feedback(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--param", "n_estimators=20")
    rows = pd.read_csv(CHURN).head(60)
    inputs = tmp_path / "inputs.csv"
    rows.drop(columns="churned").to_csv(inputs, index=False)
    predictions = cli("predict", "churn", inputs, "--json").json()["predictions"]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {"prediction_id": [p["id"] for p in predictions], "actual": rows["churned"]}
    ).to_csv(labels, index=False)

    sent = cli("feedback", "churn", labels, "--json")
    assert sent.code == 0, sent.stderr
    assert sent.json() == {"accepted": 60, "unchanged": 0, "unknown": []}
    assert cli("feedback", "churn", labels, "--json").json()["unchanged"] == 60

    monitored = cli("monitor", "churn", "--json")
    assert monitored.code == 0, monitored.stderr
    week = monitored.json()["performance"]["windows"]["last_week"]["versions"]["1"]
    assert week["predictions"] == 60 and week["feedback"] == 60
    assert 0.5 < week["metrics"]["accuracy"] <= 1.0
    assert monitored.json()["drift"]["drifted"] is False
    assert cli("monitor", "churn").code == 0


def test_feedback_file_without_actual_is_bad_usage(cli: Any, tmp_path: Path) -> None:
    cli("train", CHURN, "--name", "churn", "--target", "churned", "--param", "n_estimators=5")
    path = tmp_path / "labels.csv"
    pd.DataFrame({"prediction_id": ["x"]}).to_csv(path, index=False)
    result = cli("feedback", "churn", path)
    assert result.code == 2 and "'actual'" in result.stderr
