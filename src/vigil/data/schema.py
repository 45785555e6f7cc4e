"""Inferring what kind of values each column holds, and checking new data against it.

The kinds drive preprocessing: numbers are imputed (and scaled where the
algorithm needs it), categories are one-hot encoded, free text becomes TF-IDF,
timestamps become cyclic features. The same schema is stored with every
version and used to validate rows at prediction time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from vigil.errors import InvalidInput

KINDS = ("numeric", "boolean", "categorical", "text", "datetime")

# A string column is text rather than a category when its values are long and
# mostly distinct: that is where bag-of-words carries information one-hot cannot.
_TEXT_MIN_MEAN_WORDS = 3.0
_TEXT_MIN_DISTINCT_SHARE = 0.5


@dataclass(frozen=True)
class ColumnSchema:
    """One input column: its name, kind and pandas dtype when it was trained on."""

    name: str
    kind: str
    dtype: str

    def to_json(self) -> dict[str, Any]:
        """Returns the column as a JSON object."""
        return asdict(self)


def infer_kind(series: pd.Series) -> str:
    """Returns the kind of values in ``series`` (one of ``KINDS``)."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    values = series.dropna()
    if values.empty:
        return "categorical"
    as_text = values.astype(str)
    if _looks_like_datetime(as_text):
        return "datetime"
    if _looks_like_boolean(as_text):
        return "boolean"
    mean_words = as_text.str.count(r"\S+").mean()
    distinct_share = as_text.nunique() / len(as_text)
    if mean_words >= _TEXT_MIN_MEAN_WORDS and distinct_share >= _TEXT_MIN_DISTINCT_SHARE:
        return "text"
    return "categorical"


def _looks_like_datetime(values: pd.Series) -> bool:
    sample = values.head(200)
    # Plain numbers parse as datetimes too; a timestamp column has separators.
    if not sample.str.contains(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}|T\d{2}:", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", utc=True, format="mixed")
    return bool(parsed.notna().all())


def _looks_like_boolean(values: pd.Series) -> bool:
    return set(values.str.lower().unique()) <= {"true", "false"}


def infer_schema(frame: pd.DataFrame, columns: list[str] | None = None) -> list[ColumnSchema]:
    """Returns the schema of ``columns`` (default all) of ``frame``.

    Refuses a column that holds no value at all, since nothing can be learned
    from it and imputing it would invent data.
    """
    names = list(frame.columns) if columns is None else columns
    schema = []
    for name in names:
        series = frame[name]
        if series.isna().all():
            raise InvalidInput(
                f"Column {name!r} is entirely empty; drop it or choose features without it.",
                errors=[{"loc": ["data", name], "msg": "column is entirely empty"}],
            )
        schema.append(ColumnSchema(name, infer_kind(series), str(series.dtype)))
    return schema


def conform(frame: pd.DataFrame, schema: list[ColumnSchema]) -> pd.DataFrame:
    """Returns ``frame`` reduced to the schema's columns, each coerced to its kind.

    Extra columns are dropped. A missing column, a value that cannot be read
    as its column's kind, or an infinite number (``"inf"``, ``"1e999"``: no
    model can weigh it) raises ``InvalidInput`` naming the column and the
    first offending row (0-based, in input order).
    """
    missing = [c.name for c in schema if c.name not in frame.columns]
    if missing:
        raise InvalidInput(
            f"Missing feature column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; the model was trained on: "
            + ", ".join(c.name for c in schema)
            + ".",
            errors=[{"loc": ["data", name], "msg": "missing column"} for name in missing],
        )
    out = {}
    for column in schema:
        out[column.name] = _coerce(frame[column.name], column)
    return pd.DataFrame(out, index=frame.index)


def _coerce(series: pd.Series, column: ColumnSchema) -> pd.Series:
    if column.kind == "numeric":
        converted = _overflows_as_infinity(series, pd.to_numeric(series, errors="coerce"))
        _refuse_lost_values(series, converted, column, "a number")
        numbers = converted.astype(float)
        _refuse_infinite(series, numbers, column)
        return numbers
    if column.kind == "boolean":
        if pd.api.types.is_bool_dtype(series):
            return series.astype(float)
        lowered = series.astype("string").str.lower()
        mapped = lowered.map(
            {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
        )
        _refuse_lost_values(series, mapped, column, "true or false")
        return mapped.astype(float)
    if column.kind == "datetime":
        converted = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        _refuse_lost_values(series, converted, column, "a timestamp")
        return converted
    # Categories and text: anything can be read as a string; missing stays missing.
    return series.map(
        lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )


def _overflows_as_infinity(original: pd.Series, converted: pd.Series) -> pd.Series:
    """``converted`` with a text that overflows a float (``"1e999"``) read as the infinity it is.

    pandas before 3 cannot parse such a text and coerces it to missing, which
    would call it "not a number" instead of "not finite".
    """
    lost = converted.isna().to_numpy() & original.notna().to_numpy()
    if not lost.any():
        return converted
    repaired = converted.astype(float).copy()
    for position in np.flatnonzero(lost):
        try:
            value = float(str(original.iloc[position]))
        except ValueError:
            continue
        if np.isinf(value):
            repaired.iloc[int(position)] = value
    return repaired


def _refuse_infinite(original: pd.Series, numbers: pd.Series, column: ColumnSchema) -> None:
    infinite = np.isinf(numbers.to_numpy(dtype=np.float64))
    if infinite.any():
        position = int(np.flatnonzero(infinite)[0])
        value = original.iloc[position]
        value = value.item() if isinstance(value, np.generic) else value
        raise InvalidInput(
            f"Column {column.name!r} must be a finite number, but row {position} holds {value!r}.",
            errors=[{"loc": ["data", position, column.name], "msg": "must be a finite number"}],
        )


def _refuse_lost_values(
    original: pd.Series, converted: pd.Series, column: ColumnSchema, expected: str
) -> None:
    lost = converted.isna().to_numpy() & original.notna().to_numpy()
    if lost.any():
        position = int(np.flatnonzero(lost)[0])
        value = original.iloc[position]
        # A NumPy scalar would show as np.int64(3): callers sent plain JSON values.
        value = value.item() if isinstance(value, np.generic) else value
        raise InvalidInput(
            f"Column {column.name!r} must be {expected}, but row {position} holds {value!r}.",
            errors=[{"loc": ["data", position, column.name], "msg": f"must be {expected}"}],
        )
