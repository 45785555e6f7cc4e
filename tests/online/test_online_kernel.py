"""The kernel's running maximum (the refractory span) equals the maximum it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.online import layout
from vigil.online.kernel import _running_peak


@pytest.mark.parametrize("span", [1, 2, 7, 50])
def test_the_running_peak_is_the_highest_of_the_last_span_scores(span: int) -> None:
    rng = np.random.default_rng(span)
    # Ties and runs (repeated and rising values) as well as noise.
    scores = np.r_[rng.random(300), np.full(40, 0.7), np.linspace(0, 1, 60), rng.random(100)]
    peaks = np.zeros(span + 1)
    times = np.zeros(span + 1, dtype=np.int64)
    counts = np.zeros(layout.COUNTERS, dtype=np.int64)
    for now, score in enumerate(scores):
        expected = max(scores[max(0, now - span) : now], default=0.0)
        assert _running_peak(peaks, times, counts, now, span, score) == expected
        assert counts[layout.PEAK_SIZE] <= span + 1
