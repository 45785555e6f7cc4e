"""Rolling windows over log events, exact, and how detectors are given them.

:func:`rolling_by_group` gives trailing-window statistics per group (a
service) in one vectorised pass. Windows carry no floating-point residue a
detector could mistake for change: integer fields are summed in int64 and
divided once, a window holding one value has that value as mean and median
and a spread of exactly 0, and :func:`snap_to_ranges` puts values within
``RESOLUTION`` of their training range on it. :func:`event_windows` ties the
window columns to the event scored, for detectors; :func:`covered_cycles`
says which time cycles a training log spans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

_NS_PER_SECOND = 1_000_000_000
_STATISTICS = ("n", "sum", "mean", "std")
# How window features are given: as the context they are, or tied to the event scored.
WINDOW_MODES = ("context", "event")
# Features that measure traffic volume, which follows the time of day.
VOLUME_FEATURES = frozenset({"window_count", "window_count_all"})
# Most decimals a value may have to be summed exactly in fixed point.
_MAX_DECIMALS = 6
# Cycles of the cyclic time features and how much of a log must span for each to be learned.
_CYCLES = {"hour": 86_400 * _NS_PER_SECOND, "weekday": 7 * 86_400 * _NS_PER_SECOND}
# A window feature's resolution: differences below this share of its magnitude (and below
# the absolute floor, for features that are 0 in training) are rounding, not change. Sums
# over a million events carry about 1e-10 of relative rounding; real changes in counts,
# rates and latencies are many orders larger.
RESOLUTION = 1e-9
_ABSOLUTE_RESOLUTION = 1e-12


def covered_cycles(times_ns: np.ndarray) -> tuple[str, ...]:
    """Returns the time cycles (``hour``, ``weekday``) that ``times_ns`` span in full.

    What time of day is normal can only be learned from a log that has seen
    every hour of it: from half an hour of training, every later event sits
    outside the training range of ``hour_sin`` / ``hour_cos`` and a detector
    judges it extreme. So the hour features need a day of events, the
    weekday ones a week.
    """
    if len(times_ns) == 0:
        return ()
    span = int(times_ns.max()) - int(times_ns.min())
    cycles = [name for name, length in _CYCLES.items() if span >= length]
    return tuple(cycles)


def cycle_of(feature: str) -> str | None:
    """Returns the cycle a cyclic time feature belongs to (``hour_sin`` → ``hour``), else None."""
    for cycle in _CYCLES:
        if feature in (f"{cycle}_sin", f"{cycle}_cos"):
            return cycle
    return None


def training_ranges(columns: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Returns the smallest and largest finite value of each column that has one."""
    ranges: dict[str, tuple[float, float]] = {}
    for name, values in columns.items():
        finite = values[np.isfinite(values)]
        if len(finite):
            ranges[name] = (float(finite.min()), float(finite.max()))
    return ranges


def snap_to_ranges(
    columns: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]]
) -> dict[str, np.ndarray]:
    """Returns ``columns`` with values within the resolution of their training range put on it.

    Sums of values that fixed point cannot hold (more than six decimals) carry
    rounding that depends on the batch (the prefix a window sits on), and
    derived columns (logs, ratios) their own: the window that gave 0.48 in
    training may give 0.48000000000000004 in production. Beyond the training maximum by less
    than the feature's resolution (``RESOLUTION`` of its magnitude), that
    difference is noise, not evidence: a rank-based detector would otherwise
    put it in the extreme tail. Such values are set to the range's end.
    """
    snapped = dict(columns)
    for name, (low, high) in ranges.items():
        if name not in snapped:
            continue
        values = snapped[name]
        tolerance = max(RESOLUTION * max(abs(low), abs(high)), _ABSOLUTE_RESOLUTION)
        with np.errstate(invalid="ignore"):
            below = (values < low) & (values >= low - tolerance)
            above = (values > high) & (values <= high + tolerance)
        snapped[name] = np.where(below, low, np.where(above, high, values))
    return snapped


