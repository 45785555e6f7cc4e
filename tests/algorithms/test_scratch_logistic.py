"""ScratchLogisticRegression: parity with scikit-learn's model; its contract is checked with
the catalogue's (test_estimator_contract.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from vigil.algorithms.scratch_logistic import ScratchLogisticRegression

LOADERS = {"breast_cancer": load_breast_cancer, "wine": load_wine}


def _split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = LOADERS[dataset](return_X_y=True)
    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)


def _objective(
    coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray, C: float
) -> float:
    """Returns the mean log-loss plus ||coef||^2 / (2 C n): scikit-learn's objective over C n."""
    scores = X @ coef.T + intercept
    if coef.shape[0] == 1:
        margin = np.where(y == 1, scores[:, 0], -scores[:, 0])
        loss = np.logaddexp(0.0, -margin).mean()
    else:
        loss = (np.logaddexp.reduce(scores, axis=1) - scores[np.arange(len(y)), y]).mean()
    return loss + 0.5 * float((coef**2).sum()) / (C * len(y))


@pytest.mark.parametrize("dataset", sorted(LOADERS))
@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_accuracy_is_within_two_points_of_sklearn_with_standard_scaler(dataset, C):
    X_train, X_test, y_train, y_test = _split(dataset)
    scaler = StandardScaler().fit(X_train)
    reference = LogisticRegression(C=C, max_iter=5000).fit(scaler.transform(X_train), y_train)
    reference_accuracy = reference.score(scaler.transform(X_test), y_test)

    accuracy = ScratchLogisticRegression(C=C).fit(X_train, y_train).score(X_test, y_test)

    assert abs(accuracy - reference_accuracy) <= 0.02


@pytest.mark.parametrize("dataset", sorted(LOADERS))
def test_converges_to_sklearns_coefficients_in_original_units(dataset):
    X_train, _, y_train, _ = _split(dataset)
    scaler = StandardScaler().fit(X_train)
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(
        scaler.transform(X_train), y_train
    )
    expected_coef = reference.coef_ / scaler.scale_
    expected_intercept = reference.intercept_ - expected_coef @ scaler.mean_

    model = ScratchLogisticRegression(C=1.0, tol=1e-12, max_iter=5000).fit(X_train, y_train)

    scale = np.abs(expected_coef).max()
    np.testing.assert_allclose(model.coef_, expected_coef, atol=1e-4 * scale)
    np.testing.assert_allclose(model.intercept_, expected_intercept, atol=1e-3)


@pytest.mark.parametrize("dataset", sorted(LOADERS))
def test_l1_reaches_sklearn_saga_objective_with_as_many_zero_coefficients(dataset):
    X_train, _, y_train, _ = _split(dataset)
    X_scaled = StandardScaler().fit_transform(X_train)
    C = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = LogisticRegression(
            C=C, l1_ratio=1.0, solver="saga", tol=1e-8, max_iter=20_000
        ).fit(X_scaled, y_train)
    model = ScratchLogisticRegression(penalty="l1", C=C, scale=False, tol=1e-12, max_iter=5000).fit(
        X_scaled, y_train
    )

    def l1_objective(coef, intercept):
        return _objective(coef, intercept, X_scaled, y_train, np.inf) + np.abs(coef).sum() / (
            C * len(y_train)
        )

    assert l1_objective(model.coef_, model.intercept_) <= (
        l1_objective(reference.coef_, reference.intercept_) + 1e-7
    )
    assert np.count_nonzero(model.coef_) == np.count_nonzero(reference.coef_)
    assert np.count_nonzero(model.coef_) < model.coef_.size


def test_cost_history_records_the_objective_of_the_returned_coefficients():
    X_train, _, y_train, _ = _split("wine")
    X_scaled = StandardScaler().fit_transform(X_train)
    model = ScratchLogisticRegression(C=0.5, scale=False).fit(X_scaled, y_train)

    assert len(model.cost_history_) == model.n_iter_
    assert model.cost_history_[-1] < model.cost_history_[0]
    assert min(model.cost_history_) == pytest.approx(
        _objective(model.coef_, model.intercept_, X_scaled, y_train, 0.5), rel=1e-9
    )


def test_scaling_inside_equals_fitting_on_standardised_features():
    X_train, X_test, y_train, _ = _split("breast_cancer")
    scaler = StandardScaler().fit(X_train)

    inside = ScratchLogisticRegression().fit(X_train, y_train)
    outside = ScratchLogisticRegression(scale=False).fit(scaler.transform(X_train), y_train)

    np.testing.assert_allclose(
        inside.decision_function(X_test),
        outside.decision_function(scaler.transform(X_test)),
        rtol=1e-9,
        atol=1e-9,
    )


def test_without_intercept_the_intercept_stays_zero():
    X_train, _, y_train, _ = _split("wine")

    model = ScratchLogisticRegression(fit_intercept=False).fit(X_train, y_train)

    np.testing.assert_array_equal(model.intercept_, np.zeros(3))


def test_early_stopping_stops_sooner_and_is_reproducible():
    X, y = make_classification(n_samples=4000, n_features=20, flip_y=0.1, random_state=0)
    params = {"penalty": "none", "tol": 1e-4, "n_iter_no_change": 3, "random_state": 7}

    full = ScratchLogisticRegression(**params, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full.fit(X, y)
    first = ScratchLogisticRegression(**params, early_stopping=True).fit(X, y)
    second = ScratchLogisticRegression(**params, early_stopping=True).fit(X, y)

    assert first.n_iter_ < full.n_iter_
    np.testing.assert_array_equal(first.coef_, second.coef_)
    assert first.score(X, y) > 0.8


def test_feature_importances_are_absolute_coefficients_times_spread_normalised():
    X_train, _, y_train, _ = _split("wine")

    model = ScratchLogisticRegression(penalty="l1", C=0.05).fit(X_train, y_train)

    expected = np.abs(model.coef_).sum(axis=0) * X_train.std(axis=0)
    np.testing.assert_allclose(model.feature_importances_, expected / expected.sum())
    assert model.feature_importances_.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(model.feature_importances_ == 0, (model.coef_ == 0).all(axis=0))


@pytest.mark.parametrize("dataset", sorted(LOADERS))
def test_probabilities_and_scores_agree_with_predictions(dataset):
    X_train, X_test, y_train, _ = _split(dataset)
    model = ScratchLogisticRegression().fit(X_train, y_train)

    proba = model.predict_proba(X_test)
    scores = model.decision_function(X_test)

    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X_test)), proba)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X_test))
    expected_shape = (len(X_test),) if len(model.classes_) == 2 else (len(X_test), 3)
    assert scores.shape == expected_shape


def test_warns_when_max_iter_is_reached():
    X_train, _, y_train, _ = _split("breast_cancer")

    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        ScratchLogisticRegression(max_iter=2).fit(X_train, y_train)


@pytest.mark.parametrize(
    "params",
    [{"penalty": "elasticnet"}, {"C": 0.0}, {"max_iter": 0}, {"validation_fraction": 1.0}],
)
def test_rejects_invalid_parameters_at_fit(params):
    X_train, _, y_train, _ = _split("wine")

    with pytest.raises(ValueError):
        ScratchLogisticRegression(**params).fit(X_train, y_train)
