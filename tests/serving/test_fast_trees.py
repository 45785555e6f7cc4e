"""The flattened forests give scikit-learn's numbers, bit for bit, on random data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)

from vigil.serving.fast_trees import NotCompilable, flatten_forest


def _data(seed: int, rows: int = 300, features: int = 6, missing: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) * rng.uniform(0.1, 100.0, size=features)
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X


def _rows(score_row: Callable[[np.ndarray], Any], X: np.ndarray) -> np.ndarray:
    """Returns ``score_row`` applied to each row of ``X`` on its own."""
    return np.asarray([score_row(np.ascontiguousarray(row)) for row in X])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_features", [1.0, 0.5, 2])
@pytest.mark.parametrize("max_samples", ["auto", 40, 0.3])
@pytest.mark.parametrize("bootstrap", [False, True])
def test_isolation_forest_scores_equal_score_samples(
    seed: int, max_features: float, max_samples: object, bootstrap: bool
) -> None:
    X = _data(seed)
    forest = IsolationForest(
        n_estimators=12,
        max_features=max_features,
        max_samples=max_samples,
        bootstrap=bootstrap,
        random_state=seed,
    ).fit(X)
    flat = flatten_forest(forest)
    queries = _data(seed + 100, rows=120)

    expected = forest.score_samples(queries)
    assert np.array_equal(flat.score_samples(queries), expected)
    assert np.array_equal(_rows(flat.score_sample, queries), expected)


def test_isolation_forest_routes_missing_values_like_scikit_learn() -> None:
    X = _data(3, missing=0.05)
    forest = IsolationForest(n_estimators=15, random_state=3).fit(X)
    queries = _data(4, rows=200, missing=0.2)

    flat = flatten_forest(forest)

    expected = forest.score_samples(queries)
    assert np.array_equal(flat.score_samples(queries), expected)
    assert np.array_equal(_rows(flat.score_sample, queries), expected)


@pytest.mark.parametrize("model", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize(
    ("seed", "max_features", "bootstrap"), [(0, "sqrt", True), (1, 0.5, False)]
)
def test_classifier_probabilities_and_labels_equal_scikit_learn(
    model: type, seed: int, max_features: object, bootstrap: bool
) -> None:
    X = _data(seed, rows=400, missing=0.02)
    rng = np.random.default_rng(seed)
    codes = (np.nan_to_num(X[:, 0]) > 0).astype(int) + (rng.random(len(X)) < 0.3)
    y = np.asarray(["low", "mid", "high"])[codes]
    forest = model(
        n_estimators=9, max_features=max_features, bootstrap=bootstrap, random_state=seed
    ).fit(X, y)
    queries = _data(seed + 7, rows=150, missing=0.05)

    flat = flatten_forest(forest)

    expected = forest.predict_proba(queries)
    assert np.array_equal(flat.predict_proba(queries), expected)
    assert np.array_equal(_rows(flat.predict_row, queries), expected)
    assert (flat.predict(queries) == forest.predict(queries)).all()


@pytest.mark.parametrize("model", [RandomForestRegressor, ExtraTreesRegressor])
@pytest.mark.parametrize("seed", [0, 1])
def test_regressor_predictions_equal_scikit_learn(model: type, seed: int) -> None:
    X = _data(seed, rows=400)
    y = X[:, 0] * 3.0 - X[:, 1] + np.random.default_rng(seed).normal(size=len(X))
    forest = model(n_estimators=7, max_depth=10, random_state=seed).fit(X, y)
    queries = _data(seed + 9, rows=150)

    flat = flatten_forest(forest)

    expected = forest.predict(queries)
    assert np.array_equal(flat.predict(queries), expected)
    assert np.array_equal(_rows(flat.predict_row, queries)[:, 0], expected)


def test_values_at_and_around_thresholds_go_where_scikit_learn_sends_them() -> None:
    X = _data(5, rows=200)
    forest = RandomForestRegressor(n_estimators=5, random_state=5).fit(X, X[:, 1])
    # Every threshold, as float32 (what the trees compare) and one step either side.
    tree = forest.estimators_[0].tree_
    inner = tree.children_left >= 0
    base = np.tile(np.median(X, axis=0), (int(inner.sum()) * 3, 1)).astype(np.float32)
    at = tree.threshold[inner].astype(np.float32)
    for k, values in enumerate([at, np.nextafter(at, np.inf), np.nextafter(at, -np.inf)]):
        rows = slice(k * len(at), (k + 1) * len(at))
        base[rows, tree.feature[inner]] = values

    flat = flatten_forest(forest)

    assert np.array_equal(flat.predict(base), forest.predict(base))


def test_single_tree_forest_and_one_leaf_trees_score_like_scikit_learn() -> None:
    X = _data(6)
    one_tree = RandomForestClassifier(n_estimators=1, random_state=0).fit(X, X[:, 0] > 0)
    leaves_only = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.ones(len(X)))
    lonely = IsolationForest(n_estimators=4, max_samples=1, random_state=0).fit(X)
    queries = _data(7, rows=50)

    assert np.array_equal(
        flatten_forest(one_tree).predict_proba(queries), one_tree.predict_proba(queries)
    )
    flat_leaves = flatten_forest(leaves_only)
    assert flat_leaves.depths.tolist() == [0, 0, 0]
    assert np.array_equal(flat_leaves.predict(queries), leaves_only.predict(queries))
    assert np.array_equal(
        flatten_forest(lonely).score_samples(queries), lonely.score_samples(queries)
    )


def test_empty_batch_gives_empty_answers() -> None:
    forest = IsolationForest(n_estimators=3, random_state=0).fit(_data(8))
    flat = flatten_forest(forest)

    assert flat.score_samples(np.empty((0, 6))).shape == (0,)


def test_batch_split_over_threads_equals_one_thread() -> None:
    X = _data(9, rows=500)
    forest = IsolationForest(n_estimators=5, random_state=0).fit(X)
    flat = flatten_forest(forest)
    queries = _data(10, rows=40_000)

    assert np.array_equal(
        flat.score_samples(queries, n_threads=2), flat.score_samples(queries, n_threads=1)
    )


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_classifier_refuses_values_beyond_float32_as_scikit_learn_does() -> None:
    X = _data(11)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 0)
    flat = flatten_forest(forest)
    queries = _data(12, rows=5)
    queries[2, 1] = 1e39

    with pytest.raises(ValueError, match="float32"):
        forest.predict_proba(queries)
    with pytest.raises(ValueError, match="float32"):
        flat.predict_proba(queries)
    with pytest.raises(ValueError, match="float32"):
        flat.predict_row(np.ascontiguousarray(queries[2]))


def test_isolation_forest_scores_infinities_like_scikit_learn() -> None:
    forest = IsolationForest(n_estimators=6, random_state=0).fit(_data(13))
    queries = _data(14, rows=6)
    queries[1, 0] = np.inf
    queries[3, 2] = -np.inf

    assert np.array_equal(
        flatten_forest(forest).score_samples(queries), forest.score_samples(queries)
    )


def test_unsupported_or_unfitted_estimators_are_not_compilable() -> None:
    X = _data(15)
    boosted = GradientBoostingClassifier(n_estimators=2).fit(X, X[:, 0] > 0)
    multi = RandomForestRegressor(n_estimators=2).fit(X, X[:, :2])

    for estimator in (boosted, multi, RandomForestClassifier()):
        with pytest.raises(NotCompilable):
            flatten_forest(estimator)


def test_flattened_arrays_are_read_only() -> None:
    flat = flatten_forest(IsolationForest(n_estimators=2, random_state=0).fit(_data(16)))

    with pytest.raises(ValueError):
        flat.threshold[0] = 0.0
    assert flat.nbytes > 0
