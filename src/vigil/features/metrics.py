"""Window features of metric streams (``timestamp,value`` and optionally ``series``).

:class:`MetricWindowFeatures` gives one feature row per input point, in input
order, computed per series over the points before it:

- ``value``: the value scaled per series by the training median and robust
  spread, so CPU percentages and byte counts share one scale;
- ``lag_k`` and ``diff_1`` / ``diff_k``: earlier values and the changes since;
- ``rolling_mean``, ``rolling_std`` and ``rolling_z`` over the trailing
  ``window`` (default one hour; a plain number means that many points);
- ``robust_z``: distance from the median of the trailing ``baseline_window``
  (default one day) in median absolute deviations, which one spike cannot
  inflate the way it inflates a standard deviation;
- ``range_excess``: how far the value lies beyond the highest (or, negative,
  below the lowest) value of the trailing ``range_window`` (default a week),
  0 inside that range: a new extreme. It reads 0 until a full
  ``baseline_window`` (a day) of the series is at hand: over the first hours
  every few points set a new extreme. Unlike the other level features it
  fires at the start of a change and falls silent once the series has been
  there, and a spike as high as last week's daily spikes is no new extreme;
- ``hour_sin`` … ``weekday_cos`` and ``seasonal_z``: the time of day and week,
  and the distance from this series' usual value at this hour of this kind
  of day (weekday or weekend) as learned in training;
- ``series=X``: which series, one-hot over the most frequent.

With ``columns="detector"`` (what ``--features metrics`` gives an anomaly
model) the level itself, the lags, the rolling mean and the calendar
coordinates are left out. An unsupervised detector weighs every column
alike: three lags and a rolling mean are four more copies of the level,
which outvote the change and spread signals, and a calendar coordinate makes
every hour or weekday absent from training look novel (a model trained on
two days flags the whole third). Seasonality still enters, as ``seasonal_z``
against the learned profile. The level itself, scaled by the training
median, is judged against the training data only, so after a lasting change
every point reads as anomalous until the next retraining; the level enters
through features that judge it against the recent past instead
(``robust_z``, ``range_excess``) and against the hour (``seasonal_z``).
A stream without timestamps keeps the level: without a seasonal profile
nothing else judges a point that arrives without its history. On
NAB's realAWSCloudwatch series (benchmarks/anomaly/nab.py, daily retraining)
leaving out the lags, rolling mean and calendar took ECOD from 49.8 to 57.2;
adding ``range_excess`` and leaving out the level took it to 67.3, with 77
false-positive points at its best threshold instead of 148. A supervised
model learns which columns matter and keeps them all.

Every feature of a point depends only on that point and earlier ones (the
trailing windows exclude the point itself), plus what was learned in
training, so scoring a live stream point by point gives the same features
as scoring it in one batch. Missing history (the first points) reads as 0,
the neutral value of every derived feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vigil.errors import InvalidInput, UsageError
from vigil.features.fields import InputField, observed_field
from vigil.features.logs import (
    category_codes,
    cyclic_time,
    encode_text,
    event_times,
    field_values,
    find_column,
    one_hot,
)

_CANDIDATES = {
    "time": ("timestamp", "time", "ts", "datetime", "date"),
    "value": ("value", "metric_value", "y", "reading"),
    "series": ("series", "metric", "name", "metric_name", "sensor", "host"),
}
_MAD_TO_SIGMA = 1.4826
_Z_LIMIT = 100.0
COLUMN_SETS = ("all", "detector")
# Left out for unsupervised detectors (see the module docstring): copies of the
# level and calendar coordinates.
_DETECTOR_DROPS = ("value", "lag_", "rolling_mean", "hour_", "weekday_")
_RANGE_WINDOW = "7D"


def _find(frame: pd.DataFrame, role: str, given: str | None) -> str | None:
    return find_column(frame, role, given, _CANDIDATES)


def _window(value: str | int) -> str | int:
    """Returns a window as a number of points (int) or a pandas offset text, checked."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        points = int(value)
        if points < 1:
            raise UsageError(f"Window {value!r} must be at least one point.")
        return points
    try:
        length = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise UsageError(
            f"Window {value!r} is not a duration (30min, 1h) or a number of points."
        ) from None
    if length <= pd.Timedelta(0):
        raise UsageError(f"Window {value!r} must be longer than zero.")
    return str(value)


