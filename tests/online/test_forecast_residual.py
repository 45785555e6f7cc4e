"""forecast_residual: a metric point judged by its miss of an online seasonal forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.algorithms.forecast_residual import ForecastResidualDetector
from vigil.errors import UsageError
from vigil.online import OnlineDetector, OnlineModel, OnlineState
from vigil.online.detector import DEFAULT_COMPONENTS, FORECAST_COMPONENTS
from vigil.training.trainer import TrainSpec, train_model

DAY = 288


def _daily(rows: int, seed: int = 0) -> pd.DataFrame:
    """A strong daily cycle every 5 minutes, little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    value = 50 + 20 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 0.5, rows)
    stamps = pd.date_range("2024-01-01", periods=rows, freq="5min")
    return pd.DataFrame({"timestamp": stamps.astype(str), "value": value})


def _model(frame: pd.DataFrame, components: int) -> OnlineModel:
    detector = OnlineDetector(half_life=300, components=components)
    return OnlineModel.fit(frame, detector, value_column="value", time_column="timestamp")


def test_a_point_that_breaks_the_daily_pattern_inside_the_usual_range_is_a_forecast_miss() -> None:
    frame = _daily(DAY * 8)
    model = _model(frame.iloc[: DAY * 5], FORECAST_COMPONENTS)
    rest = frame.iloc[DAY * 5 :].reset_index(drop=True)
    trough = DAY + DAY * 3 // 4 - (DAY * 5) % DAY  # the value's daily low, on day two
    rest.loc[trough, "value"] = 50.0  # the day's mean: an ordinary value, at the wrong hour
    answers, _ = model.score_in_order(rest, model.initial_state())
    scores = np.array([a["score"] for a in answers])
    assert answers[trough]["is_anomaly"]
    assert scores[trough] == scores.max()
    # Elsewhere the forecast holds: no other alarm.
    assert sum(a["is_anomaly"] for a in answers) == 1


def test_forecast_residual_scores_are_the_same_in_one_call_in_pieces_and_one_by_one() -> None:
    frame = _daily(DAY * 4, seed=1)
    model = _model(frame.iloc[: DAY * 2], FORECAST_COMPONENTS)
    rest = frame.iloc[DAY * 2 :].reset_index(drop=True)
    whole, whole_state = model.score_in_order(rest, model.initial_state())
    state = model.initial_state()
    pieces: list[dict] = []
    for start, end in [(0, 1), (1, 100), (100, 101), (101, len(rest))]:
        answers, state = model.score_in_order(rest.iloc[start:end], state)
        pieces += answers
    assert pieces == whole and state == whole_state
    state = model.initial_state()
    one_by_one: list[dict] = []
    for i in range(len(rest)):
        answers, state = model.score_in_order(rest.iloc[i : i + 1], state)
        one_by_one += answers
    assert one_by_one == whole
    restored = OnlineState.from_bytes(whole_state.to_bytes())
    assert restored == whole_state
    assert not np.array_equal(restored.series[""].season, np.zeros(DAY))


def test_the_forecasters_season_is_learned_as_the_series_flows() -> None:
    frame = _daily(DAY * 6, seed=2)
    learning = _model(frame.iloc[: DAY * 2], FORECAST_COMPONENTS)
    frozen = OnlineModel.fit(
        frame.iloc[: DAY * 2],
        OnlineDetector(half_life=300, components=FORECAST_COMPONENTS, learn=False),
        value_column="value",
        time_column="timestamp",
    )
    rest = frame.iloc[DAY * 2 :].reset_index(drop=True)
    _, learned = learning.score_in_order(rest, learning.initial_state())
    _, kept = frozen.score_in_order(rest, frozen.initial_state())
    assert np.array_equal(kept.series[""].season, frozen.initial_state().series[""].season)
    assert not np.array_equal(learned.series[""].season, learning.initial_state().series[""].season)
    # What was learned is the daily shape: the offsets follow the sine's phase.
    season = learned.series[""].season
    assert np.corrcoef(season, np.sin(2 * np.pi * np.arange(DAY) / DAY))[0, 1] > 0.99


def test_forecast_residual_is_the_online_forecast_miss_of_metric_models() -> None:
    frame = _daily(DAY * 3)
    spec = TrainSpec(task="anomaly", algorithm="forecast_residual", feature_kind="metrics")
    outcome = train_model(frame, spec)
    assert outcome.bundle.online is not None
    assert outcome.bundle.online.detector.components == FORECAST_COMPONENTS
    auto = train_model(frame, TrainSpec(task="anomaly", feature_kind="metrics"))
    assert auto.bundle.online is not None
    assert auto.bundle.online.detector.components == DEFAULT_COMPONENTS
    # On a table it is the window-feature detector alone: no online model.
    table = frame.assign(other=np.arange(len(frame)) % 7).drop(columns=["timestamp"])
    tabular = train_model(table, TrainSpec(task="anomaly", algorithm="forecast_residual"))
    assert tabular.bundle.online is None
    with pytest.raises(UsageError, match="components"):
        OnlineDetector(components=0)
    with pytest.raises(UsageError, match="alpha"):
        OnlineDetector(alpha=0.0)


def test_the_window_feature_detector_scores_distance_outside_each_features_interval() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    model = ForecastResidualDetector(coverage=0.95).fit(X)
    # About 5% of the training rows lie outside each feature's interval.
    outside = (np.abs(X - model.centre_) > model.half_width_).mean(axis=0)
    assert np.allclose(outside, 0.05, atol=0.01)
    rows = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2 * 1.96], [0.0, 4 * 1.96, 0.0]])
    distance = model.distance(rows)
    assert distance[0] == 0.0
    assert distance[1] == pytest.approx(1.0, abs=0.1)
    assert distance[2] == pytest.approx(3.0, abs=0.2)
    with pytest.raises(ValueError, match="coverage"):
        ForecastResidualDetector(coverage=1.0).fit(X)
