"""MSTL with R's interpolation steps: the same decomposition as every-point LOESS, within noise."""

from __future__ import annotations

import numpy as np

from vigil.forecast.mstl import SteppedMSTL, decompose

DAY, WEEK = 24, 168


def hourly(weeks: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns a series with a daily and a weekly cycle, and the two cycles themselves."""
    rng = np.random.default_rng(seed)
    t = np.arange(WEEK * weeks)
    daily = 10 * np.sin(2 * np.pi * t / DAY)
    weekly = 6 * np.where((t // DAY) % 7 >= 5, -1.0, 0.4)  # quiet weekends
    return 100 + 0.02 * t + daily + weekly + rng.normal(0, 0.5, t.size), daily, weekly


def test_the_stepped_decomposition_matches_statsforecasts_exact_one() -> None:
    from statsforecast.mstl import mstl

    y, _, _ = hourly()

    stepped = decompose(y, [DAY, WEEK])
    exact = mstl(y, [DAY, WEEK])

    assert list(stepped.columns) == list(exact.columns)
    for column in ("seasonal24", "seasonal168", "trend"):
        # The cycles have amplitudes 10 and 6 and the noise 0.5: interpolating the
        # smoothers between every few points moves the components by far less.
        difference = np.abs(stepped[column] - exact[column]).max()
        assert difference < 0.5, (column, difference)
    np.testing.assert_allclose(stepped.drop(columns="data").sum(axis=1), y, atol=1e-9)


def test_the_stepped_model_recovers_both_cycles_and_forwards_without_refitting() -> None:
    from statsforecast.models import AutoETS

    y, daily, weekly = hourly(weeks=5)
    train = y.size - DAY
    model = SteppedMSTL(season_length=[DAY, WEEK], trend_forecaster=AutoETS(model="ZZN"))
    model.fit(y[: train - DAY])
    ets = model.trend_forecaster.model_["components"]

    ahead = model.forward(y=y[:train], h=DAY, level=[80])

    truth = (100 + 0.02 * np.arange(y.size) + daily + weekly)[train:]
    assert np.abs(ahead["mean"] - truth).max() < 2.0
    assert np.all(ahead["lo-80"] < ahead["mean"]) and np.all(ahead["mean"] < ahead["hi-80"])
    # forward applied the fitted trend model: its chosen form is unchanged.
    assert model.trend_forecaster.model_["components"] == ets
