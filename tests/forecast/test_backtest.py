"""Rolling-origin backtests never see their own future: poisoning it changes nothing scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.forecast import auto as auto_choice
from vigil.forecast import backtest as bt
from vigil.forecast import fit_forecaster, prepare_series

PERIOD = 12
HORIZON = PERIOD
CV = 3
N = PERIOD * 8


def series(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    return 30 + 0.1 * t + 4 * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0, 0.5, N)


def fit(values: np.ndarray, algorithm: str) -> np.ndarray:
    """Returns the backtest forecasts (one row per window) of ``algorithm`` on ``values``."""
    frame = pd.DataFrame(
        {"t": pd.date_range("2020-01-01", periods=values.size, freq="MS"), "y": values}
    )
    data = prepare_series(frame, timestamp="t", target="y", series=None)
    fitted = fit_forecaster(data, algorithm=algorithm, horizon=HORIZON, cv=CV)
    backtest = fitted.fits["y"].backtest
    assert backtest is not None and backtest.shape == (CV, HORIZON)
    return backtest


def poisoned(values: np.ndarray, window: int) -> np.ndarray:
    """Returns ``values`` with everything from the start of backtest ``window`` on replaced."""
    cut = values.size - (CV - window) * HORIZON
    out = values.copy()
    out[cut:] = 1e4 + np.arange(values.size - cut) * 37.0
    return out


@pytest.mark.parametrize("algorithm", ["seasonal_naive", "auto_ets", "auto"])
def test_no_backtest_window_sees_its_own_future(algorithm: str) -> None:
    values = series()
    clean = fit(values, algorithm)

    for window in range(CV):
        dirty = fit(poisoned(values, window), algorithm)
        # Windows before the poisoned one, and the poisoned one itself, are forecast
        # from clean points only: any leak of a later point changes them.
        np.testing.assert_allclose(dirty[: window + 1], clean[: window + 1], rtol=1e-12)
        if window + 1 < CV:
            assert not np.allclose(dirty[window + 1 :], clean[window + 1 :])


def test_auto_weights_for_a_window_come_from_earlier_windows_only() -> None:
    from statsforecast.models import SeasonalNaive

    values = series(1)
    paths = []
    for season in (PERIOD, 1):  # a good and a poor member
        member = bt.backtest_member(
            "seasonal_naive",
            lambda s=season: SeasonalNaive(season_length=s),
            None,
            values,
            HORIZON,
            CV,
            (80,),
        )
        paths.append(member.backtest)
    actual = bt.actuals(values, HORIZON, CV)
    clean, _ = auto_choice.honest_backtest(paths, actual, 1.0, "select")
    flipped = actual.copy()
    flipped[1] = paths[1][1].mean  # window 1 now favours the poor member, exactly

    dirty, _ = auto_choice.honest_backtest(paths, flipped, 1.0, "select")

    # Windows 0 and 1 are forecast before window 1's actuals are known: unchanged.
    np.testing.assert_array_equal(dirty[0].mean, clean[0].mean)
    np.testing.assert_array_equal(dirty[1].mean, clean[1].mean)
    # Window 2 learns from window 1: the poor member's forecast is chosen.
    np.testing.assert_array_equal(clean[2].mean, paths[0][2].mean)
    np.testing.assert_array_equal(dirty[2].mean, paths[1][2].mean)
