"""The compiled per-point loop of the online metric detector (numba).

One call scores a run of points of one series in time order, reading and
updating the arrays of that series' state in place. Everything a point's
score depends on is in those arrays, so scoring a run in one call, in
pieces, or point by point performs the same floating-point operations in
the same order and gives identical scores.

Per point, before the point joins any reference (a point never judges
itself):

1. *value surprise*: the two-sided rank tail probability of the value among
   the last ``window`` values (a sliding empirical distribution, ECOD-like:
   ``-log p`` scaled by ``log(n + 1)`` so it lies in [0, 1]); a value beyond
   the window's range adds ``log1p`` of how far beyond, in interquartile
   ranges, so a new extreme ranks by its size;
2. *step surprise*: the same, one-sided, for the size of the change since
   the previous point, among the last ``window`` changes;
3. the raw score is the larger of the two; its mean over the last ``short``
   points is compared with the distribution of that mean over the last
   ``window`` points: the anomaly likelihood of Ahmad et al. (2017) —
   ``z = (short mean - mean) / std`` and ``likelihood = Phi(z)``;
4. *refractory*: a likelihood that is not above the highest of the
   previous ``refractory`` points is halved, so one lasting event raises
   one alarm at its onset rather than an alarm per point.

With ``learn`` false (a frozen model) the references (the value and step
windows and the distribution of the short mean) stay as training left
them; the context (the previous value, the last raw scores, the last
likelihoods) still moves, as it describes the points at hand.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from vigil.online.layout import (
    HAS_LAST,
    LAST_VALUE,
    MEAN_SUM,
    MEAN_SUMSQ,
    MIN_REFERENCE,
    N_LIKS,
    N_MEANS,
    N_RAW,
    N_STEPS,
    N_VALUES,
    POS_LIKS,
    POS_MEANS,
    POS_RAW,
    POS_STEPS,
    POS_VALUES,
)

_MIN_STD = 1e-3


@njit(cache=True)
def _insert_sorted(sorted_: np.ndarray, n: int, value: float) -> None:
    """Inserts ``value`` into the first ``n`` (sorted) entries of ``sorted_``."""
    at = np.searchsorted(sorted_[:n], value)
    sorted_[at + 1 : n + 1] = sorted_[at:n].copy()
    sorted_[at] = value


@njit(cache=True)
def _remove_sorted(sorted_: np.ndarray, n: int, value: float) -> None:
    """Removes one entry equal to ``value`` from the first ``n`` entries of ``sorted_``."""
    at = np.searchsorted(sorted_[:n], value)
    sorted_[at : n - 1] = sorted_[at + 1 : n].copy()


@njit(cache=True)
def _push_window(
    ring: np.ndarray, sorted_: np.ndarray, counts: np.ndarray, n_at: int, pos_at: int, value: float
) -> None:
    """Adds ``value`` to a sliding window (ring + sorted copy), dropping the oldest when full."""
    size = ring.shape[0]
    n = counts[n_at]
    pos = counts[pos_at]
    if n == size:
        _remove_sorted(sorted_, n, ring[pos])
        n -= 1
    _insert_sorted(sorted_, n, value)
    ring[pos] = value
    counts[pos_at] = (pos + 1) % size
    counts[n_at] = n + 1


@njit(cache=True)
def _quantile(sorted_: np.ndarray, n: int, q: float) -> float:
    at = q * (n - 1)
    low = int(at)  # at >= 0: truncation is the floor
    high = min(low + 1, n - 1)
    return sorted_[low] + (sorted_[high] - sorted_[low]) * (at - low)


@njit(cache=True)
def _surprise(sorted_: np.ndarray, n: int, value: float, two_sided: bool) -> float:
    """Returns the scaled rank surprisal of ``value`` among ``n`` sorted reference values."""
    if n < MIN_REFERENCE:
        return 0.0
    below = np.searchsorted(sorted_[:n], value, side="left")
    above = n - np.searchsorted(sorted_[:n], value, side="right")
    tail = min(below, above) if two_sided else above
    surprise = -math.log((tail + 1.0) / (n + 1.0)) / math.log(n + 1.0)
    spread = _quantile(sorted_, n, 0.75) - _quantile(sorted_, n, 0.25)
    if spread <= 0.0:
        spread = sorted_[n - 1] - sorted_[0]
    if spread <= 0.0:
        spread = max(abs(sorted_[n - 1]), 1e-9)
    if value > sorted_[n - 1]:
        surprise += math.log1p((value - sorted_[n - 1]) / spread)
    elif two_sided and value < sorted_[0]:
        surprise += math.log1p((sorted_[0] - value) / spread)
    return surprise


@njit(cache=True)
def _likelihood(z: float) -> float:
    """Returns ``S / (S + ln 2)`` of the surprisal ``S = -ln Q(z)`` of the Gaussian upper tail.

    0.5 at the mean, towards 1 far above it, towards 0 below: the order of
    ``Phi(z)`` without its rounding to 1.0 beyond ``z`` = 8, so far outliers
    stay ranked by how far they are.
    """
    if z < 30.0:
        surprisal = -math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
    else:  # Mills' ratio: erfc underflows, its logarithm does not
        surprisal = 0.5 * z * z + math.log(z * math.sqrt(2.0 * math.pi))
    return surprisal / (surprisal + math.log(2.0))


@njit(cache=True)
def score_run(
    values: np.ndarray,
    learn: bool,
    short: int,
    refractory: int,
    out: np.ndarray,
    value_ring: np.ndarray,
    value_sorted: np.ndarray,
    step_ring: np.ndarray,
    step_sorted: np.ndarray,
    raw_ring: np.ndarray,
    mean_ring: np.ndarray,
    lik_ring: np.ndarray,
    counts: np.ndarray,
    scalars: np.ndarray,
) -> None:
    """Scores ``values`` (one series, time order) into ``out``, updating the state arrays."""
    for i in range(values.shape[0]):
        x = values[i]
        # 1-2. Surprise of the value and of the step, against the references.
        value_surprise = _surprise(value_sorted, counts[N_VALUES], x, True)
        step = abs(x - scalars[LAST_VALUE]) if counts[HAS_LAST] else 0.0
        step_surprise = (
            _surprise(step_sorted, counts[N_STEPS], step, False) if counts[HAS_LAST] else 0.0
        )
        raw = max(value_surprise, step_surprise)
        # 3. The short mean of the raw score against its recent distribution.
        raw_ring[counts[POS_RAW]] = raw
        counts[POS_RAW] = (counts[POS_RAW] + 1) % short
        counts[N_RAW] = min(counts[N_RAW] + 1, short)
        short_mean = 0.0
        for k in range(counts[N_RAW]):
            short_mean += raw_ring[k]
        short_mean /= counts[N_RAW]
        n_means = counts[N_MEANS]
        likelihood = 0.0
        if n_means >= MIN_REFERENCE:
            mean = scalars[MEAN_SUM] / n_means
            variance = max(scalars[MEAN_SUMSQ] / n_means - mean * mean, 0.0)
            z = (short_mean - mean) / max(math.sqrt(variance), _MIN_STD)
            likelihood = _likelihood(z)
        # 4. Refractory: only a new high among the recent likelihoods raises an alarm.
        highest = 0.0
        for k in range(counts[N_LIKS]):
            highest = max(highest, lik_ring[k])
        out[i] = likelihood if likelihood > highest else 0.5 * likelihood
        lik_ring[counts[POS_LIKS]] = likelihood
        counts[POS_LIKS] = (counts[POS_LIKS] + 1) % refractory
        counts[N_LIKS] = min(counts[N_LIKS] + 1, refractory)
        # Learning: the point joins the references only after it was judged.
        if learn:
            _push_window(value_ring, value_sorted, counts, N_VALUES, POS_VALUES, x)
            if counts[HAS_LAST]:
                _push_window(step_ring, step_sorted, counts, N_STEPS, POS_STEPS, step)
            size = mean_ring.shape[0]
            pos = counts[POS_MEANS]
            if n_means == size:
                old = mean_ring[pos]
                scalars[MEAN_SUM] -= old
                scalars[MEAN_SUMSQ] -= old * old
            else:
                counts[N_MEANS] = n_means + 1
            mean_ring[pos] = short_mean
            scalars[MEAN_SUM] += short_mean
            scalars[MEAN_SUMSQ] += short_mean * short_mean
            counts[POS_MEANS] = (pos + 1) % size
        scalars[LAST_VALUE] = x
        counts[HAS_LAST] = 1
