"""The anomaly detectors: each finds obvious outliers, calibrated and reproducible; the ensemble
combines its members. Their scikit-learn contract: test_estimator_contract.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyod.models.ecod import ECOD
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from vigil.algorithms import knn as knn_module
from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.catalogue import CATALOGUE, DEFAULT_ALGORITHM
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import AnomalyEnsemble
from vigil.algorithms.knn import KNNDetector
from vigil.algorithms.ocsvm import SubsampledOneClassSVM
from vigil.errors import UsageError

ANOMALY = sorted(name for name, spec in CATALOGUE.items() if "anomaly" in spec.tasks)
# Detectors for any numeric rows; those made for counts are checked on counts below.
ON_NUMBERS = [name for name in ANOMALY if CATALOGUE[name].inputs == "numbers"]
ON_COUNTS = [name for name in ANOMALY if CATALOGUE[name].inputs == "counts"]


def _blobs_with_outliers(seed: int, normal: int, outliers: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns two Gaussian clusters plus rows scattered far outside them, and 0/1 labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [6.0, 6.0, 0.0, 0.0]])
    inliers = centres[rng.integers(0, 2, normal)] + rng.normal(size=(normal, 4))
    directions = rng.normal(size=(outliers, 4))
    far = 3.0 + 12.0 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    X = np.vstack([inliers, far])
    return X, np.r_[np.zeros(normal), np.ones(outliers)]


@pytest.fixture(scope="module")
def split_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns standardised training rows (with 3% outliers), test rows and test labels."""
    X_train, _ = _blobs_with_outliers(0, 600, 18)
    X_test, y_test = _blobs_with_outliers(1, 300, 15)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


def _build(name: str, **params: Any) -> CalibratedAnomalyDetector:
    estimator, _ = CATALOGUE[name].build("anomaly", params)
    assert isinstance(estimator, CalibratedAnomalyDetector)
    return estimator


def _seeded(name: str) -> dict[str, Any]:
    return (
        {"random_state": 7} if any(p.name == "random_state" for p in CATALOGUE[name].params) else {}
    )


def test_the_default_anomaly_detector_is_auto() -> None:
    assert DEFAULT_ALGORITHM["anomaly"] == "auto"


