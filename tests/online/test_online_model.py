"""Online metric models: same answers in one call, in pieces and one by one; adaptation; state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.online import OnlineDetector, OnlineModel, OnlineState, split_online_params
from vigil.online.detector import (
    MAX_CYCLE,
    MAX_HALF_LIFE,
    MAX_LIKELIHOOD_WINDOW,
    MAX_REFRACTORY,
)
from vigil.online.layout import N_SCORES
from vigil.training.trainer import TrainSpec, train_model


def _series(rows: int, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """A daily-cycle metric with noise, every 5 minutes."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    value = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, rows)
    stamps = pd.date_range(start, periods=rows, freq="5min")
    return pd.DataFrame({"timestamp": stamps.astype(str), "value": value})


def _model(frame: pd.DataFrame, **settings: int) -> OnlineModel:
    return OnlineModel.fit(
        frame, OnlineDetector(**settings), value_column="value", time_column="timestamp"
    )


def test_scoring_a_file_equals_scoring_it_in_pieces_and_one_point_at_a_time() -> None:
    frame = _series(1600)
    model = _model(frame.iloc[:400], half_life=100)
    rest = frame.iloc[400:].reset_index(drop=True)
    rest.loc[500, "value"] += 60  # a spike somewhere in the middle
    whole, whole_state = model.score_in_order(rest, model.initial_state())

    pieces: list[dict] = []
    state = model.initial_state()
    for start, end in [(0, 7), (7, 300), (300, 301), (301, 1200)]:
        answers, state = model.score_in_order(rest.iloc[start:end], state)
        pieces += answers
    assert pieces == whole
    assert state == whole_state

    one_by_one: list[dict] = []
    state = model.initial_state()
    for i in range(len(rest)):
        answers, state = model.score_in_order(rest.iloc[i : i + 1], state)
        one_by_one += answers
    assert one_by_one == whole
    assert any(a["is_anomaly"] for a in whole[495:510])


def test_scoring_never_changes_the_state_it_is_given() -> None:
    frame = _series(800)
    model = _model(frame.iloc[:400], half_life=100)
    before = model.initial_state()
    kept = before.copy()
    model.score_in_order(frame.iloc[400:], before)
    assert before == kept
    assert model.initial_state() == kept


def test_a_level_shift_stops_being_flagged_after_the_horizon_while_a_spike_still_is() -> None:
    half_life = 100
    frame = _series(3000, seed=1)
    model = _model(frame.iloc[:600], half_life=half_life)
    rest = frame.iloc[600:].reset_index(drop=True)
    shift_at, spike_at = 200, 1800
    rest.loc[shift_at:, "value"] += 40  # a lasting level shift
    rest.loc[spike_at, "value"] += 80  # later, one spike on the new level
    answers, _ = model.score_in_order(rest, model.initial_state())
    flagged = np.array([a["is_anomaly"] for a in answers])
    assert flagged[shift_at : shift_at + 10].any(), "the shift's onset is an anomaly"
    horizon = shift_at + 2 * half_life
    assert not flagged[horizon:spike_at].any(), "after the horizon the new level is normal"
    assert flagged[spike_at : spike_at + 3].any(), "a spike on the new level still is not"

    frozen = _model(frame.iloc[:600], half_life=half_life, learn=False)
    frozen_answers, _ = frozen.score_in_order(rest, frozen.initial_state())
    scores = np.array([a["score"] for a in answers])
    frozen_scores = np.array([a["score"] for a in frozen_answers])
    assert not np.array_equal(scores[horizon:], frozen_scores[horizon:])


def test_a_frozen_model_keeps_the_references_training_left() -> None:
    frame = _series(1000)
    frozen = _model(frame.iloc[:400], half_life=100, learn=False)
    _, after = frozen.score_in_order(frame.iloc[400:], frozen.initial_state())
    trained = frozen.initial_state().series[""]
    assert np.array_equal(after.series[""].value_sorted, trained.value_sorted)
    assert np.array_equal(after.series[""].mean_ring, trained.mean_ring)


def test_a_restored_state_continues_exactly_and_stays_under_a_megabyte() -> None:
    frame = _series(2000)
    model = _model(frame.iloc[:400])  # default settings
    first, second = frame.iloc[400:1200], frame.iloc[1200:]
    _, state = model.score_in_order(first, model.initial_state())
    data = state.to_bytes()
    assert len(data) <= 1_000_000
    restored = OnlineState.from_bytes(data)
    assert restored == state
    expected, expected_state = model.score_in_order(second, state)
    answers, after = model.score_in_order(second, restored)
    assert answers == expected
    assert after == expected_state


def test_state_bytes_of_another_format_or_version_are_refused_by_name() -> None:
    data = OnlineDetector(half_life=10).empty_state().to_bytes()
    with pytest.raises(InvalidInput, match="not an online model state"):
        OnlineState.from_bytes(b"nope" + data[4:])
    with pytest.raises(InvalidInput, match="version 9"):
        OnlineState.from_bytes(data[:4] + (9).to_bytes(2, "little") + data[6:])
    model = _model(_series(200), half_life=10)
    with pytest.raises(InvalidInput, match="other detector settings"):
        model.score_in_order(_series(5), OnlineDetector(half_life=20, cycle=3).empty_state())


