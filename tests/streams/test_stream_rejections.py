"""Malformed and late events are refused with their reason; the rest of the batch is scored."""

from __future__ import annotations

import pytest
from stream_support import ADMIN, events_of, simulated, train

from vigil.errors import InvalidInput
from vigil.service import VigilService


def test_malformed_events_are_refused_and_the_others_scored_as_without_them(
    stream_service: VigilService,
) -> None:
    train(stream_service, "logs", simulated("logs", 600, seed=1), "logs")
    events = events_of(simulated("logs", 40, seed=2))
    clean = stream_service.streams.ingest(ADMIN, "logs", events, return_all=True)
    stream_service.streams.state.drop("default", "logs")

    broken = list(events)
    broken.insert(3, "not an event")
    broken.insert(
        10, {**events[9], "timestamp": None, "service": None, "level": None, "message": None}
    )
    broken.insert(20, {**events[18], "response_time": "fast"})
    result = stream_service.streams.ingest(ADMIN, "logs", broken, return_all=True)

    refused = {r.event: r for r in result.rejected}
    assert sorted(refused) == [3, 10, 20]
    assert "JSON object" in refused[3].reason
    assert refused[20].field == "response_time" and "response_time" in refused[20].reason
    assert result.accepted == len(events)
    kept = [p for p in result.predictions or []]
    assert [p["score"] for p in kept] == [p["score"] for p in clean.predictions or []]
    # Positions name the events as the client sent them.
    assert [p["event"] for p in kept][:4] == [0, 1, 2, 4]


def test_events_older_than_the_tolerance_are_refused_with_the_stream_and_times(
    stream_service: VigilService,
) -> None:
    train(stream_service, "metrics", simulated("metrics", 600, seed=1), "metrics")
    point = {"timestamp": "2024-03-01T12:00:00Z", "series": "cpu_utilization", "value": 40.0}
    stream_service.streams.ingest(ADMIN, "metrics", [point])
    late = {**point, "timestamp": "2024-03-01T11:50:00Z"}
    within = {**point, "timestamp": "2024-03-01T11:59:30Z"}
    other = {**point, "timestamp": "2024-03-01T11:50:00Z", "series": "memory_utilization"}
    result = stream_service.streams.ingest(ADMIN, "metrics", [late, within, other], return_all=True)
    assert [r.event for r in result.rejected] == [0]
    assert "cpu_utilization" in result.rejected[0].reason
    assert "tolerance" in result.rejected[0].reason
    assert result.accepted == 2
    assert [p["event"] for p in result.predictions or []] == [1, 2]


def test_a_batch_of_only_refused_events_is_an_error_naming_each(
    stream_service: VigilService,
) -> None:
    train(stream_service, "logs", simulated("logs", 600, seed=1), "logs")
    with pytest.raises(InvalidInput) as refused:
        stream_service.streams.ingest(ADMIN, "logs", [1, "two"])
    assert [e["loc"] for e in refused.value.errors] == [
        ["body", "events", 0],
        ["body", "events", 1],
    ]


def test_a_model_created_again_under_its_name_starts_a_stream_of_its_own(
    stream_service: VigilService,
) -> None:
    frame = simulated("metrics", 600, seed=1)
    train(stream_service, "metrics", frame, "metrics")
    point = {"timestamp": "2024-03-01T12:00:00Z", "series": "cpu_utilization", "value": 40.0}
    stream_service.streams.ingest(ADMIN, "metrics", [point])
    stream_service.models.delete_model(ADMIN, "metrics")
    stream_service.now.advance(minutes=1)  # type: ignore[attr-defined]
    train(stream_service, "metrics", frame, "metrics")
    earlier = {**point, "timestamp": "2024-02-01T12:00:00Z"}
    # The deleted model's stream is gone: a point a month older is no late event.
    assert stream_service.streams.ingest(ADMIN, "metrics", [earlier]).rejected == []
