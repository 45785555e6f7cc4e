"""Strict reading of a tabular model's numeric inputs, before any model sees them.

``conform`` reads a column the way pandas reads a file: ``true`` in a numeric
column becomes 1, and a number like ``1e200`` passes as a float64. Neither
is what a caller meant, and the second overflows the float32 arrays of tree
ensembles, k-NN and the explainer (the HTTP 500 of issue 15). So a numeric
column refuses booleans and any number beyond float32's range, naming the row
(0-based, input order), the column and what is allowed.

The check walks the rows as they came (a request's list of mappings or a
file's DataFrame) and costs a type test per numeric cell: a single-row
answer on the compiled path stays in microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vigil.data.schema import ColumnSchema
from vigil.errors import InvalidInput

# The largest finite float32: every model can hold a number up to this.
FLOAT32_MAX = float(np.finfo(np.float32).max)
ALLOWED_NUMBER = "a finite number between -3.4e38 and 3.4e38 (not true or false)"


def check_numeric_values(
    data: pd.DataFrame | Sequence[Mapping[str, Any]], schema: Sequence[ColumnSchema]
) -> None:
    """Raises ``InvalidInput`` at the first numeric cell holding a boolean or a number too large.

    Example:
        >>> schema = [ColumnSchema("amount", "numeric", "float64")]
        >>> check_numeric_values([{"amount": 1.5}, {"amount": None}], schema)
        >>> check_numeric_values([{"amount": 2}, {"amount": True}], schema)
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidInput: Column 'amount' must be a finite number between -3.4e38 and \
3.4e38 (not true or false), but row 1 holds true.
    """
    names = [c.name for c in schema if c.kind == "numeric"]
    if not names:
        return
    if isinstance(data, pd.DataFrame):
        _check_frame(data, names)
        return
    for position, row in enumerate(data):
        for name in names:
            value: Any = row.get(name)
            kind = type(value)
            if kind is float:
                if not -FLOAT32_MAX <= value <= FLOAT32_MAX and value == value:
                    raise _refused(name, position, value)
            elif kind is int:
                if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
                    raise _refused(name, position, value)
            elif value is not None and not _acceptable(value):
                raise _refused(name, position, value)


def _acceptable(value: Any) -> bool:
    """Returns whether a value other than a plain int, float or None may stand for a number."""
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, np.integer | np.floating):
        number = float(value)
        return math.isnan(number) or -FLOAT32_MAX <= number <= FLOAT32_MAX
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return True  # not a number at all: conform names it with its own sentence
        return math.isnan(number) or -FLOAT32_MAX <= number <= FLOAT32_MAX
    return True


def _check_frame(frame: pd.DataFrame, names: Sequence[str]) -> None:
    for name in names:
        if name not in frame.columns:
            continue  # conform names a missing column
        values = frame[name].to_numpy()
        kind = values.dtype.kind
        if kind == "b":
            if len(values):
                raise _refused(name, 0, values[0])
            continue
        if kind == "f":
            bad = np.abs(values) > FLOAT32_MAX
        elif kind in "iu":
            bad = np.abs(values.astype(np.float64)) > FLOAT32_MAX
        elif kind == "O":
            bad = np.fromiter(
                (
                    v is not None and type(v) not in (int, float) and not _acceptable(v)
                    for v in values
                ),
                bool,
                len(values),
            )
            plain = np.fromiter((type(v) in (int, float) for v in values), bool, len(values))
            if plain.any():
                numbers = np.asarray(
                    [float(v) if p else 0.0 for v, p in zip(values, plain, strict=True)]
                )
                bad |= plain & (np.abs(numbers) > FLOAT32_MAX)
        else:
            continue
        found = np.flatnonzero(bad)
        if found.size:
            position = int(found[0])
            raise _refused(name, position, values[position])


def _refused(name: str, position: int, value: Any) -> InvalidInput:
    return InvalidInput(
        f"Column {name!r} must be {ALLOWED_NUMBER}, but row {position} holds {_shown(value)}.",
        errors=[{"loc": ["data", position, name], "msg": f"must be {ALLOWED_NUMBER}"}],
    )


def _shown(value: Any) -> str:
    """Returns a value as JSON would spell it, so no ``np.float64(...)`` reaches a caller."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
