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


def _alarms(detector_rearm: float, values: np.ndarray) -> np.ndarray:
    from vigil.online.detector import OnlineDetector

    detector = OnlineDetector(half_life=500, refractory=192, rearm=detector_rearm)
    state = detector.empty_state().of("")
    return np.flatnonzero(detector.score(values, state) >= 0.95)


def test_a_creeping_burst_raises_one_alarm_and_a_far_stronger_event_its_own() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 1.0, 2200)
    # A burst whose every point is a little higher than the last, then a far larger spike
    # within the refractory span.
    values[2000:2006] = [5.0, 5.5, 6.0, 6.5, 7.0, 7.5]
    values[2100] = 80.0
    any_new_high = _alarms(1.0, values)
    rearmed = _alarms(1.5, values)
    assert len(any_new_high[(any_new_high >= 2000) & (any_new_high < 2006)]) > 1
    assert list(rearmed[rearmed >= 2000]) == [2000, 2100]
    assert set(rearmed) <= set(any_new_high)


def test_rearm_is_checked_and_named() -> None:
    from vigil.errors import UsageError
    from vigil.online.detector import OnlineDetector

    with pytest.raises(UsageError, match="rearm"):
        OnlineDetector(rearm=0.5)
