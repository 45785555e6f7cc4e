"""vigil.forecast: series checks, fitting, forecasting and forecasting from newer history."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.forecast import FittedForecast, SeriesData, fit_forecaster, prepare_series

PERIOD = 12
START = pd.Timestamp("2024-01-01")


def seasonal_frame(
    n: int = 12 * 16, series: int = 2, noise: float = 0.2, freq: str = "D", seed: int = 0
) -> pd.DataFrame:
    """Returns long-format series of period 12 (monthly data's year), one amplitude each."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(series):
        t = np.arange(n)
        y = 20 + s * 5 + (3 + s) * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0, noise, n)
        frames.append(
            pd.DataFrame(
                {
                    "when": pd.date_range(START, periods=n, freq=freq),
                    "store": f"s{s}",
                    "sales": y,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def monthly(n: int = 12 * 16, series: int = 2, noise: float = 0.2) -> SeriesData:
    return prepare_series(
        seasonal_frame(n, series, noise, freq="MS"), timestamp=None, target=None, series="store"
    )


def test_prepare_series_infers_columns_frequency_and_seasons() -> None:
    data = monthly()

    assert (data.timestamp, data.target, data.series_column) == ("when", "sales", "store")
    assert data.freq == "MS"
    assert data.series == ["s0", "s1"]
    assert data.season_lengths == [12]
    assert list(data.frame.columns) == ["unique_id", "ds", "y"]
    assert len(data.frame) == 2 * 12 * 16


def test_hourly_data_has_a_daily_and_a_weekly_season() -> None:
    frame = seasonal_frame(n=24 * 7 * 3, series=1, freq="h")
    data = prepare_series(frame, timestamp="when", target="sales", series="store")

    assert data.freq == "h"
    assert data.season_lengths == [24, 168]


def test_duplicated_timestamps_are_averaged_and_said_so() -> None:
    frame = seasonal_frame(n=40, series=1)
    frame = pd.concat([frame, frame.iloc[[5]].assign(sales=frame["sales"].iloc[5] + 2.0)])

    data = prepare_series(frame, timestamp="when", target="sales", series="store")

    assert len(data.frame) == 40
    assert data.values("s0")[5] == pytest.approx(frame["sales"].iloc[5] + 1.0)
    assert "averaged" in data.notes[0] and "'s0'" in data.notes[0]


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda f: f.drop(index=17), InvalidInput, ["'s0'", "gap", "2024-01-18"]),
        (
            lambda f: f.astype({"sales": object}).assign(
                sales=lambda g: g["sales"].where(g.index != 9, "n/a")
            ),
            InvalidInput,
            ["Row 9", "'sales'", "not a number"],
        ),
        (lambda f: f.head(2), InvalidInput, ["'s0'", "at least 3"]),
        (lambda f: f.assign(extra=1.0), UsageError, ["target", "sales, extra"]),
        (lambda f: f.drop(columns="when"), UsageError, ["timestamp", "no datetime-like"]),
    ],
    ids=["gap", "string-value", "too-short", "two-numeric", "no-timestamp"],
)
def test_bad_series_are_refused_naming_the_problem(change, error, words) -> None:  # type: ignore[no-untyped-def]
    frame = change(seasonal_frame(n=40, series=1))

    with pytest.raises(error) as refused:
        prepare_series(frame, timestamp=None, target=None, series="store")

    for word in words:
        assert word in refused.value.message


def test_a_series_too_short_for_horizon_and_windows_is_refused_naming_the_minimum() -> None:
    data = monthly(n=40)

    with pytest.raises(InvalidInput) as refused:
        fit_forecaster(data, algorithm="seasonal_naive", horizon=12, cv=3)

    assert "'s0'" in refused.value.message and "at least 48" in refused.value.message


