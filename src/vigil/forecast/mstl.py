"""MSTL with R's STL interpolation steps: statsforecast's model, decomposed as R's ``stl`` does.

statsforecast's ``MSTL`` decomposes with statsmodels' ``STL`` at its
defaults, which evaluate every LOESS at every point (``*_jump=1``). R's
``stats::stl``, which ``forecast::mstl`` (the reference MSTL) calls,
evaluates each smoother every ``ceiling(window / 10)`` points and
interpolates linearly between them. With a weekly season on hourly data the
trend window is 281 points, and R's steps make the decomposition about six
times cheaper; MSTL decomposes at every fit and every ``forward`` (a history
sent with a forecast, each backtest window), so this is most of its cost.

This module imports statsforecast and statsmodels at the top: it is imported
only by ``algorithms.build`` when an MSTL model is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from statsforecast.models import MSTL, _predict_mstl_seas
from statsmodels.tsa.seasonal import STL

# forecast::mstl's seasonal windows: 11, 15, 19, ... for the periods, shortest first.
FIRST_WINDOW, WINDOW_STEP = 7, 4
# forecast::mstl iterates the seasonal estimates twice when there are several.
ITERATIONS = 2


def _odd(value: float) -> int:
    whole = math.ceil(value)
    return whole if whole % 2 else whole + 1


def stl_settings(period: int, seasonal: int) -> dict[str, int]:
    """Returns R's ``stl`` windows and interpolation steps for ``period`` and ``seasonal``.

    >>> settings = stl_settings(168, 15)
    >>> [settings[k] for k in ("trend", "low_pass", "seasonal_jump", "trend_jump", "low_pass_jump")]
    [281, 169, 2, 29, 17]
    """
    trend = _odd(1.5 * period / (1 - 1.5 / seasonal))
    # R's nextodd(period); statsmodels needs it above the period (an odd period: + 2).
    low_pass = _odd(period + 1)
    return {
        "seasonal": seasonal,
        "trend": trend,
        "low_pass": low_pass,
        "seasonal_jump": math.ceil(seasonal / 10),
        "trend_jump": math.ceil(trend / 10),
        "low_pass_jump": math.ceil(low_pass / 10),
    }


def decompose(x: np.ndarray, periods: list[int]) -> pd.DataFrame:
    """Returns the MSTL decomposition of ``x``: columns data, trend, seasonal<p>..., remainder.

    The columns are those statsforecast's ``mstl`` returns (a single period's
    is ``seasonal``), so its seasonal forecast reads them unchanged.
    """
    periods = sorted(periods)
    n = x.size
    seasonal = np.zeros((len(periods), n))
    deseasonalised = np.array(x, dtype=float)
    trend = np.zeros(n)
    for _ in range(ITERATIONS if len(periods) > 1 else 1):
        for i, period in enumerate(periods):
            deseasonalised = deseasonalised + seasonal[i]
            window = FIRST_WINDOW + WINDOW_STEP * (i + 1)
            fit = STL(
                deseasonalised,
                period=period,
                seasonal_deg=0,
                **stl_settings(period, window),
            ).fit()
            seasonal[i] = fit.seasonal
            deseasonalised = deseasonalised - seasonal[i]
            trend = np.asarray(fit.trend)
    out: dict[str, np.ndarray] = {"data": np.asarray(x, dtype=float), "trend": trend}
    if len(periods) == 1:
        out["seasonal"] = seasonal[0]
    else:
        for i, period in enumerate(periods):
            out[f"seasonal{period}"] = seasonal[i]
    out["remainder"] = deseasonalised - trend
    return pd.DataFrame(out)


class SteppedMSTL(MSTL):
    """statsforecast's ``MSTL`` decomposing with R's interpolation steps (``decompose``).

    Its own conformal intervals are not used (Vigil computes its own), so
    ``fit`` and ``forward`` pass the levels to the trend forecaster.
    """

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> SteppedMSTL:
        y = np.asarray(y, dtype=float)
        self.model_ = decompose(y, list(self.season_length))
        adjusted = (self.model_["trend"] + self.model_["remainder"]).to_numpy()
        self.trend_forecaster = self.trend_forecaster.new().fit(y=adjusted, X=X)
        return self

    def forward(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, Any]:
        y = np.asarray(y, dtype=float)
        model = decompose(y, list(self.season_length))
        adjusted = (model["trend"] + model["remainder"]).to_numpy()
        result = self.trend_forecaster.forward(
            y=adjusted, h=h, X=X, X_future=X_future, level=level, fitted=fitted
        )
        seasonal_h = _predict_mstl_seas(model, h=h, season_length=self.season_length)
        seasonal_in = model.filter(regex="seasonal*").sum(axis=1).to_numpy()
        return {
            key: value + (seasonal_in if "fitted" in key else seasonal_h)
            for key, value in result.items()
        }
