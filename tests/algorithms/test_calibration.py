"""Calibrated anomaly scores: the [0, 1] scale, the threshold from contamination or a target
false-positive rate, and severity bands."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from vigil.algorithms.calibration import (
    CalibratedAnomalyDetector,
    parse_severity_bands,
    threshold_cut,
)
from vigil.algorithms.catalogue import CATALOGUE
from vigil.algorithms.knn import MIN_CALIBRATION_ROWS, KNNDetector
from vigil.errors import UsageError
from vigil.training.trainer import TrainSpec, train_model


@pytest.fixture(scope="module")
def normal_rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2000, 3))


@pytest.mark.parametrize("target_fpr", [0.001, 0.01, 0.05, 0.2])
def test_target_fpr_flags_that_share_of_the_training_rows(
    normal_rows: np.ndarray, target_fpr: float
) -> None:
    # k-NN distances of continuous data have no ties, so the share can be exact.
    model = CalibratedAnomalyDetector(KNNDetector(), target_fpr=target_fpr).fit(normal_rows)
    training = -model.fit_score_samples(normal_rows)
    flagged = np.mean(training >= model.threshold_)
    assert flagged == pytest.approx(target_fpr, abs=1 / len(training))


def test_target_fpr_overrides_contamination(normal_rows: np.ndarray) -> None:
    both = CalibratedAnomalyDetector(KNNDetector(), contamination=0.2, target_fpr=0.01)
    only = CalibratedAnomalyDetector(KNNDetector(), target_fpr=0.01)
    assert both.fit(normal_rows).threshold_ == only.fit(normal_rows).threshold_


@pytest.mark.parametrize(
    "detector",
    [
        KNNDetector(),
        LocalOutlierFactor(novelty=True),
        KNNDetector(max_samples=256, n_estimators=5, random_state=0),
    ],
    ids=["knn", "lof", "subsampled_knn"],
)
def test_on_clean_data_new_normal_rows_are_flagged_at_the_target_rate(detector: object) -> None:
    # Neighbour methods are calibrated on held-out rows scored against the earlier ones:
    # scored in-sample, every training row would be its own neighbour and new rows would
    # look rarer. The 1,000 held-out rows place the threshold within about 0.007.
    rng = np.random.default_rng(1)
    model = CalibratedAnomalyDetector(detector, target_fpr=0.05).fit(rng.normal(size=(4000, 3)))
    fresh = model.calibrated_score(rng.normal(size=(4000, 3)))
    assert np.mean(fresh >= model.threshold_) == pytest.approx(0.05, abs=0.015)


def test_scores_are_in_the_unit_interval_and_keep_the_order_of_raw_scores(
    normal_rows: np.ndarray,
) -> None:
    model = CalibratedAnomalyDetector(KNNDetector()).fit(normal_rows)
    top = model.quantiles_[-1]
    raw = np.r_[np.linspace(-1.0, top, 500), top + np.geomspace(1e-9, 1e3, 200)]
    calibrated = model.calibrate(raw)
    assert calibrated.min() == 0.0 and calibrated.max() <= 1.0
    # Also across the training maximum, where the exponential tail takes over.
    assert np.all(np.diff(calibrated) >= 0)
    assert model.calibrate(np.array([top]))[0] == pytest.approx(model.top_level_)
    # The last quarter of the rows is held out for calibration (see fit_detector), and the
    # quarter before it too while fewer than MIN_CALIBRATION_ROWS are (KNNDetector).
    held_out = len(normal_rows) - model.calibration_start_
    assert held_out == max(len(normal_rows) // 4, MIN_CALIBRATION_ROWS)
    assert model.top_level_ == held_out / (held_out + 1)


def test_a_score_on_one_quantile_is_not_treated_as_a_tie(normal_rows: np.ndarray) -> None:
    model = CalibratedAnomalyDetector(KNNDetector()).fit(normal_rows)
    levels = np.linspace(0.0, model.top_level_, len(model.quantiles_))
    np.testing.assert_allclose(model.calibrate(model.quantiles_[1:-1]), levels[1:-1])


def test_tied_training_scores_get_their_middle_rank() -> None:
    # Half the rows (every other one) are identical: their score spans the lower half.
    X = np.zeros((1000, 1))
    X[1::2, 0] = np.random.default_rng(2).normal(size=500)
    model = CalibratedAnomalyDetector(KNNDetector(n_neighbors=3)).fit(X)
    assert model.calibrated_score(np.zeros((1, 1)))[0] == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize(
    ("value", "threshold", "message"),
    [
        ("0.9,0.8,0.99,1", 0.9, r"\[0.9, 1\].*does not ascend"),
        ("0.95,0.98,0.995", 0.95, r"got 3 values"),
        ("low,medium,high,critical", 0.95, r"got 'low,medium,high,critical'"),
        ("0.5,0.6,0.7,0.8", 0.95, r"in \[0.95, 1\]"),
        ("0.96,0.97,0.98,1.5", 0.95, r"in \[0.95, 1\]"),
        ([0.96, 0.97, float("nan"), 0.99], 0.95, r"does not ascend"),
    ],
)
def test_bad_severity_bands_name_the_parameter_and_what_is_allowed(
    value: object, threshold: float, message: str
) -> None:
    with pytest.raises(ValueError, match=r"^severity_bands must be four strictly ascending") as e:
        parse_severity_bands(value, threshold)  # type: ignore[arg-type]
    assert "low, medium, high and critical" in str(e.value)
    assert pytest.approx(threshold) == float(str(e.value).split("[")[1].split(",")[0])
    with pytest.raises(ValueError, match=message):
        parse_severity_bands(value, threshold)  # type: ignore[arg-type]


def test_severity_bands_are_checked_against_the_target_fpr_threshold() -> None:
    assert parse_severity_bands("0.99,0.995,0.998,0.999", 1 - 0.01) == (0.99, 0.995, 0.998, 0.999)
    with pytest.raises(UsageError, match=r"severity_bands must be .* in \[0.99, 1\]") as raised:
        CATALOGUE["auto"].build("anomaly", {"target_fpr": 0.01, "severity_bands": "0.95,0.98,1,1"})
    assert raised.value.errors == [{"loc": ["params", "severity_bands"], "msg": str(raised.value)}]


def test_the_estimator_refuses_bad_bands_and_shares_before_fitting(normal_rows: np.ndarray) -> None:
    with pytest.raises(ValueError, match="severity_bands"):
        CalibratedAnomalyDetector(KNNDetector(), severity_bands=(0.99, 0.98, 0.97, 0.96)).fit(
            normal_rows
        )
    with pytest.raises(ValueError, match=r"target_fpr must be a number in \(0, 0.5\]"):
        CalibratedAnomalyDetector(KNNDetector(), target_fpr=0.0).fit(normal_rows)
    with pytest.raises(ValueError, match=r"contamination must be a number in \(0, 0.5\]"):
        CalibratedAnomalyDetector(KNNDetector(), contamination=0.7).fit(normal_rows)


def test_custom_bands_grade_anomalies_and_never_contradict_the_threshold(
    normal_rows: np.ndarray,
) -> None:
    model = CalibratedAnomalyDetector(
        IsolationForest(random_state=0), contamination=0.05, severity_bands="0.97,0.98,0.99,0.999"
    ).fit(normal_rows)
    assert model.bands_ == (0.97, 0.98, 0.99, 0.999)
    t = model.threshold_
    scores = np.array([t - 0.01, t, 0.975, 0.985, 0.995, 0.9995])
    # Between the threshold and the first band a row is an anomaly, so at least "low".
    assert model.severity(scores) == ["normal", "low", "low", "medium", "high", "critical"]


def test_derived_bands_spread_from_the_threshold_to_one(normal_rows: np.ndarray) -> None:
    model = CalibratedAnomalyDetector(KNNDetector(), contamination=0.1).fit(normal_rows)
    t = model.threshold_
    gap = 1.0 - t
    np.testing.assert_allclose(model.bands_, [t, t + 0.6 * gap, t + 0.9 * gap, t + 0.98 * gap])


def test_threshold_and_bands_reach_predictions_through_the_catalogue() -> None:
    rng = np.random.default_rng(3)
    columns = ["a", "b", "c"]
    training = pd.DataFrame(rng.normal(size=(600, 3)), columns=columns)
    params = {"target_fpr": 0.02, "severity_bands": "0.98,0.99,0.995,0.999"}
    outcome = train_model(training, TrainSpec(task="anomaly", algorithm="auto", params=params))
    assert outcome.params["severity_bands"] == "0.98,0.99,0.995,0.999"
    fresh = np.vstack([rng.normal(size=(400, 3)), [[9.0, 0.0, 0.0], [0.0, -9.0, 9.0]]])
    predictions = outcome.bundle.predict(pd.DataFrame(fresh, columns=columns))
    assert all((p["severity"] == "normal") != p["is_anomaly"] for p in predictions)
    assert [p["severity"] for p in predictions[-2:]] == ["critical", "critical"]
    assert np.mean([p["is_anomaly"] for p in predictions[:400]]) < 0.05


def test_the_cut_is_the_quantile_of_distinct_scores() -> None:
    raw = np.arange(1000, dtype=float)
    assert threshold_cut(raw, 0.05) == pytest.approx(np.quantile(raw, 0.95))
    assert np.mean(raw >= threshold_cut(raw, 0.05)) <= 0.05 + 1 / 1000


def test_a_block_of_equal_scores_at_the_cut_stays_normal() -> None:
    # 90% of rows repeat (distance 0), 8% score 1, 2% score 2: flagging the 1s would flag 10%.
    raw = np.array([0.0] * 900 + [1.0] * 80 + [2.0] * 20)
    assert threshold_cut(raw, 0.05) == 2.0
    # Only one value: nothing in training is an anomaly, only rows beyond it.
    same = np.zeros(100)
    assert threshold_cut(same, 0.05) > 0.0
    model = CalibratedAnomalyDetector(_Constant(), contamination=0.05).fit(np.zeros((100, 1)))
    assert not model.predict(np.zeros((5, 1))).tolist().count(-1)


class _Constant(BaseEstimator):
    """A detector that scores every row alike, as a k-NN does duplicated rows."""

    def fit(self, X: Any, y: Any = None) -> _Constant:
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))
