"""``FittedForecast``: fitted forecasters of many series, their backtest metrics, and predict.

Per series it keeps the models fitted on all training points (one, or the
members ``auto`` weighs), their weights, the training values (a ``history``
extends them and the fitted models are applied to the longer series without
refitting) and the conformal ratios that scale the intervals. The forecast
from the end of training for the longest horizon is computed once at fit
time, so a forecast without history is a slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidInput, UsageError
from vigil.forecast import backtest as bt

if TYPE_CHECKING:
    import pandas as pd


def combine(paths: Sequence[bt.Path], weights: np.ndarray) -> bt.Path:
    """Returns the weighted average of member paths (means, half-widths and native bounds)."""
    if len(paths) == 1:
        return paths[0]
    mean = sum(w * p.mean for w, p in zip(weights, paths, strict=True))
    half = sum(w * p.half for w, p in zip(weights, paths, strict=True))
    native = {
        level: (
            sum(w * p.native[level][0] for w, p in zip(weights, paths, strict=True)),
            sum(w * p.native[level][1] for w, p in zip(weights, paths, strict=True)),
        )
        for level in paths[0].native
        if all(level in p.native for p in paths)
    }
    return bt.Path(
        mean=np.asarray(mean),
        half=np.asarray(half),
        native=native,
        nonnegative=all(p.nonnegative for p in paths),
    )


def conformal_quantile(ratios: np.ndarray, level: int) -> float:
    """Returns the ratio ``level``% of backtest errors stay within (finite-sample corrected)."""
    n = ratios.size
    q = min(1.0, np.ceil((n + 1) * level / 100.0) / n)
    return float(np.quantile(ratios, q, method="higher"))


def bounds(path: bt.Path, level: int, ratios: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Returns the ``level``% interval of ``path``: conformal given ``ratios``, else native.

    A ``nonnegative`` path's interval stops at 0 (its native bounds already do).
    """
    if ratios is not None and ratios.size and np.isfinite(path.half).all():
        width = conformal_quantile(ratios, level) * path.half
        low, high = path.mean - width, path.mean + width
        if path.nonnegative:
            return np.maximum(low, 0.0), np.maximum(high, 0.0)
        return low, high
    if level in path.native:
        return path.native[level]
    raise UsageError(f"The model has no {level}% interval.")  # levels are validated first


@dataclass
class SeriesFit:
    """One series' fitted models and what forecasting from them needs."""

    name: str
    y: np.ndarray
    last: Any  # pandas Timestamp of the last training point
    season: int  # the season length MASE's seasonal naive scale uses
    scale: float
    members: list[Any]
    algorithms: list[str]
    weights: np.ndarray
    ratios: np.ndarray | None
    cached: bt.Path | None = None
    failures: list[str] = field(default_factory=list)
    # The backtest forecasts, one row per window (oldest first), as scored.
    backtest: np.ndarray | None = None

    def path(self, horizon: int, levels: Sequence[int], extra: np.ndarray | None) -> bt.Path:
        """Returns the forecast path from the end of training, or of training plus ``extra``."""
        if extra is None or extra.size == 0:
            cached = self.cached
            # Conformal bounds need only the mean and the half-width, which any level shares.
            if cached is not None and (
                self.ratios is not None or all(level in cached.native for level in levels)
            ):
                return _head(cached, horizon)
            paths = [bt.floored(bt.predict(m, horizon, levels), self.y) for m in self.members]
        else:
            y = np.concatenate([self.y, extra])
            paths = [bt.floored(bt.forward(m, y, horizon, levels), y) for m in self.members]
        return combine(paths, self.weights)


def _head(path: bt.Path, horizon: int) -> bt.Path:
    return bt.Path(
        mean=path.mean[:horizon],
        half=path.half[:horizon],
        native={k: (lo[:horizon], hi[:horizon]) for k, (lo, hi) in path.native.items()},
        nonnegative=path.nonnegative,
    )


