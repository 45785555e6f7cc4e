"""ECOD: how far into the tails of each feature's training distribution a row lies.

Each feature's empirical CDF, learned from the training rows, says how rare a
value is on its own: the probability of a value at least that low (left
tail) or at least that high (right tail). The anomaly score adds up, over
the features, minus the log of the smaller tail probability, so a row that is
extreme on one feature or unusual on many scores high. There is nothing to
tune, fitting is one sort per feature, scoring one binary search per feature,
and it is indifferent to feature scaling.

This follows PyOD's ECOD, which takes the larger tail score feature by
feature, but scores a new row against the training distribution alone:
PyOD recomputes the distributions with the rows being scored appended, so a
row's score depends on the batch it arrives in and scoring costs as much as
refitting.

References
----------
Li, Zhao, Hu, Botta, Ionescu, Chen, "ECOD: Unsupervised outlier detection
using empirical cumulative distribution functions", IEEE TKDE 2022.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows


class ECODDetector(BaseEstimator):
    """Scores rows by the rarity of each feature value under the training ECDFs.

    Parameters
    ----------
    n_quantiles : int
        Training values kept per feature. With at most this many training
        rows the ECDFs are exact; with more, they are read from this many
        evenly spaced order statistics (a tail probability resolution of
        ``1 / n_quantiles``), which bounds the artifact's size.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> model = ECODDetector().fit(X)
    >>> model.score_samples(np.array([[0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])).round(2).tolist()
    [-2.21, -8.43]
    """

    def __init__(self, n_quantiles: int = 10_000) -> None:
        self.n_quantiles = n_quantiles

    def fit(self, X: Any, y: Any = None) -> ECODDetector:
        """Returns self, with each feature's training distribution stored."""
        if int(self.n_quantiles) < 2:
            raise ValueError(f"n_quantiles must be at least 2; got {self.n_quantiles!r}.")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        if n <= self.n_quantiles:
            self.grid_ = np.sort(X, axis=0)
        else:
            # inverted_cdf keeps actual training values, so ties (binary and count
            # features) stay ties and their tail probabilities stay right.
            levels = np.linspace(0.0, 1.0, int(self.n_quantiles))
            self.grid_ = np.quantile(X, levels, axis=0, method="inverted_cdf")
        return self

    def feature_scores(self, X: Any) -> np.ndarray:
        """Returns each feature's tail score for each row: -log of its smaller tail probability."""
        check_is_fitted(self, "grid_")
        X = checked_rows(self, X, dtype=np.float64)
        size = self.grid_.shape[0]
        scores = np.empty_like(X)
        for j in range(X.shape[1]):
            column = self.grid_[:, j]
            at_most = np.searchsorted(column, X[:, j], side="right")
            at_least = size - np.searchsorted(column, X[:, j], side="left")
            # Counting the scored row in (+1) keeps probabilities above zero beyond the
            # training range, as if the row had been one more training value.
            smaller = (np.minimum(at_most, at_least) + 1.0) / (size + 1.0)
            scores[:, j] = -np.log(smaller)
        return scores

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the summed tail scores (higher = more normal)."""
        return -self.feature_scores(X).sum(axis=1)