def test_the_likelihood_judges_the_raw_score_against_its_own_longer_history() -> None:
    model = _model(_series(800), half_life=50, likelihood_window=300)
    trained = model.initial_state()
    series = trained.series[""]
    # The references hold 2 x half_life points; the score history its own 300.
    assert series.value_ring.shape == (100,)
    assert series.point_ring.shape == series.mean_ring.shape == (300,)
    assert series.counts[N_SCORES] == 300
    assert OnlineState.from_bytes(trained.to_bytes()) == trained
    with pytest.raises(InvalidInput, match="other detector settings"):
        model.score_in_order(_series(5), OnlineDetector(half_life=50).empty_state())
    with pytest.raises(UsageError, match="likelihood_window must be an integer from 12"):
        OnlineDetector(likelihood_window=MAX_LIKELIHOOD_WINDOW + 1)


def test_each_series_keeps_its_own_state() -> None:
    a, b = _series(1200, seed=2), _series(1200, seed=3)
    b["value"] = b["value"] * 1000
    a["series"], b["series"] = "a", "b"
    both = pd.concat([a, b]).sort_values("timestamp", kind="stable").reset_index(drop=True)
    model = OnlineModel.fit(
        both.iloc[:800],
        OnlineDetector(half_life=100),
        value_column="value",
        time_column="timestamp",
        series_column="series",
    )
    answers, state = model.score_in_order(both.iloc[800:], model.initial_state())
    assert set(state.series) == {"a", "b"}
    alone = OnlineModel.fit(
        a.iloc[:400], OnlineDetector(half_life=100), value_column="value", time_column="timestamp"
    )
    a_answers, _ = alone.score_in_order(a.iloc[400:], alone.initial_state())
    mine = [x for x, s in zip(answers, both["series"].iloc[800:], strict=True) if s == "a"]
    assert mine == a_answers


def test_online_parameters_are_checked_and_named() -> None:
    rest, online = split_online_params({"online": "false", "half_life": "50"}, "auto")
    assert rest == {} and online == {"online": False, "half_life": 50}
    with pytest.raises(UsageError, match="half_life"):
        split_online_params({"half_life": 3}, "auto")
    with pytest.raises(UsageError, match="half_life must be an integer"):
        OnlineDetector(half_life=5)


def test_a_trained_metrics_model_predicts_with_its_online_state() -> None:
    frame = _series(1500)
    spec = TrainSpec(task="anomaly", algorithm="auto", feature_kind="metrics", seed=0)
    bundle = train_model(frame.iloc[:600], spec).bundle
    assert bundle.online is not None
    assert bundle.params["online"] is True
    rest = frame.iloc[600:].reset_index(drop=True)
    rest.loc[300, "value"] += 60
    predicted = bundle.predict(rest)
    answers, state = bundle.score_in_order(rest, bundle.initial_state())
    assert predicted == answers
    assert predicted[300]["is_anomaly"] or predicted[301]["is_anomaly"]
    assert state.series[""].points > 0
    explained, _ = bundle.score_in_order(rest.iloc[295:305], bundle.initial_state(), explain=True)
    assert all(out["explanation"] for out in explained)

    frozen = train_model(
        frame.iloc[:600],
        TrainSpec(
            task="anomaly",
            algorithm="auto",
            feature_kind="metrics",
            seed=0,
            params={"online": "false"},
        ),
    ).bundle
    assert frozen.online is not None and frozen.online.detector.learn is False
    with pytest.raises(InvalidInput, match="value"):
        bundle.score_in_order(pd.DataFrame({"timestamp": ["2024-02-01"]}), state)


def test_the_largest_settings_keep_a_series_state_under_a_megabyte() -> None:
    detector = OnlineDetector(half_life=MAX_HALF_LIFE, refractory=MAX_REFRACTORY, cycle=MAX_CYCLE)
    state = detector.empty_state()
    state.of("")
    assert len(state.to_bytes()) <= 1_000_000


def test_a_state_saved_before_the_detector_kept_its_forecaster_asks_for_a_retrain() -> None:
    model = _model(_series(400), half_life=50)
    state = model.initial_state()
    del state.series[""].season  # as a state pickled by an earlier Vigil comes back
    with pytest.raises(InvalidInput, match="retrain the model"):
        model.score_in_order(_series(5), state)
    state = model.initial_state()
    del state.likelihood_window  # a state from before the likelihood had its own window
    with pytest.raises(InvalidInput, match="retrain the model"):
        model.score_in_order(_series(5), state)
    del model.trained.series[""].peak_times
    with pytest.raises(InvalidInput, match="retrain the model"):
        model.initial_state()
