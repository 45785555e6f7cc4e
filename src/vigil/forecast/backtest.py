"""Rolling-origin backtest and final fit of one series with one statsforecast model.

The last ``cv`` windows of ``horizon`` steps are forecast, each from the
points before it only. The model's parameters are estimated once, on the
points before the first window, and applied (``forward``, no refit) to the
longer history each later window starts from: this is how a deployed model
is used between retrainings (``predict(history=...)``), and it costs one fit
instead of ``cv``. No window ever sees its own future: the fit sees none of
the windows, and each forward sees only the points before its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Intervals the backtest records for every model: their half-widths give the shape
# (growth with the step) that conformal intervals rescale.
SHAPE_LEVEL = 80


@dataclass
class Path:
    """One forecast path: the mean and the ``SHAPE_LEVEL`` half-width per step.

    ``nonnegative`` paths are forecast from points that are all >= 0 (counts,
    sales): their mean and every interval drawn from them stop at 0.
    """

    mean: np.ndarray
    half: np.ndarray
    native: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    nonnegative: bool = False


def floored(path: Path, y: np.ndarray) -> Path:
    """Returns ``path`` with its mean and native bounds floored at 0 if all of ``y`` is >= 0.

    The half-width is kept: conformal bounds are drawn around the floored
    mean and floored in turn (``model.bounds``).
    """
    if y.size == 0 or float(np.min(y)) < 0:
        return path
    return Path(
        mean=np.maximum(path.mean, 0.0),
        half=path.half,
        native={
            level: (np.maximum(lo, 0.0), np.maximum(hi, 0.0))
            for level, (lo, hi) in path.native.items()
        },
        nonnegative=True,
    )


@dataclass
class MemberFit:
    """One model of one series: its backtest paths, and once chosen, its fit on all points."""

    algorithm: str
    backtest: list[Path]
    failed: str | None = None


def _path(result: dict[str, np.ndarray], levels: Sequence[int]) -> Path:
    mean = np.asarray(result["mean"], dtype=float)
    native = {
        level: (
            np.asarray(result[f"lo-{level}"], dtype=float),
            np.asarray(result[f"hi-{level}"], dtype=float),
        )
        for level in levels
        if f"lo-{level}" in result
    }
    lo_hi = native.get(SHAPE_LEVEL)
    half = (lo_hi[1] - lo_hi[0]) / 2.0 if lo_hi is not None else np.full_like(mean, np.nan)
    return Path(mean=mean, half=half, native=native)


def with_levels(levels: Sequence[int]) -> list[int]:
    """Returns ``levels`` plus the shape level, sorted, without repeats."""
    return sorted({*map(int, levels), SHAPE_LEVEL})


def forward(
    model: Any,
    y: np.ndarray,
    horizon: int,
    levels: Sequence[int],
    x: np.ndarray | None = None,
    x_future: np.ndarray | None = None,
) -> Path:
    """Returns the forecast of fitted ``model`` applied to ``y`` without refitting it.

    ``x`` holds the regressors of ``y``'s points and ``x_future`` those of the
    ``horizon`` steps forecast (both None for a model without regressors).
    """
    result = model.forward(y=y, h=horizon, X=x, X_future=x_future, level=with_levels(levels))
    return _path(result, levels)


def predict(
    model: Any, horizon: int, levels: Sequence[int], x_future: np.ndarray | None = None
) -> Path:
    """Returns the forecast of fitted ``model`` from the end of the points it was fitted on."""
    result = model.predict(h=horizon, X=x_future, level=with_levels(levels))
    return _path(result, levels)


def backtest_member(
    algorithm: str,
    make: Any,
    fallback: Any,
    y: np.ndarray,
    horizon: int,
    cv: int,
    levels: Sequence[int],
    x: np.ndarray | None = None,
) -> MemberFit:
    """Returns the ``cv``-window rolling-origin backtest of ``make()`` on ``y``.

    ``x`` (one row of regressors per point, or None) is known for every point,
    the windows' included: regressors are values known in advance (a price,
    a promotion, a holiday), so a window is forecast with its own.

    A model that fails on this series (an optimiser that does not converge, a
    decomposition of a constant series) is replaced by ``fallback()`` (the
    seasonal naive forecast), and the failure is recorded. The fit on all
    points is left to ``fit_final``: ``auto`` needs it only for the members
    it keeps.
    """
    first_cut = y.size - cv * horizon
    try:
        early = make().fit(y[:first_cut], None if x is None else x[:first_cut])
        backtest = _windows(early, y, first_cut, horizon, cv, levels, x)
        _check_finite(backtest)
    except Exception as error:  # any model error means: use the fallback
        early = fallback().fit(y[:first_cut])
        backtest = _windows(early, y, first_cut, horizon, cv, levels)
        return MemberFit(algorithm, backtest, failed=_why(error))
    return MemberFit(algorithm, backtest)


def fit_final(
    member: MemberFit, make: Any, fallback: Any, y: np.ndarray, x: np.ndarray | None = None
) -> Any:
    """Returns ``member``'s model fitted on all of ``y`` (the fallback's if it failed)."""
    if member.failed is None:
        try:
            return make().fit(y, x)
        except Exception as error:  # as in the backtest: the fallback stands in
            member.failed = _why(error)
    return fallback().fit(y)


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]


def _windows(
    early: Any,
    y: np.ndarray,
    first_cut: int,
    horizon: int,
    cv: int,
    levels: Sequence[int],
    x: np.ndarray | None = None,
) -> list[Path]:
    """Returns each window's forecast by ``early`` (fitted on ``y[:first_cut]``).

    The first window starts where the fit ended: its forecast is the fit's own
    prediction (a forward over the same points would redo the work). Each is
    floored at 0 when the points before its window are all >= 0, as a forecast
    served from those points would be.
    """

    def ahead(end: int) -> np.ndarray | None:
        return None if x is None else x[end : end + horizon]

    paths = [floored(predict(early, horizon, levels, ahead(first_cut)), y[:first_cut])]
    for k in range(1, cv):
        end = first_cut + k * horizon
        past = None if x is None else x[:end]
        paths.append(floored(forward(early, y[:end], horizon, levels, past, ahead(end)), y[:end]))
    return paths


def _check_finite(paths: list[Path]) -> None:
    for path in paths:
        if not np.isfinite(path.mean).all():
            raise FloatingPointError("the forecast has non-finite values")


def actuals(y: np.ndarray, horizon: int, cv: int) -> np.ndarray:
    """Returns the actual values of the ``cv`` backtest windows, shape (cv, horizon)."""
    first_cut = y.size - cv * horizon
    return y[first_cut:].reshape(cv, horizon)
