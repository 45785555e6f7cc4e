"""Anomaly scores calibrated to [0, 1] on the training distribution.

Raw detector scores live on scales that differ per algorithm and per data
set. Mapping each raw score through the empirical distribution of the training
scores gives a number that means the same for every detector: 0.97 is "more
unusual than 97% of what was seen in training". Beyond the largest training
score an exponential tail keeps ordering extreme points instead of flattening
them all to 1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

SEVERITIES = ("normal", "low", "medium", "high", "critical")
_N_QUANTILES = 1001


class CalibratedAnomalyDetector(OutlierMixin, BaseEstimator):
    """Wraps an unsupervised detector so its scores are calibrated to [0, 1].

    Parameters
    ----------
    detector : estimator
        Any estimator with ``score_samples`` (higher = more normal, as in
        scikit-learn) or ``decision_function``.
    contamination : float
        Expected share of anomalies; the threshold is the score above which
        this share of the training data lies.
    severity_bands : tuple of float
        Score cut-offs for low, medium, high and critical (each at least the
        threshold); ``None`` derives them from the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> model = CalibratedAnomalyDetector(IsolationForest(random_state=0), contamination=0.05)
    >>> model = model.fit(X)
    >>> float(model.calibrated_score(np.array([[8.0, 8.0, 8.0]]))[0]) > 0.99
    True
    """

    def __init__(
        self,
        detector: Any = None,
        contamination: float = 0.05,
        severity_bands: tuple[float, float, float, float] | None = None,
    ) -> None:
        self.detector = detector
        self.contamination = contamination
        self.severity_bands = severity_bands

    def fit(self, X: Any, y: Any = None) -> CalibratedAnomalyDetector:
        """Returns self, with the detector fitted and its score distribution recorded."""
        X = validate_data(self, X, accept_sparse=["csr", "csc"])
        self.detector_ = clone(self.detector).fit(X)
        raw = self._raw(X)
        self.quantiles_ = np.quantile(raw, np.linspace(0.0, 1.0, _N_QUANTILES))
        spread = float(np.subtract(*np.quantile(raw, [0.99, 0.5])))
        self.tail_scale_ = spread if spread > 0 else float(np.std(raw)) or 1.0
        self.threshold_ = 1.0 - float(self.contamination)
        # scikit-learn's outlier contract: decision_function = score_samples - offset_.
        self.offset_ = -self.threshold_
        self.bands_ = self._bands()
        return self

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self.detector is not None:
            tags.input_tags.sparse = get_tags(self.detector).input_tags.sparse
        return tags

    def _raw(self, X: Any) -> np.ndarray:
        """Returns raw scores oriented so that higher means more anomalous."""
        if hasattr(self.detector_, "score_samples"):
            return -np.asarray(self.detector_.score_samples(X), dtype=float)
        return -np.asarray(self.detector_.decision_function(X), dtype=float)

    def _bands(self) -> tuple[float, ...]:
        if self.severity_bands is not None:
            return tuple(float(b) for b in self.severity_bands)
        t = self.threshold_
        gap = 1.0 - t
        return (t, t + 0.6 * gap, t + 0.9 * gap, t + 0.98 * gap)

    def calibrated_score(self, X: Any) -> np.ndarray:
        """Returns calibrated anomaly scores in [0, 1] (higher = more anomalous)."""
        check_is_fitted(self, "quantiles_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return self.calibrate(self._raw(X))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Returns raw scores mapped through the training distribution to [0, 1]."""
        levels = np.linspace(0.0, 1.0, _N_QUANTILES)
        # Ties in the quantiles (many equal training scores) would make interp pick
        # the lowest level; averaging the left and right positions is the fair rank.
        left = np.searchsorted(self.quantiles_, raw, side="left")
        right = np.searchsorted(self.quantiles_, raw, side="right")
        inside = np.interp(raw, self.quantiles_, levels)
        tied = right > left
        inside[tied] = (levels[np.maximum(left[tied] - 1, 0)] + levels[right[tied] - 1]) / 2
        top = self.quantiles_[-1]
        beyond = raw > top
        # Above the training maximum: approach 1 smoothly, keeping the order of extremes.
        top_level = levels[-2]
        inside[beyond] = top_level + (1.0 - top_level) * (
            1.0 - np.exp(-(raw[beyond] - top) / self.tail_scale_)
        )
        return np.clip(inside, 0.0, 1.0)

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the calibrated score (higher = more normal), as scikit-learn does."""
        return -self.calibrated_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Returns the distance below the threshold: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """Returns -1 for anomalies and 1 for normal rows (scikit-learn's outlier convention)."""
        return np.where(self.decision_function(X) <= 0, -1, 1)

    def severity(self, scores: np.ndarray) -> list[str]:
        """Returns the severity band of each calibrated score."""
        index = np.searchsorted(np.asarray(self.bands_), scores, side="right")
        return [SEVERITIES[i] for i in index]

    @property
    def feature_importances_(self) -> np.ndarray:
        """Returns the wrapped detector's feature importances when it has them."""
        return np.asarray(self.detector_.feature_importances_)
