"""The F1 ceiling benchmarks/anomaly/logs.py reports: the best any model of the features can do."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from benchmark_support import load_benchmark

logs = load_benchmark("logs.py")


def _brute_force(signature: np.ndarray, y: np.ndarray) -> float:
    """Returns the best F1 over every set of signatures flagged (small inputs only)."""
    kinds = sorted(set(signature))
    best = 0.0
    for size in range(1, len(kinds) + 1):
        for chosen in itertools.combinations(kinds, size):
            flagged = np.isin(signature, chosen)
            tp = int((flagged & (y == 1)).sum())
            best = max(best, 2 * tp / (flagged.sum() + (y == 1).sum()))
    return best


def test_separable_sessions_have_a_ceiling_of_one() -> None:
    assert logs._f1_ceiling(np.array(list("aabbc")), np.array([1, 1, 0, 0, 1])) == 1.0


def test_identical_sessions_with_both_labels_cap_the_f1() -> None:
    # "b" is always anomalous; "a" holds one anomaly among three sessions.
    ceiling = logs._f1_ceiling(np.array(list("aaab")), np.array([1, 0, 0, 1]))
    assert ceiling == pytest.approx(2 / 3, abs=1e-4)


@pytest.mark.parametrize("seed", range(20))
def test_the_ceiling_is_the_best_of_every_flagged_set(seed: int) -> None:
    rng = np.random.default_rng(seed)
    signature = rng.choice(list("abcdef"), size=40)
    y = (rng.random(40) < rng.random(6)[np.searchsorted(list("abcdef"), signature)]).astype(int)
    if y.sum() == 0:
        y[0] = 1
    assert logs._f1_ceiling(signature, y) == pytest.approx(_brute_force(signature, y), abs=1e-4)
