"""k-nearest-neighbour distance as an anomaly score, exact or over random subsamples.

A row far from its k-th nearest training row lives where the training data
are sparse. Compared with every training row (exact), this is ADBench's best
detector on data whose anomalies sit in sparse pockets between normal
clusters (letter, vowels), but it is blind to anomalies that come in groups:
a tight cluster of k anomalies are each other's near neighbours (masking).
Compared with small random subsamples of the training data and averaged over
several draws, anomaly groups are rarely drawn together, so masking fades,
the reference set stays small whatever the data size, and scoring a row
costs the same on a thousand training rows as on ten million.

References
----------
Ramaswamy, Rastogi, Shim, "Efficient algorithms for mining outliers from
large data sets", SIGMOD 2000 (the k-th neighbour distance).
Sugiyama, Borgwardt, "Rapid distance-based outlier detection via sampling",
NeurIPS 2013; Aggarwal, Sathe, "Theoretical foundations and algorithms for
outlier ensembles", SIGKDD Explorations 2015 (subsampled neighbour ensembles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows

_METHODS = ("largest", "mean")
# Distances computed per batch: rows x references, kept to about 16 MB of float64.
_BATCH_CELLS = 2**21


class KNNDetector(BaseEstimator):
    """Scores rows by their distance to the k nearest training rows (higher = more normal).

    Parameters
    ----------
    n_neighbors : int
        k, the neighbours a row is compared with.
    method : {"largest", "mean"}
        The distance to the k-th neighbour, or the mean distance to the k
        nearest.
    max_samples : int or None
        ``None`` compares with every training row (exact k-NN). An integer
        compares with ``n_estimators`` random subsamples of that many rows and
        averages the distances; when it is at least the number of training
        rows, the one subsample is the whole training set.
    n_estimators : int
        Number of subsamples when ``max_samples`` is set.
    random_state : int, RandomState or None
        Seed of the subsamples.

    Notes
    -----
    Training rows are scored leave-one-out by ``fit_score_samples``: a row
    is never its own neighbour, so training scores are distributed like the
    scores of new rows (which calibration relies on). Distances are
    Euclidean; standardise the features first (the catalogue does).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 2))
    >>> model = KNNDetector(n_neighbors=5, max_samples=256, n_estimators=10, random_state=0)
    >>> model = model.fit(X)
    >>> model.score_samples(np.array([[0.0, 0.0], [6.0, 6.0]])).round(2).tolist()
    [-0.17, -6.5]
    """

    def __init__(
        self,
        n_neighbors: int = 5,
        method: str = "largest",
        max_samples: int | None = None,
        n_estimators: int = 1,
        random_state: Any = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.method = method
        self.max_samples = max_samples
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> KNNDetector:
        """Returns self, with the reference rows stored."""
        self.fit_score_samples(X)
        return self

    def fit_score_samples(self, X: Any) -> np.ndarray:
        """Returns the leave-one-out scores of the training rows, having fitted on them."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        if self.max_samples is None or self.max_samples >= n:
            self.k_ = min(self.n_neighbors, n - 1)
            self.index_: NearestNeighbors | None = NearestNeighbors(n_neighbors=self.k_).fit(X)
            self.references_ = None
            distances, _ = self.index_.kneighbors(X, n_neighbors=self.k_ + 1)
            # Column 0 is the row itself (or an exact duplicate: also distance 0).
            return -self._reduce(distances[:, 1:])
        rng = check_random_state(self.random_state)
        size = int(self.max_samples)
        draws = [rng.choice(n, size=size, replace=False) for _ in range(self.n_estimators)]
        self.k_ = min(self.n_neighbors, size - 1)
        self.index_ = None
        self.references_ = X[np.concatenate(draws)]
        self.sample_size_ = size
        # position[i, t]: where training row i sits in draw t, or -1 if it was not drawn.
        position = np.full((n, len(draws)), -1)
        for t, rows in enumerate(draws):
            position[rows, t] = np.arange(size)
        return -self._subsample_distances(X, position)

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the neighbour distance of each row (higher = more normal)."""
        check_is_fitted(self, "k_")
        X = checked_rows(self, X, dtype=np.float64)
        if self.index_ is not None:
            distances, _ = self.index_.kneighbors(X)
            return -self._reduce(distances)
        return -self._subsample_distances(X, None)

    def _check_params(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}; got {self.method!r}.")
        for name in ("n_neighbors", "n_estimators"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)!r}.")
        if self.max_samples is not None and int(self.max_samples) < 2:
            raise ValueError(f"max_samples must be at least 2 or None; got {self.max_samples!r}.")

    def _reduce(self, distances: np.ndarray) -> np.ndarray:
        """Returns the k-th (largest) or mean distance of sorted neighbour distances."""
        return distances[:, -1] if self.method == "largest" else distances.mean(axis=1)

    def _subsample_distances(self, X: np.ndarray, position: np.ndarray | None) -> np.ndarray:
        """Returns the distance of each row averaged over the subsamples.

        ``position`` (training rows only) masks each row out of the draws it
        belongs to. Brute force over one stacked reference matrix is a single
        matrix product per batch, which beats a tree query per draw on the
        few thousand references subsampling leaves.
        """
        references = self.references_
        assert references is not None
        draws = references.shape[0] // self.sample_size_
        reference_norms = np.einsum("ij,ij->i", references, references)
        scores = np.empty(X.shape[0])
        for batch in gen_batches(X.shape[0], max(1, _BATCH_CELLS // references.shape[0])):
            rows = X[batch]
            # |x - r|^2 = |x|^2 + |r|^2 - 2 x.r, in place: the batch is the largest array here.
            squared = rows @ references.T
            squared *= -2.0
            squared += reference_norms[None, :]
            squared += np.einsum("ij,ij->i", rows, rows)[:, None]
            np.maximum(squared, 0.0, out=squared)
            squared = squared.reshape(len(rows), draws, self.sample_size_)
            if position is not None:
                local, draw = np.nonzero(position[batch] >= 0)
                squared[local, draw, position[batch][local, draw]] = np.inf
            # After partitioning, position k-1 holds the k-th smallest and the k nearest precede it.
            nearest = np.partition(squared, self.k_ - 1, axis=2)
            if self.method == "largest":
                per_draw = np.sqrt(nearest[:, :, self.k_ - 1])
            else:
                per_draw = np.sqrt(nearest[:, :, : self.k_]).mean(axis=2)
            scores[batch] = per_draw.mean(axis=1)
        return scores
