"""Fields of events sent as JSON objects, read without building a DataFrame.

A stream batch is a list of JSON objects, often one. The extractors read
DataFrames (:mod:`vigil.features.logs`, :func:`~vigil.features.logs.event_times`),
and building one costs about a millisecond before any feature is computed.
These readers take the plain values a JSON body holds — text, finite numbers,
null — and give what the extractors' readers give for them; any other value
(text where a number belongs, a time that is not plain ISO 8601 text) makes
them answer None, and the caller reads the batch the extractors' way. So a
value is never read two different ways: it is read here only when both
readers agree on it (tests/streams/test_incremental_features.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

# ISO 8601 as pandas' format="ISO8601" and datetime.fromisoformat read it alike:
# a date, optionally a time to the microsecond, optionally Z or a ±hh:mm offset.
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1000
# Up to this many times are read one by one in Python.
FEW = 64
# The largest finite float32: what vigil.features.fields accepts as a number.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def iso_time_ns(value: Any) -> int | None:
    """Returns the time of plain ISO 8601 text in ns since the epoch (UTC), else None.

    Text without an offset is UTC, as ``event_times`` reads it.

    >>> iso_time_ns("1970-01-01T00:00:01.5Z")
    1500000000
    >>> iso_time_ns("yesterday") is None
    True
    """
    if not isinstance(value, str) or _ISO.fullmatch(value) is None:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    delta = stamp - _EPOCH
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return microseconds * _NS_PER_US


def iso_times(values: Sequence[Any]) -> np.ndarray | None:
    """Returns the times (int64 ns) when every value is plain ISO 8601 text, else None.

    A few are read one by one; more at once by pandas' ISO 8601 reader, which
    ``event_times`` uses for such text (ten times faster than Python for a
    thousand, ten times slower for one).
    """
    if len(values) > FEW:
        return _iso_times_at_once(values)
    times = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        ns = iso_time_ns(value)
        if ns is None:
            return None
        times[i] = ns
    return times


def _iso_times_at_once(values: Sequence[Any]) -> np.ndarray | None:
    import pandas as pd

    if not all(type(v) is str for v in values):
        return None
    parsed = pd.to_datetime(
        pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601"
    )
    if parsed.isna().any():
        return None
    stamps = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(stamps.astype("datetime64[ns]").to_numpy().astype(np.int64))


def numbers(values: Sequence[Any]) -> np.ndarray | None:
    """Returns the values as float64 (null as NaN) when each is a JSON number or null, else None.

    What ``pd.to_numeric`` gives for them; text and booleans answer None
    (the extractors read those their own way).
    """
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        kind = type(value)
        if kind is float or kind is int:
            out[i] = value
        elif value is None:
            out[i] = np.nan
        else:
            return None
    return out


def texts(values: Sequence[Any]) -> list[str] | None:
    """Returns the values as text (null as ``""``) when each is text or null, else None.

    What ``encode_text`` reads them as.
    """
    out: list[str] = []
    for value in values:
        if type(value) is str:
            out.append(value)
        elif value is None:
            out.append("")
        else:
            return None
    return out


def field_of(records: Sequence[dict[str, Any]], name: str | None) -> list[Any] | None:
    """Returns each record's value of ``name`` (None where absent); None when no record has it.

    A field no record has reads as absent from the whole batch, as a
    DataFrame built from the records would lack its column.
    """
    if name is None:
        return None
    values = [record.get(name, _MISSING) for record in records]
    if all(value is _MISSING for value in values):
        return None
    return [None if value is _MISSING else value for value in values]


_MISSING = object()


def plain_number(value: Any) -> bool:
    """Returns whether ``value`` is a JSON number the field checks accept (finite, float32)."""
    kind = type(value)
    return (kind is int or kind is float) and abs(value) <= FLOAT32_MAX
