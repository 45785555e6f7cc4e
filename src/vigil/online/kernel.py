"""The compiled per-point loop of the online metric detector (numba).

One call scores a run of points of one series in time order, reading and
updating the arrays of that series' state in place. Everything a point's
score depends on is in those arrays, so scoring a run in one call, in
pieces, or point by point performs the same floating-point operations in
the same order and gives identical scores.

Per point, before the point joins any reference (a point never judges
itself):

1. four surprises, each the rank tail probability of a quantity among its
   last ``window`` values (a sliding empirical distribution, ECOD-like:
   ``-log p`` scaled by ``log(n + 1)`` to lie in [0, 1]; a quantity beyond
   the window's range adds ``log1p`` of how far beyond, in interquartile
   ranges, so a new extreme ranks by its size):
   the *value* (two-sided), the *level* (the mean of the last 6 values,
   two-sided: a shift too small for any one point to stand out), the *step*
   since the previous point, and the *cycle residual*, how far the value is
   from the value one cycle (a day) earlier, which catches a daily pattern
   that fails to come; and a fifth, the *forecast miss*: how far the value
   is from an additive seasonal forecast (a level smoothed with ``alpha``
   plus the offset of this phase of the day smoothed with ``gamma``,
   Holt-Winters without trend), among the recent misses: a running
   interval of the forecast;
2. the raw score is the largest of the surprises ``components`` selects
   (``layout``'s bits: the default detector takes the value, level, step
   and forecast miss, the ``forecast_residual`` algorithm the forecast miss
   alone); only the
   selected surprises' windows (and the forecaster) are kept and learn;
3. the anomaly likelihood of Ahmad et al. (2017): the raw score, and its
   mean over the last ``short`` points (HTM averages 10; the default is 1,
   the point alone), each compared with its own distribution over the last
   ``likelihood_window`` points (the size of ``point_ring``; HTM's 8,640,
   longer than the references), ``z = (x - mean) / std``; the score is the
   larger ``S / (S + ln 2)`` of the two, where
   ``S = -ln Q(z)`` is the surprisal of the Gaussian upper tail (0.5 at the
   mean, towards 1 far above it, never rounding to 1 as ``Phi(z)`` does);
4. *refractory*: a score whose surprisal ``S`` is not ``rearm`` times that
   of the highest of the previous ``refractory`` points is halved, so one
   lasting event raises one alarm at its onset rather than an alarm per
   point, and a burst whose scores creep up point after point (0.951,
   0.958, 0.963, ...) raises one, not one per new high; an event clearly
   stronger than the last alarm still raises its own (ARTime re-arms its
   masked alarms the same way, on a similarity clearly below the last
   alarm's).

With ``learn`` false (a frozen model) the references (the five windows,
the forecaster and the distributions of the raw score) stay as training
left them; the
context (the previous value, the last values, the last cycle of values, the
last raw scores and scores) still moves, as it describes the points at hand.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from vigil.online.layout import (
    CYCLE,
    FORECAST,
    FORECAST_LEVEL,
    HAS_FORECAST,
    HAS_LAST,
    LAST_VALUE,
    LEVEL,
    MEAN_SUM,
    MEAN_SUMSQ,
    MIN_REFERENCE,
    N_CYCLES,
    N_HISTORY,
    N_LEVELS,
    N_RAW,
    N_RESIDUALS,
    N_SCORES,
    N_STEPS,
    N_VALUES,
    PEAK_HEAD,
    PEAK_SIZE,
    POINT_SUM,
    POINT_SUMSQ,
    POS_CYCLES,
    POS_LEVELS,
    POS_RAW,
    POS_RESIDUALS,
    POS_SCORES,
    POS_STEPS,
    POS_VALUES,
    STEP,
    VALUE,
)

_MIN_STD = 1e-3


@njit(cache=True)
def _insert_sorted(sorted_: np.ndarray, n: int, value: float) -> None:
    """Inserts ``value`` into the first ``n`` (sorted) entries of ``sorted_``, in place."""
    j = n
    while j > 0 and sorted_[j - 1] > value:
        sorted_[j] = sorted_[j - 1]
        j -= 1
    sorted_[j] = value


@njit(cache=True)
def _replace_sorted(sorted_: np.ndarray, n: int, old: float, value: float) -> None:
    """Replaces one entry equal to ``old`` by ``value``, shifting only the entries between."""
    j = np.searchsorted(sorted_[:n], old)
    if value >= old:
        while j + 1 < n and sorted_[j + 1] < value:
            sorted_[j] = sorted_[j + 1]
            j += 1
    else:
        while j > 0 and sorted_[j - 1] > value:
            sorted_[j] = sorted_[j - 1]
            j -= 1
    sorted_[j] = value


@njit(cache=True)
def _push_window(
    ring: np.ndarray, sorted_: np.ndarray, counts: np.ndarray, n_at: int, pos_at: int, value: float
) -> None:
    """Adds ``value`` to a sliding window (ring + sorted copy), dropping the oldest when full."""
    size = ring.shape[0]
    n = counts[n_at]
    pos = counts[pos_at]
    if n == size:
        _replace_sorted(sorted_, n, ring[pos], value)
    else:
        _insert_sorted(sorted_, n, value)
        counts[n_at] = n + 1
    ring[pos] = value
    counts[pos_at] = (pos + 1) % size


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
    if value > sorted_[n - 1]:
        surprise += math.log1p((value - sorted_[n - 1]) / _spread(sorted_, n))
    elif two_sided and value < sorted_[0]:
        surprise += math.log1p((sorted_[0] - value) / _spread(sorted_, n))
    return surprise


@njit(cache=True)
def _spread(sorted_: np.ndarray, n: int) -> float:
    """Returns the interquartile range of the window, else its range, else its size, never 0."""
    spread = _quantile(sorted_, n, 0.75) - _quantile(sorted_, n, 0.25)
    if spread <= 0.0:
        spread = sorted_[n - 1] - sorted_[0]
    if spread <= 0.0:
        spread = max(abs(sorted_[n - 1]), 1e-9)
    return spread


@njit(cache=True)
def _likelihood(x: float, total: float, total_sq: float, n: int) -> float:
    """Returns ``S / (S + ln 2)``, ``S`` the Gaussian upper-tail surprisal of ``x``'s z-score.

    0.5 at the mean, towards 1 far above it, towards 0 below: the order of
    ``Phi(z)`` without its rounding to 1.0 beyond ``z`` = 8, so far outliers
    stay ranked by how far they are. 0 until ``n`` reaches the minimum.
    """
    if n < MIN_REFERENCE:
        return 0.0
    mean = total / n
    variance = max(total_sq / n - mean * mean, 0.0)
    z = (x - mean) / max(math.sqrt(variance), _MIN_STD)
    if z < 30.0:
        surprisal = -math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
    else:  # Mills' ratio: erfc underflows, its logarithm does not
        surprisal = 0.5 * z * z + math.log(z * math.sqrt(2.0 * math.pi))
    return surprisal / (surprisal + math.log(2.0))


@njit(cache=True)
def _odds(score: float) -> float:
    """Returns ``score / (1 - score)``: the surprisal ``S`` a likelihood score came from, over ln 2.

    Inverts ``S / (S + ln 2)``, so ratios of odds are ratios of surprisals;
    a score that rounded to 1 counts as the largest surprisal.
    """
    return score / max(1.0 - score, 1e-300)


@njit(cache=True)
def _push_sums(
    ring: np.ndarray, pos: int, n: int, value: float, scalars: np.ndarray, sum_at: int, sq_at: int
) -> None:
    """Puts ``value`` at ``pos`` of a score ring of ``n`` entries, keeping its sums."""
    if n == ring.shape[0]:
        old = ring[pos]
        scalars[sum_at] -= old
        scalars[sq_at] -= old * old
    ring[pos] = value
    scalars[sum_at] += value
    scalars[sq_at] += value * value


@njit(cache=True)
def _update_forecast(
    x: float,
    phase: int,
    cycle: int,
    seen: int,
    alpha: float,
    gamma: float,
    season: np.ndarray,
    counts: np.ndarray,
    scalars: np.ndarray,
) -> None:
    """Moves the forecaster's level and this phase's seasonal offset towards ``x``.

    The first point sets the level; during the first season each phase's
    offset is its value less the level then; after, both are exponentially
    smoothed (``alpha`` the level, ``gamma`` the offsets).
    """
    if counts[HAS_FORECAST] == 0:
        scalars[FORECAST_LEVEL] = x
        counts[HAS_FORECAST] = 1
    if cycle > 0 and seen < cycle:
        season[phase] = x - scalars[FORECAST_LEVEL]
        return
    level = scalars[FORECAST_LEVEL] + alpha * (x - season[phase] - scalars[FORECAST_LEVEL])
    season[phase] += gamma * (x - level - season[phase])
    scalars[FORECAST_LEVEL] = level


@njit(cache=True)
def _running_peak(
    scores: np.ndarray,
    times: np.ndarray,
    counts: np.ndarray,
    now: int,
    span: int,
    score: float,
) -> float:
    """Returns the highest score of the ``span`` points before point ``now`` (0 if none),
    then records ``score`` as point ``now``'s.

    A monotone queue (a ring of ``span + 1`` entries): it keeps only the scores
    no later score has reached, oldest first, so its head is the maximum and
    each point costs O(1) on average, whatever the span.
    """
    size = scores.shape[0]
    head = counts[PEAK_HEAD]
    length = counts[PEAK_SIZE]
    while length > 0 and times[head] < now - span:
        head = (head + 1) % size
        length -= 1
    highest = scores[head] if length > 0 else 0.0
    while length > 0 and scores[(head + length - 1) % size] <= score:
        length -= 1
    tail = (head + length) % size
    scores[tail] = score
    times[tail] = now
    counts[PEAK_HEAD] = head
    counts[PEAK_SIZE] = length + 1
    return max(highest, 0.0)


@njit(cache=True)
def score_run(
    values: np.ndarray,
    learn: bool,
    cycle: int,
    components: int,
    alpha: float,
    gamma: float,
    rearm: float,
    out: np.ndarray,
    value_ring: np.ndarray,
    value_sorted: np.ndarray,
    step_ring: np.ndarray,
    step_sorted: np.ndarray,
    cycle_ring: np.ndarray,
    cycle_sorted: np.ndarray,
    history: np.ndarray,
    recent: np.ndarray,
    level_ring: np.ndarray,
    level_sorted: np.ndarray,
    raw_ring: np.ndarray,
    point_ring: np.ndarray,
    mean_ring: np.ndarray,
    peak_scores: np.ndarray,
    peak_times: np.ndarray,
    season: np.ndarray,
    residual_ring: np.ndarray,
    residual_sorted: np.ndarray,
    counts: np.ndarray,
    scalars: np.ndarray,
) -> None:
    """Scores ``values`` (one series, time order) into ``out``, updating the state arrays.

    ``cycle`` is the number of points in a day (0: no cycle residual); the
    short mean's length and the refractory span are the sizes of
    ``raw_ring`` and one less than that of ``peak_scores``.
    """
    short = raw_ring.shape[0]
    refractory = peak_scores.shape[0] - 1
    for i in range(values.shape[0]):
        x = values[i]
        has_last = counts[HAS_LAST] == 1
        seen = counts[N_HISTORY]
        # 1-2. The raw score: the largest of the chosen surprises.
        raw = 0.0
        if components & VALUE:
            raw = _surprise(value_sorted, counts[N_VALUES], x, True)
        step = abs(x - scalars[LAST_VALUE]) if has_last else 0.0
        if has_last and components & STEP:
            raw = max(raw, _surprise(step_sorted, counts[N_STEPS], step, False))
        # The level: the mean of the last values, this one included, once there are enough.
        points = recent.shape[0]
        recent[seen % points] = x
        has_level = seen >= points
        level = 0.0
        if has_level:
            for k in range(points):
                level += recent[k]
            level /= points
            if components & LEVEL:
                raw = max(raw, _surprise(level_sorted, counts[N_LEVELS], level, True))
        has_cycle = cycle > 0 and seen >= cycle
        residual = 0.0
        if has_cycle:
            residual = abs(x - history[(seen - cycle) % history.shape[0]])
            if components & CYCLE:
                raw = max(raw, _surprise(cycle_sorted, counts[N_CYCLES], residual, False))
        # The forecast residual: how far the value is from the additive seasonal forecast
        # (a level, plus the season's offset at this phase of the day: Holt-Winters without
        # trend), once a whole season has been seen.
        phase = seen % cycle if cycle > 0 else 0
        has_forecast = counts[HAS_FORECAST] == 1 and (cycle == 0 or seen >= cycle)
        miss = 0.0
        if has_forecast:
            miss = abs(x - scalars[FORECAST_LEVEL] - season[phase])
            if components & FORECAST:
                raw = max(raw, _surprise(residual_sorted, counts[N_RESIDUALS], miss, False))
        # 3. The likelihood of the raw score and of its short mean.
        raw_ring[counts[POS_RAW]] = raw
        counts[POS_RAW] = (counts[POS_RAW] + 1) % short
        counts[N_RAW] = min(counts[N_RAW] + 1, short)
        short_mean = 0.0
        for k in range(counts[N_RAW]):
            short_mean += raw_ring[k]
        short_mean /= counts[N_RAW]
        n_scores = counts[N_SCORES]
        score = max(
            _likelihood(raw, scalars[POINT_SUM], scalars[POINT_SUMSQ], n_scores),
            _likelihood(short_mean, scalars[MEAN_SUM], scalars[MEAN_SUMSQ], n_scores),
        )
        # 4. Refractory: only a clearly new high among the recent scores raises an alarm.
        highest = _running_peak(peak_scores, peak_times, counts, seen, refractory, score)
        out[i] = score if _odds(score) > rearm * _odds(highest) else 0.5 * score
        # Learning: the point joins the references only after it was judged.
        if learn:
            # Only the selected surprises' windows (and forecaster) are kept: the others
            # would cost a sorted insertion per point for nothing.
            if components & VALUE:
                _push_window(value_ring, value_sorted, counts, N_VALUES, POS_VALUES, x)
            if has_last and components & STEP:
                _push_window(step_ring, step_sorted, counts, N_STEPS, POS_STEPS, step)
            if has_cycle and components & CYCLE:
                _push_window(cycle_ring, cycle_sorted, counts, N_CYCLES, POS_CYCLES, residual)
            if has_level and components & LEVEL:
                _push_window(level_ring, level_sorted, counts, N_LEVELS, POS_LEVELS, level)
            if components & FORECAST:
                if has_forecast:
                    _push_window(
                        residual_ring, residual_sorted, counts, N_RESIDUALS, POS_RESIDUALS, miss
                    )
                _update_forecast(x, phase, cycle, seen, alpha, gamma, season, counts, scalars)
            pos = counts[POS_SCORES]
            _push_sums(point_ring, pos, n_scores, raw, scalars, POINT_SUM, POINT_SUMSQ)
            _push_sums(mean_ring, pos, n_scores, short_mean, scalars, MEAN_SUM, MEAN_SUMSQ)
            counts[POS_SCORES] = (pos + 1) % point_ring.shape[0]
            counts[N_SCORES] = min(n_scores + 1, point_ring.shape[0])
        history[seen % history.shape[0]] = x
        counts[N_HISTORY] = seen + 1
        scalars[LAST_VALUE] = x
        counts[HAS_LAST] = 1
