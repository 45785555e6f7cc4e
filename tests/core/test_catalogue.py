"""Walks the whole catalogue: every registered algorithm trains and predicts for each task.

A new catalogue entry is tested here the moment it is registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.catalogue import CATALOGUE
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import AnomalyEnsemble
from vigil.errors import UsageError
from vigil.simulate import simulate
from vigil.training.trainer import TrainSpec, train_model
from vigil.usecases.training import fit_model

CASES = [(name, task) for name, spec in sorted(CATALOGUE.items()) for task in spec.tasks]


def _table(task: str) -> tuple[pd.DataFrame, str | None]:
    rng = np.random.default_rng(1)
    n = 240
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "group": rng.choice(["x", "y", "z"], n),
        }
    )
    signal = frame["a"] + (frame["group"] == "x") * 1.5
    if task == "classification":
        frame["target"] = np.where(signal > 0.5, "high", "low")
        return frame, "target"
    if task == "regression":
        frame["target"] = 3 * signal + rng.normal(scale=0.1, size=n)
        return frame, "target"
    return frame, None


def _series() -> pd.DataFrame:
    """Two hourly series with a daily cycle, long enough for every forecaster's backtest."""
    hours = pd.date_range("2026-01-01", periods=24 * 15, freq="h")
    rng = np.random.default_rng(2)
    parts = [
        pd.DataFrame(
            {
                "timestamp": hours,
                "store": store,
                "sales": level
                + 5 * np.sin(2 * np.pi * hours.hour / 24)
                + rng.normal(size=len(hours)),
            }
        )
        for store, level in (("a", 20.0), ("b", 40.0))
    ]
    return pd.concat(parts, ignore_index=True)


def _trains_and_forecasts(algorithm: str) -> None:
    spec = TrainSpec(task="forecast", algorithm=algorithm, horizon=6, series="store", cv=1)
    outcome = fit_model(_series(), spec)
    assert outcome.task == "forecast"
    assert {"mase", "smape", "coverage_80"} <= set(outcome.metrics)
    points = outcome.bundle.forecast(3, series=None, history=None, levels=(80, 95))
    assert len(points) == 2 * 3
    assert all(p["lo_80"] <= p["forecast"] <= p["hi_80"] for p in points)


@pytest.mark.parametrize(("algorithm", "task"), CASES)
def test_every_algorithm_trains_and_predicts(algorithm: str, task: str) -> None:
    if task == "forecast":
        _trains_and_forecasts(algorithm)
        return
    frame, target = _table(task)
    small = (
        {"n_estimators": 20}
        if "n_estimators" in {p.name for p in CATALOGUE[algorithm].params}
        else {}
    )
    outcome = train_model(
        frame, TrainSpec(task=task, algorithm=algorithm, target=target, params=small)
    )
    assert outcome.task == task
    predictions = outcome.bundle.predict(frame.drop(columns=[target] if target else []).head(7))
    assert len(predictions) == 7
    if task == "classification":
        assert outcome.metrics["accuracy"] > 0.75
        assert {p["prediction"] for p in predictions} <= {"high", "low"}
    elif task == "regression":
        assert outcome.metrics["r2"] > 0.5
    elif task == "anomaly":
        assert all(0.0 <= p["score"] <= 1.0 for p in predictions)
        assert all(
            p["severity"] in ("normal", "low", "medium", "high", "critical") for p in predictions
        )


def test_empty_batch_gives_no_predictions() -> None:
    frame, target = _table("classification")
    outcome = train_model(frame, TrainSpec(target=target, algorithm="random_forest"))
    assert outcome.bundle.predict(frame.drop(columns=["target"]).head(0)) == []


def _auto_detector(kind: str, **params: Any) -> tuple[Any, dict[str, Any]]:
    """Returns the model of an ``auto`` bundle trained on ``kind`` data, and its params."""
    frame = simulate(kind, 600, 0.05, 3).drop(columns=["is_anomaly", "anomaly_type"])
    spec = TrainSpec(
        task="anomaly",
        algorithm="auto",
        feature_kind="metrics" if kind == "metrics" else "tabular",
        params=dict(params),
    )
    bundle = train_model(frame, spec).bundle
    return bundle.pipeline[-1], bundle.params


def test_auto_is_ecod_alone_on_metric_streams_and_says_so() -> None:
    model, params = _auto_detector("metrics")
    assert params["members"] == "ecod"
    assert isinstance(model, CalibratedAnomalyDetector)
    assert isinstance(model.detector_, ECODDetector)


def test_auto_is_forest_and_knn_on_tables_and_takes_members_when_given() -> None:
    model, params = _auto_detector("transactions")
    assert params["members"] == "isolation_forest,subsampled_knn"
    assert isinstance(model.detector_, AnomalyEnsemble)
    assert [name for name, _ in model.detector_.detectors_] == [
        "isolation_forest",
        "subsampled_knn",
    ]
    model, params = _auto_detector("metrics", members="isolation_forest,ecod", contamination=0.02)
    assert params["members"] == "isolation_forest,ecod"
    assert model.contamination == 0.02


def test_auto_with_one_member_keeps_its_own_threshold_settings() -> None:
    model, _ = _auto_detector("transactions", members="isolation_forest", target_fpr=0.01)
    assert isinstance(model.detector_, IsolationForest)
    assert model.target_fpr == 0.01


def test_auto_refuses_unknown_members_naming_itself() -> None:
    with pytest.raises(UsageError, match=r"Parameter 'members' of auto .* 'forest' is not one"):
        _auto_detector("transactions", members="forest")