@dataclass
class FittedForecast:
    """Forecasters fitted on every series of one ``SeriesData``, with their backtest metrics."""

    algorithm: str
    params: dict[str, Any]
    horizon: int
    freq: str
    season_lengths: list[int]
    levels: tuple[int, ...]
    timestamp: str
    target: str
    series_column: str | None
    fits: dict[str, SeriesFit]
    metrics: dict[str, float]
    metrics_by_series: dict[str, dict[str, float]]
    algorithm_by_series: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def series(self) -> list[str]:
        """Returns the names of the series the model forecasts."""
        return list(self.fits)

    @property
    def nonnegative_series(self) -> list[str]:
        """Returns the series whose training values are all >= 0: their forecasts stop at 0.

        A history with a negative value lifts the floor for that forecast.
        """
        return [name for name, fit in self.fits.items() if fit.y.size and fit.y.min() >= 0]

    @property
    def scales(self) -> dict[str, float]:
        """Returns each series' MASE scale (in-sample seasonal naive error), for live MASE."""
        return {name: fit.scale for name, fit in self.fits.items()}

    def last_timestamp(self, series: str) -> Any:
        """Returns the time of the last training point of ``series`` (a pandas Timestamp)."""
        return self._fit(series).last

    def _fit(self, series: str) -> SeriesFit:
        try:
            return self.fits[str(series)]
        except KeyError:
            raise _unknown_series([str(series)], self.series) from None

    def predict(
        self,
        horizon: int,
        *,
        series: Sequence[str] | None = None,
        history: pd.DataFrame | None = None,
        levels: Sequence[int] = (80, 95),
    ) -> pd.DataFrame:
        """Returns the forecasts: columns series, timestamp, forecast, lo_<l>, hi_<l> per level.

        ``history`` holds newer points in the training columns; each series it
        names is forecast from the end of its history by the fitted models,
        not refitted. Points at or before a series' last training time are
        ignored (a client may resend a window that overlaps training).
        """
        import pandas as pd

        horizon = self._check_horizon(horizon)
        levels = _check_levels(levels)
        names = self.series if series is None else [str(s) for s in series]
        unknown = [s for s in names if s not in self.fits]
        if unknown:
            raise _unknown_series(unknown, self.series)
        extra = self._history(history) if history is not None else {}
        blocks = []
        for name in names:
            fit = self.fits[name]
            new_values, last = extra.get(name, (None, fit.last))
            path = fit.path(horizon, levels, new_values)
            block: dict[str, Any] = {
                "series": name,
                "timestamp": pd.date_range(last, periods=horizon + 1, freq=self.freq)[1:],
                "forecast": path.mean,
            }
            for level in levels:
                lo, hi = bounds(path, level, fit.ratios)
                block[f"lo_{level}"] = lo
                block[f"hi_{level}"] = hi
            blocks.append(pd.DataFrame(block))
        return pd.concat(blocks, ignore_index=True)

    def _check_horizon(self, horizon: Any) -> int:
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
            raise UsageError(
                f"The horizon must be a whole number from 1 to {self.horizon}, got {horizon!r}.",
                errors=[{"loc": ["horizon"], "msg": f"must be in [1, {self.horizon}]"}],
            )
        if not 1 <= horizon <= self.horizon:
            raise UsageError(
                f"The horizon must be from 1 to {self.horizon} (what the model was trained "
                f"and backtested for), got {horizon}.",
                errors=[{"loc": ["horizon"], "msg": f"must be in [1, {self.horizon}]"}],
            )
        return int(horizon)

    def _history(self, history: pd.DataFrame) -> dict[str, tuple[np.ndarray, Any]]:
        """Returns per series the history points newer than training and the last time."""
        import pandas as pd

        from vigil.forecast.series import _numeric, _parse_timestamps

        needed = [c for c in (self.timestamp, self.target, self.series_column) if c]
        for column in needed:
            if column not in history.columns:
                raise UsageError(
                    f"The history has no column {column!r}; it needs the training columns "
                    f"({', '.join(needed)}).",
                    errors=[{"loc": ["history", column], "msg": "missing column"}],
                )
        if history.empty:
            return {}
        times = _parse_timestamps(history[self.timestamp].reset_index(drop=True), self.timestamp)
        values = _numeric(history[self.target].reset_index(drop=True), self.target)
        if self.series_column is None:
            ids = pd.Series([self.series[0]] * len(history))
        else:
            ids = history[self.series_column].astype(str).reset_index(drop=True)
        unknown = sorted(set(ids) - set(self.fits))
        if unknown:
            raise _unknown_series(unknown, self.series, where="history")
        frame = pd.DataFrame({"id": ids, "ds": times, "y": values})
        out: dict[str, tuple[np.ndarray, Any]] = {}
        for name, group in frame.groupby("id", sort=False):
            fit = self.fits[str(name)]
            group = group[group["ds"] > fit.last].sort_values("ds", kind="stable")
            if group.empty:
                continue
            if group["ds"].duplicated().any():
                when = group.loc[group["ds"].duplicated(), "ds"].iloc[0]
                raise InvalidInput(
                    f"The history of series {name!r} has {when} more than once.",
                    errors=[{"loc": ["history"], "msg": f"duplicate time {when}"}],
                )
            grid = pd.date_range(fit.last, periods=len(group) + 1, freq=self.freq)[1:]
            index = pd.DatetimeIndex(group["ds"])
            if not grid.equals(index):
                position = int((grid != index).argmax())
                raise InvalidInput(
                    f"The history of series {name!r} must continue from its last training "
                    f"time {fit.last} every {self.freq} without gaps; the first missing or "
                    f"off-grid time is {grid[position]}.",
                    errors=[{"loc": ["history"], "msg": f"missing {grid[position]}"}],
                )
            out[str(name)] = (group["y"].to_numpy(dtype=float), index[-1])
        return out


def _check_levels(levels: Sequence[int]) -> list[int]:
    out = []
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, (int, float, np.number)):
            raise UsageError(
                f"Interval levels must be whole numbers from 1 to 99, got {level!r}.",
                errors=[{"loc": ["level"], "msg": "must be in [1, 99]"}],
            )
        if not float(level).is_integer() or not 1 <= level <= 99:
            raise UsageError(
                f"Interval levels must be whole numbers from 1 to 99, got {level!r}.",
                errors=[{"loc": ["level"], "msg": "must be in [1, 99]"}],
            )
        out.append(int(level))
    return sorted(set(out))


def _unknown_series(unknown: list[str], known: list[str], where: str = "series") -> UsageError:
    shown = ", ".join(repr(s) for s in known[:10]) + (" …" if len(known) > 10 else "")
    return UsageError(
        f"Unknown series {', '.join(repr(s) for s in unknown[:5])}; the model forecasts {shown}.",
        errors=[{"loc": [where], "msg": f"unknown series {s}"} for s in unknown[:20]],
    )
