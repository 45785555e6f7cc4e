"""Log window statistics of a few new events over a kept history, compiled.

:func:`vigil.features.windows.rolling_by_group` computes every event's
trailing window at once (sorting, cumulative sums, pandas' grouped rolling
median): the definition, and the right tool for a whole file. A stream batch
needs the windows of its new events only, after a history that is already
at hand; recomputing every kept event's window (and its median through
pandas) costs tens of milliseconds per request even for one event.

:func:`windows_of` gives the same statistics for the chosen rows only, each
window read straight from the arrays by a numba kernel. The window of a row
is the one ``rolling_by_group`` defines: rows of the same group whose time is
in ``(t - window, t]`` and that come no later in (time, position) order; the
gap is the time since the group's previous row in that order. A window of
one repeated value has that value as mean and median and a spread of 0; the
other means and spreads are sums over the window, exact in fixed point where
``rolling_by_group`` uses fixed point, so the two agree to the last few bits
(tests/streams/test_incremental_features.py compares them).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vigil.features.windows import _decimal_scale


@njit(cache=True)
def _window_rows(
    times: np.ndarray,
    groups: np.ndarray,
    error: np.ndarray,
    latency: np.ndarray,
    has_latency: bool,
    window_ns: int,
    targets: np.ndarray,
    scale: float,
    centre: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Writes per target row: count, count_all, error_sum, gap, latency n/mean/std/median.

    ``scale`` > 0 sums latency in fixed point (units of 1/scale), else centred on ``centre``.
    """
    rows = times.shape[0]
    buffer = np.empty(rows, dtype=np.float64)
    for k in range(targets.shape[0]):
        i = targets[k]
        t = times[i]
        g = groups[i]
        low = t - window_ns
        count = 0
        count_all = 0
        error_sum = 0.0
        previous = -1
        n = 0
        units = 0
        squares = 0
        total = 0.0
        total_squares = 0.0
        first = 0.0
        constant = True
        for j in range(rows):
            tj = times[j]
            if tj > t or (tj == t and j > i):
                continue  # later in (time, position) order
            if (
                j != i
                and groups[j] == g
                and (
                    previous < 0 or tj > times[previous] or (tj == times[previous] and j > previous)
                )
            ):
                previous = j
            if tj <= low:
                continue
            count_all += 1
            if groups[j] != g:
                continue
            count += 1
            error_sum += error[j]
            if has_latency:
                x = latency[j]
                if x != x:
                    constant = False
                    continue
                if n == 0:
                    first = x
                elif x != first:
                    constant = False
                buffer[n] = x
                n += 1
                if scale > 0:
                    u = int(np.round(x * scale))
                    units += u
                    squares += u * u
                else:
                    total += x - centre
                    total_squares += (x - centre) * (x - centre)
        out[k, 0] = count
        out[k, 1] = count_all
        out[k, 2] = error_sum
        out[k, 3] = np.nan if previous < 0 else float(t - times[previous])
        if not has_latency:
            continue
        out[k, 4] = n
        if n == 0:
            out[k, 5] = np.nan
            out[k, 6] = 0.0
            out[k, 7] = np.nan
            continue
        if constant:
            out[k, 5] = first
            out[k, 6] = 0.0
            out[k, 7] = first
            continue
        if scale > 0:
            sum_units = float(units)
            mean = sum_units / (n * scale)
            variance = 0.0
            if n > 1:
                variance = (float(squares) - sum_units * sum_units / n) / (n - 1)
                variance = variance / (scale * scale)
        else:
            centred_mean = total / n
            mean = centred_mean + centre
            variance = 0.0
            if n > 1:
                variance = (total_squares - total * centred_mean) / (n - 1)
        out[k, 5] = mean
        out[k, 6] = np.sqrt(max(variance, 0.0)) if n > 1 else 0.0
        out[k, 7] = np.median(buffer[:n])


def windows_of(
    times_ns: np.ndarray,
    groups: np.ndarray,
    window_ns: int,
    is_error: np.ndarray,
    latency: np.ndarray | None,
    targets: np.ndarray,
) -> dict[str, np.ndarray]:
    """Returns ``rolling_by_group``'s statistics for the rows ``targets`` only.

    The keys are those ``LogEventFeatures._windowed`` reads: ``count``,
    ``count_all`` (the window over every group), ``error_sum``, ``gap``, and
    with a latency ``latency_n``, ``latency_mean``, ``latency_std`` and
    ``latency_median``.
    """
    times = np.ascontiguousarray(times_ns, dtype=np.int64)
    codes = np.ascontiguousarray(groups, dtype=np.int64)
    error = np.ascontiguousarray(is_error, dtype=np.float64)
    chosen = np.ascontiguousarray(targets, dtype=np.int64)
    has_latency = latency is not None
    values = (
        np.ascontiguousarray(latency, dtype=np.float64)
        if latency is not None
        else np.zeros(0, dtype=np.float64)
    )
    scale_value, centre = 0.0, 0.0
    if latency is not None:
        valid = values[np.isfinite(values)]
        # rolling_by_group's choice: fixed point when every value has few decimals.
        found = _decimal_scale(valid, len(values))
        if found is not None:
            scale_value = float(found)
        elif len(valid):
            centre = float(np.mean(valid))
    out = np.full((len(chosen), 8), np.nan)
    _window_rows(
        times, codes, error, values, has_latency, int(window_ns), chosen, scale_value, centre, out
    )
    columns = {
        "count": out[:, 0],
        "count_all": out[:, 1],
        "error_sum": out[:, 2],
        "gap": out[:, 3],
    }
    if has_latency:
        columns.update(
            latency_n=out[:, 4],
            latency_mean=out[:, 5],
            latency_std=out[:, 6],
            latency_median=out[:, 7],
        )
    return columns
