"""A fitted preprocessing ColumnTransformer compiled to a cheap per-row transform.

``build_preprocessor`` fits a ``ColumnTransformer`` whose ``transform`` costs
about a millisecond per call, mostly in building DataFrames and validating
them. ``compile_preprocessor`` reads what the fitted transformer learned and
returns a ``CompiledPreprocessor`` that maps one row (a dict of JSON-decoded
values) or a batch of columns to the same float64 feature vector, with the
input checks of ``vigil.data.schema.conform``:

- numeric and boolean columns: the imputer's statistics fill missing values,
  then the scaler's mean and scale apply (a numba kernel);
- categorical columns: a dictionary from text to the one-hot column, learned
  by passing every known category, a missing value and an unseen value
  through the fitted encoding steps, so that infrequent categories, unseen
  values and missing values land exactly where scikit-learn puts them;
- timestamp columns: the cyclic features of ``CyclicTimeEncoder``.

A transformer it cannot reproduce (TF-IDF text, anything unexpected) makes
``compile_preprocessor`` raise ``NotCompilable``; the caller keeps the normal
path. Rows that fail validation are re-checked with ``conform`` itself, so the
error raised is the one the normal path raises.
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from vigil.data.schema import ColumnSchema, conform
from vigil.errors import InvalidInput
from vigil.features.tabular import CyclicTimeEncoder
from vigil.serving.fast_trees import NotCompilable

# The texts conform reads as booleans (after lower-casing).
_BOOLEAN_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
# ISO 8601 timestamps, which pd.Timestamp parses as pd.to_datetime does, fifteen
# times faster; anything else goes through conform's own parser.
_ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_SECONDS_PER_DAY = 86_400.0
# Rows per tile when copying the numeric block: 64 rows of 8-byte values fill whole
# cache lines of each column while the output rows stay in L1.
_TILE_ROWS = 64
_ABSENT = object()

__all__ = ["CompiledPreprocessor", "NotCompilable", "compile_preprocessor", "warm_up"]


# The GIL is kept: releasing it for a few microseconds of work costs more, since taking
# it back waits for whichever thread (the log writer, a job) grabbed it meanwhile.
@njit(cache=True)
def _impute_scale_row(
    raw: np.ndarray,
    fill: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    out: np.ndarray,
    start: int,
) -> bool:  # pragma: no cover - compiled
    """Returns whether every value is finite; writes the imputed, scaled values to ``out``."""
    finite = True
    for j in range(raw.shape[0]):
        x = raw[j]
        if x != x:
            x = fill[j]
        elif np.isinf(x):
            finite = False
        out[start + j] = (x - mean[j]) / scale[j]
    return finite


@njit(cache=True, nogil=True)
def _impute_scale_rows(
    raw: np.ndarray,
    fill: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    out: np.ndarray,
    start: int,
) -> bool:  # pragma: no cover - compiled
    """Returns whether every value is finite; writes the imputed, scaled block to ``out``.

    ``raw`` is column-major (columns are filled one by one) and ``out``
    row-major; tiles of rows keep both sides of the copy in cache.
    """
    finite = True
    n_rows = raw.shape[0]
    for first in range(0, n_rows, _TILE_ROWS):
        last = min(first + _TILE_ROWS, n_rows)
        for j in range(raw.shape[1]):
            for i in range(first, last):
                x = raw[i, j]
                if x != x:
                    x = fill[j]
                elif np.isinf(x):
                    finite = False
                out[i, start + j] = (x - mean[j]) / scale[j]
    return finite


@dataclass(frozen=True)
class _NumericBlock:
    """Numeric and boolean columns: impute with the fitted statistics, then scale."""

    columns: tuple[ColumnSchema, ...]
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    start: int
    all_numeric: bool  # no boolean column: the whole block can be read in one call


@dataclass(frozen=True)
class _CategoricalColumn:
    """One categorical column: where each text, a missing value and an unseen value go."""

    schema: ColumnSchema
    columns: dict[str, int]  # known text -> output column (absolute), -1 for none
    unseen: int
    missing: int
    index: pd.Index  # the known texts, for vectorised look-up in batches
    targets: np.ndarray  # output column of each known text, then of an unseen one


@dataclass(frozen=True)
class _TimeColumn:
    """One timestamp column: the fill for missing values and the origin of the day count."""

    schema: ColumnSchema
    fill: pd.Timestamp
    origin: pd.Timestamp
    start: int


class CompiledPreprocessor:
    """A fitted ``build_preprocessor`` transformer as plain arrays and dictionaries.

    ``transform_row`` takes one row as a mapping of column name to value;
    ``transform_rows`` a list of such rows (read as ``pd.DataFrame(rows)``
    would read them); ``transform_columns`` a DataFrame or a mapping of
    column name to a list or array. Each returns what
    ``preprocessor.transform(conform(frame, schema))`` returns, densified.
    Instances are immutable and safe to share between threads.
    """

    def __init__(
        self,
        schema: Sequence[ColumnSchema],
        n_features_out: int,
        numeric: _NumericBlock | None,
        categorical: tuple[_CategoricalColumn, ...],
        times: tuple[_TimeColumn, ...],
    ) -> None:
        self.schema = tuple(schema)
        self.n_features_out = n_features_out
        self._numeric = numeric
        self._numeric_names = tuple(c.name for c in numeric.columns) if numeric else ()
        # One C call fetches every numeric value of a row (a list comprehension costs 2x).
        self._numeric_values = operator.itemgetter(*self._numeric_names) if numeric else None
        self._categorical = categorical
        self._times = times

    # --- one row ---------------------------------------------------------------------

    def transform_row(self, row: Mapping[str, Any]) -> np.ndarray:
        """Returns the feature vector of one row (extra keys are ignored).

        Raises ``InvalidInput`` as ``conform`` does (missing column, a value
        that is not of its column's kind), and for an infinite number, which
        the fitted imputer refuses.
        """
        try:
            return self._transform_row(row)
        except (InvalidInput, KeyError):
            # The normal path names the first problem in schema order; let it.
            conform(pd.DataFrame([dict(row)]), list(self.schema))
            raise

    def _transform_row(self, row: Mapping[str, Any]) -> np.ndarray:
        out = np.zeros(self.n_features_out, dtype=np.float64)
        block = self._numeric
        infinite = False
        if block is not None:
            assert self._numeric_values is not None
            fetched = self._numeric_values(row)
            values = list(fetched) if len(self._numeric_names) > 1 else [fetched]
            raw = _as_float_array(values) if block.all_numeric else None
            if raw is None:
                raw = np.asarray(
                    [_read_value(v, c) for v, c in zip(values, block.columns, strict=True)],
                    dtype=np.float64,
                )
            infinite = not _impute_scale_row(
                raw, block.fill, block.mean, block.scale, out, block.start
            )
        for cat in self._categorical:
            value = row[cat.schema.name]
            if value is None or (isinstance(value, float) and value != value):
                target = cat.missing
            else:
                text = value if type(value) is str else str(value)
                target = cat.columns.get(text, cat.unseen)
            if target >= 0:
                out[target] = 1.0
        for time in self._times:
            stamp = _read_timestamp(row[time.schema.name], time.schema)
            out[time.start : time.start + 7] = _time_features_of(
                time.fill if stamp is None else stamp, time.origin
            )
        if infinite:
            self._refuse_infinite({name: [row[name]] for name in self._numeric_names})
        return out

    # --- batches ---------------------------------------------------------------------

    def transform_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Returns the feature matrix of ``rows`` read as ``pd.DataFrame(rows)`` reads them.

        A key absent from some rows is a missing value there; absent from
        every row, it is a missing column. No rows give an empty matrix.
        """
        if len(rows) == 0:
            return np.zeros((0, self.n_features_out), dtype=np.float64)
        columns: dict[str, list[Any]] = {}
        for column in self.schema:
            values = [row.get(column.name, _ABSENT) for row in rows]
            present = [v is not _ABSENT for v in values]
            if any(present):
                columns[column.name] = [np.nan if v is _ABSENT else v for v in values]
        return self._checked_columns(columns, lambda: pd.DataFrame(list(rows)))

    def transform_columns(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Returns the feature matrix of a DataFrame or a mapping of column name to values."""
        return self._checked_columns(columns, lambda: pd.DataFrame(columns))

    def _checked_columns(
        self, columns: pd.DataFrame | Mapping[str, Any], as_frame: Callable[[], pd.DataFrame]
    ) -> np.ndarray:
        try:
            return self._transform_columns(columns)
        except (InvalidInput, KeyError):
            # The normal path names the first problem in schema order; let it.
            conform(as_frame(), list(self.schema))
            raise

    def _transform_columns(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        if any(c.name not in columns for c in self.schema):
            raise KeyError("missing column")
        n_rows = len(columns[self.schema[0].name])
        out = np.zeros((n_rows, self.n_features_out), dtype=np.float64)
        block = self._numeric
        infinite = False
        if block is not None:
            raw = np.empty((n_rows, len(block.columns)), dtype=np.float64, order="F")
            for j, column in enumerate(block.columns):
                raw[:, j] = _read_column(columns[column.name], column)
            infinite = not _impute_scale_rows(
                raw, block.fill, block.mean, block.scale, out, block.start
            )
        rows = np.arange(n_rows)
        for cat in self._categorical:
            targets = _categorical_targets(columns[cat.schema.name], cat)
            hit = targets >= 0
            out[rows[hit], targets[hit]] = 1.0
        for time in self._times:
            stamps = _timestamp_column(columns[time.schema.name], time.schema)
            out[:, time.start : time.start + 7] = _time_features(
                stamps.fillna(time.fill), time.origin
            )
        if infinite:
            self._refuse_infinite({name: columns[name] for name in self._numeric_names})
        return out

    def _refuse_infinite(self, columns: Mapping[str, Any]) -> None:
        """Raises ``InvalidInput`` naming the first column (schema order) holding an infinity."""
        for column in self.schema:
            if column.name not in self._numeric_names:
                continue
            values = np.asarray(_read_column(columns[column.name], column))
            bad = np.flatnonzero(np.isinf(values))
            if bad.size:
                position = int(bad[0])
                raise InvalidInput(
                    f"Column {column.name!r} must be a finite number, "
                    f"but row {position} holds {values[position]!r}.",
                    errors=[
                        {"loc": ["data", position, column.name], "msg": "must be a finite number"}
                    ],
                )


def compile_preprocessor(
    preprocessor: ColumnTransformer, schema: Sequence[ColumnSchema]
) -> CompiledPreprocessor:
    """Returns the fitted ``preprocessor`` compiled for ``schema``, or raises ``NotCompilable``."""
    if not isinstance(preprocessor, ColumnTransformer) or not hasattr(
        preprocessor, "transformers_"
    ):
        raise NotCompilable("The preprocessing step is not a fitted ColumnTransformer.")
    by_name = {c.name: c for c in schema}
    slices = preprocessor.output_indices_
    numeric: _NumericBlock | None = None
    categorical: list[_CategoricalColumn] = []
    times: list[_TimeColumn] = []
    for name, transformer, columns in preprocessor.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if isinstance(transformer, str):
            raise NotCompilable(f"No compiled transform for {transformer!r} columns ({name}).")
        names = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in names if c not in by_name]
        if unknown:
            raise NotCompilable(f"Column {unknown[0]!r} is not in the schema.")
        kinds = {by_name[c].kind for c in names}
        start = slices[name].start
        if kinds <= {"numeric", "boolean"}:
            if numeric is not None:
                raise NotCompilable("More than one numeric block.")
            numeric = _compile_numeric(transformer, [by_name[c] for c in names], start)
        elif kinds == {"categorical"}:
            categorical.extend(
                _compile_categorical(transformer, [by_name[c] for c in names], start)
            )
        elif kinds == {"datetime"}:
            times.extend(_compile_times(transformer, [by_name[c] for c in names], start))
        else:
            raise NotCompilable(f"No compiled transform for {sorted(kinds)} columns ({name}).")
    used = {c.name for c in numeric.columns} if numeric else set()
    used |= {c.schema.name for c in categorical} | {t.schema.name for t in times}
    if unused := [c.name for c in schema if c.name not in used]:
        raise NotCompilable(f"Column {unused[0]!r} is not transformed by a compiled block.")
    n_features_out = max((s.stop for s in slices.values()), default=0)
    covered = sum(_width(s) for s in slices.values())
    if covered != n_features_out:
        raise NotCompilable("The transformer's outputs do not tile its feature vector.")
    return CompiledPreprocessor(schema, n_features_out, numeric, tuple(categorical), tuple(times))


def _width(part: slice | None) -> int:
    return 0 if part is None else part.stop - part.start


def _compile_numeric(transformer: Any, columns: list[ColumnSchema], start: int) -> _NumericBlock:
    steps = (
        list(transformer.named_steps.values())
        if isinstance(transformer, Pipeline)
        else [transformer]
    )
    if not steps or not isinstance(steps[0], SimpleImputer) or len(steps) > 2:
        raise NotCompilable("The numeric block is not an imputer, optionally then a scaler.")
    imputer = steps[0]
    if imputer.add_indicator or not _is_nan(imputer.missing_values):
        raise NotCompilable("The numeric imputer adds indicators or imputes a non-NaN marker.")
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(fill).any():
        raise NotCompilable("The numeric imputer drops a column that was empty in training.")
    n = len(columns)
    mean = np.zeros(n)
    scale = np.ones(n)
    if len(steps) == 2:
        scaler = steps[1]
        if not isinstance(scaler, StandardScaler):
            raise NotCompilable(f"No compiled transform for {type(scaler).__name__}.")
        if scaler.mean_ is not None:
            mean = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.scale_ is not None:
            scale = np.asarray(scaler.scale_, dtype=np.float64)
    if fill.shape != (n,) or mean.shape != (n,) or scale.shape != (n,):
        raise NotCompilable("The numeric block's statistics do not match its columns.")
    return _NumericBlock(
        columns=tuple(columns),
        fill=fill,
        mean=mean,
        scale=scale,
        start=start,
        all_numeric=all(c.kind == "numeric" for c in columns),
    )


def _compile_categorical(
    transformer: Any, columns: list[ColumnSchema], start: int
) -> list[_CategoricalColumn]:
    if not isinstance(transformer, Pipeline):
        raise NotCompilable("The categorical block is not a pipeline.")
    steps = list(transformer.named_steps.values())
    encoder = steps[-1]
    if not isinstance(encoder, OneHotEncoder) or encoder.drop_idx_ is not None:
        raise NotCompilable("The categorical block does not end in a plain OneHotEncoder.")
    if not all(isinstance(s, FunctionTransformer | SimpleImputer) for s in steps[:-1]):
        raise NotCompilable("The categorical block has a step that cannot be compiled.")
    widths = []
    for i, categories in enumerate(encoder.categories_):
        infrequent = (encoder.infrequent_categories_ or [None] * len(encoder.categories_))[i]
        n_infrequent = 0 if infrequent is None else len(infrequent)
        widths.append(len(categories) - n_infrequent + (1 if n_infrequent else 0))
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)

    # Probe rows: every known category of every column, then an unseen text, then a
    # missing value, all through the fitted steps so scikit-learn decides each column.
    known = [list(cats) for cats in encoder.categories_]
    if not all(isinstance(c, str) for k in known for c in k):
        raise NotCompilable("The one-hot categories are not all texts.")
    unseen = "\x00unseen"
    while any(unseen in k for k in known):
        unseen += "\x00"
    depth = max(len(k) for k in known)
    probe = {
        c.name: [k[min(r, len(k) - 1)] for r in range(depth)] + [unseen, None]
        for c, k in zip(columns, known, strict=True)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoded = transformer.transform(pd.DataFrame(probe))
    encoded = np.asarray(encoded.toarray() if hasattr(encoded, "toarray") else encoded)
    if encoded.shape[1] != offsets[-1]:
        raise NotCompilable("The one-hot output width is not the one its categories give.")

    def target(row: int, i: int) -> int:
        part = encoded[row, offsets[i] : offsets[i + 1]]
        hot = np.flatnonzero(part)
        if hot.size > 1 or (hot.size == 1 and part[hot[0]] != 1.0):
            raise NotCompilable("A category does not encode to a single one-hot column.")
        return start + int(offsets[i] + hot[0]) if hot.size else -1

    compiled = []
    for i, column in enumerate(columns):
        mapping = {text: target(r, i) for r, text in enumerate(known[i])}
        unseen_target = target(depth, i)
        index = pd.Index(known[i], dtype=object)
        index.get_indexer(index[:1])  # builds its hash table now, not in concurrent requests
        compiled.append(
            _CategoricalColumn(
                schema=column,
                columns=mapping,
                unseen=unseen_target,
                missing=target(depth + 1, i),
                index=index,
                targets=np.asarray([*mapping.values(), unseen_target], dtype=np.int64),
            )
        )
    return compiled


def _compile_times(transformer: Any, columns: list[ColumnSchema], start: int) -> list[_TimeColumn]:
    if type(transformer) is not CyclicTimeEncoder or transformer.columns_ != [
        c.name for c in columns
    ]:
        raise NotCompilable("The timestamp block is not a fitted CyclicTimeEncoder.")
    compiled = []
    for i, column in enumerate(columns):
        fill = pd.Timestamp(transformer.fill_[column.name])
        origin = pd.Timestamp(transformer.origin_[column.name])
        if pd.isna(fill) or pd.isna(origin):
            raise NotCompilable(f"Timestamp column {column.name!r} had no value in training.")
        compiled.append(_TimeColumn(schema=column, fill=fill, origin=origin, start=start + 7 * i))
    return compiled


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- reading values as conform does ------------------------------------------------------


def _as_float_array(values: list[Any]) -> np.ndarray | None:
    """Returns the values as float64 when they are all plain numbers (or bools), else None."""
    try:
        array = np.array(values)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind == "f":
        return array.astype(np.float64, copy=False)
    if array.dtype.kind in "iub":
        return array.astype(np.float64)
    return None


def _read_value(value: Any, column: ColumnSchema) -> float:
    """Returns one numeric or boolean value as conform reads it (NaN when missing)."""
    if value is None:
        return math.nan
    if column.kind == "boolean":
        if isinstance(value, bool | np.bool_):
            return float(value)
        if isinstance(value, float) and value != value:
            return math.nan
        # conform reads a single int, float or text through its text, lower-cased.
        if type(value) in (str, int, float):
            text = str(value).lower()
            if text in _BOOLEAN_TEXT:
                return _BOOLEAN_TEXT[text]
    elif isinstance(value, float | int | np.integer | np.floating | np.bool_):
        try:
            return float(value)
        except OverflowError:
            pass
    return float(_conform_one(value, column))


def _conform_one(value: Any, column: ColumnSchema) -> Any:
    """Returns one value read by conform itself (raises its InvalidInput)."""
    return conform(pd.DataFrame({column.name: [value]}), [column])[column.name].iloc[0]


def _read_timestamp(value: Any, column: ColumnSchema) -> pd.Timestamp | None:
    """Returns one timestamp in UTC as conform reads it, or None when missing."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if type(value) is str and _ISO_TIMESTAMP.fullmatch(value):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            stamp = None
        if stamp is not None:
            return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    read = _conform_one(value, column)
    return None if pd.isna(read) else read


def _read_column(values: Any, column: ColumnSchema) -> np.ndarray:
    """Returns a numeric or boolean column as float64, as conform reads it."""
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    if not isinstance(array, np.ndarray):
        array = _as_float_array(list(array))
    if array is not None and array.ndim == 1:
        if array.dtype.kind == "f" and column.kind == "numeric":
            return array.astype(np.float64, copy=False)
        if (array.dtype.kind in "iu" and column.kind == "numeric") or array.dtype.kind == "b":
            return array.astype(np.float64)
    return _conform_column(values, column).to_numpy(dtype=np.float64)


def _conform_column(values: Any, column: ColumnSchema) -> pd.Series:
    """Returns one column read by conform itself (raises its InvalidInput)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    frame = pd.DataFrame({column.name: series.reset_index(drop=True)})
    return conform(frame, [column])[column.name]


def _categorical_targets(values: Any, cat: _CategoricalColumn) -> np.ndarray:
    """Returns, per row, the output column a categorical value sets (-1 for none)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    objects = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=True) in ("string", "empty"):
        # Texts stay as they are; what pandas counts as missing is re-checked below
        # with conform's own rule (None or float NaN), anything else becomes text.
        flagged = np.flatnonzero(pd.isna(objects))
        missing = np.zeros(len(objects), dtype=bool)
        for i in flagged:
            value = objects[i]
            if value is None or isinstance(value, float):
                missing[i] = True
            else:
                objects[i] = str(value)
    else:
        texts = [
            None if v is None or (isinstance(v, float) and v != v) else str(v) for v in objects
        ]
        missing = np.asarray([t is None for t in texts], dtype=bool)
        objects = np.asarray(texts, dtype=object)
    codes = cat.index.get_indexer(pd.Index(objects, dtype=object))
    targets = cat.targets[codes]  # code -1 (unseen) picks the last entry, the unseen target
    targets[missing] = cat.missing
    return targets


def _timestamp_column(values: Any, column: ColumnSchema) -> pd.Series:
    """Returns a timestamp column in UTC as conform reads it (NaT when missing)."""
    return _conform_column(values, column)


def _time_features(stamps: Any, origin: pd.Timestamp) -> np.ndarray:
    """Returns the seven cyclic features per timestamp, as ``CyclicTimeEncoder`` computes them."""
    values = pd.Series(stamps) if not isinstance(stamps, pd.Series) else stamps
    hour = values.dt.hour.to_numpy() + values.dt.minute.to_numpy() / 60.0
    weekday = values.dt.day_of_week.to_numpy().astype(float)
    month = values.dt.month.to_numpy().astype(float) - 1.0
    days = (values - origin).dt.total_seconds().to_numpy() / _SECONDS_PER_DAY
    return np.column_stack(
        [
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
            np.sin(2 * np.pi * weekday / 7),
            np.cos(2 * np.pi * weekday / 7),
            np.sin(2 * np.pi * month / 12),
            np.cos(2 * np.pi * month / 12),
            days,
        ]
    )


def _time_features_of(stamp: pd.Timestamp, origin: pd.Timestamp) -> list[float]:
    """Returns the seven cyclic features of one timestamp, bit for bit as ``_time_features``."""
    hour = stamp.hour + stamp.minute / 60.0
    weekday = float(stamp.day_of_week)
    month = float(stamp.month) - 1.0
    # As the Series path divides the nanosecond count (Timedelta.total_seconds would
    # cut it to microseconds under pandas 2, and differ in the last digits).
    days = float((stamp - origin).asm8 / np.timedelta64(1, "s")) / _SECONDS_PER_DAY
    # NumPy's sin and cos, not math's: they round differently in the last bit.
    angles = np.asarray([2 * np.pi * hour / 24, 2 * np.pi * weekday / 7, 2 * np.pi * month / 12])
    sines = np.sin(angles).tolist()
    cosines = np.cos(angles).tolist()
    return [sines[0], cosines[0], sines[1], cosines[1], sines[2], cosines[2], days]


def warm_up() -> None:
    """Returns nothing; compiles (or loads from cache) the kernels before the first request."""
    one = np.zeros(1, dtype=np.float64)
    _impute_scale_row(one, one, one, one + 1.0, np.zeros(1), 0)
    _impute_scale_rows(np.zeros((1, 1), order="F"), one, one, one + 1.0, np.zeros((1, 1)), 0)
