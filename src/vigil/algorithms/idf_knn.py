"""k-NN distance on IDF-weighted, length-normalised count vectors: novelty of log sessions.

A log session is a bag of events: the counts of its templates, its length,
how many errors it holds. Two sessions doing the same work have the same
*mix* of events, whatever their lengths, and what sets an abnormal session
apart is usually a rare event or a missing common one. Standardising such
columns (what distance detectors do on tables) makes a column that is zero
in 99.9% of sessions dominate every distance and lets a long normal session
look far from a short one. Text retrieval's answer is the one used here
(TF-IDF with cosine distance, as in LogCluster, Lin et al., ICSE 2016, and
the count-vector clustering of the AIT log data set evaluations):

1. each column is divided by its largest training magnitude, so counts,
   seconds and ratios share one scale without being centred (a zero stays a
   zero: "this event did not happen");
2. each column is weighted by its inverse document frequency,
   ``log((1 + n) / (1 + rows where it is non-zero)) + 1``: an event present
   in every session says little, a rare one a lot, and one never seen in
   training the most;
3. each row is scaled to unit length, so Euclidean distance is the cosine
   distance of the mixes;
4. the score is the distance to the k-th nearest training row
   (:class:`~vigil.algorithms.knn.KNNDetector`, exact), calibrated on the
   last rows held out as that detector does.

It shines when the training rows are known to be normal (``--target`` with
a label column leaves the anomalies out of training): a new session is
flagged when its mix is unlike every normal one. Trained on data holding
repeated anomalies, the anomalies are each other's neighbours (masking); see
``benchmarks/anomaly/logs.py`` for both settings.

The weighting is general (no column is named or special-cased): it is the
same for every table of non-negative counts and amounts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.calibration import HELD_OUT_SHARE
from vigil.algorithms.knn import KNNDetector
from vigil.algorithms.validation import checked_rows


def idf_weights(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns each column's scale (largest magnitude, 1 when all zero) and IDF weight.

    >>> scale, idf = idf_weights(np.array([[2.0, 0.0], [4.0, 0.0], [1.0, 3.0]]))
    >>> scale.tolist(), idf.round(3).tolist()
    ([4.0, 3.0], [1.0, 1.693])
    """
    magnitude = np.abs(X).max(axis=0) if X.shape[0] else np.zeros(X.shape[1])
    scale = np.where(magnitude > 0, magnitude, 1.0)
    present = (X != 0).sum(axis=0)
    idf = np.log((1.0 + X.shape[0]) / (1.0 + present)) + 1.0
    return scale, idf


def weighted_rows(X: np.ndarray, scale: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Returns rows scaled, IDF-weighted and normalised to unit length (zero rows stay zero)."""
    weighted = X / scale * idf
    norms = np.linalg.norm(weighted, axis=1, keepdims=True)
    return weighted / np.where(norms > 0, norms, 1.0)


class IDFKNNDetector(BaseEstimator):
    """Scores rows by their cosine distance to the k-th nearest training row after IDF weighting.

    Higher scores are more normal, as in scikit-learn; see the module
    docstring for the weighting.

    Parameters
    ----------
    n_neighbors : int
        k, the neighbours a row is compared with.
    method : {"largest", "mean"}
        The distance to the k-th neighbour, or the mean distance to the k nearest.
    held_out : float
        Share of the training rows, the last in input order, scored against
        the rows before them for calibration (see ``KNNDetector``).

    Examples
    --------
    >>> X = np.array([[3.0, 1.0, 0.0]] * 20 + [[6.0, 2.0, 0.0]] * 20)
    >>> model = IDFKNNDetector(n_neighbors=3).fit(X)
    >>> model.score_samples(np.array([[9.0, 3.0, 0.0], [3.0, 1.0, 1.0]])).round(3).tolist()
    [-0.0, -1.305]
    """

    def __init__(
        self, n_neighbors: int = 5, method: str = "largest", held_out: float = HELD_OUT_SHARE
    ) -> None:
        self.n_neighbors = n_neighbors
        self.method = method
        self.held_out = held_out

    def fit(self, X: Any, y: Any = None) -> IDFKNNDetector:
        """Returns self, with the weights and the reference rows stored."""
        self.fit_score_samples(X)
        return self

    def fit_score_samples(self, X: Any) -> np.ndarray:
        """Returns the scores of the held-out rows ``X[calibration_start_:]``, having fitted."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        # The weights come from every training row: they are the representation,
        # fixed before any row is compared with another.
        self.scale_, self.idf_ = idf_weights(X)
        self.knn_ = KNNDetector(
            n_neighbors=self.n_neighbors, method=self.method, held_out=self.held_out
        )
        scores = self.knn_.fit_score_samples(weighted_rows(X, self.scale_, self.idf_))
        self.calibration_start_ = self.knn_.calibration_start_
        return scores

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the distance of each row to its k-th nearest training row."""
        check_is_fitted(self, "knn_")
        X = checked_rows(self, X, dtype=np.float64)
        return self.knn_.score_samples(weighted_rows(X, self.scale_, self.idf_))
