"""Log event features of a stream's new events, computed after its kept history.

A stream scores each batch as it would be scored inside the whole series
(:mod:`vigil.streams.scoring`). Running :class:`LogEventFeatures` over the
kept history followed by the batch does that, but re-reads every kept event
each time: parses its time, matches its message against the templates,
builds its one-hot columns, computes every kept event's window again (its
median through pandas), only to throw those rows away. Of all the features
only the window columns (``window_*``, ``gap_seconds``) read other events,
and they read them through four values per event, its *window inputs*:
time, service, ``is_error`` and latency.

So the features of a batch are computed in two parts, from the events as
the client sent them (JSON objects, read by :mod:`vigil.features.records`
without building a DataFrame):

- every column of the new events read alone, by the steps of
  ``LogEventFeatures._features`` on plain arrays (each of these columns
  depends on its own event only);
- the window columns of the new events only, from the window inputs of the
  history (kept as arrays beside it, see :class:`WindowHistory`) followed by
  those of the batch, by a compiled kernel (:mod:`vigil.features.window_kernel`)
  that reads each new event's window as ``rolling_by_group`` defines it,
  then finished as ``LogEventFeatures._windowed`` finishes them.

The batch extractor stays the definition: the tests compare the result with
``LogEventFeatures.transform`` of history + batch on random pieces (equal
within 1e-9; the sums differ in their last bits at most). Whatever the
records reader does not read exactly as the extractor would — a missing or
non-ISO time (filled from neighbours, or read in a looser format among
others), text where a number belongs, a field absent from the whole batch
that the model reads — makes :func:`features_after` answer None, and the
caller extracts history and batch together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from vigil.features.logs import (
    ERROR_LEVELS,
    LogEventFeatures,
    cyclic_time,
    event_times,
    normalise_level,
    one_hot,
)
from vigil.features.masking import masked_texts
from vigil.features.records import field_of, iso_times, numbers, texts
from vigil.features.window_kernel import windows_of
from vigil.features.windows import event_windows, snap_to_ranges

_NS_PER_SECOND = 1_000_000_000
# Up to this many messages are masked in Python (vigil.features.masking), more in Arrow.
_FEW_MESSAGES = 64


@dataclass(frozen=True)
class WindowHistory:
    """The window inputs of a run of events, in their order (one entry per event)."""

    times: np.ndarray  # int64 ns, as event_times reads them
    services: np.ndarray  # object: the service text ("" when missing)
    is_error: np.ndarray  # float64 0/1
    latency: np.ndarray | None  # float64 (NaN missing); None when the model reads none
    # Each event's service as a number (``numbering`` maps texts to them), so a batch
    # groups its windows without encoding the history's services again.
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    numbering: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def empty(cls, features: LogEventFeatures) -> WindowHistory:
        """Returns the inputs of no events, for a model with these features."""
        reads_latency = features.columns_["latency"] is not None
        return cls(
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=object),
            np.zeros(0, dtype=np.float64),
            np.zeros(0, dtype=np.float64) if reads_latency else None,
        )

    def taken(self, index: np.ndarray) -> WindowHistory:
        """Returns the inputs of the events at ``index``, in that order."""
        return WindowHistory(
            self.times[index],
            self.services[index],
            self.is_error[index],
            None if self.latency is None else self.latency[index],
            self.codes[index],
            self.numbering,
        )

    def followed_by(self, later: WindowHistory) -> WindowHistory:
        """Returns these inputs followed by ``later``'s (numbered as these are)."""
        latency = None
        if self.latency is not None and later.latency is not None:
            latency = np.concatenate((self.latency, later.latency))
        numbering = self.numbering
        codes = later.codes
        if later.numbering is not numbering:
            codes = _numbered(later.services.tolist(), numbering)
        return WindowHistory(
            np.concatenate((self.times, later.times)),
            np.concatenate((self.services, later.services)),
            np.concatenate((self.is_error, later.is_error)),
            latency,
            np.concatenate((self.codes, codes)),
            numbering,
        )


def _numbered(services: Sequence[str], numbering: dict[str, int]) -> np.ndarray:
    """Returns each service's number, numbering new ones (``numbering`` grows)."""
    return np.fromiter(
        (numbering.setdefault(s, len(numbering)) for s in services),
        dtype=np.int64,
        count=len(services),
    )


