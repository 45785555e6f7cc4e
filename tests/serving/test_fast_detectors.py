"""The compiled anomaly detectors answer exactly as the detectors do, one row or many."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.algorithms.knn import KNNDetector


@pytest.mark.parametrize("method", ["largest", "mean"])
def test_a_rows_knn_distance_does_not_depend_on_the_rows_scored_with_it(method: str) -> None:
    # Served rows come one at a time; the same rows in a file come by the thousand.
    rng = np.random.default_rng(0)
    model = KNNDetector(method=method, max_samples=64, n_estimators=3, random_state=0)
    model.fit(rng.normal(size=(500, 13)))
    rows = rng.normal(size=(1100, 13)) * 1.5

    together = model.score_samples(rows)

    alone = [model.score_samples(rows[i : i + 1])[0] for i in (0, 1, 6, 7, 8, 1023, 1024, 1099)]
    assert alone == together[[0, 1, 6, 7, 8, 1023, 1024, 1099]].tolist()
    for start, stop in ((3, 9), (5, 40), (1000, 1100)):
        assert model.score_samples(rows[start:stop]).tolist() == together[start:stop].tolist()
