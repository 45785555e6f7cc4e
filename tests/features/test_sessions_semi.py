"""Session models trained on labelled events: anomalies left out of fitting, one answer each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sessions_support import KEY, events

from vigil.data.loading import read_lines
from vigil.errors import InvalidInput
from vigil.features.extractors import make_extractor
from vigil.training.session_defaults import (
    CLEAN_TARGET_FPR,
    SESSION_NORMAL_DEFAULT,
    known_normal_rows,
)
from vigil.training.trainer import TrainSpec, train_model

HDFS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "logs" / "hdfs_sessions"


def _spec(**changes: object) -> TrainSpec:
    base = {
        "task": "anomaly",
        "target": "label",
        "feature_kind": "logs",
        "feature_options": {"session_key": KEY},
    }
    return TrainSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_labelled_sessions_fit_on_normal_ones_with_a_clean_threshold() -> None:
    outcome = train_model(events(400, 20, seed=1), _spec())
    assert outcome.algorithm == SESSION_NORMAL_DEFAULT
    assert outcome.params["target_fpr"] == CLEAN_TARGET_FPR
    # The label is never a feature.
    assert "label" not in {c.name for c in outcome.bundle.schema}
    new = events(200, 20, seed=2, start=10_000)
    predictions = outcome.bundle.predict(new.drop(columns="label"))
    truth = new.groupby(new["message"].str.extract(f"({KEY})")[0])["label"].max()
    assert len(predictions) == truth.size
    flagged = {p["session"] for p in predictions if p["is_anomaly"]}
    anomalous = set(truth[truth == 1].index)
    assert anomalous <= flagged
    assert len(flagged - anomalous) <= 2  # at most 1% of the 180 normal sessions


def test_labelled_anomalies_in_training_are_still_flagged() -> None:
    """A quarter of the training sessions are anomalous: fitted on them, k-NN would mask them."""
    outcome = train_model(events(400, 100, seed=1), _spec(test_size=0.25))
    new = events(100, 50, seed=3, start=10_000).drop(columns="label")
    flags = [p["is_anomaly"] for p in outcome.bundle.predict(new)]
    assert len(flags) == 100 and 48 <= sum(flags) <= 52


def test_a_given_threshold_or_algorithm_is_kept() -> None:
    outcome = train_model(events(300, 10, seed=4), _spec(params={"contamination": 0.02}))
    assert outcome.params["contamination"] == 0.02 and outcome.params["target_fpr"] is None
    forest = train_model(events(300, 10, seed=4), _spec(algorithm="isolation_forest"))
    assert forest.algorithm == "isolation_forest"
    assert forest.params["target_fpr"] == CLEAN_TARGET_FPR


def test_training_rows_all_anomalous_are_refused() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="labelled anomalous"):
        known_normal_rows(X, pd.Series([1, 1], name="label"))
    assert len(known_normal_rows(X, pd.Series(["normal", "Anomaly"], name="label"))) == 1


@pytest.mark.skipif(not HDFS.exists(), reason=f"{HDFS} is absent (shared data not mounted)")
def test_hdfs_session_model_answers_once_per_block_of_test_log() -> None:
    """Acceptance: trained on train.log's known-normal blocks, one answer per test.log block."""
    labels = pd.read_csv(HDFS / "labels.csv").set_index("BlockId")["Label"]

    def read(name: str) -> pd.DataFrame:
        read, _ = make_extractor("logs", {}).read(read_lines((HDFS / name).read_bytes()))
        return read.reset_index(drop=True)

    train, test = read("train.log"), read("test.log")
    blocks = train["message"].str.extract(r"(blk_-?\d+)")[0]
    train["label"] = (blocks.map(labels) == "Anomaly").astype(int)
    spec = _spec(feature_options={"session_key": r"blk_-?\d+"})
    predictions = train_model(train, spec).bundle.predict(test)
    expected = set(test["message"].str.extract(r"(blk_-?\d+)")[0].dropna())
    keys = [p["session"] for p in predictions]
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    truth = (pd.Series(keys).map(labels) == "Anomaly").to_numpy()
    flagged = np.array([p["is_anomaly"] for p in predictions])
    tp = int((flagged & truth).sum())
    f1 = 2 * tp / (flagged.sum() + truth.sum())
    assert f1 >= 0.97
