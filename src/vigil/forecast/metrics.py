"""Forecast accuracy: MASE, sMAPE, RMSE and interval coverage, as M4 defines them.

Every function takes the actual and forecast values as array-likes of one
shape and ignores positions where either is missing (NaN), so live metrics
can be computed on whatever actuals have arrived. Each returns NaN when no
position is left.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(actual: Any, forecast: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual has {a.size} values but forecast has {f.size}")
    keep = np.isfinite(a) & np.isfinite(f)
    return a[keep], f[keep]


def mase_scale(history: Any, season_length: int = 1) -> float:
    """Returns the mean absolute error of the in-sample seasonal naive forecast of ``history``.

    This is M4's MASE denominator; a series too short for one season falls
    back to the naive (lag 1) error, and a series its seasonal naive forecast
    fits exactly to 1.0, so that its MASE is its mean absolute error rather
    than a division by zero.

    >>> mase_scale([1, 2, 3, 4, 5, 6], season_length=2)
    2.0
    """
    y = np.asarray(history, dtype=float).ravel()
    y = y[np.isfinite(y)]
    lag = season_length if y.size > season_length else 1
    if y.size <= lag:
        return 1.0
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
    # Rounding leaves a perfectly seasonal series a scale of ~1e-15: that is zero too.
    return scale if scale > 1e-9 * max(1.0, float(np.mean(np.abs(y)))) else 1.0


def mase(actual: Any, forecast: Any, scale: float) -> float:
    """Returns the mean absolute error of ``forecast`` divided by ``scale`` (see ``mase_scale``).

    >>> mase([1, 2], [2, 4], scale=0.5)
    3.0
    """
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    return float(np.mean(np.abs(a - f)) / scale)


def smape(actual: Any, forecast: Any) -> float:
    """Returns the symmetric mean absolute percentage error, in percent (0 to 200).

    M4's definition: mean of 200 |a - f| / (|a| + |f|); a position where both
    are 0 counts as a perfect forecast.

    >>> smape([100, 0], [110, 0])
    4.761904761904762
    """
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(a - f), denominator, out=np.zeros_like(a), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def rmse(actual: Any, forecast: Any) -> float:
    """Returns the root mean squared error.

    >>> rmse([0, 0], [3, 4])
    3.5355339059327378
    """
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((a - f) ** 2)))


def coverage(actual: Any, lower: Any, upper: Any) -> float:
    """Returns the share of actual values inside [lower, upper], in [0, 1].

    >>> coverage([1, 5, 9], [0, 0, 0], [2, 6, 6])
    0.6666666666666666
    """
    a = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    keep = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    if not keep.any():
        return float("nan")
    a, lo, hi = a[keep], lo[keep], hi[keep]
    return float(np.mean((a >= lo) & (a <= hi)))
