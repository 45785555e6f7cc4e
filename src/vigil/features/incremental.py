"""Log event features of a stream's new events, computed after its kept history.

A stream scores each batch as it would be scored inside the whole series
(:mod:`vigil.streams.scoring`). Running :class:`LogEventFeatures` over the
kept history followed by the batch does that, but re-reads every kept event
each time: parses its time, matches its message against the templates,
builds its one-hot columns, only to throw those rows away. Of all the
features only the window columns (``window_*``, ``gap_seconds``) read other
events, and they read them through four values per event, its *window
inputs*: time, service, ``is_error`` and latency.

So the features of a batch are computed in two parts:

- every column of the new events, read alone (``LogEventFeatures._features``:
  each of these columns depends on its own event only);
- the window columns, recomputed by the extractor's own ``_windowed`` over
  the window inputs of the history (kept as arrays beside it, see
  :class:`WindowHistory`) followed by those of the batch, and put in place
  of the columns read alone.

Both parts run the batch extractor's code on the same values, so the result
equals ``LogEventFeatures.transform`` of history + batch exactly (tests
compare them on random pieces). The one input that could read differently
alone than among its neighbours is the time: a missing time is filled from
the neighbouring events, and a column of text that mostly fails ISO 8601 is
read in a looser format. :func:`window_inputs` therefore answers None unless
every time of the batch is ISO 8601 text, and the caller keeps the whole
extraction for that batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vigil.features.logs import LogEventFeatures, encode_text, event_times, field_values
from vigil.features.windows import event_windows


@dataclass(frozen=True)
class WindowHistory:
    """The window inputs of a run of events, in their order (one entry per event)."""

    times: np.ndarray  # int64 ns, as event_times reads them
    services: np.ndarray  # object: the service text ("" when missing)
    is_error: np.ndarray  # float64 0/1
    latency: np.ndarray | None  # float64 (NaN missing); None when the model reads none

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
        )

    def followed_by(self, later: WindowHistory) -> WindowHistory:
        """Returns these inputs followed by ``later``'s."""
        latency = None
        if self.latency is not None and later.latency is not None:
            latency = np.concatenate((self.latency, later.latency))
        return WindowHistory(
            np.concatenate((self.times, later.times)),
            np.concatenate((self.services, later.services)),
            np.concatenate((self.is_error, later.is_error)),
            latency,
        )


def window_inputs(features: LogEventFeatures, events: pd.DataFrame) -> WindowHistory | None:
    """Returns the window inputs of ``events`` (read as the extractor reads them).

    None when a time could read differently among other events (missing, or
    not ISO 8601 text; see the module docstring).
    """
    rows = len(events)
    time_column = features.columns_["time"]
    given = field_values(events, time_column)
    if time_column is None:
        times = event_times(None, rows)
    else:
        parsed = _iso_times(given, rows)
        if parsed is None:
            return None
        times = parsed
    uniques, codes = encode_text(field_values(events, features.columns_["service"]), rows)
    services = np.asarray(uniques, dtype=object)[codes] if rows else np.zeros(0, dtype=object)
    return WindowHistory(
        np.asarray(times, dtype=np.int64),
        services,
        features._is_error(events),
        features._numbers(events, "latency", rows),
    )


def features_after(
    features: LogEventFeatures, history: WindowHistory, events: pd.DataFrame
) -> tuple[pd.DataFrame, WindowHistory] | None:
    """Returns the feature rows of ``events`` as if they followed the history, and the
    window inputs of history and events together; None when the events' times do not
    allow it (the caller then extracts history and events together)."""
    events = events.reset_index(drop=True)
    read = [c for c in features.columns_.values() if c is not None] + list(features.numeric_)
    if any(column not in events.columns for column in read):
        # A field absent from the whole batch reads as missing, which text columns
        # (the message) may not read the same way alone as among the history's values.
        return None
    inputs = window_inputs(features, events)
    if inputs is None:
        return None
    combined = history.followed_by(inputs)
    if (combined.latency is None) != (features.columns_["latency"] is None):
        return None
    alone = features._features(events)
    services = encode_text(pd.Series(combined.services, dtype=object), len(combined))
    windowed = features._windowed(combined.times, services, combined.is_error, combined.latency)
    start = len(history)
    tail = {name: column[start:] for name, column in windowed.items()}
    if getattr(features, "windows", "context") == "event":
        own = alone["latency_vs_service"].to_numpy() if "latency_vs_service" in alone else None
        tail = event_windows(tail, inputs.is_error, own)
    for name, column in tail.items():
        alone[name] = column
    return alone[features.feature_names_], combined


def _iso_times(values: pd.Series | None, rows: int) -> np.ndarray | None:
    """Returns the times (int64 ns) when every one is ISO 8601 text, else None.

    Such text reads the same in any batch: these are the times ``event_times``
    gives, read once.
    """
    if values is None:
        return None
    if rows == 0:
        return np.zeros(0, dtype=np.int64)
    if not all(isinstance(v, str) for v in values.tolist()):
        return None
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if not parsed.notna().all():
        return None
    times = pd.Series(parsed).dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(times.astype("datetime64[ns]").to_numpy().astype(np.int64))
