"""Neighbour detectors are calibrated on held-out last rows, scored against the rows before them:
in a stream a training row's nearest neighbours are the rows next to it in time, which a new row
never has, so leave-one-out calibration would make normal new rows look rare."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from vigil.algorithms import knn as knn_module
from vigil.algorithms.calibration import (
    HELD_OUT_SHARE,
    CalibratedAnomalyDetector,
    fit_detector,
    held_out_start,
)
from vigil.algorithms.catalogue import CATALOGUE
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import AnomalyEnsemble
from vigil.algorithms.knn import KNNDetector


def _slow_episodes(rng: np.random.Generator, count: int, length: int = 40) -> np.ndarray:
    """Returns ``count`` episodes of a slowly moving 3-D state, one after another.

    Each episode starts anywhere in a standard normal and barely moves (an
    AR(1) with phi 0.999), so rows next to each other in time are far closer
    than rows of different episodes: a stream whose next part is new
    episodes from the same distribution.
    """
    phi = 0.999
    episodes = []
    for _ in range(count):
        steps = rng.normal(size=(length, 3)) * np.sqrt(1.0 - phi**2)
        state = np.empty((length, 3))
        state[0] = rng.normal(size=3)
        for i in range(1, length):
            state[i] = phi * state[i - 1] + steps[i]
        episodes.append(state)
    return np.vstack(episodes)


@pytest.fixture(scope="module")
def stream() -> tuple[np.ndarray, np.ndarray]:
    """Returns 100 training episodes and the 50 that follow them."""
    rng = np.random.default_rng(0)
    return _slow_episodes(rng, 100), _slow_episodes(rng, 50)


def _build(name: str) -> Any:
    params = (
        {"random_state": 0} if any(p.name == "random_state" for p in CATALOGUE[name].params) else {}
    )
    return CATALOGUE[name].build("anomaly", params)[0]


@pytest.mark.parametrize("name", ["subsampled_knn", "auto"])
def test_a_normal_next_segment_of_a_stream_scores_around_the_middle(
    name: str, stream: tuple[np.ndarray, np.ndarray]
) -> None:
    # Calibrated leave-one-out, these medians were 0.69 (subsampled_knn) and 0.63 (auto).
    train, following = stream
    model = _build(name).fit(train)
    scores = model.calibrated_score(following)
    assert np.median(scores) == pytest.approx(0.5, abs=0.08)
    assert np.mean(scores >= model.threshold_) < 0.08


@pytest.mark.parametrize("name", ["knn", "lof"])
def test_exact_neighbour_methods_do_not_flag_a_normal_next_segment(
    name: str, stream: tuple[np.ndarray, np.ndarray]
) -> None:
    # Leave-one-out they gave a median of 1.0 and flagged 87% (knn) and 67% (lof) of it. New
    # rows meet all training rows, the held-out ones were scored against 3/4 of them: a new
    # row's neighbours are a little closer, so the errors are on the side of fewer alarms.
    train, following = stream
    model = _build(name).fit(train)
    scores = model.calibrated_score(following)
    assert 0.3 < np.median(scores) < 0.6
    assert np.mean(scores >= model.threshold_) < 0.1


@pytest.fixture
def one_held_out_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibrates neighbour detectors on the last quarter alone, however few rows it holds."""
    monkeypatch.setattr(knn_module, "MIN_CALIBRATION_ROWS", 0)


def test_held_out_rows_are_the_last_quarter_with_at_least_one_row_each_side() -> None:
    assert HELD_OUT_SHARE == 0.25
    assert [held_out_start(n) for n in (2, 3, 4, 10, 1000)] == [1, 2, 3, 8, 750]


@pytest.mark.usefixtures("one_held_out_block")
def test_the_held_out_rows_depend_on_the_input_order() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    model = KNNDetector(n_neighbors=3)
    forward = model.fit_score_samples(X)
    # Reversed, the held-out rows are the first 50 rows, compared with the other 150.
    backward = KNNDetector(n_neighbors=3).fit_score_samples(X[::-1])
    expected = KNNDetector(n_neighbors=3).fit(X[50:]).score_samples(X[:50])
    np.testing.assert_allclose(backward, expected[::-1])
    assert forward.shape == backward.shape == (50,)
    # Whatever the order, new rows are scored against every training row.
    queries = rng.normal(size=(10, 2))
    np.testing.assert_allclose(
        model.score_samples(queries), KNNDetector(n_neighbors=3).fit(X[::-1]).score_samples(queries)
    )


