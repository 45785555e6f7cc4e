"""Regressors: numeric columns an ARIMA learns from, whose future values a forecast needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.forecast import fit_forecaster, prepare_series

N, HORIZON, LIFT = 140, 7, 8.0
START = pd.Timestamp("2024-01-01")
# A small order search keeps the ARIMA fits fast.
ARIMA: dict[str, Any] = {"max_p": 1, "max_q": 1, "seasonal": False, "approximation": True}


def promoted(n: int = N + 2 * HORIZON, seed: int = 5) -> pd.DataFrame:
    """Returns daily sales of one shop: 20 a day, LIFT more on promotion days."""
    rng = np.random.default_rng(seed)
    promotion = (rng.random(n) < 0.3).astype(float)
    return pd.DataFrame(
        {
            "day": pd.date_range(START, periods=n, freq="D"),
            "sales": 20.0 + LIFT * promotion + rng.normal(0, 0.5, n),
            "promotion": promotion,
        }
    )


@pytest.fixture(scope="module")
def whole() -> pd.DataFrame:
    return promoted()


@pytest.fixture(scope="module")
def fitted(whole: pd.DataFrame) -> Any:
    """Returns an ARIMA fitted on the first N days (one fit shared by the tests)."""
    data = prepare_series(whole.head(N), timestamp="day", target="sales")
    return fit_forecaster(data, algorithm="auto_arima", params=ARIMA, horizon=HORIZON, cv=2)


def test_an_arima_learns_the_lift_and_forecasts_from_the_future_values(
    whole: pd.DataFrame, fitted: Any
) -> None:
    future = whole.iloc[N : N + HORIZON]
    assert fitted.regressors == ("promotion",)

    out = fitted.predict(HORIZON, exog=future[["day", "promotion"]])

    np.testing.assert_allclose(out["forecast"], 20.0 + LIFT * future["promotion"], atol=1.0)
    flipped = future.assign(promotion=1.0 - future["promotion"])
    moved = fitted.predict(HORIZON, exog=flipped)["forecast"] - out["forecast"]
    np.testing.assert_allclose(moved, LIFT * (1 - 2 * future["promotion"].to_numpy()), atol=1.0)
    # The backtest forecast each window with its own promotion days: errors stay small.
    assert fitted.metrics["mase"] < 0.5


def test_history_needs_its_regressors_and_moves_the_forecast_on(
    whole: pd.DataFrame, fitted: Any
) -> None:
    history, future = whole.iloc[N : N + HORIZON], whole.tail(HORIZON)

    out = fitted.predict(HORIZON, history=history, exog=future[["day", "promotion"]])

    assert out["timestamp"].iloc[0] == future["day"].iloc[0]
    np.testing.assert_allclose(out["forecast"], 20.0 + LIFT * future["promotion"], atol=1.0)
    with pytest.raises(UsageError, match="promotion") as caught:
        fitted.predict(HORIZON, history=history.drop(columns="promotion"), exog=future)
    assert caught.value.errors[0]["loc"] == ["history", "promotion"]


@pytest.mark.parametrize(
    ("exog", "loc", "words"),
    [
        (None, ["exog"], "send their values"),
        ("no column", ["exog", "promotion"], "no column 'promotion'"),
        ("short", ["exog"], "'sales' at 2024-05-25"),
    ],
)
def test_a_forecast_without_the_regressors_future_is_refused_naming_it(
    whole: pd.DataFrame, fitted: Any, exog: str | None, loc: list[str], words: str
) -> None:
    future = whole.iloc[N : N + HORIZON][["day", "promotion"]]
    sent = {None: None, "no column": future.drop(columns="promotion"), "short": future.head(5)}

    with pytest.raises(InvalidInput, match=words) as caught:
        fitted.predict(HORIZON, exog=sent[exog])
    assert caught.value.errors[0]["loc"] == loc


def test_an_algorithm_without_regressors_notes_them_or_refuses_them_when_named(
    whole: pd.DataFrame,
) -> None:
    frame = whole.head(N)
    data = prepare_series(frame, timestamp="day", target="sales")
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=HORIZON, cv=2)
    assert fitted.regressors == ()
    assert any("promotion" in note and "auto_arima" in note for note in fitted.notes)
    with pytest.raises(UsageError, match="no regressors"):
        fitted.predict(HORIZON, exog=frame.tail(HORIZON))

    named = prepare_series(frame, timestamp="day", target="sales", regressors=["promotion"])
    with pytest.raises(UsageError, match="takes no regressors") as caught:
        fit_forecaster(named, algorithm="seasonal_naive", horizon=HORIZON, cv=2)
    assert caught.value.errors[0]["loc"] == ["features"]
    excluded = prepare_series(frame, timestamp="day", target="sales", exclude=["promotion"])
    assert excluded.regressors == []


def test_over_rest_a_version_names_its_regressors_and_predict_needs_exog(
    whole: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
    from api_support import VIGIL_ENV_NAMES, open_api

    from vigil.api.settings import ApiSettings

    for name in VIGIL_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    rows = json.loads(whole.head(N).to_json(orient="records", date_format="iso"))
    future = json.loads(
        whole.iloc[N : N + HORIZON][["day", "promotion"]].to_json(
            orient="records", date_format="iso"
        )
    )
    body = {
        "task": "forecast",
        "horizon": HORIZON,
        "target": "sales",
        "algorithm": "auto_arima",
        "params": ARIMA,
        "features": ["promotion"],
        "cv": 2,
        "data": {"rows": rows},
    }
    for api in open_api(tmp_path / "home", ApiSettings()):
        accepted = api.request("POST", "/v1/models/shop/train", role="trainer", json=body)
        assert accepted.status_code == 202, accepted.text
        assert api.run_jobs() == 1
        version = api.request("GET", "/v1/models/shop/versions/1", role="viewer").json()
        assert version["forecast"]["regressors"] == ["promotion"]

        def predict(api: Any = api, **fields: Any) -> Any:
            return api.request(
                "POST",
                "/v1/models/shop/predict",
                role="predictor",
                json={"horizon": HORIZON, **fields},
            )

        missing = predict()
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["loc"] == ["body", "exog"]
        word = predict(exog=[{**future[0], "promotion": "yes"}, *future[1:]])
        assert word.status_code == 422
        assert word.json()["errors"][0]["loc"] == ["body", "exog", 0, "promotion"]
        answered = predict(exog=future)
        assert answered.status_code == 200, answered.text
        points = [p["forecast"] for p in answered.json()["predictions"]]
        expected = 20.0 + LIFT * whole["promotion"].iloc[N : N + HORIZON].to_numpy()
        np.testing.assert_allclose(points, expected, atol=1.0)
        schema = api.client.get("/openapi.json").json()["components"]["schemas"]
        assert "exog" in schema["PredictRequest"]["properties"]


def test_a_model_saved_before_regressors_and_floors_existed_still_forecasts(
    whole: pd.DataFrame,
) -> None:
    import pickle

    data = prepare_series(whole.head(N), timestamp="day", target="sales", exclude=["promotion"])
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=HORIZON, cv=2)
    expected = fitted.predict(HORIZON)
    # The attributes this version added, gone as from an older artifact.
    del fitted.__dict__["regressors"]
    for fit in fitted.fits.values():
        del fit.__dict__["x"], fit.__dict__["uses_x"]
        assert fit.cached is not None
        del fit.cached.__dict__["nonnegative"]

    older = pickle.loads(pickle.dumps(fitted))

    assert older.regressors == ()
    pd.testing.assert_frame_equal(older.predict(HORIZON), expected)
