"""Forecasting: many series in, future values with prediction intervals out.

``prepare_series`` checks a long-format table (one row per series and time)
and infers its frequency and seasons; ``fit_forecaster`` fits one of the
algorithms (statsforecast models, or ``auto``, which chooses per series by a
rolling-origin backtest) and scores it on that backtest; the resulting
``FittedForecast`` forecasts from the end of training, or from newer history
without refitting.
"""

from vigil.forecast.fit import fit_forecaster
from vigil.forecast.model import FittedForecast
from vigil.forecast.series import SeriesData, prepare_series

__all__ = ["FittedForecast", "SeriesData", "fit_forecaster", "prepare_series"]
