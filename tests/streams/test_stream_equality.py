"""Streaming a series in pieces of any size gives the scores of scoring it at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from stream_support import ADMIN, equality_case, events_of, pieces, simulated, train

from vigil.service import VigilService


def _streamed(service: VigilService, name: str, events: list[dict[str, Any]], seed: int) -> list:
    scores: list[Any] = []
    for piece in pieces(events, seed):
        result = service.streams.ingest(ADMIN, name, piece, return_all=True)
        assert result.rejected == []
        assert result.predictions is not None
        scores += [p["score"] for p in result.predictions]
    return scores


@pytest.mark.parametrize("kind", ["logs", "metrics", "requests"])
def test_streamed_scores_equal_batch_scores(stream_service: VigilService, kind: str) -> None:
    events, expected = equality_case(stream_service, kind)
    streamed = _streamed(stream_service, kind, events, seed=3)
    assert len(streamed) == len(expected)
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9


def test_history_carries_over_when_the_production_version_changes(
    stream_service: VigilService,
) -> None:
    train(stream_service, "logs", simulated("logs", 600, seed=1), "logs")
    test = simulated("logs", 600, seed=2)
    events = events_of(test)
    first = stream_service.streams.ingest(ADMIN, "logs", events[:300], return_all=True)
    assert {p["version"] for p in first.predictions or []} == {1}
    # A retrained version goes to production mid-stream; it scores from the same history.
    train(stream_service, "logs", simulated("logs", 600, seed=3), "logs")
    stream_service.models.deploy(ADMIN, "logs", 2)
    # Loaded before the batch, so the cache does not answer with version 1 while 2 loads.
    stream_service.predictions.load_bundle("default", "logs", 2)
    second = stream_service.streams.ingest(ADMIN, "logs", events[300:], return_all=True)
    assert {p["version"] for p in second.predictions or []} == {2}
    whole = stream_service.predictions.predict(
        ADMIN, "logs", test.drop(columns=["is_anomaly", "anomaly_type"]), version=2
    )
    expected = [p["score"] for p in whole.predictions][300:]
    streamed = [p["score"] for p in second.predictions or []]
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9


def test_a_frozen_metric_model_scores_from_a_trimmed_week_of_history(
    stream_service: VigilService,
) -> None:
    # Hourly points over three weeks: the kept history is cut to the week range_excess reads.
    rng = np.random.default_rng(4)
    hours = pd.date_range("2024-01-01", periods=21 * 24, freq="h")
    level = 50 + 10 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24)
    values = level + rng.normal(0, 2, len(hours))
    values[400:404] += 60
    frame = pd.DataFrame({"timestamp": hours, "value": values})
    train(stream_service, "frozen", frame.iloc[:200], "metrics", params={"online": "false"})
    expected = [
        p["score"] for p in stream_service.predictions.predict(ADMIN, "frozen", frame).predictions
    ]
    events = events_of(frame)
    streamed = _streamed(stream_service, "frozen", events, seed=9)
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9
