"""Feedback joined to predictions, live metrics per version, and drift against training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from service_support import ADMIN

from clock_support import Clock
from vigil.data.loading import Dataset
from vigil.errors import InvalidInput
from vigil.monitoring.drift import DriftSettings, dataset_drift, psi
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=shift, size=n)
    colour = rng.choice(
        ["red", "green", "blue"], n, p=[0.6, 0.3, 0.1] if shift == 0 else [0.1, 0.3, 0.6]
    )
    label = np.where(x + (colour == "red") > 0.5, "yes", "no")
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "colour": colour, "label": label})


def _train(service: VigilService) -> None:
    frame = _frame(1500, seed=1)
    service.training.train(
        ADMIN,
        "m",
        Dataset(frame, "f" * 64, "csv", "test"),
        TrainSpec(target="label", algorithm="random_forest", params={"n_estimators": 20}),
    )


def test_feedback_is_joined_once_and_unknown_ids_are_reported(service: VigilService) -> None:
    _train(service)
    answers = service.predictions.predict(
        ADMIN, "m", _frame(20, seed=2).drop(columns="label")
    ).predictions
    items = [{"prediction_id": p["id"], "actual": "yes"} for p in answers[:10]]
    first = service.monitoring.record_feedback(
        ADMIN, "m", [*items, {"prediction_id": "nope", "actual": "no"}]
    )
    assert first == {"accepted": 10, "unchanged": 0, "unknown": ["nope"]}
    again = service.monitoring.record_feedback(ADMIN, "m", items)
    assert again == {"accepted": 0, "unchanged": 10, "unknown": []}
    corrected = service.monitoring.record_feedback(
        ADMIN, "m", [{"prediction_id": answers[0]["id"], "actual": "no"}]
    )
    assert corrected["accepted"] == 1


def test_feedback_items_are_validated_by_position(service: VigilService) -> None:
    _train(service)
    with pytest.raises(InvalidInput, match="item 1 needs a prediction_id"):
        service.monitoring.record_feedback(
            ADMIN, "m", [{"prediction_id": "a", "actual": 1}, {"actual": 1}]
        )


def test_performance_reports_metrics_from_feedback_per_window(
    service: VigilService, clock: Clock
) -> None:
    _train(service)
    rows = _frame(200, seed=3)
    old = service.predictions.predict(ADMIN, "m", rows.drop(columns="label").head(50)).predictions
    clock.advance(days=2)
    recent = service.predictions.predict(
        ADMIN, "m", rows.drop(columns="label").tail(150)
    ).predictions
    truth = rows["label"].tolist()
    service.monitoring.record_feedback(
        ADMIN,
        "m",
        [{"prediction_id": p["id"], "actual": a} for p, a in zip(old + recent, truth, strict=True)],
    )
    report = service.monitoring.performance(ADMIN, "m")
    week = report["windows"]["last_week"]["versions"]["1"]
    day = report["windows"]["last_day"]["versions"]["1"]
    assert week["predictions"] == 200 and day["predictions"] == 150
    assert week["feedback"] == 200
    assert 0.8 < week["metrics"]["accuracy"] <= 1.0
    assert week["latency_us_p50"] > 0


def test_shifted_traffic_is_reported_as_drift(service: VigilService) -> None:
    _train(service)
    service.predictions.predict(ADMIN, "m", _frame(500, seed=4).drop(columns="label"))
    calm = service.monitoring.drift(ADMIN, "m")
    assert calm["drifted"] is False
    service.predictions.predict(ADMIN, "m", _frame(1000, seed=5, shift=2.0).drop(columns="label"))
    shifted = service.monitoring.drift(ADMIN, "m", rows=500)
    assert shifted["drifted"] is True
    assert set(shifted["drifted_features"]) == {"x", "colour"}
    assert shifted["features"]["z"]["drifted"] is False


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(size=5000)) < 0.02
    assert psi(reference, rng.normal(loc=1.0, size=5000)) > 0.5


def test_large_references_use_normalised_wasserstein() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000)})
    slight = pd.DataFrame({"x": rng.normal(loc=0.02, size=2000)})
    report = dataset_drift(reference, slight, {"x": "numeric"}, DriftSettings())
    assert report["features"]["x"]["test"] == "wasserstein"
    assert report["drifted"] is False


def test_a_feature_missing_in_production_is_listed_but_not_judged() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000), "window": rng.normal(size=2000)})
    # A small batch of log events: every window reaches back before the batch (missing).
    current = pd.DataFrame({"x": rng.normal(loc=3.0, size=100), "window": np.nan})
    report = dataset_drift(reference, current, {"x": "numeric", "window": "numeric"})
    assert set(report["features"]) == {"x"}
    assert report["skipped_features"]["window"] == {
        "kind": "numeric",
        "drifted": False,
        "values": 0,
    }
    assert report["drifted"] is True and report["share_drifted"] == 1.0