def rolling_by_group(
    times_ns: np.ndarray,
    groups: np.ndarray,
    window_ns: int,
    values: dict[str, np.ndarray],
    medians: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Returns trailing-window statistics per group, aligned with the input rows.

    For each row, the window holds the rows of the same group whose time is in
    ``(t - window, t]`` and that come no later in input order (ties in time are
    broken by position, so a row never sees a later one). Gives ``count``,
    and for each named value array ``<name>_sum``, ``<name>_n`` (non-missing
    count), ``<name>_mean``, ``<name>_std`` (sample, 0 below two values), plus
    ``<name>_median`` for names in ``medians``, and ``gap`` (nanoseconds since
    the group's previous row, NaN for the first).
    """
    rows = len(times_ns)
    if rows == 0:
        keys = ["count", "gap"] + [f"{n}_{s}" for n in values for s in _STATISTICS]
        keys += [f"{n}_median" for n in values if n in medians]
        return {key: np.zeros(0) for key in keys}
    order = np.lexsort((np.arange(rows), times_ns, groups))
    t = times_ns[order]
    g = groups[order]
    starts = np.empty(rows, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(g)) + 1
    seg_starts = np.concatenate(([0], bounds)).astype(np.int64)
    seg_ends = np.concatenate((bounds, [rows])).astype(np.int64)
    for s, e in zip(seg_starts, seg_ends, strict=True):
        segment = t[s:e]
        starts[s:e] = s + np.searchsorted(segment, segment - window_ns, side="right")
    position = np.arange(rows)
    out: dict[str, np.ndarray] = {"count": (position - starts + 1).astype(np.float64)}
    gap = np.empty(rows, dtype=np.float64)
    gap[1:] = np.diff(t).astype(np.float64)
    gap[seg_starts[seg_starts < rows]] = np.nan
    out["gap"] = gap

    def window_sum(x: np.ndarray) -> np.ndarray:
        """Returns the sum of ``x`` over each row's window, from one cumulative sum.

        Integer arrays are summed in int64, exactly: prefix sums may wrap
        around, but their differences are the true window sums whenever these
        fit in 64 bits. Floats carry the rounding of the prefix they sit on.
        """
        zero = np.zeros(1, dtype=x.dtype)
        cumulative = np.concatenate((zero, np.cumsum(x)))
        return np.asarray(cumulative[position + 1] - cumulative[starts])

    for name, raw in values.items():
        x = np.asarray(raw, dtype=np.float64)[order]
        valid = np.isfinite(x)
        n = window_sum(valid.astype(np.int64))
        # A window whose values are all the same holds no change: its mean is that value
        # and its spread exactly 0, whatever rounding the running sums carry.
        constant = _constant_windows(x, valid, seg_starts, starts)
        scale = _decimal_scale(x[valid], int(n.max()) if rows else 0)
        if scale is not None:
            # Fixed point: values with at most six decimals (whole milliseconds, nginx's
            # request_time) become exact integers, so each window's sums are exact and its
            # statistics depend on the window alone, never on the batch it sits in.
            units = np.where(valid, np.round(x * scale), 0.0).astype(np.int64)
            total_units = window_sum(units).astype(np.float64)
            square_units = window_sum(units * units).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                count = np.maximum(n, 1).astype(np.float64)
                mean = np.where(n > 0, total_units / (count * scale), np.nan)
                spread = (square_units - total_units * total_units / count) / np.maximum(n - 1, 1)
                variance = np.where(n > 1, spread / (float(scale) * scale), 0.0)
            total = total_units / scale
        else:
            # Centring before squaring keeps the running sums of squares accurate.
            centre = float(np.mean(x[valid])) if valid.any() else 0.0
            filled = np.where(valid, x - centre, 0.0)
            centred_total = window_sum(filled)
            squares = window_sum(filled * filled)
            with np.errstate(invalid="ignore", divide="ignore"):
                centred_mean = np.where(n > 0, centred_total / n, np.nan)
                mean = centred_mean + centre
                variance = np.where(n > 1, (squares - centred_total * centred_mean) / (n - 1), 0.0)
            total = centred_total + centre * n
        std = np.sqrt(np.clip(variance, 0.0, None))
        last = np.where(valid, x, np.nan)
        out[f"{name}_n"] = n.astype(np.float64)
        out[f"{name}_sum"] = np.where(constant, last * n, total)
        out[f"{name}_mean"] = np.where(constant, last, mean)
        out[f"{name}_std"] = np.where(constant | (n < 2), 0.0, std)
        if name in medians:
            index = pd.DatetimeIndex(t.astype("datetime64[ns]"))
            series = pd.Series(x, index=index)
            rolled = series.groupby(g, sort=False).rolling(pd.Timedelta(window_ns)).median()
            out[f"{name}_median"] = np.where(constant, last, rolled.to_numpy())
    unsorted: dict[str, np.ndarray] = {}
    for key, column in out.items():
        restored = np.empty(rows, dtype=np.float64)
        restored[order] = column
        unsorted[key] = restored
    return unsorted


def _decimal_scale(x: np.ndarray, longest: int) -> int | None:
    """Returns 10**k for the fewest decimals k (at most 6) that write every value exactly.

    None when some value needs more (a computed ratio, say), or when the sum
    of squares of a full window could overflow int64 in those units.
    """
    if len(x) == 0:
        return 1
    largest = float(np.abs(x).max())
    for decimals in range(_MAX_DECIMALS + 1):
        scale = 10**decimals
        scaled = x * scale
        # 0.031 * 1000 is 31.000000000000004 in binary: near a whole number is whole.
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            fits = (largest * scale) ** 2 * max(longest, 1) < 2.0**62
            return scale if fits else None
    return None


def _constant_windows(
    x: np.ndarray, valid: np.ndarray, seg_starts: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """Returns, per sorted row, whether its window holds one value, present on every row.

    A window ``[start, i]`` is constant when the last position at or before
    ``i`` where the value changed (a group's first row counts as a change, and
    so does a missing value or the row after one) is at or before ``start``.
    """
    rows = len(x)
    if rows == 0:
        return np.zeros(0, dtype=bool)
    changed = np.ones(rows, dtype=bool)
    changed[1:] = (x[1:] != x[:-1]) | ~valid[1:] | ~valid[:-1]
    changed[seg_starts] = True
    last_change = np.maximum.accumulate(np.where(changed, np.arange(rows), 0))
    return np.asarray((last_change <= starts) & valid)


def event_windows(
    windowed: dict[str, np.ndarray], is_error: np.ndarray, latency_vs_service: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Returns the window columns tied to the event scored, for detectors that score each event.

    A trailing window describes the events around this one. Left as it is, a
    burst of 5xx or of 60-second timeouts lifts the error rate and latency of
    every window it is in, and a detector flags each normal request of the
    next five minutes for its neighbours' failure (on simulated access logs,
    a third to a half of the normal lines). Tied to the event, the window says
    whether the event shares the trouble around it:

    - ``window_error_rate`` is kept for errors only (0 for a success): an
      error inside a burst stands out, an isolated one less, a success never;
    - ``window_latency_vs_service`` becomes the smaller of the event's own
      and its window's slowness, so a sustained slowdown stands out through
      events that are slow themselves, each only moderately;
    - the raw window mean, spread and median of latency, which say nothing
      of the event, are left out.
    """
    tied = dict(windowed)
    with np.errstate(invalid="ignore"):
        tied["window_error_rate"] = np.where(is_error > 0, windowed["window_error_rate"], 0.0)
        if latency_vs_service is not None and "window_latency_vs_service" in windowed:
            tied["window_latency_vs_service"] = np.fmin(
                latency_vs_service, windowed["window_latency_vs_service"]
            )
    for name in ("window_latency_mean", "window_latency_std", "window_latency_median"):
        tied.pop(name, None)
    return tied