class MetricWindowFeatures:
    """Turns metric points into causal window features (see the module docstring).

    Parameters
    ----------
    time_column, value_column, series_column : str, optional
        Field names; ``None`` looks for ``timestamp``, ``value`` and ``series``
        (a stream without a series column is one series).
    lags : sequence of int
        Which earlier points to include.
    window : str or int
        Trailing window of the rolling mean and deviation.
    baseline_window : str or int
        Trailing window of the robust z-score's median and MAD.
    range_window : str or int
        Trailing window whose highest and lowest values ``range_excess``
        measures from; a week by default, so a daily or weekly peak is no new
        extreme.
    top_series : int
        How many series get a one-hot column.
    columns : {"all", "detector"}
        Every feature, or the set for unsupervised detectors (no lags, rolling
        mean or calendar coordinates; see the module docstring).
    """

    def __init__(
        self,
        time_column: str | None = None,
        value_column: str | None = None,
        series_column: str | None = None,
        lags: Sequence[int] = (1, 2, 3),
        window: str | int = "1h",
        baseline_window: str | int = "1D",
        range_window: str | int = _RANGE_WINDOW,
        top_series: int = 20,
        columns: str = "all",
    ) -> None:
        self.time_column = time_column
        self.value_column = value_column
        self.series_column = series_column
        self.lags = lags
        self.window = window
        self.baseline_window = baseline_window
        self.range_window = range_window
        self.top_series = top_series
        self.columns = columns

    def fit(self, frame: pd.DataFrame) -> MetricWindowFeatures:
        """Returns self, having learned each series' scale and its seasonal profile."""
        if self.columns not in COLUMN_SETS:
            raise UsageError(
                f"columns must be one of {', '.join(COLUMN_SETS)}; got {self.columns!r}."
            )
        self.window_ = _window(self.window)
        self.baseline_window_ = _window(self.baseline_window)
        self.range_window_ = _window(self.range_window)
        self.time_ = _find(frame, "time", self.time_column)
        self.value_ = _find(frame, "value", self.value_column)
        if self.value_ is None:
            numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
            if len(numeric) != 1:
                raise InvalidInput(
                    "Metric features need a value column (value, or name it with --value-column)."
                )
            self.value_ = str(numeric[0])
        self.series_ = _find(frame, "series", self.series_column)
        if self.series_ == self.value_:
            self.series_ = None
        values = self._values(frame)
        names, codes = encode_text(frame[self.series_] if self.series_ else None, len(frame))
        self.scales_: dict[str, tuple[float, float]] = {"": _centre_and_spread(values)}
        for index, name in enumerate(names):
            self.scales_[name] = _centre_and_spread(values[codes == index])
        counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(0)
        ranked = np.argsort(-counts, kind="stable")[: self.top_series]
        self.top_series_ = [names[i] for i in ranked if names[i]] if self.series_ else []
        self.profile_ = self._seasonal_profile(frame, values, names, codes)
        names = list(self._features(frame.head(0)).columns)
        if self.columns == "detector":
            # Without timestamps there is no seasonal profile to judge the level by, and
            # a point sent alone (no history) would have no feature but the level.
            drops = tuple(d for d in _DETECTOR_DROPS if self.time_ is not None or d != "value")
            names = [n for n in names if not n.startswith(drops)]
        self.feature_names_ = names
        return self

    def input_fields(self, frame: pd.DataFrame | None = None) -> list[InputField]:
        """Returns the point fields the fitted features read, required as in training ``frame``.

        The value is always required (a point is its value); the time and the
        series are required when every training point had them.
        """
        assert self.value_ is not None
        fields: dict[str, InputField] = {}
        if self.time_ is not None:
            fields[self.time_] = observed_field(frame, self.time_, "time")
        fields.setdefault(self.value_, InputField(self.value_, "number", required=True))
        if self.series_ is not None:
            fields.setdefault(self.series_, observed_field(frame, self.series_, "text"))
        return list(fields.values())

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Returns the feature rows of ``frame``, one per point in input order."""
        return self._features(frame)[self.feature_names_]

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.value_ is not None
        if self.value_ not in frame.columns:
            raise InvalidInput(f"Missing value column {self.value_!r}.")
        return pd.to_numeric(frame[self.value_], errors="coerce").to_numpy(dtype=np.float64)

    def _scaled(self, values: np.ndarray, names: list[str], codes: np.ndarray) -> np.ndarray:
        overall = self.scales_[""]
        centres = np.array([self.scales_.get(n, overall)[0] for n in names])
        spreads = np.array([self.scales_.get(n, overall)[1] for n in names])
        if len(codes) == 0:
            return np.zeros(0)
        return np.asarray((values - centres[codes]) / spreads[codes])

    def _seasonal_profile(
        self, frame: pd.DataFrame, values: np.ndarray, names: list[str], codes: np.ndarray
    ) -> dict[tuple[str, int, bool], tuple[float, float]]:
        """Returns mean and spread of the scaled value per (series, hour, weekend)."""
        if self.time_ is None or len(frame) == 0:
            return {}
        times = event_times(frame[self.time_], len(frame))
        scaled = self._scaled(values, names, codes)
        table = pd.DataFrame(
            {
                "series": np.asarray(names, dtype=object)[codes],
                "hour": _hours(times),
                "weekend": _weekend(times),
                "x": scaled,
            }
        ).dropna()
        grouped = table.groupby(["series", "hour", "weekend"])["x"].agg(["mean", "std", "size"])
        profile: dict[tuple[str, int, bool], tuple[float, float]] = {}
        for key, mean, std, size in zip(
            grouped.index, grouped["mean"], grouped["std"], grouped["size"], strict=True
        ):
            # A handful of points gives no profile worth trusting.
            if size >= 3:
                series, hour, weekend = key
                spread = float(std) if np.isfinite(std) else 1.0
                profile[(str(series), int(hour), bool(weekend))] = (float(mean), max(spread, 0.05))
        return profile

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = len(frame)
        names, codes = encode_text(field_values(frame, self.series_), rows)
        times = (
            event_times(frame[self.time_], rows)
            if self.time_ is not None and self.time_ in frame.columns
            else np.arange(rows, dtype=np.int64) * 1_000_000_000
        )
        scaled = self._scaled(self._values(frame), names, codes)
        order = np.lexsort((np.arange(rows), times, codes))
        sorted_codes = codes[order]
        index = pd.DatetimeIndex(times[order].astype("datetime64[ns]"))
        x = pd.Series(scaled[order], index=index)
        grouped = x.groupby(sorted_codes, sort=False)
        columns: dict[str, np.ndarray] = {"value": x.to_numpy()}
        lags = sorted({int(k) for k in self.lags if int(k) >= 1})
        for k in lags:
            columns[f"lag_{k}"] = grouped.shift(k).to_numpy()
        if lags:
            columns["diff_1"] = columns["value"] - columns[f"lag_{lags[0]}"]
            if lags[-1] != lags[0]:
                columns[f"diff_{lags[-1]}"] = columns["value"] - columns[f"lag_{lags[-1]}"]
        mean, std, top, bottom = _trailing(
            x, sorted_codes, self.window_, ("mean", "std", "max", "min")
        )
        # pandas' running variance keeps about sqrt(eps) of the noisy past on a flat
        # stretch (7e-8, not 0): a window whose values are all equal has no spread at all.
        std = np.where(top == bottom, 0.0, std)
        columns["rolling_mean"] = mean
        columns["rolling_std"] = std
        columns["rolling_z"] = _ratio(columns["value"] - mean, std)
        (median,) = _trailing(x, sorted_codes, self.baseline_window_, ("median",))
        deviation = pd.Series(np.abs(columns["value"] - median), index=index)
        (mad,) = _trailing(deviation, sorted_codes, self.baseline_window_, ("median",))
        columns["robust_z"] = _ratio(columns["value"] - median, _MAD_TO_SIGMA * mad)
        # Models saved before the feature existed never select it; any window will do.
        range_window = getattr(self, "range_window_", _window(_RANGE_WINDOW))
        high, low = _trailing(x, sorted_codes, range_window, ("max", "min"))
        # A new extreme means little until the range holds a full baseline window (a
        # day: one daily cycle) of the points at hand; before that it reads neutral.
        settled = _history_at_least(index, sorted_codes, self.baseline_window_)
        columns["range_excess"] = np.where(settled, _beyond(columns["value"], low, high), 0.0)
        if self.time_ is not None:
            columns.update(cyclic_time(times[order]))
            columns["seasonal_z"] = self._seasonal_z(
                columns["value"], np.asarray(names, dtype=object)[sorted_codes], times[order]
            )
        if self.series_ is not None:
            columns.update(
                one_hot(
                    category_codes(names, sorted_codes, self.top_series_),
                    self.top_series_,
                    "series",
                )
            )
        restored: dict[str, np.ndarray] = {}
        for name, column in columns.items():
            values = np.empty(rows, dtype=np.float64)
            values[order] = np.nan_to_num(np.asarray(column, dtype=np.float64), nan=0.0)
            restored[name] = values
        return pd.DataFrame(restored, index=pd.RangeIndex(rows))

    def _seasonal_z(self, values: np.ndarray, series: np.ndarray, times: np.ndarray) -> np.ndarray:
        if not self.profile_ or len(values) == 0:
            return np.zeros(len(values))
        keys = pd.MultiIndex.from_arrays([series, _hours(times), _weekend(times)])
        known = pd.MultiIndex.from_tuples(list(self.profile_))
        position = known.get_indexer(keys)
        stats = np.array([*self.profile_.values(), (np.nan, np.nan)])
        picked = stats[np.where(position < 0, len(stats) - 1, position)]
        return _ratio(values - picked[:, 0], picked[:, 1])


def _trailing(
    x: pd.Series, codes: np.ndarray, window: str | int, statistics: Sequence[str]
) -> list[np.ndarray]:
    """Returns trailing-window statistics per series, excluding each point itself."""
    grouped = x.groupby(codes, sort=False)
    if isinstance(window, int):
        rolling = grouped.rolling(window, min_periods=1)
        results = [getattr(rolling, s)() for s in statistics]
        return [
            r.reset_index(level=0, drop=True).groupby(codes, sort=False).shift(1).to_numpy()
            for r in results
        ]
    rolling = grouped.rolling(window, closed="left", min_periods=1)
    return [getattr(rolling, s)().to_numpy() for s in statistics]


def _history_at_least(index: pd.DatetimeIndex, codes: np.ndarray, window: str | int) -> np.ndarray:
    """Returns whether each point has ``window`` of its series before it (rows sorted by series)."""
    if isinstance(window, int):
        return np.asarray(pd.Series(codes).groupby(codes).cumcount().to_numpy() >= window)
    stamps = pd.Series(index.asi8)
    first = stamps.groupby(codes).transform("min").to_numpy()
    return np.asarray(stamps.to_numpy() - first >= pd.Timedelta(window).value)


def _beyond(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Returns how far each value lies above ``high`` (+) or below ``low`` (-), 0 between."""
    with np.errstate(invalid="ignore"):
        return np.where(values > high, values - high, np.where(values < low, values - low, 0.0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Returns numerator / denominator clipped to ±100, 0 where either side is missing or 0/0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(numerator) / np.asarray(denominator)
    ratio = np.where(np.asarray(numerator) == 0, 0.0, ratio)
    return np.clip(
        np.nan_to_num(ratio, nan=0.0, posinf=_Z_LIMIT, neginf=-_Z_LIMIT), -_Z_LIMIT, _Z_LIMIT
    )


def _centre_and_spread(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return 0.0, 1.0
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    spread = (q75 - q25) / 1.349 or float(np.std(values)) or abs(float(q50)) or 1.0
    return float(q50), float(spread)


def _hours(times_ns: np.ndarray) -> np.ndarray:
    return np.asarray((times_ns // 1_000_000_000 % 86_400) // 3600, dtype=np.int64)


def _weekend(times_ns: np.ndarray) -> np.ndarray:
    days = times_ns // 1_000_000_000 // 86_400
    return np.asarray((days + 3) % 7 >= 5)
