"""Each forecast algorithm recovers a known season; history forecasts apply the fit, no refit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.forecast import fit_forecaster, prepare_series

PERIOD = 12
N = PERIOD * 12
HORIZON = PERIOD
SHAPE = np.array([0.0, 2.0, 5.0, 9.0, 6.0, 4.0, 1.0, -2.0, -6.0, -8.0, -7.0, -4.0])


def pattern(t: np.ndarray) -> np.ndarray:
    """Returns a level of 50 plus an asymmetric monthly-year shape (amplitude 17)."""
    return 50.0 + SHAPE[t % PERIOD]


def frame(n: int = N, noise: float = 0.3, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame(
        {
            "month": pd.date_range("2010-01-01", periods=n, freq="MS"),
            "units": pattern(t) + rng.normal(0.0, noise, n),
        }
    )


# ARIMA's order search is the slow part of these fits: small orders keep the tests fast.
SMALL_ARIMA: dict[str, Any] = {"max_p": 2, "max_q": 2, "approximation": True}


@pytest.mark.parametrize(
    "algorithm", ["seasonal_naive", "auto_ets", "auto_arima", "auto_theta", "mstl", "auto"]
)
def test_each_algorithm_recovers_the_known_season(algorithm: str) -> None:
    data = prepare_series(frame(), timestamp="month", target="units", series=None)
    params = SMALL_ARIMA if algorithm == "auto_arima" else None
    fitted = fit_forecaster(data, algorithm=algorithm, params=params, horizon=HORIZON, cv=1)

    out = fitted.predict(HORIZON)

    truth = pattern(np.arange(N, N + HORIZON))
    # Noise is 0.3 against a season of amplitude 17: a forecast that has the season
    # is within about a unit everywhere; one that missed it is off by up to 9.
    assert np.abs(out["forecast"].to_numpy() - truth).max() < 1.5
    inside = (out["lo_95"] <= truth) & (truth <= out["hi_95"])
    assert inside.mean() >= 0.75


def _history_case(algorithm: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    whole = frame(N + 7, noise=1.0, seed=3)
    return whole.head(N), whole.tail(7), whole["units"].to_numpy()


@pytest.mark.parametrize(
    ("algorithm", "reference", "refit_differs"),
    [
        ("auto_ets", lambda m: m.AutoETS(season_length=PERIOD), True),
        ("auto_arima", lambda m: m.AutoARIMA(season_length=PERIOD, **SMALL_ARIMA), True),
        # Theta's smoothing sits at its bound on this series: a refit lands on the same model.
        ("auto_theta", lambda m: m.AutoTheta(season_length=PERIOD), False),
    ],
)
def test_history_forecasts_apply_the_fitted_model_without_refitting(  # type: ignore[no-untyped-def]
    algorithm, reference, refit_differs
) -> None:
    from statsforecast import models

    train, history, values = _history_case(algorithm)
    data = prepare_series(train, timestamp="month", target="units", series=None)
    params = {"intervals": "native", **(SMALL_ARIMA if algorithm == "auto_arima" else {})}
    fitted = fit_forecaster(data, algorithm=algorithm, params=params, horizon=HORIZON, cv=1)

    out = fitted.predict(HORIZON, history=history)

    # The same model fitted on the training points only, then applied to the longer series.
    model = reference(models).fit(values[:N])
    applied = model.forward(y=values, h=HORIZON, level=[80, 95])
    np.testing.assert_allclose(out["forecast"], applied["mean"], rtol=1e-9)
    np.testing.assert_allclose(out["lo_95"], applied["lo-95"], rtol=1e-9)
    # A refit on the longer series is a different model: the history forecast is not one.
    refit = reference(models).fit(values).predict(h=HORIZON)["mean"]
    assert np.allclose(out["forecast"], refit, rtol=1e-6) != refit_differs
    assert out["timestamp"].iloc[0] == history["month"].iloc[-1] + pd.offsets.MonthBegin(1)


def test_seasonal_naive_history_forecast_repeats_the_newest_season() -> None:
    train, history, values = _history_case("seasonal_naive")
    data = prepare_series(train, timestamp="month", target="units", series=None)
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=HORIZON, cv=1)

    out = fitted.predict(HORIZON, history=history)

    np.testing.assert_allclose(out["forecast"], values[-PERIOD:])


def test_history_that_overlaps_training_counts_only_its_new_points() -> None:
    train, history, _values = _history_case("seasonal_naive")
    data = prepare_series(train, timestamp="month", target="units", series=None)
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=HORIZON, cv=1)
    overlapping = pd.concat([train.tail(20), history])

    pd.testing.assert_frame_equal(
        fitted.predict(HORIZON, history=overlapping), fitted.predict(HORIZON, history=history)
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda h: h.iloc[[0, 2, 3]], ["gap", "2022-02-01"]),
        (
            lambda h: h.astype({"units": object}).assign(units=["1", "x", "2", "3", "4", "5", "6"]),
            ["Row 1", "'units'", "not a number"],
        ),
        (lambda h: h.drop(columns="units"), ["no column 'units'"]),
    ],
    ids=["gap", "string", "missing-column"],
)
def test_bad_history_is_refused_naming_the_problem(change, words) -> None:  # type: ignore[no-untyped-def]
    from vigil.errors import InvalidInput

    train, history, _ = _history_case("seasonal_naive")
    data = prepare_series(train, timestamp="month", target="units", series=None)
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=HORIZON, cv=1)

    with pytest.raises(InvalidInput) as refused:
        fitted.predict(3, history=change(history))

    for word in words:
        assert word in refused.value.message
