"""The one interface the trainer uses to turn raw inputs into feature rows.

A :class:`FeatureExtractor` is fitted with the model and stored in its
artifact, so prediction extracts features exactly as training did:

- :meth:`~FeatureExtractor.read` turns what arrived (a table of events, or raw
  lines in a one-column ``line`` table) into events, with a parse report for
  raw lines;
- :meth:`~FeatureExtractor.units` says which events make each unit that gets
  a prediction (each event, or each session), before anything is fitted, so
  the trainer can split units into train and test and fit on the train part only;
- :meth:`~FeatureExtractor.fit` learns from events; :meth:`~FeatureExtractor.transform`
  gives an :class:`Extracted`: the numeric feature table, one row per unit,
  with session keys when units are sessions;
- :meth:`~FeatureExtractor.fields` lists the fields the fitted extractor reads
  (required or optional, text, number or time); once fitted, ``read`` refuses
  events that lack a required field or hold a value of the wrong kind, naming
  the row and the field (:mod:`vigil.features.fields`).

:func:`make_extractor` builds one for a kind: ``logs`` (per event, or
sessions with ``session_key`` / ``session_field`` / ``window``), ``metrics``
or ``requests``. ``tabular`` is the plain table path and has no extractor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from vigil.data.loading import LINE_COLUMN
from vigil.errors import InvalidInput, UsageError
from vigil.features.fields import (
    InputField,
    check_fields,
    describe_fields,
    missing_fields,
)
from vigil.features.kinds import FEATURE_KINDS
from vigil.features.logs import LogEventFeatures, parse_window
from vigil.features.metrics import MetricWindowFeatures
from vigil.features.parsers import ParseReport, check_format, parse_lines
from vigil.features.requests import RequestFeatures
from vigil.features.sessions import SessionFeatures, Sessions, check_session_options
from vigil.simulate.labels import ALL_LABEL_COLUMNS


@dataclass
class Units:
    """The units that get a prediction: which events make each one, and its key.

    ``event_index[i]`` belongs to unit ``unit_index[i]``; ``keys`` names the
    units when they are sessions and is ``None`` when each event is a unit.
    """

    count: int
    event_index: np.ndarray
    unit_index: np.ndarray
    keys: list[str] | None = None

    @classmethod
    def per_event(cls, rows: int) -> Units:
        """Returns units that are the events themselves."""
        index = np.arange(rows, dtype=np.int64)
        return cls(rows, index, index)

    @classmethod
    def of_sessions(cls, sessions: Sessions) -> Units:
        """Returns units that are the given sessions."""
        return cls(sessions.count, sessions.event_index, sessions.session_index, sessions.keys)

    def labels(self, event_labels: np.ndarray) -> np.ndarray:
        """Returns one 0/1 label per unit: 1 when any of its events is anomalous (label > 0)."""
        labels = np.zeros(self.count, dtype=np.int64)
        flagged = (np.asarray(event_labels, dtype=np.float64)[self.event_index] > 0).astype(int)
        np.maximum.at(labels, self.unit_index, flagged)
        return labels

    def events_of(self, units: np.ndarray) -> np.ndarray:
        """Returns the positions (sorted, distinct) of the events that make ``units``."""
        chosen = np.isin(self.unit_index, units)
        return np.unique(self.event_index[chosen])


@dataclass
class Extracted:
    """Features of a batch: one numeric row per unit, and what names each row.

    ``keys`` are session keys (session mode) and ``lines`` the 1-based line
    numbers of the events (per-event mode on raw lines); both ``None`` otherwise.
    """

    features: pd.DataFrame
    units: Units
    lines: np.ndarray | None = None

    @property
    def keys(self) -> list[str] | None:
        """Returns the session keys, or None when each event is a unit."""
        return self.units.keys


class FeatureExtractor:
    """Base of every extractor: read raw input, list units, fit, transform."""

    kind: ClassVar[str] = ""
    # What one input is called in error messages.
    noun: ClassVar[str] = "events"

    @property
    def fitted(self) -> bool:
        """Returns whether the extractor has been fitted (and so checks what it reads)."""
        return hasattr(self, "features_")

    def read(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, ParseReport | None]:
        """Returns the events in ``frame`` and, for raw lines, the parse report.

        Once fitted, events without a required field or with a value of the
        wrong kind are refused with ``InvalidInput`` naming row and field.
        """
        events = frame.reset_index(drop=True)
        if self.fitted:
            self.check(events)
        return events, None

    def fields(self) -> list[InputField]:
        """Returns the fields of an event the fitted extractor reads."""
        recorded = getattr(self, "fields_", None)
        # Models saved before fields were recorded take every field as always present.
        return list(recorded) if recorded is not None else self._fields(None)

    def _fields(self, events: pd.DataFrame | None) -> list[InputField]:
        """Returns the fields read, required as seen in training ``events`` (None: unknown)."""
        return []

    def check(self, events: pd.DataFrame) -> None:
        """Raises ``InvalidInput`` naming the first event the fitted extractor cannot read."""
        check_fields(events, self.fields(), self._reads())

    def _reads(self) -> str:
        """Returns what the fitted model reads, in words, for error messages."""
        return f"{self.noun} with {describe_fields(self.fields())}"

    def units(self, events: pd.DataFrame) -> Units:
        """Returns the units of ``events``: each event by default."""
        return Units.per_event(len(events))

    def fit(self, events: pd.DataFrame, *, task: str = "anomaly") -> FeatureExtractor:
        """Returns self, fitted on ``events`` for a model of ``task``."""
        raise NotImplementedError

    def transform(self, events: pd.DataFrame) -> Extracted:
        """Returns the features of ``events``, one row per unit."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Returns the options the extractor was built with, for the registry."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Returns the kind and options, as recorded with a model version."""
        return {"kind": self.kind, "options": self.options()}


class LogExtractor(FeatureExtractor):
    """Log events to features: per event, or per session when a session option is set."""

    kind = "logs"
    noun = "log events"

    def __init__(
        self,
        log_format: str = "auto",
        log_pattern: str | None = None,
        session_key: str | None = None,
        session_field: str | None = None,
        window: str | None = None,
        rolling_window: str = "5min",
        text_column: str | None = None,
        time_column: str | None = None,
        numeric_columns: list[str] | None = None,
        tfidf_features: int = 0,
        top_templates: int | None = None,
        template_sim_th: float = 0.4,
    ) -> None:
        self.log_format = log_format
        self.log_pattern = log_pattern
        self.session_key = session_key
        self.session_field = session_field
        self.window = window
        self.rolling_window = rolling_window
        self.text_column = text_column
        self.time_column = time_column
        self.numeric_columns = numeric_columns
        self.tfidf_features = tfidf_features
        self.top_templates = top_templates
        self.template_sim_th = template_sim_th
        check_format(log_format, log_pattern)
        check_session_options(session_key, session_field, window)
        parse_window(rolling_window)

    @property
    def session_mode(self) -> bool:
        """Returns whether units are sessions rather than events."""
        return bool(self.session_key or self.session_field or self.window)

    def options(self) -> dict[str, Any]:
        """Returns the options the extractor was built with (the ones that differ from default)."""
        values = {
            "log_format": getattr(self, "format_", self.log_format),
            "log_pattern": self.log_pattern,
            "session_key": self.session_key,
            "session_field": self.session_field,
            "window": self.window,
            "rolling_window": None if self.session_mode else self.rolling_window,
            "text_column": self.text_column,
            "time_column": self.time_column,
            "numeric_columns": self.numeric_columns,
        }
        return {k: v for k, v in values.items() if v is not None}

    @property
    def reads_lines(self) -> bool:
        """Returns whether the model was trained on raw lines (a ``line`` field per event)."""
        return hasattr(self, "format_")

    def read(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, ParseReport | None]:
        """Returns events: parsed from raw lines (a ``line`` table), else as given.

        A table of ``line`` and label columns (``is_anomaly``, ``anomaly_type``:
        simulated access logs) is raw lines too; each event keeps its line's labels.

        The format is the one given, or the one guessed when the extractor was
        fitted, so prediction reads lines the way training did. Events parsed
        from lines are indexed by their 1-based line number. A model trained
        on raw lines reads the ``line`` field whatever else an input holds,
        and takes events already parsed too. Once fitted, an input the model
        cannot read is refused with ``InvalidInput`` naming row and field.
        """
        # Raw lines may come with the label columns of simulated data (``vigil simulate
        # access`` to CSV): the lines are parsed and the labels follow their lines.
        labels = [c for c in frame.columns if c in ALL_LABEL_COLUMNS]
        raw = [c for c in frame.columns if c not in labels] == [LINE_COLUMN] or (
            self.fitted and self.reads_lines and LINE_COLUMN in frame.columns
        )
        if not raw:
            events = frame.reset_index(drop=True)
            if self.fitted:
                self.check(events)
            return events, None
        lines = frame[LINE_COLUMN].reset_index(drop=True)
        if self.fitted:
            check_fields(lines.to_frame(), [_LINE_FIELD], self._reads())
        fmt = getattr(self, "format_", self.log_format)
        parsed = parse_lines(lines, fmt, self.log_pattern)
        if not self.fitted:
            # Reading the training data: remember the guessed format for prediction.
            self.format_ = parsed.report.format
        events = parsed.events
        for name in labels:
            if name not in events.columns:
                events[name] = frame[name].to_numpy()[parsed.line_numbers - 1]
        events.index = pd.Index(parsed.line_numbers, name=LINE_COLUMN)
        if self.fitted:
            self.check(events)
        return events, parsed.report

    def check(self, events: pd.DataFrame) -> None:
        """Raises ``InvalidInput`` naming the first event the model cannot read.

        A model trained on raw lines, given events without the parsed fields
        it needs, asks for the ``line`` it reads.
        """
        fields = self.fields()
        if self.reads_lines and events.index.name != LINE_COLUMN:
            absent = missing_fields(events, fields)
            if absent is not None:
                check_fields(events, [_LINE_FIELD], self._reads())
        check_fields(events, fields, self._reads())
        if self.session_field is not None and self.session_field not in events.columns:
            # Without the field no event belongs to a session, and the batch would get no answer.
            raise InvalidInput(
                f"No event has {self.session_field!r}, the field that names sessions; "
                f"the model reads {self._reads()}.",
                errors=[{"loc": ["data", 0, self.session_field], "msg": "missing field"}],
            )

    def _reads(self) -> str:
        """Returns what the fitted model reads, in words, for error messages."""
        fields = describe_fields(self.fields())
        if self.reads_lines:
            return (
                'raw log lines, each as {"line": "<log line>"} '
                f"(or events already parsed, with {fields})"
            )
        return f"{self.noun} with {fields}"

    def _fields(self, events: pd.DataFrame | None) -> list[InputField]:
        """Returns the fields the fitted per-event or session features read."""
        return self.features_.input_fields(events)

    def units(self, events: pd.DataFrame) -> Units:
        """Returns each event, or each session in session mode."""
        if not self.session_mode:
            return Units.per_event(len(events))
        return Units.of_sessions(self._session_features().group(_positional(events)))

    def fit(self, events: pd.DataFrame, *, task: str = "anomaly") -> LogExtractor:
        """Returns self, with templates mined and per-event or session features fitted."""
        if len(events) == 0:
            raise InvalidInput("No log events to learn from.")
        events = _positional(events)
        if self.session_mode:
            self.features_: LogEventFeatures | SessionFeatures = self._session_features().fit(
                events
            )
        else:
            self.features_ = LogEventFeatures(
                time_column=self.time_column,
                message_column=self.text_column,
                numeric_columns=self.numeric_columns,
                top_templates=self._top_templates(task),
                # Detectors score each event alone: windows tied to it (see logs.py).
                windows="event" if task == "anomaly" else "context",
                window=self.rolling_window,
                tfidf_features=self.tfidf_features,
                template_sim_th=self.template_sim_th,
            ).fit(events)
        self.fields_ = self._fields(events)
        return self

    def transform(self, events: pd.DataFrame) -> Extracted:
        """Returns one feature row per event (input order) or per session (first appearance)."""
        lines = events.index.to_numpy() if events.index.name == LINE_COLUMN else None
        events = _positional(events)
        if isinstance(self.features_, SessionFeatures):
            frame, sessions = self.features_.transform(events)
            return Extracted(frame, Units.of_sessions(sessions))
        frame = self.features_.transform(events)
        return Extracted(frame, Units.per_event(len(events)), lines)

    def _top_templates(self, task: str) -> int:
        """Returns how many templates get a one-hot column: as set, else by task.

        A supervised model learns which of many indicator columns matter; an
        unsupervised detector weighs every column alike, so a few dozen sparse
        indicators would drown the dense signals (rarity, windows) it needs.
        """
        if self.top_templates is not None:
            return self.top_templates
        return 10 if task == "anomaly" else 50

    def _session_features(self) -> SessionFeatures:
        return SessionFeatures(
            key=self.session_key,
            field=self.session_field,
            window=self.window,
            message_column=self.text_column,
            time_column=self.time_column,
            template_sim_th=self.template_sim_th,
        )


class MetricExtractor(FeatureExtractor):
    """Metric points to causal window features, one row per point."""

    kind = "metrics"
    noun = "metric points"

    def __init__(
        self,
        window: str | None = None,
        time_column: str | None = None,
        value_column: str | None = None,
        series_column: str | None = None,
    ) -> None:
        self.window = window
        self.time_column = time_column
        self.value_column = value_column
        self.series_column = series_column

    def options(self) -> dict[str, Any]:
        """Returns the options the extractor was built with (the ones set)."""
        values = {
            "window": self.window,
            "time_column": self.time_column,
            "value_column": self.value_column,
            "series_column": self.series_column,
        }
        return {k: v for k, v in values.items() if v is not None}

    def fit(self, events: pd.DataFrame, *, task: str = "anomaly") -> MetricExtractor:
        """Returns self, with series scales and seasonal profiles learned."""
        if len(events) == 0:
            raise InvalidInput("No metric points to learn from.")
        self.features_ = MetricWindowFeatures(
            time_column=self.time_column,
            value_column=self.value_column,
            series_column=self.series_column,
            window=self.window or "1h",
            # Detectors weigh every column alike; supervised models pick their own.
            columns="detector" if task == "anomaly" else "all",
        ).fit(_positional(events))
        self.fields_ = self._fields(events)
        return self

    def _fields(self, events: pd.DataFrame | None) -> list[InputField]:
        """Returns the time, value and series fields the fitted features read."""
        return self.features_.input_fields(events)

    def transform(self, events: pd.DataFrame) -> Extracted:
        """Returns one feature row per point, in input order."""
        frame = self.features_.transform(_positional(events))
        return Extracted(frame, Units.per_event(len(frame)))


class RequestExtractor(FeatureExtractor):
    """Requests to payload features, one row per request."""

    kind = "requests"
    noun = "requests"

    def __init__(
        self, text_column: str | None = None, numeric_columns: list[str] | None = None
    ) -> None:
        self.text_column = text_column
        self.numeric_columns = numeric_columns

    def options(self) -> dict[str, Any]:
        """Returns the options the extractor was built with (the ones set)."""
        values = {"text_column": self.text_column, "numeric_columns": self.numeric_columns}
        return {k: v for k, v in values.items() if v is not None}

    def fit(self, events: pd.DataFrame, *, task: str = "anomaly") -> RequestExtractor:
        """Returns self, with the text field chosen and the n-gram vocabulary fitted."""
        if len(events) == 0:
            raise InvalidInput("No requests to learn from.")
        self.features_ = RequestFeatures(
            text_column=self.text_column, numeric_columns=self.numeric_columns
        ).fit(_positional(events))
        self.fields_ = self._fields(events)
        return self

    def _fields(self, events: pd.DataFrame | None) -> list[InputField]:
        """Returns the text and numeric fields the fitted features read."""
        return self.features_.input_fields(events)

    def transform(self, events: pd.DataFrame) -> Extracted:
        """Returns one feature row per request, in input order."""
        frame = self.features_.transform(_positional(events))
        return Extracted(frame, Units.per_event(len(frame)))


# What a model trained on raw lines reads from each input.
_LINE_FIELD = InputField(LINE_COLUMN, "text", required=True)

_EXTRACTORS: dict[str, type[FeatureExtractor]] = {
    "logs": LogExtractor,
    "metrics": MetricExtractor,
    "requests": RequestExtractor,
}
_OPTIONS: dict[str, tuple[str, ...]] = {
    "logs": (
        "log_format",
        "log_pattern",
        "session_key",
        "session_field",
        "window",
        "rolling_window",
        "text_column",
        "time_column",
        "numeric_columns",
        "tfidf_features",
        "top_templates",
        "template_sim_th",
    ),
    "metrics": ("window", "time_column", "value_column", "series_column"),
    "requests": ("text_column", "numeric_columns"),
}
# How each option is spelled on the command line, for error messages.
_FLAGS = {
    "log_format": "--log-format",
    "log_pattern": "--log-pattern",
    "session_key": "--session-key",
    "session_field": "--session-field",
    "window": "--window",
    "rolling_window": "--rolling-window",
    "text_column": "--text-column",
}


def make_extractor(kind: str, options: Mapping[str, Any] | None = None) -> FeatureExtractor:
    """Returns an unfitted extractor of ``kind`` with ``options`` (unset ones omitted or None).

    Raises ``UsageError`` for an unknown kind, ``tabular`` (which has no
    extractor), or an option the kind does not take.
    """
    if kind not in _EXTRACTORS:
        raise UsageError(
            f"Unknown feature kind {kind!r}; use one of {', '.join(FEATURE_KINDS)}."
            if kind != "tabular"
            else "Tabular data needs no feature extractor."
        )
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = [k for k in given if k not in _OPTIONS[kind]]
    if unknown:
        flag = _FLAGS.get(unknown[0], unknown[0])
        raise UsageError(f"{flag} does not apply to --features {kind}.")
    return _EXTRACTORS[kind](**given)


def _positional(events: pd.DataFrame) -> pd.DataFrame:
    """Returns ``events`` indexed 0..n-1, as the feature builders expect."""
    if isinstance(events.index, pd.RangeIndex) and events.index.start == 0:
        return events
    return events.reset_index(drop=True)
