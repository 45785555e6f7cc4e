"""Unlabelled session models: invariants of event counts by default, repeated failures found."""

from __future__ import annotations

import numpy as np
import pytest
from sessions_support import KEY, events

from vigil.algorithms.invariants import InvariantsDetector
from vigil.simulate import simulate
from vigil.training.session_defaults import SESSION_DEFAULT
from vigil.training.trainer import TrainSpec, train_model


def test_unlabelled_sessions_default_to_invariants_and_find_repeated_failures() -> None:
    """12 of 400 training sessions fail the same two ways: distance detectors see them as a
    cluster; a broken open/close relation and a rare event are found however often they repeat."""
    train = events(400, 12, seed=5).drop(columns="label")
    spec = TrainSpec(feature_kind="logs", feature_options={"session_key": KEY})
    outcome = train_model(train, spec)
    assert outcome.task == "anomaly" and outcome.algorithm == SESSION_DEFAULT
    new = events(200, 20, seed=6, start=10_000)
    predictions = outcome.bundle.predict(new.drop(columns="label"))
    truth = new.groupby(new["message"].str.extract(f"({KEY})")[0])["label"].max()
    flagged = {p["session"] for p in predictions if p["is_anomaly"]}
    assert len(predictions) == truth.size
    assert flagged == set(truth[truth == 1].index)


def test_asked_auto_keeps_the_tabular_default() -> None:
    train = events(200, 0, seed=7).drop(columns="label")
    spec = TrainSpec(algorithm="auto", feature_kind="logs", feature_options={"session_key": KEY})
    assert train_model(train, spec).algorithm == "auto"


def test_invariants_are_relations_most_rows_keep() -> None:
    rng = np.random.default_rng(0)
    opened = rng.integers(1, 4, size=300).astype(float)
    X = np.column_stack([opened, opened, 3 * opened, rng.integers(0, 9, size=300)])
    X[:5, 1] = 0  # five rows (under the 5% tolerance) break open == close
    model = InvariantsDetector(tolerance=0.05).fit(X)
    assert [tuple(int(v) for v in r) for r in model.invariants_] == [
        (0, 1, 1, 1),
        (0, 2, 1, 3),
        (1, 2, 1, 3),
    ]
    scores = -model.score_samples(np.array([[2.0, 2.0, 6.0, 4.0], [2.0, 1.0, 6.0, 4.0]]))
    assert scores.tolist() == [0.0, 2.0]


def test_invariants_mine_a_sample_of_large_data_and_check_tolerance() -> None:
    X = np.tile([[1.0, 2.0]], (50, 1))
    model = InvariantsDetector(max_rows=20).fit(X)
    assert model.invariants_.tolist() == [[0, 1, 1, 2]]
    with pytest.raises(ValueError, match="tolerance must be in"):
        InvariantsDetector(tolerance=0.0).fit(X)


def test_sessions_without_count_relations_keep_auto() -> None:
    """Simulated requests are independent events: no relation holds, so ``auto`` judges them."""
    frame = simulate("logs", 1500, anomaly_rate=0.05, seed=3)
    spec = TrainSpec(feature_kind="logs", feature_options={"session_field": "request_id"})
    assert train_model(frame, spec).algorithm == "auto"


def test_invariants_say_whether_they_explain_the_training_rows() -> None:
    structured = np.tile([[1.0, 3.0]], (100, 1))
    assert InvariantsDetector(tolerance=0.05).fit(structured).explains()
    rng = np.random.default_rng(1)
    independent = rng.integers(0, 3, size=(100, 4)).astype(float)
    model = InvariantsDetector(tolerance=0.05).fit(independent)
    assert model.invariants_.size == 0 and not model.explains()
