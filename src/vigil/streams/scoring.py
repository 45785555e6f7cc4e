"""A batch of a stream scored exactly as it would be inside the whole series.

Every feature of Vigil's extractors is causal: an event's features depend on
it and on earlier events within a bounded window (plus what training
learned). So a batch is scored by running the model's own extractor over the
stream's kept history followed by the batch, and keeping the batch's rows:
no second implementation of any feature exists to drift from the batch path.

What history is kept, per feature kind (``trim``):

- log events (per event): every event within the rolling window (plus the
  out-of-order tolerance) of the newest, and the last earlier event of each
  service (its gap feature reaches back to it; and the oldest kept event
  says the window is complete, not cut off by the start of what is at hand);
- metric points: per series, the points within the longest window a feature
  reads (a week for ``range_excess``; the MAD of the robust z-score reaches
  back two baseline windows) and the last earlier point (so the series
  counts as long enough for ``range_excess``); windows counted in points keep
  that many points. Streams without timestamps count positions as seconds,
  up to ``UNTIMED_POINTS`` points;
- sessions: the events of the open sessions; a session closes when no event
  of it arrived for the idle timeout (event time), or on ``flush``;
- requests and tabular rows: none (each row stands alone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vigil.data.loading import LINE_COLUMN
from vigil.errors import InvalidInput
from vigil.features.extractors import LogExtractor, MetricExtractor
from vigil.features.fields import InputField
from vigil.features.incremental import WindowHistory, features_after, window_inputs
from vigil.features.logs import LogEventFeatures, event_times
from vigil.features.metrics import MetricWindowFeatures
from vigil.features.records import iso_time_ns, iso_times, numbers, plain_number
from vigil.features.sessions import SessionFeatures
from vigil.streams.state import StreamState
from vigil.training.bundle import ModelBundle

if TYPE_CHECKING:
    from vigil.serving.fast_model import FastModel

log = logging.getLogger("vigil.streams")

NS = 1_000_000_000
# A stream without timestamps keeps at most this many points of history.
UNTIMED_POINTS = 100_000
# The compiled path must reproduce the bundle's scores this closely on the training sample.
COMPILED_TOLERANCE = 1e-10
COMPILED_PROBE_ROWS = 2000
# The stream name of a model whose events carry no service or series.
DEFAULT_STREAM = "default"


@dataclass(frozen=True)
class StreamSettings:
    """How a model's streams are judged in time (event time, nanoseconds)."""

    # Events older than their stream's newest by more than this are refused.
    tolerance_ns: int = 60 * NS
    # A session with no event for this long is closed and scored.
    session_timeout_ns: int = 30 * 60 * NS
    # Anomalies of a stream closer than this belong to one incident.
    incident_gap_ns: int = 5 * 60 * NS
    # An incident resolves once its stream's model saw this long without an anomaly of it.
    incident_quiet_ns: int = 10 * 60 * NS


# What a client may set per model, by the names it sends (durations such as "30min").
SETTING_NAMES = {
    "tolerance": "tolerance_ns",
    "session_timeout": "session_timeout_ns",
    "incident_gap": "incident_gap_ns",
    "incident_quiet": "incident_quiet_ns",
}


def parse_settings(given: Any) -> dict[str, int]:
    """Returns the stream settings a client sent (``{"session_timeout": "10min", …}``) in ns.

    Raises ``InvalidInput`` naming the field for an unknown name or a value
    that is not a duration (the tolerance may be 0, the others must be longer).
    """
    if not isinstance(given, dict):
        raise InvalidInput(
            'settings must be an object such as {"session_timeout": "10min"}.',
            errors=[{"loc": ["body", "settings"], "msg": "an object"}],
        )
    parsed: dict[str, int] = {}
    for name, value in given.items():
        if name not in SETTING_NAMES:
            raise InvalidInput(
                f"Unknown stream setting {name!r}; use {', '.join(SETTING_NAMES)}.",
                errors=[{"loc": ["body", "settings", name], "msg": "unknown setting"}],
            )
        try:
            length = int(pd.Timedelta(value).value)
        except (ValueError, TypeError):
            length = -1
        if length < 0 or (length == 0 and name != "tolerance"):
            raise InvalidInput(
                f"Stream setting {name} must be a duration such as 30s, 10min or 1h "
                f"({'0 or more' if name == 'tolerance' else 'longer than 0'}); got {value!r}.",
                errors=[{"loc": ["body", "settings", name], "msg": "a duration"}],
            )
        parsed[SETTING_NAMES[name]] = length
    return parsed


