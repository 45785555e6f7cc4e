"""Forecasting over REST: train as a job, forecast with and without history, 422s naming
the field, actuals by series and time, canary and shadow routing, and a real ``vigil serve``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from process_support import Server, eventually, vigil_serve
from vigil.api.settings import ApiSettings
from vigil.client import Client, ClientError
from vigil.simulate import simulate

# The REST harness (the in-process app with a key per role, the start-up of ``vigil
# serve`` in process_support) lives beside the API tests; it is reused here, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_support import VIGIL_ENV_NAMES, Api, open_api

HORIZON = 12
HOURS = 24 * 14
SERIES = ["store_1/coffee", "store_1/snacks", "store_2/coffee", "store_2/snacks"]
TRAIN_BODY = {
    "task": "forecast",
    "horizon": HORIZON,
    "series": "series",
    "target": "sales",
    "algorithm": "seasonal_naive",
    "cv": 2,
}


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return rows


@pytest.fixture(scope="module")
def sales() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (two weeks to train on, the week after) of simulated sales."""
    frame = simulate("sales", rows=24 * 21 * len(SERIES), seed=5)
    cut = frame["timestamp"].min() + pd.Timedelta(hours=HOURS)
    return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]


def _train(api: Api, name: str, rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """Trains ``name`` through ``POST /train`` and the job queue; returns the finished job."""
    body = {**TRAIN_BODY, "data": {"rows": rows}, **fields}
    accepted = api.request("POST", f"/v1/models/{name}/train", role="trainer", json=body)
    assert accepted.status_code == 202, accepted.text
    assert api.run_jobs() == 1
    job = api.request("GET", f"/v1/jobs/{accepted.json()['job_id']}").json()
    assert job["status"] == "succeeded", job
    return dict(job)


@pytest.fixture(scope="module")
def trained_home(
    tmp_path_factory: pytest.TempPathFactory, sales: tuple[pd.DataFrame, pd.DataFrame]
) -> Path:
    """Returns a home (built once) with ``sales`` v1 trained over REST; copy it."""
    home = tmp_path_factory.mktemp("forecast-api") / "home"
    for api in open_api(home, ApiSettings()):
        _train(api, "sales", _rows(sales[0]))
    return home


@pytest.fixture
def api(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    home = tmp_path / "home"
    import shutil

    shutil.copytree(trained_home, home)
    for name in VIGIL_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    yield from open_api(home, ApiSettings())


def _forecast(api: Api, body: dict[str, Any], name: str = "sales") -> httpx.Response:
    return api.request("POST", f"/v1/models/{name}/predict", role="predictor", json=body)


def test_a_forecast_trained_over_rest_is_a_version_with_its_backtest(api: Api) -> None:
    version = api.request("GET", "/v1/models/sales/versions/1", role="viewer").json()
    assert version["task"] == "forecast" and version["algorithm"] == "seasonal_naive"
    assert {"mase", "smape", "rmse", "coverage_80", "coverage_95"} <= set(version["metrics"])
    assert sorted(version["metrics_by_series"]) == SERIES
    assert version["forecast"]["horizon"] == HORIZON
    assert version["train_spec"]["horizon"] == HORIZON  # what a retraining repeats


def test_forecast_answers_points_with_intervals(api: Api) -> None:
    answer = _forecast(api, {"horizon": 3})
    assert answer.status_code == 200, answer.text
    points = answer.json()["predictions"]
    assert len(points) == 3 * len(SERIES)
    assert set(points[0]) == {
        "id", "version", "series", "timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95",
    }  # fmt: skip
    one = _forecast(api, {"horizon": 2, "series": [SERIES[2]], "level": [50, 99]}).json()
    assert [p["series"] for p in one["predictions"]] == [SERIES[2]] * 2
    assert {"lo_50", "hi_50", "lo_99", "hi_99"} <= set(one["predictions"][0])


def test_history_forecasts_from_its_end(api: Api, sales: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    later = sales[1]
    newer = later[later["series"] == SERIES[3]].iloc[:26]
    body = {"horizon": 4, "series": [SERIES[3]], "history": _rows(newer)}
    answer = _forecast(api, body)
    assert answer.status_code == 200, answer.text
    stamps = [p["timestamp"] for p in answer.json()["predictions"]]
    end = newer["timestamp"].max()
    assert stamps == [(end + pd.Timedelta(hours=k)).isoformat() for k in range(1, 5)]


@pytest.mark.parametrize(
    ("body", "loc", "detail"),
    [
        ({"horizon": 0}, ["body", "horizon"], "greater than or equal to 1"),
        ({"horizon": HORIZON + 1}, ["body", "horizon"], f"from 1 to {HORIZON}"),
        ({"horizon": "2"}, ["body", "horizon"], "valid integer"),
        ({"horizon": 2, "series": ["store_9/tea"]}, ["body", "series"], "store_9/tea"),
        ({"horizon": 2, "level": [100]}, ["body", "level", 0], "less than or equal to 99"),
        (
            {"horizon": 2, "history": [{"timestamp": "2024-01-15", "series": SERIES[0]}]},
            ["body", "history", 0, "sales"],
            "needs column 'sales'",
        ),
        (
            {
                "horizon": 2,
                "history": [{"timestamp": "2024-01-15", "series": SERIES[0], "sales": "lots"}],
            },
            ["body", "history", 0, "sales"],
            "history[0].sales must be a finite number",
        ),
        (
            {
                "horizon": 2,
                "history": [{"timestamp": "never", "series": SERIES[0], "sales": 1}],
            },
            ["body", "history", 0, "timestamp"],
            "history[0].timestamp must be a time",
        ),
        ({"series": [SERIES[0]]}, ["body", "horizon"], "horizon is required"),
        ({"instances": [{"sales": 1}]}, ["body", "instances"], "ask it for a horizon"),
        ({"instances": [{"a": 1}], "horizon": 2}, ["body", "horizon"], "not both"),
        ({}, ["body", "instances"], "instances is required"),
    ],
)
def test_bad_forecast_bodies_get_a_422_naming_the_field(
    api: Api, body: dict[str, Any], loc: list[Any], detail: str
) -> None:
    answer = _forecast(api, body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["errors"][0]["loc"] == loc
    assert detail in problem["detail"]


def test_a_horizon_sent_to_a_model_of_rows_is_refused(api: Api) -> None:
    rows = [{"x": float(i), "y": 2.0 * i} for i in range(40)]
    _train(api, "line", rows, task="regression", horizon=None, series=None, cv=None,
           target="y", algorithm="linear_regression")  # fmt: skip
    answer = _forecast(api, {"horizon": 2}, name="line")
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("This is a regression model: send instances")


def test_actuals_by_series_and_time_give_live_metrics(
    api: Api, sales: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    points = _forecast(api, {"horizon": 2}).json()["predictions"]
    truth = sales[1].set_index(["series", "timestamp"])["sales"]
    items = [
        {
            "series": p["series"],
            "timestamp": p["timestamp"],
            "actual": int(truth[(p["series"], pd.Timestamp(p["timestamp"]))]),
        }
        for p in points
    ]
    joined = api.request(
        "POST", "/v1/models/sales/feedback", role="predictor", json={"items": items}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json() == {"accepted": len(points), "unchanged": 0, "unknown": []}
    bad = api.request(
        "POST",
        "/v1/models/sales/feedback",
        role="predictor",
        json={"items": [{"series": SERIES[0], "timestamp": "later", "actual": 1}]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][-1] == "timestamp"
    live = api.request("GET", "/v1/models/sales/performance", role="viewer").json()
    summary = live["windows"]["last_hour"]["versions"]["1"]
    assert summary["feedback"] == len(points)
    assert set(summary["metrics"]) == {"mase", "smape", "rmse", "coverage_80", "coverage_95"}


def test_shadow_and_canary_versions_forecast_as_any_model(
    api: Api, sales: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _train(api, "sales", _rows(sales[0]), cv=3)
    shadow = api.request(
        "POST", "/v1/models/sales/deploy", json={"version": 2, "strategy": "shadow"}
    )
    assert shadow.status_code == 200, shadow.text
    answered = _forecast(api, {"horizon": 1, "series": [SERIES[0]]}).json()
    assert answered["predictions"][0]["version"] == 1  # production answers

    def shadow_rows() -> list[Any]:
        api.service.prediction_log.flush()
        return api.service.monitoring.feedback.rows("default", "sales", shadow=True)

    logged = eventually(shadow_rows, lambda rows: len(rows) > 0, timeout=30)
    assert [(r.version, r.output["series"]) for r in logged] == [(2, SERIES[0])]
    canary = api.request(
        "POST",
        "/v1/models/sales/deploy",
        json={"version": 2, "strategy": "canary", "weight": 100},
    )
    assert canary.status_code == 200, canary.text
    answered = _forecast(api, {"horizon": 1, "series": [SERIES[0]]}).json()
    assert answered["predictions"][0]["version"] == 2  # the canary's whole share


@pytest.fixture(scope="module")
def server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Returns a real ``vigil serve`` over a copy of the home with the forecast model."""
    import shutil

    home = tmp_path_factory.mktemp("forecast-server") / "home"
    shutil.copytree(trained_home, home)
    with vigil_serve(home, admin_key="forecast-test-admin-secret") as running:
        yield running


def test_a_real_server_forecasts_and_refuses_a_bad_horizon_naming_it(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        answer = client.post("/v1/models/sales/predict", json={"horizon": 2})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2 * len(SERIES)
        refused = client.post("/v1/models/sales/predict", json={"horizon": 99})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "horizon"]
    with Client(server.url, server.admin_key) as vigil:
        answer = vigil.forecast("sales", 3, series=[SERIES[1]], level=[90])
        assert [p["series"] for p in answer["predictions"]] == [SERIES[1]] * 3
        assert {"lo_90", "hi_90"} <= set(answer["predictions"][0])
        with pytest.raises(ClientError) as unknown:
            vigil.forecast("sales", 3, series=["store_9/tea"])
        assert unknown.value.status == 422
