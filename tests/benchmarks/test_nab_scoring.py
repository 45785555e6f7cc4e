"""NAB's scoring rules as benchmarks/anomaly/nab.py implements them, on hand-worked series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from benchmark_support import load_benchmark

STANDARD = {"tp": 1.0, "fp": 0.11, "fn": 1.0}


nab = load_benchmark("nab.py")


def _series(rows: int) -> pd.Series:
    return pd.Series(pd.date_range("2024-01-01", periods=rows, freq="5min"))


def test_scaled_sigmoid_matches_nabs_reference_values() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_probation_is_15_percent_capped_at_750_points() -> None:
    assert nab.probation_length(100) == 15
    assert nab.probation_length(4032) == 604
    assert nab.probation_length(10_000) == 750


def test_an_earliest_detection_is_worth_the_true_positive_weight() -> None:
    stamps = _series(100)
    window = [(stamps[40], stamps[49])]  # 10 points, after the 15-point probation
    scores = np.zeros(100)
    scores[40] = 1.0
    points = nab.sweep_points(stamps, scores, window, "s", STANDARD)
    assert len(points) == 85
    threshold, total = nab.sweep(points, STANDARD).best()
    assert threshold == 1.0
    assert total == pytest.approx(1.0)
    assert nab.normalised(total, -1.0, 1.0) == pytest.approx(100.0)


def test_a_late_detection_earns_less_and_false_positives_cost_their_weight() -> None:
    stamps = _series(100)
    window = [(stamps[40], stamps[49])]
    scores = np.zeros(100)
    scores[49] = 0.9  # last point of the window: position -1/10
    scores[20] = 0.8  # before any window: a full false positive
    scores[5] = 0.95  # probationary: never scored
    points = nab.sweep_points(stamps, scores, window, "s", STANDARD)
    late = nab.scaled_sigmoid(-1 / 10) / nab.scaled_sigmoid(-1.0)
    assert nab.score_at(points, STANDARD, 0.9) == pytest.approx(late)
    assert nab.score_at(points, STANDARD, 0.8) == pytest.approx(late - 0.11)
    assert nab.score_at(points, STANDARD, 1.1) == pytest.approx(-1.0)
    thresholds = nab.sweep(points, STANDARD)
    assert thresholds.best() == pytest.approx((0.9, late))


def test_a_false_positive_just_after_a_window_costs_less_than_a_far_one() -> None:
    stamps = _series(100)
    window = [(stamps[40], stamps[49])]
    near = np.zeros(100)
    near[[40, 51]] = 1.0
    far = np.zeros(100)
    far[[40, 90]] = 1.0
    near_points = nab.sweep_points(stamps, near, window, "s", STANDARD)
    far_points = nab.sweep_points(stamps, far, window, "s", STANDARD)
    # Two points past the end of a 10-point window: position 2 / 9.
    penalty = 0.11 * nab.scaled_sigmoid(2 / 9)
    assert nab.score_at(near_points, STANDARD, 1.0) == pytest.approx(1.0 + penalty)
    assert nab.score_at(far_points, STANDARD, 1.0) == pytest.approx(1.0 - 0.11)


def test_only_the_best_detection_of_a_window_counts_and_ties_form_one_threshold() -> None:
    stamps = _series(100)
    window = [(stamps[40], stamps[49])]
    scores = np.zeros(100)
    scores[40:50] = 0.5  # every point of the window, one score
    points = nab.sweep_points(stamps, scores, window, "s", STANDARD)
    result = nab.sweep(points, STANDARD)
    assert list(result.thresholds[:2]) == [1.1, 0.5]
    assert result.totals[1] == pytest.approx(1.0)
    # At threshold 0 every other point is a false positive too.
    assert result.totals[-1] < result.totals[1]
    assert math.isclose(result.best()[0], 0.5)


def test_a_window_that_starts_at_no_timestamp_is_refused() -> None:
    stamps = _series(100)
    window = [(stamps[40] + pd.Timedelta("1min"), stamps[49])]
    with pytest.raises(ValueError, match="starts at no timestamp"):
        nab.sweep_points(stamps, np.zeros(100), window, "s", STANDARD)


needs_nab = pytest.mark.skipif(
    not (nab.DATA / "combined_windows.json").is_file(), reason="NAB data not present"
)


def _standard_score(corpus: list, scores: dict[str, np.ndarray]) -> float:
    per_series = nab.points_of(corpus, scores, STANDARD)
    points = [p for ps in per_series.values() for p in ps]
    windows = sum(len(s.windows) for s in corpus)
    return nab.corpus_score(points, windows, STANDARD, None)["score"]


def test_hand_made_perfect_and_silent_detectors_score_100_and_0() -> None:
    stamps = _series(200)
    frame = pd.DataFrame({"timestamp": stamps.astype(str), "value": 0.0})
    windows = [(stamps[40], stamps[59]), (stamps[120], stamps[139])]
    corpus = [nab.Series("s", "c", frame, windows)]
    perfect = np.zeros(200)
    perfect[[40, 120]] = 1.0
    assert _standard_score(corpus, {"s": perfect}) == pytest.approx(100.0)
    assert _standard_score(corpus, {"s": np.zeros(200)}) == pytest.approx(0.0)
    late = perfect.copy()
    late[[40, 120]] = 0.0
    late[[59, 139, 170]] = 1.0  # the last point of each window, and a false positive
    assert 0.0 < _standard_score(corpus, {"s": late}) < 100.0


@needs_nab
def test_on_nabs_windows_perfect_scores_100_silence_0_and_random_near_11() -> None:
    corpus = nab.load_corpus(nab.DATA)
    assert len(corpus) == 51
    perfect: dict[str, np.ndarray] = {}
    for series in corpus:
        stamps = pd.to_datetime(series.frame["timestamp"])
        scores = np.zeros(len(stamps))
        for start, _ in series.windows:
            scores[int(np.flatnonzero(stamps == start)[0])] = 1.0
        perfect[series.name] = scores
    assert _standard_score(corpus, perfect) == pytest.approx(100.0, abs=0.5)
    silent = {s.name: np.zeros(len(s.frame)) for s in corpus}
    assert _standard_score(corpus, silent) == pytest.approx(0.0)
    random = {s.name: nab.detect_random(s)[0] for s in corpus}
    # NAB's published random detector scores 11.0 on its 58 series; these 51 lack
    # realKnownCause, and seed 0 scores 18.8 on them. Far from that band is a scorer bug.
    assert 8.0 <= _standard_score(corpus, random) <= 22.0


def test_leave_one_category_out_scores_each_category_at_the_others_threshold() -> None:
    stamps = _series(200)
    frame = pd.DataFrame({"timestamp": stamps.astype(str), "value": 0.0})
    windows = [(stamps[40], stamps[59])]
    corpus = [
        nab.Series("a/1", "realTraffic", frame, windows),
        nab.Series("b/1", "realTweets", frame, windows),
    ]
    # a detects its window at 0.9; b at 0.5, with a false positive at 0.6. Swept on a
    # alone the threshold is 0.9, at which b detects nothing; swept on b alone it is
    # 0.5, at which a detects its window.
    a, b = np.zeros(200), np.zeros(200)
    a[45] = 0.9
    b[45], b[100] = 0.5, 0.6
    per_series = nab.points_of(corpus, {"a/1": a, "b/1": b}, STANDARD)
    loco = nab.leave_one_category_out(corpus, per_series, STANDARD)
    assert loco["categories"]["realTweets"]["threshold"] == 0.9
    assert loco["categories"]["realTweets"]["raw"] == pytest.approx(-1.0)
    assert loco["categories"]["realTraffic"]["threshold"] == 0.5
    assert loco["categories"]["realTraffic"]["raw"] > 0.8
    # The whole: one window found, one missed, normalised as the corpus is.
    together = nab.corpus_score(per_series["a/1"] + per_series["b/1"], 2, STANDARD, None)
    assert loco["score"] < together["score"]