@dataclass
class Rejected:
    """An event of the batch that was not scored, and why."""

    event: int
    reason: str
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the rejection as the answer lists it."""
        document: dict[str, Any] = {"event": self.event, "reason": self.reason}
        if self.field is not None:
            document["field"] = self.field
        return document


@dataclass
class Scored:
    """One answer of a batch: the model's output, the stream, the event time and position."""

    output: dict[str, Any]
    stream: str
    time_ns: int
    # Position in the request (the first event of a session for a session answer).
    event: int
    features: pd.Series | None = None


@dataclass
class Batch:
    """A batch read and checked: accepted events (as JSON records) and the rejected ones."""

    records: list[dict[str, Any]]
    positions: list[int]
    rejected: list[Rejected] = field(default_factory=list)
    # The records' event times (ns) when read already, all from ISO 8601 text.
    times_ns: np.ndarray | None = None


class StreamScorer:
    """Scores batches of one model version's stream against the kept history."""

    def __init__(self, bundle: ModelBundle, settings: StreamSettings, version: int = 0) -> None:
        if bundle.task != "anomaly":
            raise InvalidInput(
                f"Events go to anomaly models; this model's task is {bundle.task!r}. "
                "Use POST /v1/models/{name}/predict."
            )
        self.bundle = bundle
        self.settings = settings
        self.version = version
        # A metrics model that learns online (vigil.online) scores from its state.
        self.online = getattr(bundle, "online", None) is not None
        extractor = bundle.extractor
        features = getattr(extractor, "features_", None)
        self.time_column: str | None = None
        self.stream_column: str | None = None
        self.kind = "rows"
        # A log model's per-event features (their windows are computed incrementally).
        self.log_features: LogEventFeatures | None = None
        if isinstance(features, SessionFeatures):
            self.kind = "sessions"
            self.time_column = features.time_
        elif isinstance(features, LogEventFeatures):
            self.kind = "logs"
            self.log_features = features
            self.time_column = features.columns_.get("time")
            self.stream_column = features.columns_.get("service")
        elif isinstance(features, MetricWindowFeatures):
            self.kind = "metrics"
            self.time_column = features.time_
            self.stream_column = features.series_
        self.reads_lines = isinstance(extractor, LogExtractor) and extractor.reads_lines
        # The model compiled for its feature rows (vigil.serving.fast_model), when it compiles:
        # the same outputs as the bundle's row path (scores within 1e-9), a fraction of the cost.
        self.fast = None if self.online else _compiled(bundle)

    # --- reading ----------------------------------------------------------------

    def read(self, events: list[Any]) -> Batch:
        """Returns the batch's readable events as records; the others rejected with the reason.

        One unreadable event (not an object, a missing or mistyped field, a
        line that does not parse) is set aside with its reason and position;
        the rest of the batch is still read.
        """
        plain = self._plain(events)
        if plain is not None:
            # Every event a JSON object holding plain values of the kinds the model reads:
            # nothing to refuse, and no DataFrame to build (vigil.features.records).
            return plain
        rejected: list[Rejected] = []
        positions: list[int] = []
        objects: list[dict[str, Any]] = []
        for position, event in enumerate(events):
            if isinstance(event, dict):
                positions.append(position)
                objects.append(event)
            else:
                rejected.append(Rejected(position, "An event must be a JSON object."))
        while objects:
            try:
                records, kept = self._read_frame(objects)
            except InvalidInput as exc:
                bad = _located_row(exc, self.reads_lines)
                if bad is None or not 0 <= bad < len(objects):
                    raise
                loc = exc.errors[0].get("loc", []) if exc.errors else []
                rejected.append(
                    Rejected(positions[bad], exc.message, str(loc[2]) if len(loc) > 2 else None)
                )
                del objects[bad], positions[bad]
                continue
            unparsed = sorted(set(range(len(objects))) - set(kept))
            rejected += [
                Rejected(positions[i], "The line does not parse as the model's log format.", "line")
                for i in unparsed
            ]
            rejected.sort(key=lambda r: r.event)
            return Batch(records, [positions[i] for i in kept], rejected)
        rejected.sort(key=lambda r: r.event)
        return Batch([], [], rejected)

    def _plain(self, events: list[Any]) -> Batch | None:
        """Returns the batch when every event passes the extractor's field checks as plain
        JSON values, else None.

        A required field present, numbers finite within float32's range, texts
        as text, times as ISO 8601 text or numbers: what ``check_fields``
        accepts, decided without pandas. Anything else (and raw lines, and
        models without an extractor) is left to the extractor's own ``read``,
        which refuses it with its reason. The model's event times are read
        once here when they are all ISO 8601 text.
        """
        extractor = self.bundle.extractor
        if extractor is None or self.reads_lines or not events:
            return None
        fields: list[InputField] | None = getattr(self, "_fields", None)
        if fields is None:
            fields = self._fields = extractor.fields()
        if not all(isinstance(e, dict) for e in events):
            return None
        session_field = getattr(extractor, "session_field", None)
        if session_field is not None and not any(session_field in e for e in events):
            return None
        read_times = None
        for read in fields:
            values = [e.get(read.name) for e in events]
            if read.required and any(v is None for v in values):
                return None
            given = [v for v in values if v is not None]
            if read.kind == "number":
                if not all(plain_number(v) for v in given):
                    return None
            elif read.kind == "text":
                if not all(type(v) is str for v in given):
                    return None
            else:
                stamps = iso_times(given)
                if stamps is None and not all(
                    plain_number(v) or iso_time_ns(v) is not None for v in given
                ):
                    return None
                if read.name == self.time_column and len(given) == len(values):
                    read_times = stamps
        return Batch(list(events), list(range(len(events))), times_ns=read_times)

    def _read_frame(self, objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
        """Returns the events as plain records and, per record, its position in ``objects``."""
        frame = pd.DataFrame.from_records(objects)
        if self.bundle.extractor is None:
            self.bundle.prepare(frame)
            return objects, list(range(len(objects)))
        events, _ = self.bundle.extractor.read(frame)
        if events.index.name != LINE_COLUMN:
            # Read as sent: the objects themselves are the records (JSON already).
            return objects, list(range(len(objects)))
        kept = [int(line) - 1 for line in events.index]
        return _records(events.reset_index(drop=True)), kept

    # --- scoring ----------------------------------------------------------------

    def times(
        self, records: list[dict[str, Any]], state: StreamState, now_ns: int | None = None
    ) -> np.ndarray:
        """Returns each record's event time (ns).

        Events without a time field take their arrival time (``now_ns``), so
        an incident of rows or requests says when it happened; without one,
        events are counted (a second each).
        """
        if self.time_column is None:
            if now_ns is not None:
                return np.full(len(records), now_ns, dtype=np.int64)
            return np.arange(state.sequence, state.sequence + len(records), dtype=np.int64) * NS
        given = [r.get(self.time_column) for r in records]
        read = iso_times(given)
        if read is not None:
            return read
        return event_times(pd.Series(given), len(records))

    def stream_of(self, record: dict[str, Any]) -> str:
        """Returns the stream an event belongs to: its service or series, else the default."""
        if self.stream_column is None:
            return DEFAULT_STREAM
        value = record.get(self.stream_column)
        return DEFAULT_STREAM if value is None else str(value)

    def score(
        self,
        state: StreamState,
        batch: Batch,
        *,
        flush: bool,
        settings: StreamSettings | None = None,
        now_ns: int | None = None,
    ) -> list[Scored]:
        """Returns the answers of the batch's events, updating ``state``'s history and clocks.

        Events older than their stream's newest by more than the tolerance
        are moved to ``batch.rejected``. ``settings`` are the model's (its
        state's) when it has its own.
        """
        if settings is not None:
            # Called under the model's stream lock: no other batch of it runs meanwhile.
            self.settings = settings
        records = batch.records
        known = batch.times_ns
        times = known if known is not None else self.times(records, state, now_ns)
        order = np.argsort(times, kind="stable")
        accepted: list[int] = []
        for i in order.tolist():
            stream = self._clock_stream(records[i])
            newest = state.latest_ns.get(stream)
            # Arrival times (no time field) are never late: replicas' clocks may differ a little.
            timed = self.time_column is not None
            if timed and newest is not None and times[i] < newest - self.settings.tolerance_ns:
                batch.rejected.append(
                    Rejected(
                        batch.positions[i],
                        f"Event time {_iso(times[i])} is older than the newest event of stream "
                        f"{stream!r} ({_iso(newest)}) by more than the tolerance "
                        f"({self.settings.tolerance_ns / NS:g} s); it was not scored.",
                        self.time_column,
                    )
                )
                continue
            accepted.append(i)
            state.latest_ns[stream] = (
                int(times[i]) if newest is None else max(newest, int(times[i]))
            )
        batch.rejected.sort(key=lambda r: r.event)
        new = [records[i] for i in accepted]
        new_times = times[accepted]
        positions = [batch.positions[i] for i in accepted]
        state.sequence += len(new)
        if self.kind == "sessions":
            return self._score_sessions(state, new, new_times, positions, flush)
        if self.kind == "rows" or not new:
            answers = self._score_rows(new, new_times, positions) if new else []
            return answers
        if self.online:
            return self._score_online(state, new, new_times, positions)
        # Times read from ISO 8601 text are what the log features read: passed on, not read again.
        read = new_times if known is not None else None
        return self._score_with_history(state, new, new_times, positions, read)

    def _clock_stream(self, record: dict[str, Any]) -> str:
        # Sessions have one clock: their idle timeouts are judged against the model's events.
        return DEFAULT_STREAM if self.kind == "sessions" else self.stream_of(record)

    def _score_rows(
        self, records: list[dict[str, Any]], times: np.ndarray, positions: list[int]
    ) -> list[Scored]:
        X = self._features(records)
        return self._answers(_columns(X), records, times, positions, X)

    def _score_with_history(
        self,
        state: StreamState,
        records: list[dict[str, Any]],
        times: np.ndarray,
        positions: list[int],
        read_times: np.ndarray | None = None,
    ) -> list[Scored]:
        found = self._log_features(state, records, read_times) if self.kind == "logs" else None
        X = None
        if found is None:
            X = self._features(records, state.events)
            columns = _columns(X)
        else:
            columns = found[0]
        answers = self._answers(columns, records, times, positions, X)
        kept = self._trim(state, state.events + records, [*state.times, *times.tolist()])
        # The window inputs of the kept events, for the next batch (dropped when not derived).
        state.derived = None if found is None else (self.log_features, found[1].taken(kept))
        return answers

    def _log_features(
        self, state: StreamState, records: list[dict[str, Any]], times: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], WindowHistory] | None:
        """Returns the feature columns of a log batch after the history, computed from the
        history's window inputs (vigil.features.incremental), and the inputs of both;
        None when the batch needs the whole extraction."""
        features = self.log_features
        assert features is not None
        derived = state.derived
        if (
            isinstance(derived, tuple)
            and derived[0] is features
            and len(derived[1]) == len(state.events)
        ):
            history: WindowHistory | None = derived[1]
        elif state.events:
            # First batch since the state was read back (or another version scored it).
            history = window_inputs(features, state.events)
        else:
            history = WindowHistory.empty(features)
        if history is None:
            return None
        found = features_after(features, history, records, times)
        if found is None:
            return None
        columns, inputs = found
        rows = len(records)
        chosen = {
            name: columns[name] if name in columns else np.full(rows, np.nan)
            for name in self.bundle.feature_names
        }
        return chosen, inputs

    def _features(
        self, records: list[dict[str, Any]], history: list[dict[str, Any]] | None = None
    ) -> pd.DataFrame:
        """Returns the model's input rows of ``records``, extracted after ``history``."""
        kept = history or []
        X, _ = self.bundle.features_of(pd.DataFrame.from_records(kept + records))
        return X.iloc[len(kept) :].reset_index(drop=True) if kept else X

    def _outputs(
        self, columns: dict[str, np.ndarray], rows: int, X: pd.DataFrame | None = None
    ) -> list[dict[str, Any]]:
        """Returns the model's outputs for input columns (``X`` when given as rows):
        compiled where the model compiles."""
        if not rows:
            return []
        if self.fast is None:
            return self.bundle.predict_rows(X if X is not None else pd.DataFrame(columns))
        if rows == 1:
            # One row: the compiled one-row path, without a matrix built column by column.
            return [self.fast.predict_row({name: column[0] for name, column in columns.items()})]
        matrix = self.fast.preprocessor.transform_columns(columns)
        return self.fast.predict_features(matrix).outputs()

    def _score_online(
        self,
        state: StreamState,
        records: list[dict[str, Any]],
        times: np.ndarray,
        positions: list[int],
    ) -> list[Scored]:
        """Returns answers from the version's online state, which the batch then updates.

        A version without a state yet (just deployed) starts from its trained
        state warmed on the kept history, so a retrained model or a rollback
        carries on from the stream's recent past rather than from nothing.
        """
        from vigil.online.state import OnlineState

        key = str(self.version)
        blob = state.model_states.get(key)
        online_state = None
        if blob is not None:
            try:
                online_state = OnlineState.from_bytes(blob)
            except Exception:
                # A state the installed vigil.online cannot read (its layout changed):
                # rebuilt below from the trained state and the kept history.
                log.warning("online state of version %s unreadable; rebuilt from history", key)
        online = self.bundle.online
        assert online is not None
        if online_state is None:
            online_state = self.bundle.initial_state()
            if state.events:
                history = self._online_points(state.events)
                _, online_state = online.score_in_order(history, online_state)
        # The points were checked when the batch was read: the online model reads them as is.
        outputs, after = online.score_in_order(self._online_points(records), online_state)
        state.model_states[key] = after.to_bytes()
        flagged = [i for i, out in enumerate(outputs) if out.get("is_anomaly")]
        # Explanations read the window features of the flagged points, with their history.
        features = self._features(records, state.events) if flagged else None
        answers = [
            Scored(
                output,
                self.stream_of(records[i]),
                int(times[i]),
                positions[i],
                features.iloc[i] if features is not None and output.get("is_anomaly") else None,
            )
            for i, output in enumerate(outputs)
        ]
        self._trim(state, state.events + records, [*state.times, *times.tolist()])
        answers.sort(key=lambda a: a.event)
        return answers

    def _online_points(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Returns the points as the online model reads them: what a DataFrame of the records
        holds in its value and series columns.

        The records come in time order (``score`` orders a batch, the history is kept
        so), and the order is all the online model reads of their times: without a time
        column it scores them in the order given, the same order, without reading the
        times again (a millisecond per request; the stream equality tests hold it).
        """
        online = self.bundle.online
        assert online is not None
        columns: dict[str, Any] = {}
        for name in (online.value_column, online.series_column):
            if name is None or name in columns or not any(name in r for r in records):
                continue
            # A record without the field holds NaN in a DataFrame of the records.
            given = [r.get(name, np.nan) for r in records]
            read = numbers(given) if name == online.value_column else None
            columns[name] = read if read is not None else given
        return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))

    def _answers(
        self,
        columns: dict[str, np.ndarray],
        records: list[dict[str, Any]],
        times: np.ndarray,
        positions: list[int],
        X: pd.DataFrame | None = None,
    ) -> list[Scored]:
        outputs = self._outputs(columns, len(records), X)
        names = pd.Index(list(columns))
        answers = []
        for i, output in enumerate(outputs):
            flagged = bool(output.get("is_anomaly"))
            answers.append(
                Scored(
                    output,
                    self.stream_of(records[i]),
                    int(times[i]),
                    positions[i],
                    (_row(columns, names, i) if X is None else X.iloc[i]) if flagged else None,
                )
            )
        # Answers in the order the events came in the request.
        answers.sort(key=lambda a: a.event)
        return answers

    def _trim(
        self, state: StreamState, combined: list[dict[str, Any]], stamps: list[int]
    ) -> np.ndarray:
        """Keeps in ``state`` the history of ``combined`` (times ``stamps``) the module says,
        in time order; returns the positions in ``combined`` of the events kept."""
        times = np.asarray(stamps, dtype=np.int64)
        if np.all(times[1:] >= times[:-1]):
            # In time order already (the history is, and most batches come after it).
            order = np.arange(len(times))
            ordered = combined
        else:
            order = np.argsort(times, kind="stable")
            ordered = [combined[i] for i in order.tolist()]
            times = times[order]
            stamps = times.tolist()
        keep = np.ones(len(ordered), dtype=bool)
        if self.time_column is None:
            keep[: max(0, len(ordered) - UNTIMED_POINTS)] = False
        else:
            clock = state.clock_ns
            assert clock is not None
            horizon, points = self._horizon()
            cutoff = clock - self.settings.tolerance_ns - horizon
            keep = times >= cutoff
            if not keep.all() and points <= 1:
                # Each stream's last event before the cutoff (its last event overall is that
                # one or after the cutoff): only the older events need their stream named.
                older = np.flatnonzero(~keep)
                codes = self._stream_codes([ordered[i] for i in older], len(state.latest_ns))
                last = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
                np.maximum.at(last, codes, np.arange(len(older)))
                keep[older[last[last >= 0]]] = True
            elif not keep.all():
                codes = self._stream_codes(ordered, len(state.latest_ns))
                # The newest ``points`` of each stream, and its last event before the cutoff.
                keep |= _from_end(codes) < points
                older = np.flatnonzero(~keep)
                if len(older):
                    last = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
                    np.maximum.at(last, codes[older], older)
                    keep[last[last >= 0]] = True
        chosen = np.flatnonzero(keep)
        if len(chosen) and chosen[-1] - chosen[0] + 1 == len(chosen):
            # One run of events (the usual case): kept by slicing, not one by one.
            first, end = int(chosen[0]), int(chosen[-1]) + 1
            state.events, state.times = ordered[first:end], list(stamps[first:end])
        else:
            state.events = [ordered[i] for i in chosen.tolist()]
            state.times = times[chosen].tolist()
        return np.asarray(order[chosen], dtype=np.int64)

    def _stream_codes(self, records: list[dict[str, Any]], streams: int) -> np.ndarray:
        """Returns each record's stream as a code (one per distinct ``stream_of``).

        ``streams`` is how many streams the model has seen (its clocks): with one,
        every record is of it.
        """
        column = self.stream_column
        if column is None or streams <= 1:
            return np.zeros(len(records), dtype=np.int64)
        # stream_of, inlined: a week of metric points is ten thousand records per batch.
        names = [DEFAULT_STREAM if (v := r.get(column)) is None else str(v) for r in records]
        return np.asarray(pd.factorize(np.asarray(names, dtype=object))[0], dtype=np.int64)

    def _horizon(self) -> tuple[int, int]:
        """Returns how far back features read: a duration (ns) and a number of points."""
        known: tuple[int, int] | None = getattr(self, "_reach", None)
        if known is None:
            known = self._reach = self._read_horizon()
        return known

    def _read_horizon(self) -> tuple[int, int]:
        assert self.bundle.extractor is not None
        features = getattr(self.bundle.extractor, "features_", None)
        if isinstance(features, LogEventFeatures):
            return int(features.window_ns_), 1
        assert isinstance(self.bundle.extractor, MetricExtractor)
        assert isinstance(features, MetricWindowFeatures)
        durations = [0]
        points = [1]
        windows = [
            (features.window_, 1),
            (features.baseline_window_, 2),
            (getattr(features, "range_window_", "7D"), 1),
        ]
        for window, reach in windows:
            if isinstance(window, int):
                points.append(window * reach + 1)
            else:
                durations.append(int(pd.Timedelta(window).value) * reach)
        points.append(max((int(k) for k in features.lags), default=0) + 1)
        return max(durations), max(points)

    def _score_sessions(
        self,
        state: StreamState,
        records: list[dict[str, Any]],
        new_times: np.ndarray,
        positions: list[int],
        flush: bool,
    ) -> list[Scored]:
        extractor = self.bundle.extractor
        assert extractor is not None
        # Kept session events carry no request position: they came in earlier batches.
        combined = state.events + records
        origin = [-1] * len(state.events) + positions
        if not combined:
            return []
        frame = pd.DataFrame.from_records(combined)
        units = extractor.units(frame)
        stamps = np.asarray([*state.times, *new_times.tolist()], dtype=np.int64)
        if units.count == 0:
            state.events, state.times = [], []
            return []
        times = stamps
        last = np.full(units.count, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, units.unit_index, times[units.event_index])
        clock = state.clock_ns if state.clock_ns is not None else int(times.max())
        closing = np.ones(units.count, dtype=bool)
        if not flush:
            closing = last < clock - self.settings.session_timeout_ns
        open_events = np.unique(units.event_index[~closing[units.unit_index]])
        state.events = [combined[i] for i in open_events.tolist()]
        state.times = stamps[open_events].tolist()
        if not closing.any():
            return []
        features, extracted = self.bundle.features_of(frame)
        assert extracted is not None
        chosen = np.flatnonzero(closing)
        X = features.iloc[chosen].reset_index(drop=True)
        outputs = self._outputs(_columns(X), len(X), X)
        keys = extracted.keys or []
        answers = []
        first_event = np.full(units.count, len(combined), dtype=np.int64)
        np.minimum.at(first_event, units.unit_index, units.event_index)
        for row, (session, output) in enumerate(zip(chosen.tolist(), outputs, strict=True)):
            flagged = bool(output.get("is_anomaly"))
            answers.append(
                Scored(
                    {"session": keys[session], **output},
                    keys[session],
                    int(last[session]),
                    origin[int(first_event[session])],
                    X.iloc[row] if flagged else None,
                )
            )
        return answers


def _columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Returns the columns of input rows as arrays, by name."""
    return {str(name): X[name].to_numpy() for name in X.columns}


def _row(columns: dict[str, np.ndarray], names: pd.Index, i: int) -> pd.Series:
    """Returns row ``i`` of the columns (named ``names``) as a Series (what explanations read)."""
    values = np.fromiter((column[i] for column in columns.values()), np.float64, len(columns))
    return pd.Series(values, index=names, dtype=np.float64, copy=False)


def _from_end(codes: np.ndarray) -> np.ndarray:
    """Returns, per position, how many later positions hold the same code (0 for the last).

    >>> _from_end(np.array([0, 1, 0, 0, 1])).tolist()
    [2, 1, 1, 0, 0]
    """
    sizes = np.bincount(codes)
    sorter = np.argsort(codes, kind="stable")
    firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[sorter] = np.arange(len(codes)) - firsts[codes[sorter]]
    return np.asarray(sizes[codes] - 1 - rank)


def _compiled(bundle: ModelBundle) -> FastModel | None:
    """Returns the bundle compiled for its feature rows, if it compiles and answers as the bundle.

    The compiled answers are checked against the bundle's own on the training
    sample it keeps (scores within ``COMPILED_TOLERANCE``): a detector the
    compiled path does not reproduce exactly keeps the bundle's path, so a
    stream always scores as ``vigil predict`` does.
    """
    from vigil.serving.fast_model import FastModel

    fast = FastModel.from_bundle(bundle, extracted=True)
    sample = bundle.reference
    if fast is None or sample is None or not len(sample):
        return None
    X = sample.reindex(columns=bundle.feature_names).head(COMPILED_PROBE_ROWS)
    expected = np.asarray([out["score"] for out in bundle.predict_rows(X)], dtype=np.float64)
    got = fast.predict_batch(X).score
    if got is None or not np.allclose(got, expected, rtol=0.0, atol=COMPILED_TOLERANCE):
        log.info("%s streams through its bundle: the compiled path differs", bundle.algorithm)
        return None
    return fast


def _records(events: pd.DataFrame) -> list[dict[str, Any]]:
    """Returns the events as JSON records: times as ISO text, missing values as None."""
    frame = events.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].map(lambda t: None if pd.isna(t) else t.isoformat())
    frame = frame.astype(object).where(frame.notna(), None)
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _located_row(exc: InvalidInput, raw_lines: bool) -> int | None:
    """Returns the position of the event an error names (``["data", row, field]``), if any."""
    for error in exc.errors:
        loc = list(error.get("loc", []))
        if len(loc) >= 2 and loc[0] == "data" and isinstance(loc[1], int):
            # Events parsed from raw lines are named by their 1-based line number.
            return loc[1] - 1 if raw_lines else loc[1]
    return None


def _iso(ns: int | np.integer[Any]) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()
