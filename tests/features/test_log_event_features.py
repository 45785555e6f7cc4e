"""Per-event log features: shapes, top-N with other, time, and windows on a hand-made example."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.features.logs import LogEventFeatures, event_times, rolling_by_group
from vigil.simulate import simulate


def _events() -> pd.DataFrame:
    """Six events of two services, one of them arriving out of time order."""
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01 00:00:00",
                    "2024-01-01 00:01:00",
                    "2024-01-01 00:02:00",
                    "2024-01-01 00:03:00",
                    "2024-01-01 00:09:00",
                    "2024-01-01 00:02:30",
                ]
            ),
            "service": ["a", "a", "b", "a", "a", "a"],
            "level": ["INFO", "ERROR", "INFO", "INFO", "INFO", "warning"],
            "message": ["x 1", "x 2", "y", "x 3", "z", "x 9"],
            "response_time": [10.0, 20.0, 5.0, 30.0, 40.0, np.nan],
        }
    )


def test_one_row_per_event_in_input_order_with_a_fixed_schema() -> None:
    events = _events()
    features = LogEventFeatures().fit(events)
    X = features.transform(events)
    assert len(X) == len(events)
    assert list(X.columns) == features.feature_names_
    assert all(np.issubdtype(t, np.floating) for t in X.dtypes)
    assert features.transform(events.head(0)).shape == (0, len(features.feature_names_))
    shuffled = events.iloc[[3, 0, 5, 1, 4, 2]]
    assert np.allclose(
        features.transform(shuffled).to_numpy(),
        X.iloc[[3, 0, 5, 1, 4, 2]].to_numpy(),
        equal_nan=True,
    )


def test_top_values_get_columns_and_the_rest_is_other() -> None:
    events = _events()
    features = LogEventFeatures(top_services=1, top_levels=2).fit(events)
    X = features.transform(events)
    assert features.services_ == ["a"]
    assert X["service=a"].tolist() == [1, 1, 0, 1, 1, 1]
    assert X["service=other"].tolist() == [0, 0, 1, 0, 0, 0]
    assert features.levels_ == ["INFO", "ERROR"]
    # "warning" is normalised to WARN, which is not in the top two.
    assert X["level=other"].tolist() == [0, 0, 0, 0, 0, 1]
    new = features.transform(events.assign(service="brand-new"))
    assert new["service=other"].eq(1).all()


def _with_history(events: pd.DataFrame) -> pd.DataFrame:
    """Returns ``events`` after one earlier event (another service, 10 minutes before).

    It lies outside every window of the events, but makes the batch reach back
    far enough for their windows to be complete.
    """
    early = pd.DataFrame(
        {
            "timestamp": [events["timestamp"].min() - pd.Timedelta(minutes=10)],
            "service": ["c"],
            "level": ["INFO"],
            "message": ["early"],
            "response_time": [1.0],
        }
    )
    return pd.concat([events, early], ignore_index=True)


def _windows(window: str) -> pd.DataFrame:
    """Returns the features of the hand-made events, each with a complete window."""
    events = _with_history(_events())
    return LogEventFeatures(window=window).fit(events).transform(events).iloc[:6]


def test_rolling_windows_per_service_on_a_hand_made_example() -> None:
    X = _windows("5min")
    # Service a at 00:02:30 sees a@00:00, a@00:01 and itself; b@00:02 is another service.
    assert X["window_count"].tolist() == [1, 2, 1, 4, 1, 3]
    assert X["window_count_all"].tolist() == [1, 2, 3, 5, 1, 4]
    assert X["window_error_rate"].tolist() == pytest.approx([0, 1 / 2, 0, 1 / 4, 0, 1 / 3])
    # Latency of a@00:02:30 is missing: its window statistics use the others.
    assert X["window_latency_mean"].tolist() == pytest.approx([10, 15, 5, 20, 40, 15])
    assert X["window_latency_median"].tolist() == pytest.approx([10, 15, 5, 20, 40, 15])
    assert X["window_latency_std"].tolist() == pytest.approx(
        [0, np.std([10, 20], ddof=1), 0, 10, 0, np.std([10, 20], ddof=1)]
    )
    assert X["is_error"].tolist() == [0, 1, 0, 0, 0, 0]


def test_window_length_is_configurable() -> None:
    X = _windows("90s")
    # The window is (t - 90s, t]: a@00:01:00 is just outside the window of a@00:02:30.
    assert X["window_count"].tolist() == [1, 2, 1, 2, 1, 1]
    with pytest.raises(UsageError, match="not a duration"):
        LogEventFeatures(window="soon").fit(_events())


def test_windows_reaching_back_before_the_events_at_hand_are_missing_not_small() -> None:
    features = LogEventFeatures(window="5min").fit(_with_history(_events()))
    X = features.transform(_events())
    # The events start at 00:00: only a@00:09 has five minutes of history at hand.
    assert X["window_count"].isna().tolist() == [True, True, True, True, False, True]
    assert X["window_latency_vs_service"].isna().tolist() == X["window_count"].isna().tolist()
    # The gap before a service's first event is unknown, not zero.
    assert X["gap_seconds"].isna().tolist() == [True, False, True, False, False, False]
    alone = features.transform(_events().iloc[[4]])
    windowed = [c for c in features.feature_names_ if c.startswith("window_")]
    assert alone[[*windowed, "gap_seconds"]].isna().all(axis=None)


def test_rolling_by_group_matches_pandas_on_random_data() -> None:
    rng = np.random.default_rng(0)
    rows = 400
    times = np.sort(rng.integers(0, 3_600, rows)) * 1_000_000_000
    groups = rng.integers(0, 3, rows)
    values = rng.normal(size=rows)
    out = rolling_by_group(times, groups, 300 * 1_000_000_000, {"v": values}, ("v",))
    frame = pd.DataFrame({"g": groups, "v": values}, index=pd.to_datetime(times))
    for g in range(3):
        part = frame[frame["g"] == g]["v"]
        mask = groups == g
        rolling = part.rolling("300s")
        assert np.allclose(out["count"][mask], rolling.count())
        assert np.allclose(out["v_mean"][mask], rolling.mean())
        assert np.allclose(out["v_median"][mask], rolling.median())
        assert np.allclose(out["v_std"][mask], rolling.std().fillna(0.0))


def test_templates_give_one_hot_unseen_flag_and_rarity() -> None:
    events = _events()
    features = LogEventFeatures().fit(events)
    new = events.assign(message=["x 7", "kernel panic", "y", "x 1", "z", "x 2"])
    X = features.transform(new)
    assert X["template_unseen"].tolist() == [0, 1, 0, 0, 0, 0]
    assert X["template_rarity"].iloc[1] > X["template_rarity"].max() - 1e-9
    assert X["template=0"].tolist() == [1, 0, 0, 1, 0, 1]


def test_tfidf_of_the_masked_message_is_optional_and_capped() -> None:
    events = _events().assign(
        message=["disk full on node 1", "user login ok", "cache miss key 5"] * 2
    )
    assert not any(c.startswith("tfidf=") for c in LogEventFeatures().fit(events).feature_names_)
    features = LogEventFeatures(tfidf_features=3).fit(events)
    tfidf = [c for c in features.feature_names_ if c.startswith("tfidf=")]
    assert len(tfidf) == 3
    assert (features.transform(events)[tfidf].to_numpy() >= 0).all()


def test_time_accepts_text_epochs_and_missing_values() -> None:
    iso = event_times(pd.Series(["2024-01-01T00:00:01Z", None, "2024-01-01T00:00:03Z"]), 3)
    seconds = event_times(pd.Series([1_704_067_201, 1_704_067_202, 1_704_067_203]), 3)
    millis = event_times(pd.Series([1_704_067_201_000, 1_704_067_202_000, 1_704_067_203_000]), 3)
    assert iso[0] == seconds[0] == millis[0] == 1_704_067_201 * 10**9
    assert iso[1] == iso[0]  # a missing time takes its neighbour's
    assert event_times(None, 2).tolist() == [0, 0]


def test_missing_optional_fields_are_fine_and_a_named_missing_one_is_refused() -> None:
    X = LogEventFeatures().fit(pd.DataFrame({"msg": ["a 1", "b 2"]}))
    assert "template_rarity" in X.feature_names_
    assert not any(c.startswith("window_latency") for c in X.feature_names_)
    with pytest.raises(InvalidInput, match="'when'"):
        LogEventFeatures(time_column="when").fit(_events())


def test_simulated_incidents_stand_out_in_their_features() -> None:
    logs = simulate("logs", 8000, anomaly_rate=0.05, seed=5)
    features = LogEventFeatures().fit(logs[logs["is_anomaly"] == 0])
    X = features.transform(logs)
    kind = logs["anomaly_type"]
    normal = kind == ""
    assert X.loc[kind == "unseen_template", "template_unseen"].mean() == 1.0
    assert X.loc[normal, "template_unseen"].sum() == 0
    spike = X.loc[kind == "latency_spike", "latency_vs_service"].median()
    assert spike > X.loc[normal, "latency_vs_service"].quantile(0.95)
    burst = X.loc[kind == "error_burst", "window_error_rate"].median()
    assert burst > X.loc[normal, "window_error_rate"].quantile(0.95)
    assert pickle.loads(pickle.dumps(features)).transform(logs).equals(X)
