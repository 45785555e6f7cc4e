"""Per-event features of log events, for detectors that score each event.

:class:`LogEventFeatures` turns a DataFrame of events (one row per event, in
any order) into a numeric DataFrame with one row per event, in the same order:

- ``level=X`` / ``service=X``: one-hot over the most frequent training values,
  rarer and new ones as ``level=other`` / ``service=other``;
- ``hour_sin``, ``hour_cos``, ``weekday_sin``, ``weekday_cos``: the time of
  day and week on a circle, so 23:59 is next to 00:00 — kept only when the
  training events span a whole day (week), the least from which what is
  usual at each hour can be learned;
- the numeric fields (response time, status code, sizes…) as they are, plus
  ``is_error`` (an error level or a 5xx status) and ``status_4xx``/``status_5xx``;
- ``latency_vs_service``: how far this event's latency is from its service's
  usual latency (log scale, in robust spreads learned in training), since a
  slow cache and a slow payment provider are slow on different scales;
  ``latency_vs_template`` the same against the event's message template
  (a health check and a checkout behind one web server);
- rolling windows per service over the trailing ``window`` (5 minutes by
  default), ending at and including the event: ``window_count``,
  ``window_error_rate``, ``window_latency_mean`` / ``_std`` / ``_median``,
  ``window_latency_vs_service``; ``window_count_all`` over all services and
  ``gap_seconds`` (log of the time since the service's previous event) see
  floods and silences. A window that reaches back before the first event at
  hand (a request of a few events, the start of a file) is missing, not
  small, and so is the gap before a service's first event: the model's
  imputer gives them the training median, so thin context is neutral rather
  than a silence to flag;
- templates mined with Drain3: ``template=N`` one-hot for the most frequent
  training templates, ``template_unseen`` and ``template_rarity`` (-log of
  the template's training frequency);
- optionally ``tfidf=term``: TF-IDF of the masked message, capped.

Every window is computed vectorised: events are sorted by (service, time)
once, each event's window start is found with ``searchsorted``, and sums come
from cumulative sums; medians come from pandas' grouped rolling median. Only
past and present events enter a window, so the features of a live stream do
not change when later events arrive.

Windows carry no floating-point residue a detector could mistake for change:
integer fields (``is_error``, whole milliseconds) are summed in int64 and
divided once, a window holding one value has that value as mean and median
and a spread of exactly 0, and values within ``RESOLUTION`` (1e-9) of their
training range are put on it. For detectors (``windows="event"``) the windows
are tied to the event scored, so the normal requests after an outage are not
flagged for it (see :func:`vigil.features.windows.event_windows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import TfidfVectorizer

from vigil.errors import InvalidInput, UsageError
from vigil.features.fields import FieldKind, InputField, observed_field
from vigil.features.templates import UNSEEN, TemplateMiner, as_arrow_text, mask_messages
from vigil.features.windows import (
    VOLUME_FEATURES,
    WINDOW_MODES,
    covered_cycles,
    cycle_of,
    event_windows,
    rolling_by_group,
    snap_to_ranges,
    training_ranges,
)

# Field names looked for, in order, when a column is not named explicitly.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "time": ("timestamp", "time", "@timestamp", "ts", "datetime", "date", "time_local"),
    "level": ("level", "severity", "loglevel", "log_level", "lvl", "priority"),
    "service": ("service", "component", "app", "application", "logger", "source", "module"),
    "message": ("message", "msg", "content", "text", "log", "event"),
    "latency": (
        "response_time",
        "response_time_ms",
        "latency",
        "latency_ms",
        "duration",
        "duration_ms",
        "elapsed",
        "elapsed_ms",
        "request_time",
    ),
    "status": ("status_code", "status", "http_status", "response_code", "statuscode"),
}
# Numeric fields taken as features when present (besides latency and status).
NUMERIC_CANDIDATES = ("response_size", "bytes", "body_bytes_sent", "bytes_sent", "size")
ERROR_LEVELS = frozenset(
    {
        "ERROR",
        "ERR",
        "FATAL",
        "CRITICAL",
        "CRIT",
        "SEVERE",
        "EMERG",
        "EMERGENCY",
        "ALERT",
        "FAILURE",
    }
)
LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR", "CRIT": "CRITICAL", "EMERG": "EMERGENCY"}
_NS_PER_SECOND = 1_000_000_000
# Events a template needs in training for its own latency baseline.
_MIN_TEMPLATE_EVENTS = 20


def find_column(
    frame: pd.DataFrame,
    role: str,
    given: str | None,
    candidates: Mapping[str, tuple[str, ...]] | None = None,
) -> str | None:
    """Returns the column playing ``role`` in ``frame``: ``given`` if set, else a known name.

    Known names (``candidates``, the log field names by default) are matched
    without regard to case. ``given`` must exist.
    """
    if given is not None:
        if given not in frame.columns:
            raise InvalidInput(
                f"Column {given!r} ({role}) does not exist; columns are: "
                + ", ".join(map(str, frame.columns))
                + "."
            )
        return given
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for name in (CANDIDATES if candidates is None else candidates).get(role, ()):
        if name in lowered:
            return lowered[name]
    return None


def field_values(events: pd.DataFrame, name: str | None) -> pd.Series | None:
    """Returns the values of field ``name``, or None when there is no such field in ``events``.

    An optional field (some training events lacked it) may be absent from a
    whole batch; it then reads as missing on every event, as it would have in
    training.
    """
    if name is None or name not in events.columns:
        return None
    return events[name]


def event_times(values: pd.Series | None, rows: int) -> np.ndarray:
    """Returns event times as int64 nanoseconds since the epoch (UTC), gaps filled from neighbours.

    Accepts datetimes, ISO 8601 or other date text, and epoch numbers (seconds,
    milliseconds, microseconds or nanoseconds, told apart by magnitude). With
    no time at all, every event is at 0.
    """
    if values is None or len(values) == 0:
        return np.zeros(rows, dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
    elif pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        finite = numbers[np.isfinite(numbers)]
        magnitude = float(np.median(np.abs(finite))) if len(finite) else 0.0
        unit: Literal["s", "ms", "us", "ns"] = "s"
        if magnitude > 1e17:
            unit = "ns"
        elif magnitude > 1e14:
            unit = "us"
        elif magnitude > 1e11:
            unit = "ms"
        stamps = pd.to_datetime(pd.Series(numbers), unit=unit, utc=True, errors="coerce")
    else:
        stamps = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        if stamps.isna().mean() > 0.5:
            stamps = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    stamps = pd.Series(stamps).dt.tz_convert("UTC").dt.tz_localize(None)
    missing = stamps.isna().to_numpy()
    if missing.all():
        return np.zeros(rows, dtype=np.int64)
    nanoseconds = stamps.astype("datetime64[ns]").to_numpy().astype(np.int64)
    if not missing.any():
        return np.asarray(nanoseconds)
    filled = pd.Series(np.where(missing, np.nan, nanoseconds.astype(np.float64)))
    return filled.ffill().bfill().to_numpy().astype(np.int64)


def cyclic_time(times_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Returns sine and cosine of the hour of day and the day of week of each time."""
    seconds = times_ns // _NS_PER_SECOND
    hour = (seconds % 86_400) / 3600.0
    weekday = ((seconds // 86_400) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return {
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "weekday_sin": np.sin(2 * np.pi * weekday / 7),
        "weekday_cos": np.cos(2 * np.pi * weekday / 7),
    }


def parse_window(window: str | pd.Timedelta) -> pd.Timedelta:
    """Returns a window length such as ``5min`` as a Timedelta, or raises naming the value."""
    try:
        length = pd.Timedelta(window)
    except (ValueError, TypeError):
        raise UsageError(f"Window {window!r} is not a duration such as 30s, 5min or 1h.") from None
    if length <= pd.Timedelta(0):
        raise UsageError(f"Window {window!r} must be longer than zero.")
    return length


def encode_text(values: pd.Series | None, rows: int) -> tuple[list[str], np.ndarray]:
    """Returns the distinct texts of ``values`` and each row's index among them (Arrow speed).

    Missing values are ``""``; with no column at all every row is ``""``.
    """
    if values is None:
        return [""], np.zeros(rows, dtype=np.int64)
    encoded = pc.dictionary_encode(as_arrow_text(values))
    uniques = [str(v) for v in encoded.dictionary.to_pylist()]
    return uniques, encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def category_codes(
    uniques: Sequence[str], codes: np.ndarray, categories: Sequence[str]
) -> np.ndarray:
    """Returns each row's index in ``categories`` (-1 when not there), from encoded texts."""
    position = {c: i for i, c in enumerate(categories)}
    mapping = np.fromiter(
        (position.get(u, -1) for u in uniques), dtype=np.int64, count=len(uniques)
    )
    return mapping[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def one_hot(codes: np.ndarray, categories: Sequence[str], prefix: str) -> dict[str, np.ndarray]:
    """Returns ``prefix=c`` indicator columns for ``categories`` plus ``prefix=other``.

    ``codes`` are each row's index in ``categories``, -1 for anything else.
    """
    columns = {f"{prefix}={c}": (codes == i).astype(np.float64) for i, c in enumerate(categories)}
    columns[f"{prefix}=other"] = (codes < 0).astype(np.float64)
    return columns


def normalise_level(level: str) -> str:
    """Returns a level upper-cased and trimmed, common aliases merged (WARNING → WARN)."""
    text = level.strip().upper()
    return LEVEL_ALIASES.get(text, text)


def top_values(uniques: Sequence[str], codes: np.ndarray, limit: int) -> list[str]:
    """Returns the ``limit`` most frequent non-empty values, ties broken by first appearance."""
    counts: dict[str, int] = {}
    for value, count in zip(uniques, np.bincount(codes, minlength=len(uniques)), strict=True):
        if value and count:
            counts[value] = counts.get(value, 0) + int(count)
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [value for value, _ in ranked[:limit]]


class LogEventFeatures:
    """Turns log events into one numeric feature row per event (see the module docstring).

    Parameters
    ----------
    time_column, level_column, service_column, message_column, latency_column, status_column :
        Field names; ``None`` looks for the usual names (``timestamp``,
        ``level``, ``service``, ``message``, ``response_time``, ``status_code``…).
    numeric_columns : sequence of str, optional
        Numeric fields to use as they are; default the latency and status
        fields plus known size fields that exist.
    top_levels, top_services, top_templates : int
        How many values get their own one-hot column.
    window : str
        Length of the trailing per-service windows.
    windows : {"context", "event"}
        ``context`` gives the window statistics as they are (for supervised
        models, which learn from labels what context means); ``event`` (for
        detectors) ties them to the event scored: see :meth:`_event_windows`.
    tfidf_features : int
        Most TF-IDF terms of the masked message (0: none).
    template_sim_th : float
        Drain's similarity threshold.
    """

    def __init__(
        self,
        time_column: str | None = None,
        level_column: str | None = None,
        service_column: str | None = None,
        message_column: str | None = None,
        latency_column: str | None = None,
        status_column: str | None = None,
        numeric_columns: Sequence[str] | None = None,
        top_levels: int = 8,
        top_services: int = 20,
        top_templates: int = 10,
        window: str = "5min",
        tfidf_features: int = 0,
        template_sim_th: float = 0.4,
        windows: str = "context",
    ) -> None:
        self.time_column = time_column
        self.level_column = level_column
        self.service_column = service_column
        self.message_column = message_column
        self.latency_column = latency_column
        self.status_column = status_column
        self.numeric_columns = numeric_columns
        self.top_levels = top_levels
        self.top_services = top_services
        self.top_templates = top_templates
        self.window = window
        self.tfidf_features = tfidf_features
        self.template_sim_th = template_sim_th
        if windows not in WINDOW_MODES:
            raise UsageError(f"windows must be one of {', '.join(WINDOW_MODES)}, not {windows!r}.")
        self.windows = windows

    def fit(self, events: pd.DataFrame) -> LogEventFeatures:
        """Returns self, having learned columns, top values, templates and service baselines."""
        self.window_ns_ = int(parse_window(self.window).value)
        roles = {
            "time": self.time_column,
            "level": self.level_column,
            "service": self.service_column,
            "message": self.message_column,
            "latency": self.latency_column,
            "status": self.status_column,
        }
        self.columns_ = {role: find_column(events, role, given) for role, given in roles.items()}
        for role in ("latency", "status"):
            column = self.columns_[role]
            if column is not None and not _is_numeric(events[column]):
                self.columns_[role] = None
        self.numeric_ = self._numeric_columns(events)
        self.levels_: list[str] = []
        if self.columns_["level"] is not None:
            uniques, codes = self._levels(events)
            self.levels_ = top_values(uniques, codes, self.top_levels)
        self.services_: list[str] = []
        if self.columns_["service"] is not None:
            uniques, codes = encode_text(events[self.columns_["service"]], len(events))
            self.services_ = top_values(uniques, codes, self.top_services)
        self.miner_: TemplateMiner | None = None
        self.top_template_ids_: list[int] = []
        self.vectorizer_: TfidfVectorizer | None = None
        if self.columns_["message"] is not None:
            messages = as_arrow_text(events[self.columns_["message"]])
            self.miner_ = TemplateMiner(sim_th=self.template_sim_th).fit(messages)
            ranked = np.argsort(-self.miner_.counts_, kind="stable")
            self.top_template_ids_ = [int(i) for i in ranked[: self.top_templates]]
            if self.tfidf_features > 0:
                self.vectorizer_ = TfidfVectorizer(
                    max_features=self.tfidf_features, token_pattern=r"(?u)<\*>|\b\w\w+\b"
                )
                self.vectorizer_.fit(_masked_uniques(self.miner_, messages)[0])
        self.baseline_ = self._latency_baseline(events)
        self.template_baseline_ = self._template_baseline(events)
        times, services, is_error, latency = self._window_inputs(events)
        self.window_ranges_: dict[str, tuple[float, float]] | None = None
        self.window_ranges_ = training_ranges(self._windowed(times, services, is_error, latency))
        self.cycles_ = covered_cycles(times) if self.columns_["time"] is not None else ()
        names = list(self._features(events.head(0)).columns)
        self.feature_names_ = [n for n in names if cycle_of(n) in (None, *self.cycles_)]
        if self.windows == "event" and "hour" not in self.cycles_:
            # Traffic volume follows the time of day: from less than a day of training, the
            # busier afternoon would read as a flood and the night as an outage.
            self.feature_names_ = [n for n in self.feature_names_ if n not in VOLUME_FEATURES]
        return self

    def transform(self, events: pd.DataFrame) -> pd.DataFrame:
        """Returns the feature rows of ``events``, one per event in input order."""
        features = self._features(events)
        return features[self.feature_names_]

    def fit_transform(self, events: pd.DataFrame) -> pd.DataFrame:
        """Returns the feature rows of ``events`` after fitting on them."""
        return self.fit(events).transform(events)

    def input_fields(self, events: pd.DataFrame | None = None) -> list[InputField]:
        """Returns the event fields the fitted features read, required as in training ``events``.

        Time, level, service and message are required when every training
        event had them; numbers are optional (a missing one is imputed).
        """
        fields: dict[str, InputField] = {}
        roles: tuple[tuple[str, FieldKind], ...] = (
            ("time", "time"),
            ("level", "text"),
            ("service", "text"),
            ("message", "text"),
        )
        for role, kind in roles:
            name = self.columns_[role]
            if name is not None:
                fields.setdefault(name, observed_field(events, name, kind))
        numbers = [self.columns_["latency"], self.columns_["status"], *self.numeric_]
        for name in numbers:
            if name is not None:
                fields.setdefault(name, InputField(name, "number", required=False))
        return list(fields.values())

    # --- learned pieces -------------------------------------------------------------

    def _numeric_columns(self, events: pd.DataFrame) -> list[str]:
        if self.numeric_columns is not None:
            for name in self.numeric_columns:
                find_column(events, "numeric", name)
            return list(self.numeric_columns)
        lowered = {str(c).lower(): str(c) for c in events.columns}
        chosen = [self.columns_[r] for r in ("latency", "status") if self.columns_[r] is not None]
        chosen += [lowered[n] for n in NUMERIC_CANDIDATES if n in lowered]
        return [c for c in dict.fromkeys(chosen) if c is not None and _is_numeric(events[c])]

    def _latency_baseline(self, events: pd.DataFrame) -> dict[str, tuple[float, float]]:
        """Returns, per top service (and ``""`` for all), the median and spread of log latency."""
        column = self.columns_["latency"]
        if column is None:
            return {}
        latency = pd.to_numeric(events[column], errors="coerce").to_numpy(dtype=np.float64)
        latency = np.log1p(np.clip(latency, 0, None))
        service_column = self.columns_["service"]
        uniques, codes = encode_text(
            events[service_column] if service_column is not None else None, len(events)
        )
        baseline = {"": _robust_centre(latency)}
        for index, service in enumerate(uniques):
            if service in self.services_:
                baseline[service] = _robust_centre(latency[codes == index])
        return baseline

    def _template_baseline(self, events: pd.DataFrame) -> dict[int, tuple[float, float]] | None:
        """Returns, per template seen often enough, the median and spread of log latency.

        One service answers a health check in a millisecond and a checkout in
        a quarter of a second (an access log is one "service"): a request is
        slow or not by the standard of its own kind, which its template names.
        """
        column = self.columns_["latency"]
        if column is None or self.miner_ is None or self.columns_["message"] is None:
            return None
        latency = pd.to_numeric(events[column], errors="coerce").to_numpy(dtype=np.float64)
        log_latency = np.log1p(np.clip(latency, 0, None))
        ids = self.miner_.transform(as_arrow_text(events[self.columns_["message"]]))
        baseline: dict[int, tuple[float, float]] = {}
        for template_id in np.unique(ids[ids >= 0]):
            chosen = log_latency[ids == template_id]
            if np.isfinite(chosen).sum() >= _MIN_TEMPLATE_EVENTS:
                baseline[int(template_id)] = _robust_centre(chosen)
        return baseline

    def _levels(self, events: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Returns the normalised distinct levels and each event's index among them."""
        column = self.columns_["level"]
        uniques, codes = encode_text(field_values(events, column), len(events))
        return [normalise_level(u) for u in uniques], codes

    # --- the features ---------------------------------------------------------------

    def _features(self, events: pd.DataFrame) -> pd.DataFrame:
        rows = len(events)
        columns: dict[str, np.ndarray] = {}
        has_level = self.columns_["level"] is not None
        level_uniques, level_codes = self._levels(events)
        if has_level:
            columns.update(
                one_hot(
                    category_codes(level_uniques, level_codes, self.levels_), self.levels_, "level"
                )
            )
        service_column = self.columns_["service"]
        services = encode_text(field_values(events, service_column), rows)
        if service_column is not None:
            columns.update(
                one_hot(category_codes(*services, self.services_), self.services_, "service")
            )
        time_column = self.columns_["time"]
        times = event_times(field_values(events, time_column), rows)
        if time_column is not None:
            columns.update(cyclic_time(times))

        for name in self.numeric_:
            field = (
                events[name] if name in events.columns else pd.Series(np.nan, index=events.index)
            )
            columns[name] = pd.to_numeric(field, errors="coerce").to_numpy(dtype=np.float64)
        status = self._numbers(events, "status", rows)
        latency = self._numbers(events, "latency", rows)
        if status is not None:
            with np.errstate(invalid="ignore"):
                columns["status_4xx"] = np.asarray((status >= 400) & (status < 500), np.float64)
                columns["status_5xx"] = np.asarray(status >= 500, np.float64)
        is_error = self._is_error(events)
        columns["is_error"] = is_error

        log_latency = np.log1p(np.clip(latency, 0, None)) if latency is not None else None
        if log_latency is not None:
            columns["latency_vs_service"] = self._versus_service(log_latency, services)

        windowed = self._windowed(times, services, is_error, latency)
        if getattr(self, "windows", "context") == "event":
            windowed = event_windows(windowed, is_error, columns.get("latency_vs_service"))
        columns.update(windowed)

        if self.miner_ is not None:
            assert self.columns_["message"] is not None
            given = field_values(events, self.columns_["message"])
            messages = as_arrow_text(given if given is not None else [""] * rows)
            ids = self.miner_.transform(messages)
            columns.update(self._template_columns(ids, messages, log_latency, columns))
        return pd.DataFrame(columns, index=pd.RangeIndex(rows))

    def _template_columns(
        self,
        ids: np.ndarray,
        messages: pa.Array | None,
        log_latency: np.ndarray | None,
        columns: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Returns the template columns of events with template ``ids`` (``messages``: their
        texts, read for TF-IDF; ``columns``: the event's other columns, for the fallback)."""
        assert self.miner_ is not None
        found: dict[str, np.ndarray] = {}
        for template_id in self.top_template_ids_:
            found[f"template={template_id}"] = (ids == template_id).astype(np.float64)
        found["template_unseen"] = (ids == UNSEEN).astype(np.float64)
        found["template_rarity"] = self.miner_.rarity(ids)
        template_baseline = getattr(self, "template_baseline_", None)
        if template_baseline is not None and log_latency is not None:
            found["latency_vs_template"] = _versus_template(
                log_latency, ids, template_baseline, columns["latency_vs_service"]
            )
        if self.vectorizer_ is not None:
            assert messages is not None
            found.update(self._tfidf(messages))
        return found

    def _windowed(
        self,
        times: np.ndarray,
        services: tuple[list[str], np.ndarray],
        is_error: np.ndarray,
        latency: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        """Returns the rolling-window columns and the gap, snapped to the training ranges."""
        rows = len(times)
        values = {"error": is_error}
        if latency is not None:
            values["latency"] = latency
        window = rolling_by_group(times, services[1], self.window_ns_, values, ("latency",))
        everything = rolling_by_group(times, np.zeros(rows, dtype=np.int64), self.window_ns_, {})
        windowed: dict[str, np.ndarray] = {
            "window_count": window["count"],
            "window_count_all": everything["count"],
            # Both counts are exact integers, so the rate is one correctly rounded division.
            "window_error_rate": window["error_sum"] / window["count"],
        }
        if latency is not None:
            windowed["window_latency_mean"] = window["latency_mean"]
            windowed["window_latency_std"] = window["latency_std"]
            windowed["window_latency_median"] = window["latency_median"]
            windowed["window_latency_vs_service"] = self._versus_service(
                np.log1p(np.clip(window["latency_median"], 0, None)), services
            )
        if self.columns_["time"] is not None and rows:
            # A window reaching back before the first event at hand is unknown, not empty:
            # one event sent alone would otherwise read as a service gone quiet (count 1)
            # and be flagged. Missing, it is imputed with the training median (neutral);
            # in training only the first window's events are affected.
            partial = times - self.window_ns_ < times.min()
            for name, column in windowed.items():
                windowed[name] = np.where(partial, np.nan, column)
        # No earlier event of the service at hand: the gap is unknown (missing), not 0.
        windowed["gap_seconds"] = np.log1p(window["gap"] / _NS_PER_SECOND)
        ranges = getattr(self, "window_ranges_", None)
        return windowed if ranges is None else snap_to_ranges(windowed, ranges)

    def _window_inputs(
        self, events: pd.DataFrame
    ) -> tuple[np.ndarray, tuple[list[str], np.ndarray], np.ndarray, np.ndarray | None]:
        """Returns what the windows read: times, services, is_error and latency of ``events``."""
        rows = len(events)
        times = event_times(field_values(events, self.columns_["time"]), rows)
        services = encode_text(field_values(events, self.columns_["service"]), rows)
        return times, services, self._is_error(events), self._numbers(events, "latency", rows)

    def _is_error(self, events: pd.DataFrame) -> np.ndarray:
        """Returns 1 for events at an error level or with a 5xx status, else 0."""
        rows = len(events)
        is_error = np.zeros(rows, dtype=np.float64)
        if self.columns_["level"] is not None and rows:
            uniques, codes = self._levels(events)
            is_error = np.array([u in ERROR_LEVELS for u in uniques], dtype=np.float64)[codes]
        status = self._numbers(events, "status", rows)
        if status is not None:
            with np.errstate(invalid="ignore"):
                is_error = np.maximum(is_error, np.asarray(status >= 500, np.float64))
        return is_error

    def _numbers(self, events: pd.DataFrame, role: str, rows: int) -> np.ndarray | None:
        column = self.columns_[role]
        if column is None:
            return None
        if column not in events.columns:
            return np.full(rows, np.nan)
        return pd.to_numeric(events[column], errors="coerce").to_numpy(dtype=np.float64)

    def _versus_service(
        self, log_values: np.ndarray, services: tuple[list[str], np.ndarray]
    ) -> np.ndarray:
        """Returns robust z-scores of log latencies against each service's training baseline."""
        overall = self.baseline_.get("", (0.0, 1.0))
        uniques, codes = services
        centres = np.array([self.baseline_.get(u, overall)[0] for u in uniques])
        spreads = np.array([self.baseline_.get(u, overall)[1] for u in uniques])
        if len(codes) == 0:
            return np.zeros(0)
        return np.asarray((log_values - centres[codes]) / spreads[codes])

    def _tfidf(self, messages: pa.Array) -> dict[str, np.ndarray]:
        assert self.miner_ is not None and self.vectorizer_ is not None
        uniques, codes = _masked_uniques(self.miner_, messages)
        matrix = self.vectorizer_.transform(uniques).toarray()[codes] if len(codes) else None
        names = self.vectorizer_.get_feature_names_out()
        if matrix is None:
            return {f"tfidf={t}": np.zeros(0) for t in names}
        return {f"tfidf={t}": matrix[:, i] for i, t in enumerate(names)}


def _versus_template(
    log_latency: np.ndarray,
    ids: np.ndarray,
    baseline: Mapping[int, tuple[float, float]],
    fallback: np.ndarray,
) -> np.ndarray:
    """Returns robust z-scores of log latencies against their template's training baseline.

    Events of templates too rare in training for a baseline (or unseen) take
    ``fallback``, their service's z-score.
    """
    if len(ids) == 0:
        return np.zeros(0)
    known = np.array(sorted(baseline), dtype=np.int64)
    if len(known) == 0:
        return fallback
    stats = np.array([baseline[int(k)] for k in known])
    position = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
    found = known[position] == ids
    z = (log_latency - stats[position, 0]) / stats[position, 1]
    return np.asarray(np.where(found, z, fallback))


def _masked_uniques(miner: TemplateMiner, messages: pa.Array) -> tuple[list[str], np.ndarray]:
    """Returns the distinct masked texts of ``messages`` and each message's index among them."""
    encoded = pc.dictionary_encode(mask_messages(messages, miner.masks))
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


def _robust_centre(values: np.ndarray) -> tuple[float, float]:
    """Returns (median, robust spread) of ``values``; the spread is never below 0.05."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return 0.0, 1.0
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    spread = (q75 - q25) / 1.349
    return float(q50), float(max(spread, 0.05))


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))
