"""Session mode: regex keys (several per line), fields, time windows, order, counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.features.extractors import Units
from vigil.features.sessions import SessionFeatures, group_sessions


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=6, freq="2min"),
            "message": [
                "open blk_1",
                "copy blk_-2 to blk_1",
                "close blk_1 blk_1",
                "open blk_3",
                "no block here",
                "close blk_-2",
            ],
            "request_id": ["r1", "r2", "r1", "", "r2", None],
        }
    )


def test_regex_keys_with_several_keys_per_line_in_first_appearance_order() -> None:
    sessions = group_sessions(_events(), key=r"blk_-?\d+")
    assert sessions.keys == ["blk_1", "blk_-2", "blk_3"]
    members = {
        key: sessions.event_index[sessions.session_index == i].tolist()
        for i, key in enumerate(sessions.keys)
    }
    # Line 1 names two blocks and belongs to both; line 2 names blk_1 twice, once counted.
    assert members == {"blk_1": [0, 1, 2], "blk_-2": [1, 5], "blk_3": [3]}


def test_a_field_names_sessions_and_empty_values_belong_to_none() -> None:
    sessions = group_sessions(_events(), field="request_id")
    assert sessions.keys == ["r1", "r2"]
    assert sessions.event_index.tolist() == [0, 2, 1, 4]


def test_time_windows_are_keyed_by_their_start() -> None:
    sessions = group_sessions(_events(), window="5min")
    assert sessions.keys == ["2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z"]
    assert np.bincount(sessions.session_index).tolist() == [3, 2, 1]


def test_session_rows_count_templates_length_and_duration() -> None:
    events = _events()
    features = SessionFeatures(key=r"blk_-?\d+").fit(events)
    X, _ = features.transform(events)
    assert len(X) == 3 and list(X.columns) == features.feature_names_
    assert X["length"].tolist() == [3, 2, 1]
    assert X["duration"].tolist() == [240.0, 480.0, 0.0]
    templates = features.miner_.templates_
    counts = {
        templates[int(c.split("=")[1])]: X[c].tolist()
        for c in X.columns
        if c.startswith("template=") and c != "template=other"
    }
    assert counts["open <BLK>"] == [1, 0, 1]
    assert counts["close <BLK>"] == [1, 1, 0]
    assert X["distinct_templates"].tolist() == [3, 2, 1]


def test_unseen_templates_are_counted_per_session() -> None:
    features = SessionFeatures(key=r"blk_-?\d+").fit(_events())
    new = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-02", periods=3, freq="1min"),
            "message": ["open blk_9", "disk on fire blk_9", "open blk_8"],
        }
    )
    X, sessions = features.transform(new)
    assert sessions.keys == ["blk_9", "blk_8"]
    assert X["template_unseen"].tolist() == [1, 0]


def test_labels_aggregate_to_sessions_any_anomalous_event() -> None:
    sessions = group_sessions(_events(), key=r"blk_-?\d+")
    labels = Units.of_sessions(sessions).labels(np.array([0, 0, 0, 1, 0, 0]))
    assert labels.tolist() == [0, 0, 1]


def test_session_options_are_checked() -> None:
    with pytest.raises(UsageError, match="one way"):
        group_sessions(_events(), key="blk", window="5min")
    with pytest.raises(UsageError, match="not a valid regex"):
        group_sessions(_events(), key="blk_(")
    with pytest.raises(UsageError, match="not a duration"):
        group_sessions(_events(), window="often")
    with pytest.raises(InvalidInput, match="'session'"):
        group_sessions(_events(), field="session")


def test_sessions_count_errors_and_summarise_latency_when_fields_exist() -> None:
    events = _events().assign(
        level=["INFO", "ERROR", "INFO", "INFO", "INFO", "warning"],
        response_time=[10.0, 1000.0, 20.0, 5.0, 1.0, np.nan],
    )
    features = SessionFeatures(key=r"blk_-?\d+").fit(events)
    X, _ = features.transform(events)
    assert X["errors"].tolist() == [1, 1, 0]
    assert X["latency_max"].tolist() == pytest.approx(np.log1p([1000.0, 1000.0, 5.0]))
    assert "errors" not in SessionFeatures(key=r"blk_-?\d+").fit(_events()).feature_names_
