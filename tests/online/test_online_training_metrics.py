"""A metrics model's training metrics come from its own online scoring of later points."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.online.evaluation import TRAIN_SHARE, time_split
from vigil.training.trainer import TrainSpec, train_model


def _shifted(rows: int, shift_at: int, seed: int = 0) -> pd.DataFrame:
    """A daily cycle every 5 minutes whose level moves up for good at ``shift_at``."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    value = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, rows)
    value[shift_at:] += 40
    stamps = pd.date_range("2024-01-01", periods=rows, freq="5min")
    return pd.DataFrame({"timestamp": stamps.astype(str), "value": value})


def _spec(**params: str) -> TrainSpec:
    return TrainSpec(
        task="anomaly",
        feature_kind="metrics",
        target="label",
        seed=0,
        params={"half_life": "100", **params},
    )


def test_metrics_are_measured_online_on_the_last_points_by_time() -> None:
    rows = 3000
    frame = _shifted(rows, shift_at=2200)
    frame["label"] = (frame.index >= 2200).astype(int)  # the new level, as an anomaly
    online = train_model(frame, _spec())
    frozen = train_model(frame, _spec(online="false"))
    scored = rows - int(rows * TRAIN_SHARE)
    assert online.metrics["evaluated_points"] == scored
    assert frozen.metrics["evaluated_points"] == scored
    # The shift comes after the evaluated model's training part. Both raise one alarm, at
    # its onset (the refractory span holds back the rest of a lasting event); the frozen
    # model keeps scoring the new level as unusual, every shifted point above every earlier
    # one, while the learning one adapts and scores it as usual again.
    assert round(online.metrics["anomaly_rate"] * scored) == 1
    assert frozen.metrics["roc_auc"] > 0.99
    assert online.metrics["roc_auc"] < 0.8


def test_labelled_points_give_detection_metrics_of_the_online_scores() -> None:
    frame = _shifted(3000, shift_at=3000)  # no shift
    frame["label"] = 0
    frame.loc[2600, "value"] += 30
    frame.loc[2600, "label"] = 1
    spec = TrainSpec(task="anomaly", feature_kind="metrics", target="label", seed=0)
    metrics = train_model(frame, spec).metrics
    assert metrics["recall"] == 1.0
    assert metrics["roc_auc"] > 0.99
    assert metrics["evaluated_points"] == 900


def test_the_split_cuts_every_series_at_one_instant() -> None:
    stamps = pd.date_range("2024-01-01", periods=10, freq="1h").astype(str)
    events = pd.DataFrame(
        {
            "timestamp": np.r_[stamps, stamps][::-1],
            "series": ["a"] * 10 + ["b"] * 10,
            "value": np.arange(20.0),
        }
    )
    first, rest = time_split(events, "timestamp")
    assert len(first) == 14 and len(rest) == 6  # an instant is never split between parts
    cut = pd.to_datetime(events["timestamp"])
    assert cut.iloc[first].max() < cut.iloc[rest].min()
    first, rest = time_split(events, None)
    assert first.tolist() == list(range(14)) and rest.tolist() == list(range(14, 20))