@dataclass(frozen=True)
class _Fields:
    """What the log features read of each event, as the extractor reads it."""

    times: np.ndarray
    levels: list[str] | None  # normalised; None when the model reads no level
    services: list[str]  # "" when missing or when the model reads no service
    status: np.ndarray | None
    latency: np.ndarray | None
    numeric: dict[str, np.ndarray]
    messages: list[str] | None  # None when the model reads no message

    @property
    def is_error(self) -> np.ndarray:
        """Returns 1 for an error level or a 5xx status, else 0 (``LogEventFeatures._is_error``)."""
        rows = len(self.times)
        is_error = np.zeros(rows, dtype=np.float64)
        if self.levels is not None and rows:
            is_error = np.array([level in ERROR_LEVELS for level in self.levels], dtype=np.float64)
        if self.status is not None:
            with np.errstate(invalid="ignore"):
                is_error = np.maximum(is_error, np.asarray(self.status >= 500, np.float64))
        return is_error


def _read(
    features: LogEventFeatures, records: Sequence[dict[str, Any]], read: np.ndarray | None = None
) -> _Fields | None:
    """Returns the fields of ``records``, or None when one could read otherwise in a DataFrame.

    ``read`` are the records' times when already read from ISO 8601 text.
    """
    rows = len(records)
    columns = features.columns_
    times: np.ndarray | None
    if columns["time"] is None:
        times = event_times(None, rows)
    elif read is not None:
        times = read
    else:
        given = field_of(records, columns["time"])
        # A missing time is filled from its neighbours, other text read in a looser format.
        times = iso_times(given) if given is not None else None
    if times is None:
        return None
    levels = None
    if columns["level"] is not None:
        found = _texts(records, columns["level"], rows)
        if found is None:
            return None
        levels = [normalise_level(level) for level in found]
    services = _texts(records, columns["service"], rows)
    if services is None:
        return None
    numeric: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(
        [*features.numeric_, *(columns[r] for r in ("status", "latency") if columns[r])]
    ):
        assert name is not None
        values = field_of(records, name)
        read = numbers(values) if values is not None else np.full(rows, np.nan)
        if read is None:
            return None
        numeric[name] = read
    messages = None
    if features.miner_ is not None:
        messages = _texts(records, columns["message"], rows)
        if messages is None:
            return None
    status_column, latency_column = columns["status"], columns["latency"]
    return _Fields(
        times,
        levels,
        services,
        numeric[status_column] if status_column is not None else None,
        numeric[latency_column] if latency_column is not None else None,
        numeric,
        messages,
    )


def _texts(records: Sequence[dict[str, Any]], name: str | None, rows: int) -> list[str] | None:
    """Returns the texts of field ``name`` ("" for none), or None for a value that is not text."""
    values = field_of(records, name)
    return [""] * rows if values is None else texts(values)


def window_inputs(
    features: LogEventFeatures, records: Sequence[dict[str, Any]]
) -> WindowHistory | None:
    """Returns the window inputs of ``records`` (read as the extractor reads them).

    None when a value could read differently among other events (see the
    module docstring).
    """
    fields = _read(features, records)
    return None if fields is None else _inputs_of(fields)


def _inputs_of(fields: _Fields, numbering: dict[str, int] | None = None) -> WindowHistory:
    numbering = {} if numbering is None else numbering
    return WindowHistory(
        np.asarray(fields.times, dtype=np.int64),
        np.asarray(fields.services, dtype=object),
        fields.is_error,
        fields.latency,
        _numbered(fields.services, numbering),
        numbering,
    )


def features_after(
    features: LogEventFeatures,
    history: WindowHistory,
    records: Sequence[dict[str, Any]],
    times: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], WindowHistory] | None:
    """Returns the feature columns of ``records`` (``features.feature_names_`` order) as if
    they followed the history, and the window inputs of history and records together;
    None when the records do not allow it (the caller then extracts history and records
    together). ``times`` are the records' times when already read from ISO 8601 text."""
    read = [c for c in features.columns_.values() if c is not None] + list(features.numeric_)
    if records and any(all(column not in r for r in records) for column in read):
        # A field absent from the whole batch reads as missing, which text columns
        # (the message) may not read the same way alone as among the history's values.
        return None
    fields = _read(features, records, times)
    if fields is None:
        return None
    inputs = _inputs_of(fields, history.numbering)
    combined = history.followed_by(inputs)
    if (combined.latency is None) != (features.columns_["latency"] is None):
        return None
    alone = _alone_columns(features, fields)
    windowed = _window_columns(features, combined, len(history))
    if getattr(features, "windows", "context") == "event":
        windowed = event_windows(windowed, inputs.is_error, alone.get("latency_vs_service"))
    alone.update(windowed)
    return {name: alone[name] for name in features.feature_names_}, combined