def test_lof_is_refitted_on_the_earlier_rows_to_score_the_held_out_ones() -> None:
    X = np.random.default_rng(2).normal(size=(400, 3))
    detector, normal, start = fit_detector(LocalOutlierFactor(n_neighbors=10, novelty=True), X)
    assert start == 300
    earlier = LocalOutlierFactor(n_neighbors=10, novelty=True).fit(X[:300])
    np.testing.assert_allclose(normal, earlier.score_samples(X[300:]))
    # The detector kept has seen every row.
    assert detector.n_samples_fit_ == 400


def test_detectors_without_neighbours_calibrate_on_every_row() -> None:
    X = np.random.default_rng(3).normal(size=(300, 3))
    for detector in (IsolationForest(random_state=0), ECODDetector()):
        model = CalibratedAnomalyDetector(detector)
        assert model.fit_score_samples(X).shape == (300,)
        assert model.calibration_start_ == 0


@pytest.mark.usefixtures("one_held_out_block")
def test_an_ensemble_combines_its_members_on_the_rows_all_of_them_held_out() -> None:
    X = np.random.default_rng(4).normal(size=(400, 3))
    members = [
        ("ecod", ECODDetector()),
        ("knn", KNNDetector(max_samples=64, n_estimators=3, random_state=0)),
    ]
    ensemble = AnomalyEnsemble(members)
    combined = -ensemble.fit_score_samples(X)
    assert ensemble.calibration_start_ == 300
    assert combined.shape == (100,)
    ecod, knn = (member for _, member in ensemble.detectors_)
    surprisals = np.vstack(
        [
            -np.log1p(ecod.fit_score_samples(X)[300:]),
            -np.log1p(knn.fit_score_samples(X)),
        ]
    )
    np.testing.assert_allclose(combined, surprisals.max(axis=0))
    # The outer calibration of auto uses the same rows.
    auto = _build("auto").fit(X)
    assert auto.calibration_start_ == 300


def test_few_rows_are_calibrated_by_blocks_each_scored_against_the_rows_outside_it() -> None:
    # 400 rows: the last 100 are scored against the first 300; then, short of
    # MIN_CALIBRATION_ROWS, each block of 100 before them against the other 300 rows.
    X = np.random.default_rng(6).normal(size=(400, 3))
    model = KNNDetector(n_neighbors=3)
    scores = model.fit_score_samples(X)
    assert knn_module.MIN_CALIBRATION_ROWS > 400
    assert model.calibration_start_ == 0 and scores.shape == (400,)
    for first in (0, 100, 200, 300):
        outside = np.delete(X, np.s_[first : first + 100], axis=0)
        expected = KNNDetector(n_neighbors=3).fit(outside).score_samples(X[first : first + 100])
        np.testing.assert_allclose(scores[first : first + 100], expected)
    # Enough rows in the last quarter: it alone calibrates, against the rows before it.
    many = np.random.default_rng(7).normal(size=(4 * knn_module.MIN_CALIBRATION_ROWS, 2))
    sampled = KNNDetector(max_samples=64, n_estimators=2, random_state=0)
    assert sampled.fit_score_samples(many).shape == (knn_module.MIN_CALIBRATION_ROWS,)
    assert sampled.calibration_start_ == 3 * knn_module.MIN_CALIBRATION_ROWS


def test_a_detector_pickled_before_held_out_calibration_still_loads() -> None:
    rng = np.random.default_rng(0)
    detector = KNNDetector(max_samples=32, n_estimators=2, random_state=0).fit(
        rng.normal(size=(100, 2))
    )
    old = detector.__getstate__()
    del old["held_out"]  # as pickled by the leave-one-out version
    restored = KNNDetector.__new__(KNNDetector)
    restored.__setstate__(old)
    assert restored.get_params()["held_out"] == detector.held_out
    again = pickle.loads(pickle.dumps(restored))
    rows = rng.normal(size=(5, 2))
    assert np.allclose(again.score_samples(rows), detector.score_samples(rows))
