"""DBSCAN that can place new points: the cluster of their nearest core sample, or noise."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data


class InductiveDBSCAN(DBSCAN):
    """scikit-learn's DBSCAN plus ``predict`` for points not seen in training.

    A new point joins the cluster of its nearest core sample when that sample
    lies within ``eps`` (the same reachability rule DBSCAN uses while fitting);
    otherwise it is noise (``-1``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [5.0, 5.1]])
    >>> model = InductiveDBSCAN(eps=0.5, min_samples=2).fit(X)
    >>> model.predict(np.array([[0.05, 0.05], [5.05, 5.0], [10.0, 10.0]])).tolist()
    [0, 1, -1]
    """

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> InductiveDBSCAN:
        """Returns self, fitted, with an index over the core samples for ``predict``."""
        super().fit(X, y, sample_weight)
        core = self.components_
        self.core_labels_ = self.labels_[self.core_sample_indices_]
        self._core_index = (
            NearestNeighbors(n_neighbors=1, metric=self.metric, p=self.p).fit(core)
            if core.shape[0]
            else None
        )
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Returns the cluster of each row's nearest core sample within ``eps``, else -1."""
        check_is_fitted(self, "core_labels_")
        X = validate_data(self, X, reset=False, accept_sparse="csr")
        labels = np.full(X.shape[0], -1, dtype=int)
        if self._core_index is None or X.shape[0] == 0:
            return labels
        distance, index = self._core_index.kneighbors(X, n_neighbors=1)
        near = distance[:, 0] <= self.eps
        labels[near] = self.core_labels_[index[near, 0]]
        return labels