def test_seasonal_naive_repeats_the_last_season_and_predicts_with_intervals() -> None:
    data = monthly(noise=0.0)
    fitted = fit_forecaster(data, algorithm="seasonal_naive", horizon=12, cv=2)

    out = fitted.predict(12)

    assert list(out.columns) == [
        "series",
        "timestamp",
        "forecast",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    ]
    s1 = out[out["series"] == "s1"]
    np.testing.assert_allclose(s1["forecast"], data.values("s1")[-12:])
    assert s1["timestamp"].iloc[0] == fitted.last_timestamp("s1") + pd.offsets.MonthBegin(1)
    assert (s1["lo_95"] <= s1["lo_80"]).all() and (s1["hi_80"] <= s1["hi_95"]).all()
    assert fitted.metrics["mase"] == pytest.approx(0.0, abs=1e-9)
    assert set(fitted.metrics) == {"mase", "smape", "rmse", "coverage_80", "coverage_95"}
    assert set(fitted.metrics_by_series) == {"s0", "s1"}


def test_the_fitted_forecast_survives_joblib() -> None:
    fitted = fit_forecaster(monthly(), algorithm="seasonal_naive", horizon=6, cv=2)
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    buffer.seek(0)

    loaded: FittedForecast = joblib.load(buffer)

    pd.testing.assert_frame_equal(loaded.predict(6), fitted.predict(6))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: f.predict(0), ["horizon", "from 1 to 6", "got 0"]),
        (lambda f: f.predict(7), ["horizon", "from 1 to 6", "got 7"]),
        (lambda f: f.predict(3, series=["nope"]), ["'nope'"]),
        (lambda f: f.predict(3, levels=[120]), ["levels", "120"]),
    ],
    ids=["zero", "too-far", "unknown-series", "bad-level"],
)
def test_bad_forecast_requests_are_refused(call, words) -> None:  # type: ignore[no-untyped-def]
    fitted = fit_forecaster(monthly(), algorithm="seasonal_naive", horizon=6, cv=2)

    with pytest.raises(UsageError) as refused:
        call(fitted)

    for word in words:
        assert word in refused.value.message


def _falling_counts(offset: float = 0.0) -> pd.DataFrame:
    """Returns a daily count series falling to 0 at its end, plus ``offset``."""
    rng = np.random.default_rng(4)
    t = np.arange(100)
    counts = np.maximum(0.0, 40.0 - 0.4 * t + rng.normal(0, 1, t.size)).round()
    frame = pd.DataFrame({"day": pd.date_range(START, periods=t.size, freq="D")})
    frame["units"] = counts + offset
    return frame


def test_forecasts_of_a_series_never_below_zero_stop_at_zero() -> None:
    data = prepare_series(_falling_counts(), timestamp="day", target="units")
    fitted = fit_forecaster(
        data, algorithm="auto_ets", params={"model": "AAN", "damped": False}, horizon=14, cv=2
    )

    out = fitted.predict(14, levels=(80, 95))
    assert fitted.nonnegative_series == ["units"]
    for column in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert (out[column] >= 0).all(), column
    # The trend points below 0: the floor holds the forecast and its lower bounds.
    assert (out["forecast"] == 0).sum() >= 10 and (out["lo_95"] == 0).all()
    assert (out["hi_95"] > 0).all()
    backtest = fitted.fits["units"].backtest
    assert backtest is not None and (backtest >= 0).all()


def test_a_series_with_negative_values_or_history_is_not_floored() -> None:
    shifted = prepare_series(_falling_counts(offset=-100.0), timestamp="day", target="units")
    params = {"model": "AAN", "damped": False}
    fitted = fit_forecaster(shifted, algorithm="auto_ets", params=params, horizon=14, cv=2)
    assert fitted.nonnegative_series == []
    assert (fitted.predict(14)["forecast"] < -100).sum() >= 10

    counts = _falling_counts()
    fitted = fit_forecaster(
        prepare_series(counts, timestamp="day", target="units"),
        algorithm="auto_ets",
        params=params,
        horizon=14,
        cv=2,
    )
    # A newer point below 0 shows the series can go there: the floor is lifted.
    history = pd.DataFrame({"day": [counts["day"].iloc[-1] + pd.Timedelta("1D")], "units": [-3.0]})
    assert (fitted.predict(14, history=history)["forecast"] < 0).any()
