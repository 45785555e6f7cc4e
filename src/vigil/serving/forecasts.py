"""Forecasts as answers: a request (horizon, series, history, levels, exog) checked, answered.

The checks here name the request's field the way the REST body spells it
(``horizon``, ``series``, ``history[3].sales``, ``level``), so the CLI and
the API refuse the same mistakes with the same words, before the model runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vigil.errors import InvalidInput
from vigil.training.bundle import ModelBundle
from vigil.training.forecasting import DEFAULT_LEVELS, ForecastBundle


@dataclass(frozen=True)
class ForecastRequest:
    """What a forecast is asked for: steps ahead, which series, newer history, levels."""

    horizon: int
    series: tuple[str, ...] | None = None
    # Newer points than training, as rows of the training columns (or a table).
    history: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None
    levels: tuple[int, ...] = DEFAULT_LEVELS
    # The regressors' values of the times forecast (time, series and regressor columns).
    exog: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None


def forecast_points(bundle: ModelBundle, request: ForecastRequest) -> list[dict[str, Any]]:
    """Returns the bundle's forecast for ``request``, or raises InvalidInput naming the field."""
    if not isinstance(bundle, ForecastBundle):
        raise InvalidInput(
            f"This is a {bundle.task} model: send instances to score, not a horizon.",
            errors=[{"loc": ["horizon"], "msg": f"not a forecast model ({bundle.task})"}],
        )
    _check_horizon(request.horizon, bundle.horizon)
    known = bundle.series_names
    if request.series is not None:
        _check_series(request.series, known)
    regressors = bundle.regressors
    history = None
    if request.history is not None:
        values = [bundle.target or "", *regressors]
        history = _rows_frame(bundle, request.history, known, "history", values)
    exog = None
    if request.exog is not None:
        if not regressors:
            raise InvalidInput(
                "exog gives regressors' values, but this model has no regressors; leave it out.",
                errors=[{"loc": ["exog"], "msg": "the model has no regressors"}],
            )
        exog = _rows_frame(bundle, request.exog, known, "exog", regressors)
    return bundle.forecast(
        request.horizon,
        series=request.series,
        history=history,
        levels=request.levels,
        exog=exog,
    )


def forecast_inputs(predictions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Returns what each forecast point is logged with: its series and timestamp.

    Actuals sent later by series and timestamp are joined to the points
    through these (vigil.monitoring.feedback).
    """
    return [{"series": p["series"], "timestamp": p["timestamp"]} for p in predictions]


def _check_horizon(horizon: int, most: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= most:
        raise InvalidInput(
            f"horizon must be a whole number from 1 to {most} (the model's horizon), "
            f"got {horizon!r}.",
            errors=[{"loc": ["horizon"], "msg": f"must be from 1 to {most}"}],
        )


def _check_series(asked: Sequence[str], known: Sequence[str]) -> None:
    unknown = [s for s in asked if s not in set(known)]
    if unknown:
        raise InvalidInput(
            f"Unknown series {', '.join(map(repr, unknown[:5]))}; the model forecasts "
            f"{_listed(known)}.",
            errors=[{"loc": ["series"], "msg": f"unknown series {unknown[0]!r}"}],
        )


def _rows_frame(
    bundle: ForecastBundle,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    known: list[str],
    field: str,
    values: list[str],
) -> pd.DataFrame:
    """Returns ``history`` or ``exog`` rows as a table, every cell checked.

    A missing column, a value that is not a finite number, a time that is not
    one, or a series the model does not know is refused naming its row and
    column (``history[row].column``). ``values`` are the numeric columns
    (history: the target and the regressors; exog: the regressors).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    if frame.empty:
        raise InvalidInput(
            f"{field} is empty; send its rows, or leave {field} out.",
            errors=[{"loc": [field], "msg": "empty"}],
        )
    time_column = bundle.timestamp_column
    columns = [time_column, *values] + ([bundle.series_column] if bundle.series_column else [])
    for column in columns:
        if column not in frame.columns:
            raise InvalidInput(
                f"{field} needs column {column!r} (it has the columns "
                f"{', '.join(map(repr, columns))}).",
                errors=[{"loc": [field, 0, column], "msg": "missing"}],
            )
    for column in values:
        for row, value in enumerate(frame[column].tolist()):
            if not _is_number(value):
                raise _cell_error(field, row, column, value, "must be a finite number")
    times = pd.to_datetime(frame[time_column], errors="coerce", format="mixed")
    bad = times.isna().to_numpy().nonzero()[0]
    if len(bad):
        row = int(bad[0])
        raise _cell_error(field, row, time_column, frame[time_column].iloc[row], "must be a time")
    if bundle.series_column:
        names = set(known)
        for row, name in enumerate(frame[bundle.series_column].tolist()):
            if str(name) not in names:
                raise _cell_error(
                    field,
                    row,
                    bundle.series_column,
                    name,
                    f"is not a series of the model ({_listed(known)})",
                )
    frame = frame.copy()
    frame[time_column] = times
    for column in values:
        frame[column] = frame[column].astype(float)
    return frame


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _cell_error(field: str, row: int, column: str, value: Any, why: str) -> InvalidInput:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return InvalidInput(
        f"{field}[{row}].{column} {why}, got {shown}.",
        errors=[{"loc": [field, row, column], "msg": why}],
    )


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(map(repr, names[:10]))
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
