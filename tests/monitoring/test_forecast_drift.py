"""Drift of a forecast model, from the actuals that arrived through feedback.

Simulated sales (``vigil simulate sales``): two weeks to train on, the two
days after as actuals. Those days as they were simulated are no drift; the
same days with sales half as high again (a level shift) are drift in every
series. Real components:
SQLite, the artifact store, the prediction log, statsforecast.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.errors import Conflict
from vigil.monitoring.drift import DriftSettings, numeric_drift
from vigil.monitoring.forecast_drift import serial_drift
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate import simulate, write_frame
from vigil.training.request import train_spec_from_request

HORIZON = 48
SERIES = ["store_1/coffee", "store_1/snacks", "store_2/coffee", "store_2/snacks"]
TRAIN = {"horizon": HORIZON, "series": "series", "target": "sales", "cv": 3}
ADMIN = Caller(tenant="default", actor="test", role="admin")
ENV_NAMES = ("VIGIL_DATABASE_URL", "VIGIL_ARTIFACT_URI", "VIGIL_SECRET_KEY", "VIGIL_ADMIN_KEY")


def _split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (two weeks of hourly sales per series, the week after)."""
    frame = simulate("sales", rows=24 * 21 * len(SERIES), seed=11)
    cut = frame["timestamp"].min() + pd.Timedelta(hours=24 * 14)
    return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a VIGIL_HOME (built once) with ``sales`` v1, a seasonal naive forecaster."""
    home = tmp_path_factory.mktemp("forecast-drift")
    write_frame(_split()[0], home / "train.csv")
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    try:
        spec = train_spec_from_request({**TRAIN, "algorithm": "seasonal_naive"})
        service.training.train(ADMIN, "sales", load_dataset(home / "train.csv"), spec)
    finally:
        service.close()
    return home


@pytest.fixture
def service(
    trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[VigilService]:
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    opened = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    yield opened
    opened.close()


def _forecast_and_send_actuals(
    service: VigilService, *, lift: float = 1.0, add: float = 0.0, hours: int = HORIZON
) -> None:
    """Forecasts the two days after training and sends their sales (times ``lift``, plus ``add``).

    Only the first ``hours`` of actuals are sent.
    """
    from vigil.serving.forecasts import ForecastRequest

    points = service.predictions.forecast(ADMIN, "sales", ForecastRequest(HORIZON)).predictions
    truth = _split()[1].set_index(["series", "timestamp"])["sales"]
    end = pd.Timestamp(points[0]["timestamp"]) + pd.Timedelta(hours=hours)
    items: list[dict[str, Any]] = [
        {
            "series": p["series"],
            "timestamp": p["timestamp"],
            "actual": float(truth[(p["series"], pd.Timestamp(p["timestamp"]))]) * lift + add,
        }
        for p in points
        if pd.Timestamp(p["timestamp"]) < end
    ]
    assert service.monitoring.record_feedback(ADMIN, "sales", items)["accepted"] == len(items)


def test_drift_of_a_forecaster_is_refused_until_actuals_arrive(service: VigilService) -> None:
    with pytest.raises(Conflict, match=r"has no actuals yet.*send them first"):
        service.monitoring.drift(ADMIN, "sales")
    from vigil.serving.forecasts import ForecastRequest

    service.predictions.forecast(ADMIN, "sales", ForecastRequest(HORIZON))
    with pytest.raises(Conflict, match="has no actuals yet"):  # forecasts alone are not enough
        service.monitoring.drift(ADMIN, "sales")


def test_actuals_like_the_training_are_no_drift(service: VigilService) -> None:
    _forecast_and_send_actuals(service)

    drift = service.monitoring.drift(ADMIN, "sales")

    assert (drift["model"], drift["version"], drift["drifted"]) == ("sales", 1, False)
    assert drift["drifted_fields"] == [] and drift["share_drifted"] == 0.0
    assert sorted(drift["series"]) == SERIES
    assert set(drift["features"]) == {f"{s}.{k}" for s in SERIES for k in ("level", "error")}
    for report in drift["features"].values():
        assert report["test"] == "ks" and not report["drifted"]
    assert drift["rows"] == HORIZON * len(SERIES)


def test_a_level_shift_in_the_actuals_is_drift_in_every_series(service: VigilService) -> None:
    _forecast_and_send_actuals(service, lift=1.5)

    drift = service.monitoring.drift(ADMIN, "sales")

    assert drift["drifted"] and drift["share_drifted"] == 1.0
    assert drift["drifted_fields"] == SERIES
    for series in SERIES:
        assert drift["series"][series]["drifted"]
        # Sales sit above the training's at the same hours of the week, and the
        # forecasts fall short of them (errors in MASE scale moved up).
        for kind in ("level", "error"):
            test = drift["features"][f"{series}.{kind}"]
            assert test["current_mean"] > test["reference_mean"] + 1.0, (series, kind)
    assert any(drift["features"][f"{s}.level"]["drifted"] for s in SERIES)


def test_too_few_actuals_are_not_judged(service: VigilService) -> None:
    _forecast_and_send_actuals(service, add=10.0, hours=2)

    drift = service.monitoring.drift(ADMIN, "sales")

    assert drift["drifted"] is False and "fewer than 10 actuals" in drift["reason"]
    assert drift["features"] == {} and len(drift["skipped_features"]) == 2 * len(SERIES)


@pytest.mark.parametrize(("add", "drifted"), [(0.0, False), (10.0, True)])
def test_series_too_short_alone_are_judged_together(
    service: VigilService, add: float, drifted: bool
) -> None:
    _forecast_and_send_actuals(service, add=add, hours=6)  # 6 actuals a series, 24 in all

    drift = service.monitoring.drift(ADMIN, "sales")

    assert set(drift["features"]) == {"all_series.level", "all_series.error"}
    assert drift["drifted"] is drifted and "reason" not in drift
    assert drift["drifted_fields"] == (["all_series"] if drifted else [])


def test_the_policy_drift_trigger_alerts_and_retrains_a_forecaster(
    service: VigilService,
) -> None:
    service.policies.put_policy(ADMIN, "sales", {"metric": "mase", "triggers": {"drift": True}})
    _forecast_and_send_actuals(service, lift=1.5)

    reports = service.scheduling.lifecycle_tick()

    assert reports is not None
    actions = reports[0]["actions"]
    assert "alert drift v1" in actions and any(a.startswith("retrain") for a in actions), actions
    (alert,) = [a for a in service.alerts.list_alerts(ADMIN, "sales") if a["kind"] == "drift"]
    assert {f.rsplit(".", 1)[0] for f in alert["details"]["features"]} == set(SERIES)


def test_drift_over_rest_answers_a_forecaster_per_series(
    trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
    from api_support import VIGIL_ENV_NAMES, open_api

    from vigil.api.settings import ApiSettings

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    for name in VIGIL_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for api in open_api(home, ApiSettings()):
        before = api.request("GET", "/v1/models/sales/drift", role="viewer")
        assert before.status_code == 409 and "no actuals yet" in before.json()["detail"]
        _forecast_and_send_actuals(api.service)

        answer = api.request("GET", "/v1/models/sales/drift", role="viewer")

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["model"], body["version"], body["drifted"]) == ("sales", 1, False)
        assert sorted(body["series"]) == SERIES and len(body["features"]) == 2 * len(SERIES)


def _ar1(seed: int, points: int = 1048, phi: float = 0.6) -> np.ndarray:
    """Returns an AR(1) series: each point ``phi`` times the last plus standard noise."""
    noise = np.random.default_rng(seed).normal(size=points)
    y = np.zeros(points)
    for t in range(1, points):
        y[t] = phi * y[t - 1] + noise[t]
    return y


def test_dependent_points_of_one_process_are_not_read_as_a_shift() -> None:
    settings = DriftSettings()
    plain = []
    for seed in range(8):
        y = _ar1(seed)
        reference, current = y[:1000], y[1000:]
        # 48 neighbouring points carry the evidence of far fewer draws: no drift ...
        assert not serial_drift(reference, current, settings)["drifted"], seed
        # ... while a shift of two standard deviations that lasts is drift.
        shifted = current + 2 * float(np.std(reference))
        assert serial_drift(reference, shifted, settings)["drifted"], seed
        plain.append(numeric_drift(reference, current, settings)["drifted"])
    assert any(plain)  # KS reading them as independent draws calls some of them drift
