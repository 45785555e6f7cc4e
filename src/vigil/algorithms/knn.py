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

Calibration needs training scores distributed like the scores of new rows.
Scoring each training row leave-one-out against the others is honest only
when rows are exchangeable. In a stream (metrics, logs) neighbouring rows
in time are alike: a training row's nearest neighbours are the rows just
before and after it, which a new row never has, so leave-one-out scores are
too small and normal new rows look rare (on NAB's AWS series a normal next
day's calibrated scores had a median of 0.6-0.9 instead of 0.5). So the
last rows in input order are held out and scored against references drawn
only from the rows before them (split conformal calibration): a new row is
likewise compared with rows that came before it. For shuffled tables the
two are equivalent. A quarter of a few hundred rows is too few to place a
95th percentile on, so below ``MIN_CALIBRATION_ROWS`` the quarters before
it are scored too, each against the rows outside it (blocked
cross-fitting): only the rows at a block's edges have neighbours in time
among their references, unlike leave-one-out, where every row has.

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
from numba import njit
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.calibration import HELD_OUT_SHARE, held_out_start
from vigil.algorithms.validation import checked_rows

# Fewest rows a neighbour detector is calibrated on, when there are that many: a 95th
# percentile of the 112 held-out rows of a 450-line log moves by about two points of share
# from one log to the next (see ``fit_score_samples``).
MIN_CALIBRATION_ROWS = 1000

_METHODS = ("largest", "mean")
_RESCALES = (None, "minmax")
# Rows scored per batch: their products with the references stay in cache.
_BATCH_ROWS = 1024
# Below this many rows the products are vectorised across the references, not the rows.
_FEW_ROWS = 8


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
    held_out : float
        Share of the training rows, the last in input order, that
        ``fit_score_samples`` scores for calibration, against references
        drawn from the rows before them only.
    random_state : int, RandomState or None
        Seed of the subsamples.
    rescale : {None, "minmax"}
        ``"minmax"`` maps each feature to [0, 1] by its training range before
        distances are taken (ADBench's preprocessing): every feature spans
        the same width, where standardisation lets a feature that is almost
        always one value (a rarely lit pixel, a rare flag) dominate the
        distance whenever it differs. A feature with no range is left as is.

    Notes
    -----
    ``fit_score_samples`` returns the scores of the held-out rows
    ``X[calibration_start_:]``, each compared with the earlier rows alone,
    as a new row is compared with the training rows (with fewer than
    ``MIN_CALIBRATION_ROWS`` rows in the last quarter, earlier blocks too,
    each compared with the rows outside it). Leave-one-out scores
    would compare a row with its neighbours in time too, which in a stream
    are closer than anything a new row finds (see the module docstring).

    The references that score new rows are then drawn from all the training
    rows, the latest included: a stream's newest rows are the most like
    what comes next, and with subsamples of a fixed size a new row's score
    is distributed as a held-out row's was (both are distances to
    ``max_samples`` rows drawn from the same data). Exact k-NN (and samples
    larger than the earlier rows) compares new rows with more rows than the
    held-out ones were, so new rows' distances come out slightly smaller:
    calibration errs towards fewer alarms, never more. Distances are
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
        held_out: float = HELD_OUT_SHARE,
        random_state: Any = None,
        rescale: str | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.method = method
        self.max_samples = max_samples
        self.n_estimators = n_estimators
        self.held_out = held_out
        self.random_state = random_state
        self.rescale = rescale

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Detectors pickled before held-out calibration have no ``held_out`` (they were
        # calibrated leave-one-out); without it get_params, clone and repr would fail.
        state.setdefault("held_out", HELD_OUT_SHARE)
        state.setdefault("rescale", None)
        super().__setstate__(state)

    def fit(self, X: Any, y: Any = None) -> KNNDetector:
        """Returns self, with the reference rows stored."""
        self.fit_score_samples(X)
        return self

    def fit_score_samples(self, X: Any) -> np.ndarray:
        """Returns the scores of the held-out rows ``X[calibration_start_:]``, having fitted.

        The references that score new rows come from every row of ``X``;
        the held-out rows are scored against references drawn, the same
        way, from the rows before them only. With fewer than
        ``MIN_CALIBRATION_ROWS`` held-out rows, the blocks of as many rows
        before them are scored too, each against references drawn from every
        row outside it (blocked cross-fitting, as in cross-conformal
        prediction: only a block's edges have their neighbours in time among
        the references, and each block meets references from as many rows
        as the last one did), until that many rows or all of them are scored.
        On benchmarks/anomaly/access.py (450 training lines) the worst of ten
        logs flagged 10.9% of its normal new lines instead of 14.7%, 4.7%
        pooled instead of 6.0%, every 5xx burst still found.
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self._fit_rescale(X)
        X = self.rescaled(X)
        rng = check_random_state(self.random_state)
        self._fit_references(X, rng)
        n = X.shape[0]
        start = held_out_start(n, self.held_out)
        others = KNNDetector(**self.get_params())
        others.n_features_in_ = self.n_features_in_
        # The last block first, scored against the rows before it; while fewer than
        # MIN_CALIBRATION_ROWS rows are scored, the block before it too, against every row
        # outside that block (blocked cross-fitting: only its edges have neighbours in time).
        blocks = [(start, n)]
        size = n - start
        while blocks[0][0] > 0 and size < MIN_CALIBRATION_ROWS:
            end = blocks[0][0]
            blocks.insert(0, (max(0, end - (n - start)), end))
            size += end - blocks[0][0]
        scores = []
        for first, end in blocks:
            outside = np.concatenate([X[:first], X[end:]]) if end < n else X[:first]
            others._fit_references(outside, rng)
            scores.append(others._score(X[first:end]))
        self.calibration_start_ = blocks[0][0]
        return np.concatenate(scores)

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the neighbour distance of each row (higher = more normal)."""
        check_is_fitted(self, "k_")
        return self._score(self.rescaled(checked_rows(self, X, dtype=np.float64)))

    def _fit_rescale(self, X: np.ndarray) -> None:
        if self.rescale is None:
            self.lower_: np.ndarray | None = None
            self.span_: np.ndarray | None = None
            return
        self.lower_ = X.min(axis=0)
        span = X.max(axis=0) - self.lower_
        self.span_ = np.where(span > 0, span, 1.0)

    def rescaled(self, X: np.ndarray) -> np.ndarray:
        """Returns ``X`` as the distances see it: min-max scaled by the training range if asked."""
        lower = getattr(self, "lower_", None)
        if lower is None:
            return X
        return (X - lower) / self.span_

    def _fit_references(self, X: np.ndarray, rng: np.random.RandomState) -> None:
        """Stores the rows (exact) or subsamples of them (``max_samples``) new rows meet."""
        n = X.shape[0]
        if self.max_samples is None or self.max_samples >= n:
            self.k_ = min(self.n_neighbors, n)
            self.index_: NearestNeighbors | None = NearestNeighbors(n_neighbors=self.k_).fit(X)
            self.references_ = None
            return
        size = int(self.max_samples)
        draws = [rng.choice(n, size=size, replace=False) for _ in range(self.n_estimators)]
        self.k_ = min(self.n_neighbors, size)
        self.index_ = None
        # Single precision: the distances are computed in it (see _nearest_in_draws).
        self.references_ = X[np.concatenate(draws)].astype(np.float32)
        self.sample_size_ = size

    def _score(self, X: np.ndarray) -> np.ndarray:
        if self.index_ is not None:
            distances, _ = self.index_.kneighbors(X)
            return -self._reduce(distances)
        return -self._subsample_distances(X)

    def _check_params(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}; got {self.method!r}.")
        for name in ("n_neighbors", "n_estimators"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)!r}.")
        if self.max_samples is not None and int(self.max_samples) < 2:
            raise ValueError(f"max_samples must be at least 2 or None; got {self.max_samples!r}.")
        if not 0.0 < float(self.held_out) < 1.0:
            raise ValueError(f"held_out must be in (0, 1); got {self.held_out!r}.")
        if self.rescale not in _RESCALES:
            raise ValueError(f"rescale must be one of {_RESCALES}; got {self.rescale!r}.")

    def _reduce(self, distances: np.ndarray) -> np.ndarray:
        """Returns the k-th (largest) or mean distance of sorted neighbour distances."""
        return distances[:, -1] if self.method == "largest" else distances.mean(axis=1)

    def _subsample_distances(self, X: np.ndarray) -> np.ndarray:
        """Returns the distance of each row averaged over the subsamples.

        See ``subsample_distances``; serving keeps the reference arrays
        (``reference_arrays``) instead of rebuilding them for every call.
        """
        references = self.references_
        assert references is not None
        arrays = reference_arrays(references)
        return subsample_distances(X, *arrays, self.sample_size_, self.k_, self.method == "mean")


def reference_arrays(references: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns the references (float32), transposed (features x references), and squared norms.

    What ``subsample_distances`` reads; a model fitted before references were
    float32 has them converted here.
    """
    references = np.ascontiguousarray(references, dtype=np.float32)
    norms = np.empty(references.shape[0], dtype=np.float32)
    _squared_norms(references, norms)
    return references, np.ascontiguousarray(references.T), norms


def subsample_distances(
    X: np.ndarray,
    references: np.ndarray,
    references_t: np.ndarray,
    reference_norms: np.ndarray,
    size: int,
    k: int,
    mean: bool,
) -> np.ndarray:
    """Returns each row's k-th (or mean k) neighbour distance averaged over the subsamples.

    Per batch of rows, a compiled kernel forms every product ``x.r`` in
    single precision (``_products``), then another keeps the k smallest
    squared distances per subsample with a branch-free insertion across the
    rows of the batch (vectorised), which is several times faster than
    ``np.partition`` on the same block. See ``_nearest_in_draws`` for the
    precision.

    The products are summed feature by feature in a fixed order, so a row's
    distance is the same alone, in a batch or at any place in one: BLAS's
    single-precision products are not (a row alone is multiplied by another
    kernel than a row among 1,024, and the calibrated scores differed by up to
    3.5e-5), and served rows, answered one at a time, must score exactly as
    the same rows in a file.
    """
    n_refs = reference_norms.shape[0]
    scores = np.empty(X.shape[0], dtype=np.float32)
    # Not sklearn's gen_batches: its parameter validation costs more than scoring a row.
    for start in range(0, X.shape[0], _BATCH_ROWS):
        batch = slice(start, min(start + _BATCH_ROWS, X.shape[0]))
        rows = np.ascontiguousarray(X[batch], dtype=np.float32)
        row_norms = np.empty(rows.shape[0], dtype=np.float32)
        _squared_norms(rows, row_norms)
        products = np.empty((n_refs, rows.shape[0]), dtype=np.float32)
        _products(references, references_t, rows, products)
        _nearest_in_draws(products, reference_norms, row_norms, size, k, mean, scores[batch])
    return scores.astype(np.float64)


@njit(cache=True, nogil=True)
def _squared_norms(rows: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Writes each row's squared norm, summed feature by feature in order (single precision)."""
    for i in range(rows.shape[0]):
        total = np.float32(0.0)
        for value in rows[i]:
            total += value * value
        out[i] = total


@njit(cache=True, nogil=True)
def _products(
    references: np.ndarray, references_t: np.ndarray, rows: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled; tested through KNNDetector
    """Writes ``out[j, i] = r_j . x_i`` in single precision, summed feature by feature in order.

    Without fastmath each product is rounded, then added, in the same order
    for every row and reference, whichever loop is vectorised: across the
    rows of a batch (four references at a time, so each row value loaded
    serves four), or for a few rows across the references (contiguous in
    ``references_t``). Both give the same digits.
    """
    n_refs, n_features = references.shape
    n_rows = rows.shape[0]
    if n_rows < _FEW_ROWS:
        total = np.empty(n_refs, dtype=np.float32)
        for i in range(n_rows):
            total[:] = 0.0
            for f in range(n_features):
                value = rows[i, f]
                column = references_t[f]
                for j in range(n_refs):
                    total[j] += column[j] * value
            for j in range(n_refs):
                out[j, i] = total[j]
        return
    rows_t = np.ascontiguousarray(rows.T)
    j = 0
    while j < n_refs:
        width = min(4, n_refs - j)
        for m in range(width):
            out[j + m, :] = 0.0
        if width == 4:
            first, second, third, fourth = out[j], out[j + 1], out[j + 2], out[j + 3]
            for f in range(n_features):
                a, b = references[j, f], references[j + 1, f]
                c, d = references[j + 2, f], references[j + 3, f]
                column = rows_t[f]
                for i in range(n_rows):
                    value = column[i]
                    first[i] += a * value
                    second[i] += b * value
                    third[i] += c * value
                    fourth[i] += d * value
        else:
            for m in range(width):
                kept = out[j + m]
                for f in range(n_features):
                    a = references[j + m, f]
                    column = rows_t[f]
                    for i in range(n_rows):
                        kept[i] += a * column[i]
        j += width


@njit(cache=True, nogil=True, fastmath=True)
def _nearest_in_draws(
    products: np.ndarray,
    reference_norms: np.ndarray,
    row_norms: np.ndarray,
    size: int,
    k: int,
    mean: bool,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled; tested through KNNDetector
    """Writes each row's k-th (or mean of the k) nearest distance, averaged over the draws.

    ``products[j, i]`` is ``r_j . x_i`` for reference ``j`` (draw ``j // size``)
    and row ``i``. The squared distance ``|x|^2 + |r|^2 - 2 x.r`` in single
    precision carries an absolute error of a few ``1e-7 (|x|^2 + |r|^2)``; a
    value below ``1e-6 (|x|^2 + |r|^2)`` cannot be told from zero and is
    taken as zero, so a row identical to a reference is at distance 0 as in
    exact arithmetic (ties among duplicate rows stay ties). For each
    reference the k best so far are updated by a compare-exchange chain
    (min/max), the same instructions for every row: the loops over rows are
    contiguous and vectorise.
    """
    n_refs, n_rows = products.shape
    draws = n_refs // size
    best = np.empty((k, n_rows), dtype=np.float32)
    current = np.empty(n_rows, dtype=np.float32)
    total = np.zeros(n_rows, dtype=np.float32)
    for t in range(draws):
        best[:, :] = np.inf
        for j in range(t * size, (t + 1) * size):
            product = products[j]
            norm = reference_norms[j]
            for i in range(n_rows):
                scale = norm + row_norms[i]
                squared = scale - 2.0 * product[i]
                current[i] = squared if squared > 1e-6 * scale else 0.0
            for m in range(k):
                kept = best[m]
                for i in range(n_rows):
                    value = current[i]
                    held = kept[i]
                    kept[i] = min(held, value)
                    current[i] = max(held, value)
        if mean:
            for m in range(k):
                kept = best[m]
                for i in range(n_rows):
                    total[i] += np.sqrt(kept[i]) / k
        else:
            kept = best[k - 1]
            for i in range(n_rows):
                total[i] += np.sqrt(kept[i])
    for i in range(n_rows):
        out[i] = total[i] / draws