@pytest.mark.parametrize("name", ON_NUMBERS)
def test_every_detector_finds_obvious_outliers_with_calibrated_scores(
    name: str, split_data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    X_train, X_test, y_test = split_data
    model = _build(name, **_seeded(name)).fit(X_train)
    scores = model.calibrated_score(X_test)
    assert roc_auc_score(y_test, scores) > 0.9
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert 0.0 < model.threshold_ < 1.0


def _sessions_with_broken_workflows(
    seed: int, normal: int, broken: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns event counts of sessions whose events come in fixed proportions, and 0/1 labels.

    A normal session opens a unit of work once per request, receives it three
    times and acknowledges each receipt; a broken one stops after the receipts
    (its acknowledgements short) or holds an event normal sessions never log.
    """
    rng = np.random.default_rng(seed)
    requests = rng.integers(1, 4, normal + broken)
    counts = np.column_stack(
        [requests, 3 * requests, 3 * requests, rng.integers(0, 5, len(requests))]
    )
    counts = np.column_stack([counts, np.zeros(len(requests), dtype=int)])
    counts[normal:, 2] -= rng.integers(1, 3, broken)
    counts[normal + broken // 2 :, 4] = 1
    return counts.astype(float), np.r_[np.zeros(normal), np.ones(broken)]


@pytest.mark.parametrize("name", ON_COUNTS)
def test_every_count_detector_finds_broken_workflows_with_calibrated_scores(name: str) -> None:
    X_train, _ = _sessions_with_broken_workflows(0, 600, 6)
    X_test, y_test = _sessions_with_broken_workflows(1, 300, 12)
    model = _build(name, **_seeded(name)).fit(X_train)
    scores = model.calibrated_score(X_test)
    assert roc_auc_score(y_test, scores) > 0.9
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert 0.0 < model.threshold_ < 1.0


@pytest.mark.parametrize("name", ANOMALY)
def test_every_detector_is_deterministic_for_a_seed(
    name: str, split_data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    X_train, X_test, _ = split_data
    first = _build(name, **_seeded(name)).fit(X_train).calibrated_score(X_test)
    second = _build(name, **_seeded(name)).fit(X_train).calibrated_score(X_test)
    np.testing.assert_array_equal(first, second)


def test_subsampled_knn_depends_on_its_seed(
    split_data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    X_train, X_test, _ = split_data
    one = _build("subsampled_knn", random_state=1).fit(X_train).calibrated_score(X_test)
    two = _build("subsampled_knn", random_state=2).fit(X_train).calibrated_score(X_test)
    assert not np.array_equal(one, two)


def test_exact_knn_scores_held_out_rows_against_the_earlier_rows_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last quarter alone, however few rows it holds (see test_stream_calibration.py).
    monkeypatch.setattr(knn_module, "MIN_CALIBRATION_ROWS", 0)
    X = np.random.default_rng(3).normal(size=(80, 3))
    model = KNNDetector(n_neighbors=4, method="mean")
    held_out = model.fit_score_samples(X)
    assert model.calibration_start_ == 60
    earlier = KNNDetector(n_neighbors=4, method="mean").fit(X[:60])
    np.testing.assert_allclose(held_out, earlier.score_samples(X[60:]))
    # New rows are compared with every training row, the held-out ones included.
    everything = NearestNeighbors(n_neighbors=4).fit(X)
    queries = np.random.default_rng(4).normal(size=(5, 3))
    expected = everything.kneighbors(queries)[0].mean(axis=1)
    np.testing.assert_allclose(-model.score_samples(queries), expected)


@pytest.mark.parametrize("method", ["largest", "mean"])
def test_subsampled_knn_matches_a_direct_computation(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knn_module, "MIN_CALIBRATION_ROWS", 0)
    rng = np.random.default_rng(4)
    X, queries = rng.normal(size=(400, 3)), rng.normal(size=(20, 3))
    model = KNNDetector(
        n_neighbors=3, method=method, max_samples=40, n_estimators=5, random_state=9
    )
    held_out = -model.fit_score_samples(X)
    state = np.random.RandomState(9)
    # Draws for new rows from all 400 rows, then for the held-out last 100 from the first 300.
    draws = [state.choice(400, 40, replace=False) for _ in range(5)]
    earlier = [state.choice(300, 40, replace=False) for _ in range(5)]
    expected_test, expected_held_out = np.zeros(20), np.zeros(100)
    for rows, early in zip(draws, earlier, strict=True):
        near = NearestNeighbors(n_neighbors=3).fit(X[rows]).kneighbors(queries)[0]
        expected_test += near[:, -1] if method == "largest" else near.mean(axis=1)
        near = NearestNeighbors(n_neighbors=3).fit(X[early]).kneighbors(X[300:])[0]
        expected_held_out += near[:, -1] if method == "largest" else near.mean(axis=1)
    # Single-precision distances: about seven digits.
    np.testing.assert_allclose(-model.score_samples(queries), expected_test / 5, rtol=1e-5)
    np.testing.assert_allclose(held_out, expected_held_out / 5, rtol=1e-5)


def test_subsampled_knn_on_small_data_is_exact_knn() -> None:
    X = np.random.default_rng(5).normal(size=(50, 2))
    sampled = KNNDetector(max_samples=256, n_estimators=20, random_state=0).fit(X)
    exact = KNNDetector().fit(X)
    np.testing.assert_array_equal(sampled.score_samples(X), exact.score_samples(X))


def test_ecod_ranks_training_rows_as_pyod_does() -> None:
    X = np.random.default_rng(6).lognormal(size=(400, 5))
    ours = -ECODDetector().fit(X).score_samples(X)
    theirs = ECOD().fit(X).decision_scores_
    assert spearmanr(ours, theirs).statistic > 0.99


def test_ecod_scores_a_row_the_same_alone_or_in_a_batch() -> None:
    rng = np.random.default_rng(7)
    model = ECODDetector().fit(rng.normal(size=(300, 4)))
    batch = rng.normal(size=(50, 4))
    alone = np.array([model.score_samples(batch[i : i + 1])[0] for i in range(50)])
    np.testing.assert_array_equal(model.score_samples(batch), alone)


def test_ecod_on_more_rows_than_quantiles_approximates_the_exact_scores() -> None:
    rng = np.random.default_rng(8)
    X, queries = rng.normal(size=(5000, 3)), rng.normal(scale=1.5, size=(500, 3))
    exact = ECODDetector().fit(X).score_samples(queries)
    coarse = ECODDetector(n_quantiles=500).fit(X)
    assert coarse.grid_.shape == (500, 3)
    assert spearmanr(exact, coarse.score_samples(queries)).statistic > 0.99


def test_ocsvm_fits_on_at_most_max_samples_rows() -> None:
    X = np.random.default_rng(9).normal(size=(1500, 2))
    assert SubsampledOneClassSVM(max_samples=400, random_state=0).fit(X).svm_.shape_fit_ == (
        400,
        2,
    )
    assert SubsampledOneClassSVM(max_samples=4000).fit(X).svm_.shape_fit_ == (1500, 2)


def _mixed_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns data with two kinds of anomaly that different detectors see.

    Normal rows form a dense and a sparse cluster. Some anomalies sit just
    outside the dense cluster, where a global detector (isolation forest)
    finds them ordinary but distances to neighbours do not; others are
    extreme on one feature only.
    """
    rng = np.random.default_rng(10)

    def rows(n_dense: int, n_sparse: int, n_local: int, n_extreme: int) -> np.ndarray:
        dense = rng.normal(scale=0.2, size=(n_dense, 3))
        sparse = rng.normal(loc=5.0, scale=2.0, size=(n_sparse, 3))
        local = rng.normal(scale=0.2, size=(n_local, 3)) + np.array([1.2, 0.0, 0.0])
        extreme = rng.normal(loc=2.0, scale=1.0, size=(n_extreme, 3))
        extreme[:, 2] = 14.0
        return np.vstack([dense, sparse, local, extreme])

    X_train = rows(500, 300, 8, 8)
    X_test = rows(250, 150, 12, 12)
    y_test = np.r_[np.zeros(400), np.ones(24)]
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


@pytest.mark.parametrize("combine", ["max", "mean"])
def test_ensemble_is_at_least_as_good_as_its_worst_member(combine: str) -> None:
    X_train, X_test, y_test = _mixed_case()
    members = "isolation_forest,knn,ecod"
    ensemble = _build("ensemble", members=members, combine=combine, random_state=0).fit(X_train)
    inner = ensemble.detector_
    assert isinstance(inner, AnomalyEnsemble)
    assert [name for name, _ in inner.detectors_] == members.split(",")
    member_auc = {
        name: roc_auc_score(y_test, scores) for name, scores in inner.member_scores(X_test).items()
    }
    ensemble_auc = roc_auc_score(y_test, ensemble.calibrated_score(X_test))
    assert ensemble_auc >= min(member_auc.values())
    # The members disagree here, so combining them is what is being tested.
    assert max(member_auc.values()) - min(member_auc.values()) > 0.02


def test_ensemble_combines_member_surprisals() -> None:
    X = np.random.default_rng(11).normal(size=(300, 2))
    queries = np.array([[0.0, 0.0], [2.5, 0.0], [6.0, 6.0]])
    detectors = [("forest", IsolationForest(random_state=0)), ("knn", KNNDetector())]
    for combine, reduce in (("max", np.max), ("mean", np.mean)):
        ensemble = AnomalyEnsemble(detectors, combine=combine).fit(X)
        surprisals = np.vstack([member.surprisal(queries) for _, member in ensemble.detectors_])
        np.testing.assert_allclose(-ensemble.score_samples(queries), reduce(surprisals, axis=0))
        calibrated = np.vstack(list(ensemble.member_scores(queries).values()))
        np.testing.assert_allclose(calibrated, -np.expm1(-surprisals))


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ("isolation_forest,nope", "'nope' is not one"),
        ("knn,knn", "a name is repeated"),
        (" , ", "got none"),
        ("auto", "'auto' is not one"),
        ("ensemble,knn", "'ensemble' is not one"),
    ],
)
def test_ensemble_members_are_checked(members: str, problem: str) -> None:
    with pytest.raises(UsageError, match=r"Parameter 'members' of ensemble must be") as raised:
        CATALOGUE["ensemble"].build("anomaly", {"members": members})
    assert problem in str(raised.value)
    assert "isolation_forest, lof, ocsvm, knn, subsampled_knn, ecod" in str(raised.value)


