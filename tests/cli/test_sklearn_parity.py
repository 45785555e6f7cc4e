"""Each catalogue algorithm through the CLI matches the same estimator used directly.

Same data (scikit-learn's bundled breast cancer, wine and diabetes sets), same
split, same settings: the metric Vigil reports must be within 0.01 of the one
computed here with scikit-learn (or the library) alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn import metrics
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import DBSCAN, KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

SEED = 42
TOLERANCE = 0.01


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str) -> Path:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def _loaded(loader: Any) -> pd.DataFrame:
    frame = loader(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


CLASSIFIERS = {
    "random_forest": lambda: RandomForestClassifier(random_state=0, n_jobs=-1),
    "logistic_regression": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000)
    ),
    "svm": lambda: make_pipeline(
        StandardScaler(), CalibratedClassifierCV(SVC(random_state=0), ensemble=False)
    ),
    "xgboost": lambda: xgboost.XGBClassifier(
        n_estimators=200,
        max_depth=6,
        learning_rate=0.1,
        random_state=0,
        n_jobs=2,
        tree_method="hist",
        verbosity=0,
    ),
    "lightgbm": lambda: lightgbm.LGBMClassifier(
        n_estimators=200, random_state=0, n_jobs=2, verbose=-1
    ),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=0),
}
REGRESSORS = {
    "random_forest": lambda: RandomForestRegressor(max_features=1.0, random_state=0, n_jobs=-1),
    "linear_regression": LinearRegression,
    "svm": lambda: make_pipeline(StandardScaler(), SVR()),
    "xgboost": lambda: xgboost.XGBRegressor(
        n_estimators=200,
        max_depth=6,
        learning_rate=0.1,
        random_state=0,
        n_jobs=2,
        tree_method="hist",
        verbosity=0,
    ),
    "lightgbm": lambda: lightgbm.LGBMRegressor(
        n_estimators=200, random_state=0, n_jobs=2, verbose=-1
    ),
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(random_state=0),
}


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
@pytest.mark.parametrize("algorithm", sorted(CLASSIFIERS))
def test_classifier_accuracy_matches_direct_use(
    cli: Any, tmp_path: Path, algorithm: str, dataset: str
) -> None:
    frame = _loaded(load_breast_cancer if dataset == "breast_cancer" else load_wine)
    path = _csv(tmp_path, frame, dataset)
    trained = cli(
        "train", path, "--name", "m", "--target", "target", "--algorithm", algorithm, "--json"
    )
    assert trained.code == 0, trained.stderr
    assert trained.json()["task"] == "classification"

    X, y = frame.drop(columns="target"), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=SEED, stratify=y
    )
    direct = CLASSIFIERS[algorithm]().fit(X_train, y_train)
    expected = metrics.accuracy_score(y_test, direct.predict(X_test))
    assert abs(trained.json()["metrics"]["accuracy"] - expected) <= TOLERANCE

    evaluated = cli("evaluate", "m", path, "--target", "target", "--json")
    assert evaluated.code == 0 and evaluated.json()["metrics"]["accuracy"] > 0.8
    predicted = cli("predict", "m", path, "--json").json()["predictions"]
    direct_all = direct.predict(X)
    agreement = np.mean([p["prediction"] == d for p, d in zip(predicted, direct_all, strict=True)])
    assert agreement >= 0.98


@pytest.mark.parametrize("algorithm", sorted(REGRESSORS))
def test_regressor_r2_matches_direct_use(cli: Any, tmp_path: Path, algorithm: str) -> None:
    frame = _loaded(load_diabetes)
    path = _csv(tmp_path, frame, "diabetes")
    trained = cli(
        "train", path, "--name", "m", "--target", "target", "--algorithm", algorithm, "--json"
    )
    assert trained.code == 0, trained.stderr
    assert trained.json()["task"] == "regression"

    X, y = frame.drop(columns="target"), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
    direct = REGRESSORS[algorithm]().fit(X_train, y_train)
    expected = metrics.r2_score(y_test, direct.predict(X_test))
    assert abs(trained.json()["metrics"]["r2"] - expected) <= TOLERANCE
    assert cli("evaluate", "m", path, "--target", "target", "--json").code == 0


def test_kmeans_silhouette_matches_direct_use(cli: Any, tmp_path: Path) -> None:
    frame = _loaded(load_wine).drop(columns="target")
    path = _csv(tmp_path, frame, "wine")
    trained = cli(
        "train", path, "--name", "m", "--algorithm", "kmeans", "--param", "n_clusters=3", "--json"
    )
    assert trained.code == 0, trained.stderr
    scaled = StandardScaler().fit_transform(frame)
    labels = KMeans(n_clusters=3, random_state=0, n_init="auto").fit_predict(scaled)
    expected = metrics.silhouette_score(scaled, labels)
    assert abs(trained.json()["metrics"]["silhouette"] - expected) <= TOLERANCE
    assert len(cli("predict", "m", path, "--json").json()["predictions"]) == len(frame)


def test_dbscan_clusters_match_direct_use(cli: Any, tmp_path: Path) -> None:
    frame = _loaded(load_wine).drop(columns="target")
    path = _csv(tmp_path, frame, "wine")
    trained = cli(
        "train",
        path,
        "--name",
        "m",
        "--algorithm",
        "dbscan",
        "--param",
        "eps=2.3",
        "--param",
        "min_samples=4",
        "--json",
    )
    assert trained.code == 0, trained.stderr
    labels = DBSCAN(eps=2.3, min_samples=4).fit(StandardScaler().fit_transform(frame)).labels_
    values, counts = np.unique(labels, return_counts=True)
    expected = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    assert trained.json()["metrics"]["cluster_sizes"] == expected


def test_isolation_forest_roc_auc_matches_direct_use(cli: Any, tmp_path: Path) -> None:
    frame = _loaded(load_breast_cancer)
    # Malignant tumours (target 0) are the minority: treat them as the anomalies.
    frame["label"] = 1 - frame.pop("target")
    path = _csv(tmp_path, frame, "cancer")
    trained = cli(
        "train",
        path,
        "--name",
        "m",
        "--task",
        "anomaly",
        "--target",
        "label",
        "--algorithm",
        "isolation_forest",
        "--json",
    )
    assert trained.code == 0, trained.stderr
    X, y = frame.drop(columns="label"), frame["label"]
    X_train, X_test, _, y_test = train_test_split(
        X, y, test_size=0.2, random_state=SEED, stratify=y
    )
    forest = IsolationForest(random_state=0).fit(X_train)
    expected = metrics.roc_auc_score(y_test, -forest.score_samples(X_test))
    assert abs(trained.json()["metrics"]["roc_auc"] - expected) <= TOLERANCE
