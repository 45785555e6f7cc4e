"""The fields a fitted extractor reads from each event, and the check that refuses anything else.

A log, metric or request model learns at training which fields of an event
it reads (the level, the message, the value…). At prediction an event may
arrive without one of them, with text where a number belongs, or with a
number that is not finite; :func:`check_fields` refuses such a batch with one
sentence that names the row (``line N`` for events parsed from raw lines),
the field, and what the model accepts, so the caller gets a 422 instead of a
``KeyError`` deep inside the feature code.

A field is *required* when the model cannot place an event without it (a
metric point's value) or when every training event had it; a field some
training events lacked, and the numeric fields of log and request events,
are *optional*: a missing value is imputed as it was in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from vigil.data.loading import LINE_COLUMN
from vigil.errors import InvalidInput

FieldKind = Literal["text", "number", "time"]

# What each kind must hold, in the words of an error message.
_EXPECTED = {
    "text": "text",
    "number": "a finite number between -3.4e38 and 3.4e38",
    "time": "a timestamp (ISO 8601 text or epoch seconds)",
}
# The largest finite float32: every detector can hold a number up to this.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Batches up to this many values check text timestamps one by one (see _readable_times).
_SMALL_BATCH = 64
# pandas' inferred types that are plain scalars (readable as text).
_SCALAR_TYPES = frozenset(
    {
        "string",
        "empty",
        "integer",
        "floating",
        "mixed-integer-float",
        "decimal",
        "boolean",
        "datetime",
        "datetime64",
        "date",
        "timedelta",
        "timedelta64",
        "time",
    }
)


@dataclass(frozen=True)
class InputField:
    """One field of an event a fitted extractor reads: its name, kind and whether it is required."""

    name: str
    kind: FieldKind
    required: bool


def observed_field(
    events: pd.DataFrame | None, name: str, kind: FieldKind, *, required: bool = True
) -> InputField:
    """Returns the field ``name`` as training saw it: required if ``required`` and never missing.

    ``events`` of None (a model saved before fields were recorded) takes the
    field as always present.
    """
    always = events is None or (name in events.columns and bool(events[name].notna().all()))
    return InputField(name, kind, required and always)


def describe_fields(fields: Sequence[InputField]) -> str:
    """Returns the fields in words: ``required fields a (text), b (number); optional fields c``."""
    parts = []
    for label, required in (("required", True), ("optional", False)):
        chosen = [f"{f.name} ({f.kind})" for f in fields if f.required is required]
        if chosen:
            noun = "field" if len(chosen) == 1 else "fields"
            parts.append(f"{label} {noun} " + ", ".join(chosen))
    return " and ".join(parts) if parts else "no fields"


def missing_fields(
    events: pd.DataFrame, fields: Sequence[InputField]
) -> tuple[int, list[str]] | None:
    """Returns the first row (position) lacking required fields and the fields it lacks, or None."""
    columns = _columns(events, fields)
    return _first_missing(len(events), fields, {n: ~pd.isna(v) for n, v in columns.items()})


def _row_name(events: pd.DataFrame, position: int) -> str:
    """Returns how an error names the event at ``position``: ``line N`` (raw lines) or ``row N``."""
    if events.index.name == LINE_COLUMN:
        return f"line {events.index[position]}"
    return f"row {position}"


def check_fields(events: pd.DataFrame, fields: Sequence[InputField], reads: str) -> None:
    """Raises ``InvalidInput`` unless every event has the required fields with readable values.

    ``reads`` says what the model reads (``events with required fields …``)
    and ends the sentence about a missing field. Extra fields are ignored;
    a missing optional field is fine, a present one must hold its kind.

    Example:
        >>> fields = [InputField("value", "number", True), InputField("series", "text", False)]
        >>> reads = f"metric points with {describe_fields(fields)}"
        >>> check_fields(pd.DataFrame([{"value": 1.5}, {"series": "cpu"}]), fields, reads)
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidInput: Row 1 has no 'value'; the model reads metric points with
        required field value (number) and optional field series (text).
        >>> check_fields(pd.DataFrame({"value": [1.5, "1e999"]}), fields, reads)
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidInput: Field 'value' of row 1 must be a finite number between -3.4e38
        and 3.4e38, not '1e999'.
    """
    columns = _columns(events, fields)
    present = {name: ~pd.isna(values) for name, values in columns.items()}
    absent = _first_missing(len(events), fields, present)
    if absent is not None:
        position, names = absent
        raise _missing_field_error(events, position, names, reads)
    for field in fields:
        if field.name in columns:
            _check_values(events, field, columns[field.name], present[field.name])


def _missing_field_error(
    events: pd.DataFrame, position: int, names: Sequence[str], reads: str
) -> InvalidInput:
    """Returns the error for the event at ``position`` lacking the fields ``names``."""
    quoted = [repr(n) for n in names]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return InvalidInput(
        f"{_row_name(events, position).capitalize()} has no {listed}; the model reads {reads}.",
        errors=[
            {"loc": ["data", _row_label(events, position), name], "msg": "missing field"}
            for name in names
        ],
    )


def _columns(events: pd.DataFrame, fields: Sequence[InputField]) -> dict[str, np.ndarray]:
    """Returns the values of each field ``events`` has, as arrays (one pandas lookup each)."""
    return {f.name: events[f.name].to_numpy() for f in fields if f.name in events.columns}


def _first_missing(
    rows: int, fields: Sequence[InputField], present: dict[str, np.ndarray]
) -> tuple[int, list[str]] | None:
    """Returns the first row lacking required fields and the fields it lacks, or None."""
    required = [f.name for f in fields if f.required]
    if not required or rows == 0:
        return None
    lacking = np.ones((rows, len(required)), dtype=bool)
    for i, name in enumerate(required):
        if name in present:
            lacking[:, i] = ~present[name]
    found = np.flatnonzero(lacking.any(axis=1))
    if found.size == 0:
        return None
    first = int(found[0])
    return first, [name for i, name in enumerate(required) if lacking[first, i]]


def _check_values(
    events: pd.DataFrame, field: InputField, values: np.ndarray, present: np.ndarray
) -> None:
    """Raises ``InvalidInput`` naming the first event whose ``field`` is not of its kind."""
    if not present.any():
        return
    if field.kind == "number":
        readable = _finite_numbers(values)
    elif field.kind == "time":
        readable = _readable_times(values, present)
    else:
        readable = _scalars(values)
    bad = present & ~readable
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    expected = _EXPECTED[field.kind]
    raise InvalidInput(
        f"Field {field.name!r} of {_row_name(events, position)} must be {expected}, "
        f"not {_shown(values[position])}.",
        errors=[
            {
                "loc": ["data", _row_label(events, position), field.name],
                "msg": f"must be {expected}",
            }
        ],
    )


def _finite_numbers(values: np.ndarray) -> np.ndarray:
    """Returns, per value, whether it reads as a number within float32's range (text included).

    Beyond float32 (``1e200``, ``-1e308``) the feature code's sums overflow to
    infinity and the detectors' float32 arrays cannot hold the value.
    """
    if values.dtype.kind in "iu":
        return np.asarray(np.abs(values.astype(np.float64)) <= _FLOAT32_MAX)
    if values.dtype.kind == "f":
        return np.asarray(np.abs(values) <= _FLOAT32_MAX)
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    # Read as the feature code reads numbers (pd.to_numeric), but JSON true/false,
    # which it would read as 1 and 0, is no number.
    numbers = pd.to_numeric(values, errors="coerce")
    within = np.abs(np.asarray(numbers, dtype=np.float64)) <= _FLOAT32_MAX
    booleans = np.fromiter((isinstance(v, bool | np.bool_) for v in values), bool, len(values))
    return np.asarray(within & ~booleans)


def _readable_times(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Returns, per value, whether it reads as a time the way ``event_times`` reads it."""
    kind = values.dtype.kind
    if kind == "M":
        return np.ones(len(values), dtype=bool)
    if kind in "iuf":
        return np.asarray(np.isfinite(values.astype(np.float64)))
    if kind != "O":
        return np.zeros(len(values), dtype=bool)
    readable = np.zeros(len(values), dtype=bool)
    positions = np.flatnonzero(present)
    if len(positions) <= _SMALL_BATCH:
        # One event or a few: Python reads ISO 8601 in microseconds, pandas in milliseconds.
        for i in positions:
            readable[i] = _readable_time(values[i])
        return readable
    texts = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
    stamps = np.fromiter(
        (isinstance(v, datetime | np.datetime64) for v in values), bool, len(values)
    )
    readable[stamps] = True
    text_positions = np.flatnonzero(texts)
    if text_positions.size:
        chosen = pd.Series(values[text_positions], dtype=object)
        parsed = pd.to_datetime(chosen, utc=True, errors="coerce", format="ISO8601")
        unread = np.array(parsed.isna(), dtype=bool)
        if unread.any():
            retried = pd.to_datetime(chosen[unread], utc=True, errors="coerce", format="mixed")
            unread[unread] = np.asarray(retried.isna(), dtype=bool)
        readable[text_positions] = ~unread
    return readable


def _readable_time(value: Any) -> bool:
    """Returns whether one value reads as a time (ISO 8601 or other date text, or a datetime)."""
    if isinstance(value, datetime | np.datetime64):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        pass
    parsed = pd.to_datetime(pd.Series([value]), utc=True, errors="coerce", format="mixed")
    return bool(parsed.notna().iloc[0])


def _scalars(values: np.ndarray) -> np.ndarray:
    """Returns, per value, whether it is a plain value that reads as text (not a list or object)."""
    if values.dtype.kind != "O" or pd.api.types.infer_dtype(values, skipna=True) in _SCALAR_TYPES:
        return np.ones(len(values), dtype=bool)
    containers = (isinstance(v, dict | list | tuple | set) for v in values)
    return ~np.fromiter(containers, bool, len(values))


def _row_label(events: pd.DataFrame, position: int) -> int:
    """Returns the row's number for an error location: its line, or its position."""
    if events.index.name == LINE_COLUMN:
        return int(events.index[position])
    return position


def _shown(value: Any) -> str:
    """Returns a value as an error message quotes it, cut short."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."
