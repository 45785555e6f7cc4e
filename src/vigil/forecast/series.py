"""Long-format series in, one checked ``SeriesData`` out: columns, frequency, season lengths.

A forecast model is trained on a table with one row per (series, timestamp).
``prepare_series`` finds the columns (or infers them), refuses what a
forecaster cannot use with a message naming the row, column, series or time,
and infers one frequency for the whole model and the season lengths that
frequency implies (hourly data: a day of 24 and a week of 168).

Duplicated (series, timestamp) rows are averaged: a timestamp sent twice is
most often the same reading logged twice, and a sum would double the level
the model learns. Each aggregation is reported in ``SeriesData.notes``.
Missing times are refused rather than filled: a filled value would be a
guess the backtest then scores as if it were observed.

Other numeric columns are regressors (``regressors`` names them; by default
every other numeric column without missing values, less ``exclude``): the
algorithms that take them (``fit.py``) learn from their values, and their
forecasts need the values of the times forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.errors import InvalidInput, UsageError

if TYPE_CHECKING:
    import pandas as pd

# Fewer points than this cannot show a frequency or be forecast sensibly.
MIN_POINTS = 3
# A season is only modelled when every series holds at least this many cycles of it.
MIN_CYCLES = 2


@dataclass
class SeriesData:
    """Validated long-format series: ``frame`` has the columns unique_id, ds, y.

    ``freq`` is a pandas offset alias, ``series`` the series names in order,
    ``season_lengths`` the seasonal periods (in steps) the data can support,
    shortest first. ``notes`` says what was changed or left out.
    """

    frame: pd.DataFrame
    freq: str
    series: list[str]
    season_lengths: list[int]
    timestamp: str
    target: str
    series_column: str | None
    notes: list[str] = field(default_factory=list)
    # Regressor columns (their values are the frame's x0, x1, ... columns), and whether
    # the request named them (then an algorithm that cannot use them is refused).
    regressors: list[str] = field(default_factory=list)
    regressors_named: bool = False

    def values(self, name: str) -> Any:
        """Returns the target values of series ``name`` in time order (a float array)."""
        return self._groups()[name][1]

    def timestamps(self, name: str) -> Any:
        """Returns the timestamps of series ``name`` in order (a DatetimeIndex)."""
        return self._groups()[name][0]

    def regressor_values(self, name: str) -> Any:
        """Returns the regressors of series ``name`` in time order, shape (points, regressors)."""
        return self._groups()[name][2]

    def _groups(self) -> dict[str, tuple[Any, Any, Any]]:
        cached = self.__dict__.get("_cache")
        if cached is None:
            import pandas as pd

            columns = regressor_columns(len(self.regressors))
            cached = {
                str(name): (
                    pd.DatetimeIndex(group["ds"]),
                    group["y"].to_numpy(dtype=float),
                    group[columns].to_numpy(dtype=float),
                )
                for name, group in self.frame.groupby("unique_id", sort=False)
            }
            self.__dict__["_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cache", None)
        return state


def regressor_columns(count: int) -> list[str]:
    """Returns the names of the regressor columns in ``SeriesData.frame`` (x0, x1, ...)."""
    return [f"x{i}" for i in range(count)]


def prepare_series(
    frame: pd.DataFrame,
    *,
    timestamp: str | None = None,
    target: str | None = None,
    series: str | None = None,
    regressors: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> SeriesData:
    """Returns ``frame`` checked and reshaped for forecasting, or raises naming the problem.

    ``timestamp`` and ``target`` default to the one datetime-like column and
    the one numeric column; without ``series`` the table is one series,
    named after the target column. ``regressors`` names the regressor
    columns (each cell must be a number); by default they are the other
    numeric columns without missing values, less ``exclude``.
    """
    import pandas as pd

    if frame.empty:
        raise InvalidInput("The data has no rows to forecast from.")
    if series is not None:
        _require_column(frame, series, "series")
    ts_col = timestamp or _infer_timestamp(frame, exclude={series, target})
    _require_column(frame, ts_col, "timestamp")
    y_col = target or _infer_target(frame, exclude={series, ts_col})
    _require_column(frame, y_col, "target")
    if len({ts_col, y_col, series} - {None}) < (3 if series else 2):
        raise UsageError(
            "The timestamp, target and series columns must be different columns.",
            errors=[{"loc": ["target"], "msg": "same column as another role"}],
        )
    ds = _parse_timestamps(frame[ts_col], ts_col)
    y = _numeric(frame[y_col], y_col)
    ids = frame[series].astype(str).to_numpy() if series is not None else [str(y_col)] * len(frame)
    long = pd.DataFrame({"unique_id": ids, "ds": ds.to_numpy(), "y": y.to_numpy()})
    roles = {ts_col, y_col, series}
    chosen = _regressors(frame, regressors, roles, set(exclude))
    for column, regressor in zip(regressor_columns(len(chosen)), chosen, strict=True):
        long[column] = _numeric(frame[regressor], regressor).to_numpy()
    notes: list[str] = []
    ignored = [str(c) for c in frame.columns if c not in roles and c not in chosen]
    if ignored:
        notes.append(f"Columns not used by the forecast: {', '.join(ignored)}.")
    long = _aggregate_duplicates(long, notes)
    long = long.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    names = [str(n) for n in pd.unique(long["unique_id"])]
    lengths = long.groupby("unique_id", sort=False).size()
    for name, length in lengths.items():
        if length < MIN_POINTS:
            raise InvalidInput(
                f"Series {name!r} has {length} points; a forecast needs at least {MIN_POINTS}.",
                errors=[{"loc": ["series", str(name)], "msg": f"fewer than {MIN_POINTS} points"}],
            )
    freq = _infer_freq(long)
    _refuse_gaps(long, freq)
    seasons = season_lengths_for(freq, int(lengths.min()))
    return SeriesData(
        frame=long,
        freq=freq,
        series=names,
        season_lengths=seasons,
        timestamp=str(ts_col),
        target=str(y_col),
        series_column=series,
        notes=notes,
        regressors=[str(c) for c in chosen],
        regressors_named=regressors is not None,
    )


def _regressors(
    frame: pd.DataFrame,
    named: Sequence[str] | None,
    roles: set[str | None],
    exclude: set[str],
) -> list[str]:
    """Returns the regressor columns: those ``named``, or the other complete numeric ones."""
    import numpy as np
    import pandas as pd

    if named is not None:
        for column in named:
            _require_column(frame, column, "features")
            if column in roles:
                raise UsageError(
                    f"Column {column!r} is the timestamp, target or series column; it "
                    "cannot also be a regressor.",
                    errors=[{"loc": ["features"], "msg": f"{column} has another role"}],
                )
        return list(dict.fromkeys(named))
    return [
        str(c)
        for c in frame.columns
        if c not in roles
        and str(c) not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and bool(np.isfinite(frame[c].to_numpy(dtype=float)).all())
    ]


def _require_column(frame: pd.DataFrame, name: str, role: str) -> None:
    if name not in frame.columns:
        raise UsageError(
            f"The {role} column {name!r} is not in the data; its columns are "
            f"{', '.join(map(str, frame.columns))}.",
            errors=[{"loc": [role], "msg": "no such column"}],
        )


def _infer_timestamp(frame: pd.DataFrame, exclude: set[str | None]) -> str:
    import pandas as pd

    candidates = []
    for column in frame.columns:
        if column in exclude:
            continue
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            candidates.append(str(column))
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            sample = values.dropna().head(20).astype(str)
            if len(sample) and _parses_as_time(sample):
                candidates.append(str(column))
    return _the_one(candidates, "timestamp", "datetime-like")


def _the_one(candidates: list[str], role: str, kind: str) -> str:
    """Returns the only candidate column for ``role``, or raises asking to name it."""
    if len(candidates) != 1:
        found = ", ".join(candidates) if candidates else "none"
        raise UsageError(
            f"Name the {role} column (--{role}): the data has "
            f"{'no' if not candidates else 'more than one'} {kind} column ({found}).",
            errors=[{"loc": [role], "msg": f"candidates: {found}"}],
        )
    return candidates[0]


def _parses_as_time(sample: pd.Series) -> bool:
    import pandas as pd

    try:
        pd.to_datetime(sample, format="mixed")
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _infer_target(frame: pd.DataFrame, exclude: set[str | None]) -> str:
    import pandas as pd

    candidates = [
        str(c)
        for c in frame.columns
        if c not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if not candidates:
        # A value column with a stray word ("n/a") reads as text: take the column that is
        # mostly numbers, so the refusal that follows names the bad row.
        candidates = [
            str(c)
            for c in frame.columns
            if c not in exclude and pd.to_numeric(frame[c], errors="coerce").notna().mean() >= 0.9
        ]
    return _the_one(candidates, "target", "numeric")


def _parse_timestamps(values: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise InvalidInput(
            f"Row {row} of column {column!r} is not a timestamp: {values.iloc[row]!r}.",
            errors=[{"loc": ["rows", int(row), column], "msg": "not a timestamp"}],
        )
    return parsed


def _numeric(values: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() | ~converted.map(_finite)
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        what = "missing" if pd.isna(values.iloc[row]) else "not a number"
        raise InvalidInput(
            f"Row {row} of column {column!r} is {what}: {values.iloc[row]!r}.",
            errors=[{"loc": ["rows", int(row), column], "msg": what}],
        )
    return converted.astype(float)


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and math.isfinite(value)


def _aggregate_duplicates(long: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    duplicated = long.duplicated(["unique_id", "ds"], keep=False)
    if not duplicated.any():
        return long
    dups = long[duplicated]
    for name, group in dups.groupby("unique_id", sort=True):
        first = group["ds"].min()
        times = group["ds"].nunique()
        notes.append(
            f"Series {name!r}: {times} timestamps appear more than once (first {first}); "
            "their values were averaged."
        )
    return long.groupby(["unique_id", "ds"], as_index=False, sort=False).mean()


def _infer_freq(long: pd.DataFrame) -> str:
    """Returns the one frequency of every series, or raises naming the series that differ."""
    import pandas as pd

    found: dict[str, str] = {}
    steps: dict[str, pd.Timedelta] = {}
    for name, group in long.groupby("unique_id", sort=False):
        index = pd.DatetimeIndex(group["ds"])
        alias = pd.infer_freq(index) if len(index) >= MIN_POINTS else None
        if alias is not None:
            found[str(name)] = alias
        else:
            # Gaps hide the frequency: the most common step is what the series meant.
            steps[str(name)] = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    aliases = set(found.values())
    if len(aliases) > 1:
        by_alias = {alias: name for name, alias in found.items()}
        listed = ", ".join(f"{name!r} is {alias}" for alias, name in sorted(by_alias.items()))
        raise InvalidInput(
            f"All series of a model must share one frequency: {listed}.",
            errors=[{"loc": ["series"], "msg": "mixed frequencies"}],
        )
    if aliases:
        return aliases.pop()
    step = pd.Series(list(steps.values())).mode().iloc[0]
    from pandas.tseries.frequencies import to_offset

    return str(to_offset(step).freqstr)


def _refuse_gaps(long: pd.DataFrame, freq: str) -> None:
    """Raises naming the first series with a missing or off-grid time, if any."""
    import pandas as pd

    for name, group in long.groupby("unique_id", sort=False):
        index = pd.DatetimeIndex(group["ds"])
        grid = pd.date_range(index[0], periods=len(index), freq=freq)
        if grid.equals(index):
            continue
        position = int((grid != index).argmax())
        expected = grid[position]
        if index[position] > expected:
            message = (
                f"Series {name!r} has a gap: no value at {expected} (frequency {freq}); "
                "send every time step (fill missing values before training)."
            )
        else:
            message = (
                f"Series {name!r} has a timestamp off its {freq} frequency: {index[position]} "
                f"(expected {expected})."
            )
        raise InvalidInput(
            message, errors=[{"loc": ["series", str(name)], "msg": f"missing {expected}"}]
        )


def season_lengths_for(freq: str, length: int) -> list[int]:
    """Returns the seasonal periods of ``freq`` that ``length`` points hold twice, shortest first.

    >>> season_lengths_for("h", 24 * 7 * 3)
    [24, 168]
    >>> season_lengths_for("h", 100)
    [24]
    >>> season_lengths_for("D", 60), season_lengths_for("MS", 40), season_lengths_for("YS", 40)
    ([7], [12], [])
    """
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    name = offset.name.split("-")[0].upper()
    periods: list[int]
    if name in ("W",):
        periods = [52]
    elif name in ("M", "ME", "MS", "BM", "BME", "BMS", "SM", "SME", "SMS"):
        periods = [12]
    elif name in ("Q", "QE", "QS", "BQ", "BQE", "BQS"):
        periods = [4]
    elif name in ("A", "Y", "YE", "YS", "AS", "BA", "BY", "BYE", "BYS"):
        periods = []
    elif name == "B":
        periods = [5]
    else:
        try:
            step = pd.Timedelta(offset)  # type: ignore[arg-type]  # a Tick; others raise
        except ValueError:
            return []
        day, week, hour = pd.Timedelta("1D"), pd.Timedelta("7D"), pd.Timedelta("1h")
        if step >= day:
            periods = [7, 365] if step == day else []
        else:
            periods = [
                int(p / step) for p in (hour, day, week) if p > step and p % step == pd.Timedelta(0)
            ]
            # An hour of minutes is a season only when the day would be too long a cycle.
            if len(periods) == 3:
                periods = periods[1:]
    return [p for p in periods if p > 1 and length >= MIN_CYCLES * p]