def _alone_columns(features: LogEventFeatures, fields: _Fields) -> dict[str, np.ndarray]:
    """Returns the columns of each event read alone: ``LogEventFeatures._features``'s steps."""
    rows = len(fields.times)
    columns: dict[str, np.ndarray] = {}
    if fields.levels is not None:
        columns.update(one_hot(_codes(fields.levels, features.levels_), features.levels_, "level"))
    if features.columns_["service"] is not None:
        services = features.services_
        columns.update(one_hot(_codes(fields.services, services), services, "service"))
    if features.columns_["time"] is not None:
        columns.update(cyclic_time(fields.times))
    for name in features.numeric_:
        columns[name] = fields.numeric[name]
    status, latency = fields.status, fields.latency
    if status is not None:
        with np.errstate(invalid="ignore"):
            columns["status_4xx"] = np.asarray((status >= 400) & (status < 500), np.float64)
            columns["status_5xx"] = np.asarray(status >= 500, np.float64)
    columns["is_error"] = fields.is_error
    log_latency = np.log1p(np.clip(latency, 0, None)) if latency is not None else None
    if log_latency is not None:
        columns["latency_vs_service"] = _versus_service(features, log_latency, fields.services)
    miner = features.miner_
    if miner is not None:
        assert fields.messages is not None
        masked = None
        if len(fields.messages) <= _FEW_MESSAGES and features.vectorizer_ is None:
            masked = masked_texts(fields.messages, miner.masks)
        messages = None
        if masked is not None:
            # A few messages: masked in Python and looked up one by one (no Arrow calls).
            ids = np.fromiter((miner._lookup(t) for t in masked), np.int64, len(masked))
        else:
            messages = pa.array(fields.messages, type=pa.string())
            ids = miner.transform(messages)
        columns.update(features._template_columns(ids, messages, log_latency, columns))
    assert all(len(column) == rows for column in columns.values())
    return columns


def _codes(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    """Returns each value's index in ``categories``, -1 for anything else."""
    position = {c: i for i, c in enumerate(categories)}
    return np.fromiter((position.get(v, -1) for v in values), dtype=np.int64, count=len(values))


def _versus_service(
    features: LogEventFeatures, log_values: np.ndarray, services: Sequence[str]
) -> np.ndarray:
    """Returns ``LogEventFeatures._versus_service`` of values whose services are given as text."""
    overall = features.baseline_.get("", (0.0, 1.0))
    centres = np.array([features.baseline_.get(s, overall)[0] for s in services], dtype=np.float64)
    spreads = np.array([features.baseline_.get(s, overall)[1] for s in services], dtype=np.float64)
    return np.asarray((log_values - centres) / spreads)


def _window_columns(
    features: LogEventFeatures, combined: WindowHistory, start: int
) -> dict[str, np.ndarray]:
    """Returns ``LogEventFeatures._windowed``'s columns for the events of ``combined`` from
    ``start`` on, their windows reaching back into the events before."""
    rows = len(combined)
    codes = combined.codes
    targets = np.arange(start, rows, dtype=np.int64)
    window_ns = int(features.window_ns_)
    stats = windows_of(
        combined.times, codes, window_ns, combined.is_error, combined.latency, targets
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        windowed: dict[str, np.ndarray] = {
            "window_count": stats["count"],
            "window_count_all": stats["count_all"],
            "window_error_rate": stats["error_sum"] / stats["count"],
        }
    if combined.latency is not None:
        windowed["window_latency_mean"] = stats["latency_mean"]
        windowed["window_latency_std"] = stats["latency_std"]
        windowed["window_latency_median"] = stats["latency_median"]
        windowed["window_latency_vs_service"] = _versus_service(
            features,
            np.log1p(np.clip(stats["latency_median"], 0, None)),
            combined.services[start:].tolist(),
        )
    times = combined.times[start:]
    if features.columns_["time"] is not None and rows:
        # As _windowed: a window reaching back before the first event at hand is unknown.
        partial = times - window_ns < combined.times.min()
        for name, column in windowed.items():
            windowed[name] = np.where(partial, np.nan, column)
    windowed["gap_seconds"] = np.log1p(stats["gap"] / _NS_PER_SECOND)
    ranges = getattr(features, "window_ranges_", None)
    return windowed if ranges is None else snap_to_ranges(windowed, ranges)
