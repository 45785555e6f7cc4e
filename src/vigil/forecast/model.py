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
    # The training points' regressors (points x regressors), and per member whether it
    # learnt from them; None and [] for a model without regressors.
    x: np.ndarray | None = None
    uses_x: list[bool] = field(default_factory=list)

    def path(
        self,
        horizon: int,
        levels: Sequence[int],
        extra: np.ndarray | None,
        x_extra: np.ndarray | None = None,
        x_future: np.ndarray | None = None,
    ) -> bt.Path:
        """Returns the forecast path from the end of training, or of training plus ``extra``.

        ``x_extra`` are the regressors of ``extra``'s points and ``x_future``
        those of the steps forecast, for a model with regressors.
        """
        if self.x is not None:
            return self._path_with_regressors(horizon, levels, extra, x_extra, x_future)
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

    def _path_with_regressors(
        self,
        horizon: int,
        levels: Sequence[int],
        extra: np.ndarray | None,
        x_extra: np.ndarray | None,
        x_future: np.ndarray | None,
    ) -> bt.Path:
        assert self.x is not None and x_future is not None  # FittedForecast.predict checks
        y, x = self.y, self.x
        if extra is not None and extra.size:
            assert x_extra is not None
            y, x = np.concatenate([y, extra]), np.concatenate([x, x_extra])
        uses = self.uses_x or [False] * len(self.members)
        paths = []
        for model, use in zip(self.members, uses, strict=True):
            past, future = (x, x_future[:horizon]) if use else (None, None)
            if y.size == self.y.size:
                path = bt.predict(model, horizon, levels, future)
            else:
                path = bt.forward(model, y, horizon, levels, past, future)
            paths.append(bt.floored(path, y))
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
    # Regressor columns the model learnt from: a forecast needs their future values.
    # A tuple, so that a model pickled before regressors existed reads as having none.
    regressors: tuple[str, ...] = ()

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
        exog: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Returns the forecasts: columns series, timestamp, forecast, lo_<l>, hi_<l> per level.

        ``history`` holds newer points in the training columns; each series it
        names is forecast from the end of its history by the fitted models,
        not refitted. Points at or before a series' last training time are
        ignored (a client may resend a window that overlaps training).
        ``exog`` holds the regressors' values of the times forecast (rows of
        the time, series and regressor columns), required by a model with
        regressors and refused by one without.
        """
        import pandas as pd

        horizon = self._check_horizon(horizon)
        levels = _check_levels(levels)
        names = self.series if series is None else [str(s) for s in series]
        unknown = [s for s in names if s not in self.fits]
        if unknown:
            raise _unknown_series(unknown, self.series)
        if exog is not None and not self.regressors:
            raise UsageError(
                "exog gives regressors' future values, but this model has no regressors; "
                "leave exog out.",
                errors=[{"loc": ["exog"], "msg": "the model has no regressors"}],
            )
        extra = self._history(history) if history is not None else {}
        blocks = []
        for name in names:
            fit = self.fits[name]
            new_values, last, x_extra = extra.get(name, (None, fit.last, None))
            times = pd.date_range(last, periods=horizon + 1, freq=self.freq)[1:]
            x_future = self._future_regressors(exog, name, times) if self.regressors else None
            path = fit.path(horizon, levels, new_values, x_extra, x_future)
            block: dict[str, Any] = {"series": name, "timestamp": times, "forecast": path.mean}
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

    def _history(
        self, history: pd.DataFrame
    ) -> dict[str, tuple[np.ndarray, Any, np.ndarray | None]]:
        """Returns per series the history points newer than training, the last time, regressors."""
        import pandas as pd

        from vigil.forecast.series import _numeric, _parse_timestamps, regressor_columns

        needed = [c for c in (self.timestamp, self.target, self.series_column) if c]
        needed += self.regressors
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
        x_columns = regressor_columns(len(self.regressors))
        for column, regressor in zip(x_columns, self.regressors, strict=True):
            frame[column] = _numeric(history[regressor].reset_index(drop=True), regressor)
        out: dict[str, tuple[np.ndarray, Any, np.ndarray | None]] = {}
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
            x = group[x_columns].to_numpy(dtype=float) if self.regressors else None
            out[str(name)] = (group["y"].to_numpy(dtype=float), index[-1], x)
        return out

    def _future_regressors(self, exog: pd.DataFrame | None, name: str, times: Any) -> np.ndarray:
        """Returns the regressors of series ``name`` at the forecast ``times`` from ``exog``.

        Raises naming the missing field: exog itself, a regressor column, or
        the first forecast time of the series that exog does not give.
        """
        import pandas as pd

        from vigil.forecast.series import _numeric, _parse_timestamps

        listed = ", ".join(self.regressors)
        if exog is None:
            raise UsageError(
                f"This model forecasts from regressors ({listed}): send their values for "
                "each time forecast in exog.",
                errors=[{"loc": ["exog"], "msg": f"required: {listed}"}],
            )
        needed = [c for c in (self.timestamp, self.series_column) if c] + list(self.regressors)
        for column in needed:
            if column not in exog.columns:
                raise UsageError(
                    f"exog has no column {column!r}; it needs {', '.join(needed)}.",
                    errors=[{"loc": ["exog", column], "msg": "missing column"}],
                )
        rows = exog.reset_index(drop=True)
        if self.series_column is not None:
            rows = rows[rows[self.series_column].astype(str) == name]
        when = _parse_timestamps(rows[self.timestamp], self.timestamp)
        by_time = {pd.Timestamp(t): i for i, t in zip(rows.index, when, strict=True)}
        positions = []
        for time in times:
            if pd.Timestamp(time) not in by_time:
                raise InvalidInput(
                    f"exog has no values for series {name!r} at {time} (a time forecast); "
                    f"send {listed} for every step of the horizon.",
                    errors=[{"loc": ["exog"], "msg": f"missing {name} at {time}"}],
                )
            positions.append(by_time[pd.Timestamp(time)])
        picked = exog.reset_index(drop=True).loc[positions]
        return np.column_stack(
            [_numeric(picked[c].reset_index(drop=True), c).to_numpy() for c in self.regressors]
        )


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
