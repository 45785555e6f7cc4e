"""Walks the whole catalogue: every registered algorithm trains and predicts for each task.

A new catalogue entry is tested here the moment it is registered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import parametrize_with_checks

from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.catalogue import CATALOGUE
from vigil.algorithms.dbscan import InductiveDBSCAN
from vigil.training.trainer import TrainSpec, train_model

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


@pytest.mark.parametrize(("algorithm", "task"), CASES)
def test_every_algorithm_trains_and_predicts(algorithm: str, task: str) -> None:
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


@parametrize_with_checks(
    [
        InductiveDBSCAN(),
        CalibratedAnomalyDetector(IsolationForest(n_estimators=10, random_state=0)),
    ]
)
def test_vigil_estimators_follow_the_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
