"""Forecast models as versions: trained by ``vigil.forecast``, kept in a ``ForecastBundle``.

``train_forecast`` is what ``train_model`` runs for ``task="forecast"``: the
long-format table (timestamp, value, optional series column) is validated by
``prepare_series``, fitted and backtested by ``fit_forecaster`` (rolling
origin, ``spec.cv`` windows of the horizon), and the result becomes a
``TrainOutcome`` like any other task's, so the registry, deployments, canary
and shadow versions treat a forecaster as any model. The overall backtest
metrics (MASE, sMAPE, RMSE, coverage at 80 and 95%) are the version's
metrics; the per-series ones go with the version (``extra``).

A ``ForecastBundle`` answers a horizon, not rows: ``forecast`` returns one
point per (series, future time) with its intervals. It also keeps each
series' MASE scale (the fitted model's, as its backtest MASE uses), so
actuals that arrive later give a live MASE on the same scale.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from sklearn.pipeline import Pipeline

from vigil.data.schema import ColumnSchema
from vigil.errors import InvalidInput
from vigil.training.bundle import BatchPrediction, ModelBundle

if TYPE_CHECKING:
    from vigil.forecast import FittedForecast, SeriesData
    from vigil.monitoring.feedback import LoggedRow
    from vigil.training.trainer import Progress, TrainOutcome, TrainSpec

DEFAULT_ALGORITHM = "auto"
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


@dataclass
class ForecastBundle(ModelBundle):
    """A forecast model's artifact: the fitted forecaster and what serving and monitoring read.

    A forecast has no scikit-learn pipeline; ``pipeline`` holds an empty one
    so the bundle keeps ``ModelBundle``'s shape (no compiled path applies).
    """

    forecaster: FittedForecast | None = None
    # Per series, the scale live MASE divides absolute errors by.
    scales: dict[str, float] = field(default_factory=dict)
    freq: str = ""
    series_column: str | None = None
    timestamp_column: str = "timestamp"

    @property
    def horizon(self) -> int:
        """Returns the longest horizon the model forecasts."""
        return int(self._fitted().horizon)

    @property
    def regressors(self) -> list[str]:
        """Returns the regressor columns the model learnt from (their future values are needed)."""
        return list(getattr(self._fitted(), "regressors", []) or [])

    @property
    def series_names(self) -> list[str]:
        """Returns the series the model was trained on."""
        return [str(s) for s in self._fitted().series]

    def _fitted(self) -> FittedForecast:
        if self.forecaster is None:  # never the case for a trained bundle
            raise InvalidInput(f"This {self.algorithm} model holds no fitted forecaster.")
        return self.forecaster

    def predict_with_report(self, frame: pd.DataFrame, *, explain: bool = False) -> BatchPrediction:
        """Refuses rows: a forecaster is asked for a horizon, not for rows to score."""
        raise not_rows_error(self.algorithm)

    def forecast(
        self,
        horizon: int,
        *,
        series: Sequence[str] | None = None,
        history: pd.DataFrame | None = None,
        levels: Sequence[int] = DEFAULT_LEVELS,
        exog: pd.DataFrame | None = None,
    ) -> list[dict[str, Any]]:
        """Returns one point per (series, future time): forecast and ``lo_<l>``/``hi_<l>``.

        ``history`` (newer points, in the training columns) makes the model
        forecast from its end without refitting. Raises InvalidInput (a
        UsageError) naming a horizon out of range, an unknown series or a bad
        history value.
        """
        import numpy as np

        frame = self._fitted().predict(
            horizon, series=series, history=history, levels=levels, exog=exog
        )
        # Column-wise conversion to plain Python values: a DataFrame's own record
        # conversion costs several times the forecast itself on a single series.
        times = frame["timestamp"].to_numpy(dtype="datetime64[s]")
        columns: dict[str, list[Any]] = {
            "series": [str(s) for s in frame["series"].tolist()],
            "timestamp": np.datetime_as_string(times, unit="s").tolist(),
        }
        for name in frame.columns:
            if name not in columns:
                columns[name] = frame[name].to_numpy(dtype=float).tolist()
        names = list(columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def not_rows_error(algorithm: str) -> InvalidInput:
    """Returns the 422 for rows sent to a forecaster (it is asked for a horizon)."""
    return InvalidInput(
        f"This is a forecast model ({algorithm}): ask it for a horizon "
        '({"horizon": H, "series": [...], "history": [...]}), not for instances.',
        errors=[{"loc": ["data"], "msg": "a forecast model takes a horizon"}],
    )


def train_forecast(frame: pd.DataFrame, spec: TrainSpec, progress: Progress) -> TrainOutcome:
    """Returns the fitted, backtested forecaster of ``frame`` as ``spec`` asks, as an outcome."""
    from vigil.forecast import fit_forecaster, prepare_series
    from vigil.training.trainer import TrainOutcome

    assert spec.horizon is not None  # the request contract requires it for forecast
    progress(0.02, "validating series")
    data = prepare_series(
        frame,
        timestamp=spec.timestamp,
        target=spec.target,
        series=spec.series,
        regressors=spec.features,
        exclude=spec.exclude,
    )
    algorithm = spec.algorithm or DEFAULT_ALGORITHM
    windows = spec.cv or 1
    progress(0.05, f"fitting {algorithm} and backtesting {windows} windows of {spec.horizon}")
    started = time.perf_counter()
    fitted = fit_forecaster(
        data,
        algorithm=algorithm,
        params=dict(spec.params),
        horizon=spec.horizon,
        cv=windows,
        seed=spec.seed,
        progress=lambda fraction: progress(0.05 + 0.9 * fraction, f"fitting {algorithm}"),
    )
    fit_seconds = time.perf_counter() - started
    bundle = ForecastBundle(
        task="forecast",
        algorithm=algorithm,
        params=dict(spec.params),
        schema=_schema(data, fitted.regressors),
        pipeline=Pipeline([("forecaster", "passthrough")]),
        target=data.target,
        forecaster=fitted,
        scales=dict(fitted.scales),
        freq=data.freq,
        series_column=data.series_column,
        timestamp_column=data.timestamp,
    )
    metrics: dict[str, Any] = {**_plain(fitted.metrics), "fit_seconds": round(fit_seconds, 4)}
    points = len(data.frame)
    backtest_points = min(points, windows * spec.horizon * len(data.series))
    progress(1.0, "done")
    return TrainOutcome(
        bundle=bundle,
        task="forecast",
        algorithm=algorithm,
        params=dict(spec.params),
        metrics=metrics,
        feature_importance={},
        rows=points,
        train_rows=points,
        test_rows=backtest_points,
        fit_seconds=fit_seconds,
        # Kept in memory (never stored): the champion is backtested on the same windows.
        test_frame=frame,
        extra={
            "forecast": {
                "horizon": spec.horizon,
                "backtest_windows": windows,
                "seed": spec.seed,
                "freq": data.freq,
                "season_lengths": list(data.season_lengths),
                "series": [str(s) for s in data.series],
                "series_column": data.series_column,
                "timestamp_column": data.timestamp,
                "target": data.target,
                "notes": list(fitted.notes),
                # Series whose values were all >= 0 (counts, sales): forecasts and
                # intervals are floored at 0.
                "nonnegative_series": list(fitted.nonnegative_series),
                # Columns the model learnt from: a forecast needs their future values.
                "regressors": list(fitted.regressors),
            },
            "metrics_by_series": {
                str(k): _plain(v) for k, v in dict(fitted.metrics_by_series).items()
            },
            "algorithm_by_series": {
                str(k): str(v) for k, v in dict(getattr(fitted, "algorithm_by_series", {})).items()
            },
        },
    )


def champion_backtest(champion: ModelBundle, outcome: TrainOutcome) -> dict[str, Any]:
    """Returns the champion's backtest metrics on the challenger's data and windows.

    The champion's algorithm and parameters are fitted and backtested as the
    challenger was (same series, horizon, windows and seed), so "better"
    compares the two on the same future points. Empty when the champion is
    not a forecaster or cannot be fitted on this data.
    """
    from vigil.forecast import fit_forecaster, prepare_series

    settings = outcome.extra.get("forecast")
    if not isinstance(champion, ForecastBundle) or outcome.test_frame is None or not settings:
        return {}
    try:
        data = prepare_series(
            outcome.test_frame,
            timestamp=settings["timestamp_column"],
            target=settings["target"],
            series=settings["series_column"],
            regressors=settings.get("regressors") or [],
        )
        fitted = fit_forecaster(
            data,
            algorithm=champion.algorithm,
            params=dict(champion.params),
            horizon=settings["horizon"],
            cv=settings["backtest_windows"],
            seed=settings["seed"],
        )
    except InvalidInput:
        return {}
    return _plain(fitted.metrics)


def with_actuals(
    original: pd.DataFrame, extra: Mapping[str, Any], recent: Sequence[LoggedRow]
) -> pd.DataFrame:
    """Returns the training table extended by the actuals sent since, as newer points.

    ``extra`` is the champion version's ``extra`` (its columns and frequency);
    ``recent`` the logged forecast points, newest first. Per series, the
    actuals continuing its last training time step by step are appended (the
    latest feedback for a time wins); an actual after a missing time, or for a
    time the table already has, is left out, so the result has no gaps.
    """
    settings = extra["forecast"]
    time_column, series_column, target = (
        settings["timestamp_column"],
        settings["series_column"],
        settings["target"],
    )
    regressors = list(settings.get("regressors") or [])
    columns = [time_column, *([series_column] if series_column else []), target, *regressors]
    table = original[columns].copy()
    table[time_column] = pd.to_datetime(table[time_column], format="mixed")
    if regressors:
        # Actuals carry no regressor values: the model retrains on its own table.
        return table
    step = pd.tseries.frequencies.to_offset(settings["freq"])
    actuals: dict[tuple[str, pd.Timestamp], float] = {}
    for row in recent:  # newest first: the first actual seen for a time is the latest
        value, when = row.actual, row.output.get("timestamp")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not isinstance(when, str):
            continue
        key = (str(row.output.get("series")), pd.Timestamp(when))
        actuals.setdefault(key, float(value))
    ends = (
        table.groupby(series_column)[time_column].max()
        if series_column
        else pd.Series({str(settings["series"][0]): table[time_column].max()})
    )
    added = []
    for series, end in ends.items():
        when = end + step
        while (str(series), when) in actuals:
            point = {time_column: when, target: actuals[(str(series), when)]}
            if series_column:
                point[series_column] = series
            added.append(point)
            when += step
    if not added:
        return table
    return pd.concat([table, pd.DataFrame(added)[columns]], ignore_index=True)


def _schema(data: SeriesData, regressors: Sequence[str]) -> list[ColumnSchema]:
    """Returns the columns a history sent later must have: time, series, value, regressors."""
    columns = [ColumnSchema(data.timestamp, "datetime", "datetime64[ns]")]
    if data.series_column is not None:
        columns.append(ColumnSchema(data.series_column, "categorical", "object"))
    columns.append(ColumnSchema(data.target, "numeric", "float64"))
    columns += [ColumnSchema(name, "numeric", "float64") for name in regressors]
    return columns


def _plain(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Returns metrics as plain floats (NumPy scalars and NaN made JSON-friendly)."""
    from vigil.jsonsafe import json_safe

    return {str(k): json_safe(v) for k, v in metrics.items()}