def test_scoring_skips_no_check_that_matters(
    split_data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    X_train, X_test, _ = split_data
    model = _build("auto", random_state=0).fit(X_train)
    expected = model.calibrated_score(X_test)
    float32 = model.calibrated_score(X_test.astype(np.float32))
    # Calibrated scores lie in [0, 1]: single-precision inputs move them by a few 1e-6.
    np.testing.assert_allclose(float32, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.calibrated_score(X_test.tolist()), expected)
    with pytest.raises(ValueError, match="features"):
        model.calibrated_score(X_test[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        model.calibrated_score(np.where(X_test > 2, np.nan, X_test))


def test_subsampled_knn_puts_a_row_identical_to_its_references_at_distance_zero() -> None:
    # Single-precision distances from |x|^2 + |r|^2 - 2 x.r: rounding must not break the ties
    # of duplicate rows (log events repeat), so what cannot be told from zero is zero.
    rng = np.random.default_rng(12)
    X = np.repeat(rng.normal(size=(10, 6)) * 30.0, 100, axis=0)
    model = KNNDetector(n_neighbors=3, max_samples=100, n_estimators=4, random_state=0).fit(X)
    # Every draw holds about ten copies of each row: the three nearest are copies.
    assert np.all(model.score_samples(X) == 0.0)


@pytest.mark.parametrize("n_quantiles", [10_000, 50])
def test_ecod_tail_scores_are_the_grid_counts_both_ways(n_quantiles: int) -> None:
    rng = np.random.default_rng(13)
    columns = (rng.normal(size=800), rng.integers(0, 2, 800), rng.integers(0, 5, 800))
    X = np.column_stack(columns).astype(float)
    model = ECODDetector(n_quantiles=n_quantiles).fit(X)
    queries = np.column_stack(
        [rng.normal(size=300) * 2, rng.integers(-1, 3, 300), rng.integers(-1, 7, 300) / 1.5]
    )
    queries[:20] = X[:20]
    grid, size = model.grid_, model.grid_.shape[0]
    expected = np.empty_like(queries)
    for j in range(queries.shape[1]):
        at_most = np.searchsorted(grid[:, j], queries[:, j], side="right")
        at_least = size - np.searchsorted(grid[:, j], queries[:, j], side="left")
        expected[:, j] = -np.log((np.minimum(at_most, at_least) + 1.0) / (size + 1.0))
    np.testing.assert_allclose(model.feature_scores(queries), expected, rtol=1e-12)
