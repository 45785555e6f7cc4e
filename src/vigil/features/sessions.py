"""Session mode: events grouped into sessions, each session one feature row.

Many failures show in the sequence of events of one unit of work rather than
in any single event: an HDFS block that is allocated and received but never
replicated, a request that logs a retry and no completion. Sessions are:

- by key: every match of a regex in the message (``blk_-?\\d+``) names a
  session; an event naming several keys belongs to each of them;
- by field: the value of a column (``request_id``);
- by time window: consecutive windows of fixed length (``5min``), keyed by
  the window's start time in ISO 8601.

Each session becomes the counts of its events' templates (the event-count
vector of Xu et al., SOSP 2009), the count of events whose template was never
seen in training, the largest and the mean template rarity (-log training
frequency: one dense number saying "holds a rare event", which a detector
finds far more easily than one sparse count among hundreds), its length
(events), the number of distinct templates, and
its duration in seconds; when the events have a level or status code, the
count of error events (an error level or a 5xx status), and when they have
a latency, the mean and largest log latency. Sessions come out in order of first appearance: the
session of the first event comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from vigil.errors import InvalidInput, UsageError
from vigil.features.fields import InputField, observed_field
from vigil.features.logs import (
    ERROR_LEVELS,
    event_times,
    find_column,
    normalise_level,
    parse_window,
)
from vigil.features.templates import UNSEEN, TemplateMiner, as_arrow_text

_NS_PER_SECOND = 1_000_000_000


@dataclass
class Sessions:
    """Which events belong to which session.

    ``event_index[i]`` belongs to session ``session_index[i]`` (pairs sorted by
    session, then event); ``keys[s]`` names session ``s``.
    """

    keys: list[str]
    event_index: np.ndarray
    session_index: np.ndarray

    @property
    def count(self) -> int:
        """Returns the number of sessions."""
        return len(self.keys)


def check_session_options(key: str | None, field: str | None, window: str | None) -> None:
    """Refuses more than one way of forming sessions, or a key that is not a regex."""
    given = [name for name, value in (("key", key), ("field", field), ("window", window)) if value]
    if len(given) > 1:
        raise UsageError(
            "Sessions are formed one way: choose one of --session-key, --session-field "
            "and --window."
        )
    if key is not None:
        try:
            re.compile(key)
        except re.error as exc:
            raise UsageError(f"The session key {key!r} is not a valid regex: {exc}.") from None
    if window is not None:
        parse_window(window)


def group_sessions(
    events: pd.DataFrame,
    *,
    key: str | None = None,
    field: str | None = None,
    window: str | None = None,
    message_column: str | None = None,
    time_column: str | None = None,
) -> Sessions:
    """Returns the sessions of ``events`` by regex ``key``, by column ``field`` or by ``window``.

    Events with no key (no match, empty field) belong to no session.
    """
    check_session_options(key, field, window)
    rows = len(events)
    if key is not None:
        column = find_column(events, "message", message_column)
        if column is None:
            raise InvalidInput("Sessions by key need a message field to search; none was found.")
        return _by_regex(as_arrow_text(events[column]), key)
    if field is not None:
        find_column(events, "field", field)
        return _by_values(_key_texts(events[field]), np.arange(rows))
    if window is not None:
        column = find_column(events, "time", time_column)
        if column is None:
            raise InvalidInput("Sessions by time window need a timestamp field; none was found.")
        times = event_times(events[column], rows)
        length = int(parse_window(window).value)
        codes, starts = pd.factorize((times // length) * length, sort=False)
        names = pd.to_datetime(starts, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _by_values(np.asarray(names, dtype=object)[codes], np.arange(rows))
    raise UsageError("Session mode needs --session-key, --session-field or --window.")


def _by_regex(messages: pa.Array, key: str) -> Sessions:
    """Returns sessions named by every distinct match of ``key`` in each message."""
    compiled = re.compile(key)
    # Most lines of most logs name one key; the regex runs once per line in C
    # through pandas, and only lines with several keys keep a list.
    found = messages.to_pandas().str.findall(compiled)
    lengths = found.str.len().fillna(0).to_numpy(dtype=np.int64)
    flat = found[lengths > 0].explode()
    keys = flat.map(_joined).to_numpy(dtype=object)
    events = flat.index.to_numpy(dtype=np.int64)
    # A key named twice in one line counts once for that line.
    pairs = pd.DataFrame({"event": events, "key": keys}).drop_duplicates()
    return _by_values(pairs["key"].to_numpy(dtype=object), pairs["event"].to_numpy())


def _joined(match: object) -> str:
    """Returns a findall match as text (groups joined with ``|``)."""
    if isinstance(match, tuple):
        return "|".join(str(part) for part in match)
    return str(match)


def _numeric_or_none(events: pd.DataFrame, column: str | None) -> str | None:
    """Returns ``column`` when it holds numbers, else None."""
    if column is None or not pd.api.types.is_numeric_dtype(events[column]):
        return None
    return column


def _key_texts(values: pd.Series) -> np.ndarray:
    texts = values.astype("string").fillna("").to_numpy(dtype=object)
    return np.asarray(texts)


def _by_values(keys: np.ndarray, events: np.ndarray) -> Sessions:
    """Returns sessions from (key, event) pairs in first-appearance order; empty keys dropped."""
    keep = np.asarray([bool(k) for k in keys], dtype=bool) if len(keys) else np.zeros(0, bool)
    keys, events = keys[keep], events[keep]
    order = np.argsort(events, kind="stable")
    keys, events = keys[order], events[order]
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    by_session = np.lexsort((events, codes))
    return Sessions(
        keys=[str(k) for k in uniques],
        event_index=events[by_session].astype(np.int64),
        session_index=codes[by_session].astype(np.int64),
    )


class SessionFeatures:
    """Turns events into one feature row per session (see the module docstring).

    Parameters
    ----------
    key : str, optional
        Regex whose matches in the message name sessions.
    field : str, optional
        Column whose value names the session.
    window : str, optional
        Length of consecutive time windows that form sessions.
    message_column, time_column : str, optional
        Field names; ``None`` looks for the usual names.
    max_templates : int
        Most templates that get their own count column (the most frequent in
        training); the others are summed in ``template=other``.
    template_sim_th : float
        Drain's similarity threshold.
    """

    def __init__(
        self,
        key: str | None = None,
        field: str | None = None,
        window: str | None = None,
        message_column: str | None = None,
        time_column: str | None = None,
        max_templates: int = 500,
        template_sim_th: float = 0.4,
    ) -> None:
        self.key = key
        self.field = field
        self.window = window
        self.message_column = message_column
        self.time_column = time_column
        self.max_templates = max_templates
        self.template_sim_th = template_sim_th

    def group(self, events: pd.DataFrame) -> Sessions:
        """Returns the sessions of ``events``."""
        return group_sessions(
            events,
            key=self.key,
            field=self.field,
            window=self.window,
            message_column=self.message_column,
            time_column=self.time_column,
        )

    def fit(self, events: pd.DataFrame) -> SessionFeatures:
        """Returns self, having mined the templates of ``events`` and chosen the counted ones."""
        check_session_options(self.key, self.field, self.window)
        self.message_ = find_column(events, "message", self.message_column)
        if self.message_ is None:
            raise InvalidInput(
                "Log events need a message field (message, msg, content…); none was found."
            )
        self.time_ = find_column(events, "time", self.time_column)
        self.level_ = find_column(events, "level", None)
        self.status_ = _numeric_or_none(events, find_column(events, "status", None))
        self.latency_ = _numeric_or_none(events, find_column(events, "latency", None))
        self.miner_ = TemplateMiner(sim_th=self.template_sim_th).fit(
            as_arrow_text(events[self.message_])
        )
        ranked = np.argsort(-self.miner_.counts_, kind="stable")[: self.max_templates]
        self.counted_ = sorted(int(i) for i in ranked)
        self.feature_names_ = [
            *(f"template={i}" for i in self.counted_),
            "template=other",
            "template_unseen",
            "template_rarity_max",
            "template_rarity_mean",
            "length",
            "distinct_templates",
            "duration",
        ]
        if self.level_ is not None or self.status_ is not None:
            self.feature_names_.append("errors")
        if self.latency_ is not None:
            self.feature_names_ += ["latency_mean", "latency_max"]
        return self

    def input_fields(self, events: pd.DataFrame | None = None) -> list[InputField]:
        """Returns the event fields the fitted features read, required as in training ``events``.

        The message and the time are required when every training event had
        them; an event without its session field belongs to no session, and
        level, status and latency are optional.
        """
        assert self.message_ is not None  # fit refuses events without one
        fields = {self.message_: observed_field(events, self.message_, "text")}
        if self.time_ is not None:
            fields.setdefault(self.time_, observed_field(events, self.time_, "time"))
        if self.field is not None:
            fields.setdefault(self.field, InputField(self.field, "text", required=False))
        if self.level_ is not None:
            fields.setdefault(self.level_, InputField(self.level_, "text", required=False))
        for name in (self.status_, self.latency_):
            if name is not None:
                fields.setdefault(name, InputField(name, "number", required=False))
        return list(fields.values())

    def transform(self, events: pd.DataFrame) -> tuple[pd.DataFrame, Sessions]:
        """Returns one feature row per session (first-appearance order) and the sessions."""
        sessions = self.group(events)
        rows = len(events)
        message = events[self.message_] if self.message_ in events.columns else None
        ids = (
            self.miner_.transform(as_arrow_text(message))
            if message is not None
            else np.full(rows, UNSEEN, dtype=np.int64)
        )
        # Columns: the counted templates, then "other" (known but not counted), then unseen.
        column_of = np.full(self.miner_.n_templates_ + 1, len(self.counted_), dtype=np.int64)
        column_of[self.counted_] = np.arange(len(self.counted_))
        column_of[-1] = len(self.counted_) + 1  # UNSEEN (-1) indexes the last slot
        member_ids = ids[sessions.event_index]
        width = len(self.counted_) + 2
        counts = np.zeros((sessions.count, width), dtype=np.float64)
        np.add.at(counts, (sessions.session_index, column_of[member_ids]), 1.0)
        length = np.bincount(sessions.session_index, minlength=sessions.count).astype(np.float64)
        rarity = self.miner_.rarity(member_ids)
        rarity_max = np.zeros(sessions.count, dtype=np.float64)
        rarity_sum = np.zeros(sessions.count, dtype=np.float64)
        np.maximum.at(rarity_max, sessions.session_index, rarity)
        np.add.at(rarity_sum, sessions.session_index, rarity)
        distinct = (
            pd.DataFrame({"s": sessions.session_index, "t": member_ids})
            .drop_duplicates()
            .groupby("s")
            .size()
            .reindex(range(sessions.count), fill_value=0)
            .to_numpy(dtype=np.float64)
        )
        duration = np.zeros(sessions.count, dtype=np.float64)
        if self.time_ is not None and self.time_ in events.columns and sessions.count:
            times = event_times(events[self.time_], rows)[sessions.event_index]
            first = np.full(sessions.count, np.iinfo(np.int64).max, dtype=np.int64)
            last = np.full(sessions.count, np.iinfo(np.int64).min, dtype=np.int64)
            np.minimum.at(first, sessions.session_index, times)
            np.maximum.at(last, sessions.session_index, times)
            duration = (last - first).astype(np.float64) / _NS_PER_SECOND
        rarity_mean = rarity_sum / np.maximum(length, 1.0)
        columns = [counts, rarity_max, rarity_mean, length, distinct, duration]
        if "errors" in self.feature_names_:
            errors = np.zeros(sessions.count, dtype=np.float64)
            np.add.at(errors, sessions.session_index, self._errors(events)[sessions.event_index])
            columns.append(errors)
        if self.latency_ is not None:
            columns += self._latency(events, sessions, length)
        matrix = np.column_stack(columns)
        frame = pd.DataFrame(matrix, columns=self.feature_names_)
        return frame, sessions

    def _errors(self, events: pd.DataFrame) -> np.ndarray:
        """Returns 1.0 for each event with an error level or a 5xx status, else 0.0."""
        flags = np.zeros(len(events), dtype=np.float64)
        if self.level_ is not None and self.level_ in events.columns:
            levels = events[self.level_].astype("string").fillna("")
            normalised = levels.map(normalise_level)
            flags = np.maximum(flags, normalised.isin(ERROR_LEVELS).to_numpy(dtype=np.float64))
        if self.status_ is not None and self.status_ in events.columns:
            status = pd.to_numeric(events[self.status_], errors="coerce").to_numpy(np.float64)
            flags = np.maximum(flags, np.nan_to_num(status) >= 500)
        return flags

    def _latency(
        self, events: pd.DataFrame, sessions: Sessions, length: np.ndarray
    ) -> list[np.ndarray]:
        """Returns the mean and largest log latency of each session (0 without values)."""
        assert self.latency_ is not None
        values = (
            pd.to_numeric(events[self.latency_], errors="coerce").to_numpy(np.float64)
            if self.latency_ in events.columns
            else np.full(len(events), np.nan)
        )
        logged = np.log1p(np.clip(np.nan_to_num(values, nan=0.0), 0, None))
        member = logged[sessions.event_index]
        total = np.zeros(sessions.count)
        largest = np.zeros(sessions.count)
        np.add.at(total, sessions.session_index, member)
        np.maximum.at(largest, sessions.session_index, member)
        return [total / np.maximum(length, 1.0), largest]
