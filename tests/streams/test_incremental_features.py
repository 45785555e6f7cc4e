"""Log window features computed from the history's window inputs equal the batch extractor's.

``vigil.features.incremental.features_after`` gives a batch's feature rows
from the kept history's window inputs; the reference is
``LogEventFeatures.transform`` over history and batch together. Compared on
random cuts of simulated logs (several services, errors, latencies), for
both window modes, with and without a latency field.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from stream_support import ADMIN, equality_case, events_of, pieces, simulated

from vigil.features.incremental import WindowHistory, features_after, window_inputs
from vigil.features.logs import LogEventFeatures
from vigil.service import VigilService


def _fitted(windows: str, drop: tuple[str, ...] = ()) -> tuple[LogEventFeatures, list[dict]]:
    train_frame = simulated("logs", 800, seed=1).drop(columns=["is_anomaly", "anomaly_type"])
    test = events_of(simulated("logs", 900, seed=2))
    if drop:
        train_frame = train_frame.drop(columns=list(drop))
        test = [{k: v for k, v in e.items() if k not in drop} for e in test]
    return LogEventFeatures(windows=windows).fit(train_frame), test


def _assert_equal(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    a, b = expected.to_numpy(), got.to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b), initial=0.0) <= 1e-9


@pytest.mark.parametrize(
    ("windows", "drop"),
    [("event", ()), ("context", ()), ("event", ("response_time",)), ("context", ("service",))],
)
def test_a_batch_after_its_history_equals_the_whole_extraction(
    windows: str, drop: tuple[str, ...]
) -> None:
    features, events = _fitted(windows, drop)
    rng = random.Random(7)
    for _ in range(12):
        # A random history (kept events) and a random batch right after it.
        start = rng.randrange(0, 400)
        history = events[start : start + rng.randrange(0, 400)]
        batch = events[start + len(history) :][: rng.randint(1, 120)]
        expected = features.transform(pd.DataFrame.from_records(history + batch))
        inputs = window_inputs(features, history) if history else WindowHistory.empty(features)
        assert inputs is not None
        found = features_after(features, inputs, batch)
        assert found is not None
        rows, combined = found
        _assert_equal(expected.iloc[len(history) :].reset_index(drop=True), pd.DataFrame(rows))
        assert len(combined) == len(history) + len(batch)


def test_inputs_carried_from_batch_to_batch_equal_inputs_read_again() -> None:
    features, events = _fitted("event")
    history = WindowHistory.empty(features)
    for piece in pieces(events[:500], seed=3):
        found = features_after(features, history, piece)
        assert found is not None
        history = found[1]
    again = window_inputs(features, events[:500])
    assert again is not None
    assert np.array_equal(history.times, again.times)
    assert list(history.services) == list(again.services)
    assert np.array_equal(history.is_error, again.is_error)
    assert history.latency is not None and again.latency is not None
    assert np.array_equal(history.latency, again.latency, equal_nan=True)


@pytest.mark.parametrize(
    "change",
    [
        {"timestamp": None},  # a missing time is filled from its neighbours
        {"timestamp": 1704067213},  # epoch seconds: their unit is told from the batch
        {"timestamp": "Jan 1 2024 00:00:13"},  # not ISO 8601
    ],
)
def test_a_batch_whose_times_could_read_differently_is_left_to_the_whole_extraction(
    change: dict[str, Any],
) -> None:
    features, events = _fitted("event")
    history = window_inputs(features, events[:50])
    assert history is not None
    batch = [dict(events[50], **change), events[51]]
    assert features_after(features, history, batch) is None


def test_a_batch_without_a_field_the_model_reads_is_left_to_the_whole_extraction() -> None:
    features, events = _fitted("event")
    history = window_inputs(features, events[:50])
    assert history is not None
    batch = [{k: v for k, v in e.items() if k != "message"} for e in events[50:55]]
    assert features_after(features, history, batch) is None


def test_a_stream_scored_from_window_inputs_equals_the_batch_scores(
    stream_service: VigilService,
) -> None:
    events, expected = equality_case(stream_service, "logs")
    streamed: list[float] = []
    for piece in pieces(events, seed=4):
        result = stream_service.streams.ingest(ADMIN, "logs", piece, return_all=True)
        streamed += [p["score"] for p in result.predictions or []]
    state = stream_service.streams.state
    with state.locked("default", "logs") as held:
        # The window inputs of the kept events were carried over from the last batch.
        assert isinstance(held.state.derived, tuple)
        assert len(held.state.derived[1]) == len(held.state.events)
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9


def test_messages_masked_in_python_equal_the_arrow_masks() -> None:
    from pathlib import Path

    from vigil.features.masking import masked_texts
    from vigil.features.templates import DEFAULT_MASKS, mask_messages

    messages = [str(e["message"]) for e in events_of(simulated("logs", 300, seed=5))]
    hdfs = Path(__file__).resolve().parents[3] / "shared/data/logs/hdfs_sessions/test.log"
    if hdfs.exists():
        messages += hdfs.read_text().splitlines()[:300]
    messages += [
        " blk_1 blk_-2, blk_3;blk_4 done ",
        "x<*>9 <y7> a1b2",
        "",
        "   ",
        "no digits at all",
        "0xFF 10.0.0.1:8080 /path/42/x?q=1",
    ]
    assert masked_texts(messages, DEFAULT_MASKS) == mask_messages(messages).to_pylist()
    # What Python's classes might read otherwise is left to Arrow.
    assert masked_texts(["tab\there"], DEFAULT_MASKS) is None
    assert masked_texts(["café 1"], DEFAULT_MASKS) is None
    assert masked_texts(["a 1"], [("<N>", r"\d+")]) is None
