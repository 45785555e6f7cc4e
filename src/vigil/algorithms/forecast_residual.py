"""``forecast_residual``: a point's distance outside the interval its forecasts allow.

A metrics model with ``--algorithm forecast_residual`` answers with its
online detector (:mod:`vigil.online`) set to the forecast residual alone: an
additive seasonal forecaster (a smoothed level plus each phase of the day's
smoothed offset, Holt-Winters without trend) predicts each point before it
arrives, and the point is scored by how its miss ranks among the recent
misses (a running empirical interval), turned into the anomaly likelihood
every online metric model answers with.

The catalogue pipeline trained beside the online detector (it explains a
point through its window features) gets :class:`ForecastResidualDetector`:
the window features of a metric point are residuals of simple forecasts
(the step from the last values, the distance from the rolling mean, the
rolling median and the seasonal profile, in their own spreads), and a row
scores by its largest distance outside the central interval each feature
keeps on the training rows, in half-widths of that interval: below 1 inside
every interval, above 1 by how far outside the worst one. On features of
other kinds (a table) it is this detector alone, each column's central
interval standing for its forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows

# The central interval each feature keeps: 95% of its training values.
DEFAULT_COVERAGE = 0.95


class ForecastResidualDetector(BaseEstimator):
    """Scores rows by their largest distance outside each feature's central training interval.

    Parameters
    ----------
    coverage : float
        The share of training values inside each feature's interval.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = ForecastResidualDetector().fit(rng.normal(size=(2000, 2)))
    >>> model.distance(np.array([[0.0, 0.0], [0.0, 6.0]])).round(1).tolist()
    [0.0, 2.1]
    """

    def __init__(self, coverage: float = DEFAULT_COVERAGE) -> None:
        self.coverage = coverage

    def fit(self, X: Any, y: Any = None) -> ForecastResidualDetector:
        """Returns self, with each feature's interval centre and half-width stored."""
        if not 0.0 < float(self.coverage) < 1.0:
            raise ValueError(f"coverage must lie in (0, 1); got {self.coverage!r}.")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        tail = (1.0 - float(self.coverage)) / 2.0
        low, high = np.quantile(X, [tail, 1.0 - tail], axis=0)
        self.centre_ = (low + high) / 2.0
        half = (high - low) / 2.0
        # A feature constant on the training rows: any change is outside its interval.
        spread = np.abs(X - self.centre_).max(axis=0)
        self.half_width_ = np.where(half > 0, half, np.where(spread > 0, spread, 1e-9))
        return self

    def relative(self, X: Any) -> np.ndarray:
        """Returns each row's largest |feature - centre| in half-widths (1 = interval's edge)."""
        check_is_fitted(self, "centre_")
        X = checked_rows(self, X, dtype=np.float64)
        return np.asarray(np.abs(X - self.centre_) / self.half_width_).max(axis=1)

    def distance(self, X: Any) -> np.ndarray:
        """Returns each row's distance outside its worst interval, in half-widths (0 inside)."""
        return np.maximum(self.relative(X) - 1.0, 0.0)

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the relative distance (higher = more normal; ties only at equal rows)."""
        return -self.relative(X)
