"""Training as a pure function: task detection, splitting, metrics and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from vigil.errors import InvalidInput, UsageError
from vigil.training.tasks import detect_task
from vigil.training.trainer import TrainSpec, train_model


def test_task_is_detected_from_the_target() -> None:
    assert detect_task(pd.Series(["a", "b", "a"])) == "classification"
    assert detect_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert detect_task(pd.Series([True, False])) == "classification"
    assert detect_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert detect_task(pd.Series(np.arange(100))) == "regression"
    assert detect_task(None) == "anomaly"
    assert detect_task(None, "kmeans") == "clustering"


def test_classification_reports_its_metrics_and_importance() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    outcome = train_model(frame, TrainSpec(target="target", algorithm="random_forest"))
    assert outcome.task == "classification"
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0.9 < outcome.metrics[name] <= 1.0
    matrix = np.asarray(outcome.metrics["confusion_matrix"]["matrix"])
    assert matrix.sum() == outcome.test_rows == 114
    assert sum(outcome.feature_importance.values()) == pytest.approx(1.0, abs=1e-4)


def test_split_is_stratified() -> None:
    frame = load_wine(as_frame=True).frame
    outcome = train_model(frame, TrainSpec(target="target", algorithm="logistic_regression"))
    per_class = np.asarray(outcome.metrics["confusion_matrix"]["matrix"]).sum(axis=1)
    expected = frame["target"].value_counts(normalize=True).sort_index().to_numpy() * 36
    assert np.abs(per_class - expected).max() <= 1


def test_regression_reports_error_metrics() -> None:
    frame = load_diabetes(as_frame=True).frame
    outcome = train_model(frame, TrainSpec(target="target", algorithm="linear_regression"))
    assert outcome.task == "regression"
    assert outcome.metrics["rmse"] == pytest.approx(np.sqrt(outcome.metrics["mse"]))
    assert {"r2", "mae", "mape"} <= set(outcome.metrics)


def test_cross_validation_adds_fold_statistics() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    outcome = train_model(frame, TrainSpec(target="target", algorithm="logistic_regression", cv=3))
    assert outcome.metrics["cv_folds"] == 3
    assert 0.9 < outcome.metrics["cv_accuracy_mean"] <= 1.0


def test_clustering_reports_silhouette_and_sizes() -> None:
    frame = load_wine(as_frame=True).frame.drop(columns="target")
    outcome = train_model(frame, TrainSpec(algorithm="kmeans", params={"n_clusters": 3}))
    assert outcome.task == "clustering"
    assert sum(outcome.metrics["cluster_sizes"].values()) == len(frame)
    assert outcome.metrics["silhouette"] > 0.2
    assert outcome.metrics["davies_bouldin"] > 0


def test_anomaly_label_is_never_a_feature_and_scores_the_test_split() -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(950, 3))
    outliers = rng.normal(loc=6.0, size=(50, 3))
    frame = pd.DataFrame(np.vstack([normal, outliers]), columns=["a", "b", "c"])
    frame["label"] = [0] * 950 + [1] * 50
    outcome = train_model(frame, TrainSpec(task="anomaly", target="label"))
    assert [c.name for c in outcome.bundle.schema] == ["a", "b", "c"]
    assert outcome.metrics["roc_auc"] > 0.95
    assert {"precision", "recall", "f1", "pr_auc"} <= set(outcome.metrics)


def test_mixed_table_with_text_dates_and_gaps_trains(mixed_frame: pd.DataFrame) -> None:
    outcome = train_model(mixed_frame, TrainSpec(target="label", algorithm="logistic_regression"))
    kinds = {c.name: c.kind for c in outcome.bundle.schema}
    assert kinds["note"] == "text" and kinds["when"] == "datetime"
    predictions = outcome.bundle.predict(mixed_frame.drop(columns="label").head(5))
    assert len(predictions) == 5 and "probabilities" in predictions[0]


def test_unseen_category_at_prediction_is_handled(mixed_frame: pd.DataFrame) -> None:
    outcome = train_model(mixed_frame, TrainSpec(target="label"))
    row = mixed_frame.drop(columns="label").head(1).assign(colour="ultraviolet")
    assert outcome.bundle.predict(row)[0]["prediction"] in ("yes", "no")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TrainSpec(target="nope"), "Target column 'nope' does not exist"),
        (
            TrainSpec(target="label", features=["x", "ghost"]),
            "Feature column 'ghost' does not exist",
        ),
        (TrainSpec(target="label", test_size=1.5), "test_size must be in"),
        (TrainSpec(target="label", cv=1), "cv must be between 2 and 20"),
    ],
)
def test_bad_specs_are_refused(mixed_frame: pd.DataFrame, spec: TrainSpec, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        train_model(mixed_frame, spec)


def test_single_class_target_is_refused() -> None:
    frame = pd.DataFrame({"x": range(20), "y": ["same"] * 20})
    with pytest.raises(InvalidInput, match=r"has a single class .*needs at least two"):
        train_model(frame, TrainSpec(target="y", task="classification"))


def test_too_few_rows_for_the_split_is_refused() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]})
    with pytest.raises(InvalidInput, match="Too few rows for the split"):
        train_model(frame, TrainSpec(target="y"))


def test_algorithm_for_another_task_is_refused() -> None:
    frame = load_diabetes(as_frame=True).frame
    with pytest.raises(UsageError, match="does not do regression"):
        train_model(frame, TrainSpec(target="target", algorithm="logistic_regression"))


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    label = np.where(x + (colour == "red") + rng.normal(scale=0.3, size=n) > 0.5, "yes", "no")
    words = np.array(["late", "delivery", "refund", "great", "quick", "broken", "happy", "box"])
    note = [" ".join(rng.choice(words, 5)) + f" order {i}" for i in range(n)]
    when = pd.date_range("2024-01-01", periods=n, freq="7h").strftime("%Y-%m-%dT%H:%M:%S")
    frame = pd.DataFrame({"x": x, "colour": colour, "note": note, "when": when, "label": label})
    frame.loc[::17, "x"] = np.nan
    frame.loc[::23, "colour"] = None
    return frame
