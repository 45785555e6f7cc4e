"""ScratchDecisionTreeClassifier: parity with scikit-learn's tree; its contract is checked
with the catalogue's (test_estimator_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, export_text

from vigil.algorithms.scratch_tree import TREE_LEAF, ScratchDecisionTreeClassifier

LOADERS = {"breast_cancer": load_breast_cancer, "wine": load_wine}


def _split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = LOADERS[dataset](return_X_y=True)
    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)


def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=600, n_features=6, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )


@pytest.mark.parametrize("dataset", sorted(LOADERS))
@pytest.mark.parametrize("criterion", ["gini", "entropy"])
@pytest.mark.parametrize(
    "params",
    [
        {"max_depth": None},
        {"max_depth": 3},
        {"max_depth": 5, "min_samples_leaf": 5},
        {"min_samples_split": 10, "max_depth": 4},
        {"ccp_alpha": 0.01},
    ],
)
def test_accuracy_is_within_two_points_of_sklearn(dataset, criterion, params):
    """Compares with scikit-learn's accuracy over the seeds that break its ties.

    When several features give exactly the same impurity decrease (common in
    small nodes), scikit-learn takes the first in a random feature order drawn
    from ``random_state``, and this tree the lowest feature index. On wine's 36
    test rows one row is 0.028, so scikit-learn's own accuracy moves by more
    than 0.02 between seeds; the comparison is with the range it spans over
    ``random_state`` 42 and 0-9, widened by 0.02.
    """
    X_train, X_test, y_train, y_test = _split(dataset)
    reference = [
        DecisionTreeClassifier(criterion=criterion, random_state=seed, **params)
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in (42, *range(10))
    ]

    accuracy = (
        ScratchDecisionTreeClassifier(criterion=criterion, random_state=42, **params)
        .fit(X_train, y_train)
        .score(X_test, y_test)
    )

    assert min(reference) - 0.02 <= accuracy <= max(reference) + 0.02


@pytest.mark.parametrize(
    ("criterion", "params"),
    [
        ("gini", {"max_depth": 5, "ccp_alpha": 0.005}),
        ("gini", {"max_depth": 6, "ccp_alpha": 0.02}),
        ("gini", {"max_depth": 6, "min_impurity_decrease": 0.005}),
        ("gini", {"max_depth": 6, "min_samples_leaf": 10, "min_samples_split": 30}),
        ("entropy", {"max_depth": 5}),
        ("entropy", {"max_depth": 5, "ccp_alpha": 0.005}),
        ("entropy", {"max_depth": 6, "ccp_alpha": 0.02}),
    ],
)
def test_grows_and_prunes_the_same_tree_as_sklearn_when_no_splits_tie(criterion, params):
    """Split for split, on trees whose best splits are unique (so tie-breaking cannot differ)."""
    X, y = _synthetic()
    reference = DecisionTreeClassifier(criterion=criterion, random_state=0, **params).fit(X, y)

    tree = ScratchDecisionTreeClassifier(criterion=criterion, **params).fit(X, y)

    assert tree.export_text(show_weights=True) == export_text(reference, show_weights=True)
    assert (tree.get_depth(), tree.get_n_leaves()) == (
        reference.get_depth(),
        reference.get_n_leaves(),
    )
    np.testing.assert_allclose(tree.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_allclose(tree.feature_importances_, reference.feature_importances_, atol=1e-9)


def test_pruning_more_strongly_never_adds_leaves():
    X_train, _, y_train, _ = _split("breast_cancer")

    leaves = [
        ScratchDecisionTreeClassifier(ccp_alpha=alpha).fit(X_train, y_train).get_n_leaves()
        for alpha in (0.0, 0.001, 0.005, 0.01, 0.05, 1.0)
    ]

    assert leaves == sorted(leaves, reverse=True)
    assert leaves[0] > leaves[-1] == 1


def test_limits_hold_in_the_grown_tree():
    X, y = make_classification(n_samples=2000, n_features=8, flip_y=0.2, random_state=3)

    tree = ScratchDecisionTreeClassifier(max_depth=7, min_samples_leaf=15).fit(X, y)

    leaf = tree.tree_.children_left == TREE_LEAF
    assert tree.get_depth() <= 7
    assert tree.tree_.n_node_samples[leaf].min() >= 15
    assert tree.tree_.n_node_samples[leaf].sum() == len(X)


def test_unlimited_tree_fits_distinct_rows_perfectly():
    X, y = make_classification(n_samples=1000, n_features=5, flip_y=0.3, random_state=1)

    tree = ScratchDecisionTreeClassifier().fit(X, y)

    assert tree.score(X, y) == 1.0
    assert tree.tree_.impurity[tree.tree_.children_left == TREE_LEAF].max() == 0.0


def test_max_features_draws_per_node_subsets_reproducibly():
    X, y = make_classification(n_samples=1500, n_features=16, n_informative=8, random_state=2)

    first = ScratchDecisionTreeClassifier(max_features="sqrt", random_state=0).fit(X, y)
    again = ScratchDecisionTreeClassifier(max_features="sqrt", random_state=0).fit(X, y)
    other = ScratchDecisionTreeClassifier(max_features="sqrt", random_state=1).fit(X, y)

    assert first.export_text() == again.export_text()
    assert first.export_text() != other.export_text()


def test_a_single_class_gives_a_single_leaf():
    X = np.arange(12.0).reshape(6, 2)

    tree = ScratchDecisionTreeClassifier().fit(X, ["spam"] * 6)

    assert (tree.get_depth(), tree.get_n_leaves()) == (0, 1)
    assert tree.export_text() == "|--- class: spam\n"
    np.testing.assert_array_equal(tree.feature_importances_, np.zeros(2))


def test_feature_importances_sum_to_one_and_favour_informative_features():
    X, y = make_classification(
        n_samples=3000, n_features=10, n_informative=2, n_redundant=0, shuffle=False, random_state=4
    )

    tree = ScratchDecisionTreeClassifier(max_depth=6).fit(X, y)

    assert tree.feature_importances_.sum() == pytest.approx(1.0)
    assert tree.feature_importances_[:2].sum() > 0.8


def test_export_text_uses_given_names_and_rejects_a_wrong_count():
    X_train, _, y_train, _ = _split("wine")
    names = list(load_wine().feature_names)
    tree = ScratchDecisionTreeClassifier(max_depth=2).fit(X_train, y_train)

    text = tree.export_text(feature_names=names)

    assert text.splitlines()[0].startswith("|--- ")
    assert any(name in text for name in names)
    with pytest.raises(ValueError, match="feature_names"):
        tree.export_text(feature_names=names[:3])


def test_apply_and_probabilities_agree_with_leaf_counts():
    X_train, X_test, y_train, _ = _split("wine")
    tree = ScratchDecisionTreeClassifier(max_depth=3).fit(X_train, y_train)

    leaves = tree.apply(X_test)
    proba = tree.predict_proba(X_test)

    assert (tree.tree_.children_left[leaves] == TREE_LEAF).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    counts = tree.tree_.value[leaves]
    np.testing.assert_allclose(proba, counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(tree.predict(X_test), tree.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize(
    "params",
    [
        {"criterion": "log_loss"},
        {"max_depth": 0},
        {"min_samples_split": 1},
        {"min_samples_leaf": 0},
        {"ccp_alpha": -0.1},
        {"max_features": "half"},
    ],
)
def test_rejects_invalid_parameters_at_fit(params):
    X_train, _, y_train, _ = _split("wine")

    with pytest.raises(ValueError):
        ScratchDecisionTreeClassifier(**params).fit(X_train, y_train)
