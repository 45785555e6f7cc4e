"""Fitted tree ensembles flattened to contiguous arrays and scored by compiled kernels.

scikit-learn spends milliseconds per call on validation, joblib dispatch and
per-tree Python loops, which dominates when one row is scored at a time. A
``FlatForest`` is built once when a model is loaded: every tree of the
ensemble is laid out breadth-first in shared arrays, and numba kernels walk
them for one row or a batch, giving exactly the numbers scikit-learn gives:

- ``IsolationForest``: ``score_samples`` (path lengths, the average path
  length correction for the samples left in each leaf, the feature subset of
  each tree, the normalisation by ``max_samples_``);
- ``RandomForestClassifier`` / ``ExtraTreesClassifier``: ``predict_proba``
  (the mean of the class fractions stored in the leaves) and ``predict``;
- ``RandomForestRegressor`` / ``ExtraTreesRegressor``: ``predict``.

Two layout choices make the walk cheap and still exact:

- Children of a node are adjacent (breadth-first order), so the next node is
  ``child[node] + went_right`` with no branch to mispredict; a leaf is its
  own child with a NaN threshold, so extra steps past a leaf stay on it and
  every row of a tree takes the same number of steps.
- scikit-learn compares the row cast to float32 with a float64 threshold. For
  a float32 ``x``, ``x > t`` holds exactly when ``x > t32``, where ``t32`` is
  the largest float32 not above ``t``; storing ``t32`` halves the threshold
  array and keeps the comparison in float32.

Leaf values are summed over the trees in the trees' order, as scikit-learn
accumulates them, so the sums are bit-for-bit the same.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)

KINDS = ("isolation", "classifier", "regressor")

# Rows scored per block in a batch: a block's node positions stay in L1 while
# every tree walks it, and its rows give the CPU independent work to overlap.
_BLOCK_ROWS = 64
# Below this many rows per thread, starting threads costs more than it saves.
_MIN_ROWS_PER_THREAD = 16_384
_MAX_NODES = np.iinfo(np.uint32).max

__all__ = ["FlatForest", "NotCompilable", "flatten_forest", "usable_cpus", "warm_up"]


class NotCompilable(Exception):
    """A fitted object has no compiled equivalent here; the caller keeps the normal path."""


@njit(cache=True, nogil=True)
def _sum_leaves_rows(
    child: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_right: np.ndarray,
    roots: np.ndarray,
    depths: np.ndarray,
    value: np.ndarray,
    flat_rows: np.ndarray,
    n_features: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Returns nothing; writes, per row, the sum of the leaf values reached in every tree.

    ``flat_rows`` is a C-ordered float32 matrix raveled. Indices are unsigned
    so that numba emits no negative-index wraparound in the inner loop (twice
    as fast), and a block without missing values takes a loop that does not
    test for them (half again as fast).
    """
    n_rows = out.shape[0]
    n_outputs = out.shape[1]
    nodes = np.empty(_BLOCK_ROWS, dtype=np.uint32)
    sums = np.empty((_BLOCK_ROWS, n_outputs), dtype=np.float64)
    for start in range(0, n_rows, _BLOCK_ROWS):
        size = min(n_rows - start, _BLOCK_ROWS)
        block = flat_rows[start * n_features : (start + size) * n_features]
        has_missing = False
        for j in range(block.shape[0]):
            if block[j] != block[j]:
                has_missing = True
                break
        sums[:size] = 0.0
        for t in range(roots.shape[0]):
            for r in range(size):
                nodes[r] = roots[t]
            for _ in range(depths[t]):
                if has_missing:
                    for r in range(size):
                        node = nodes[r]
                        x = block[np.uint64(r * n_features) + np.uint64(feature[node])]
                        right = (x > threshold[node]) | ((x != x) & (missing_right[node] != 0))
                        nodes[r] = child[node] + np.uint32(right)
                else:
                    for r in range(size):
                        node = nodes[r]
                        x = block[np.uint64(r * n_features) + np.uint64(feature[node])]
                        nodes[r] = child[node] + np.uint32(x > threshold[node])
            for r in range(size):
                for k in range(n_outputs):
                    sums[r, k] += value[nodes[r], k]
        out[start : start + size] = sums[:size]


# The GIL is kept: releasing it for a few microseconds of work costs more, since taking
# it back waits for whichever thread (the log writer, a job) grabbed it meanwhile.
@njit(cache=True)
def _sum_leaves_row(
    child: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_right: np.ndarray,
    roots: np.ndarray,
    depths: np.ndarray,
    value: np.ndarray,
    row: np.ndarray,
    out: np.ndarray,
) -> bool:  # pragma: no cover - compiled
    """Returns whether ``row`` fits float32 (no infinity); writes its leaf-value sums to ``out``.

    All trees advance one level at a time so that their walks, independent of
    each other, overlap in the CPU instead of waiting on one chain of loads.
    """
    n_features = row.shape[0]
    row32 = np.empty(n_features, dtype=np.float32)
    finite = True
    for j in range(n_features):
        x = np.float32(row[j])
        row32[j] = x
        if np.isinf(x):
            finite = False
    n_trees = roots.shape[0]
    nodes = roots.copy()
    for level in range(depths.max() if n_trees else 0):
        for t in range(n_trees):
            if level < depths[t]:
                node = nodes[t]
                x = row32[feature[node]]
                right = (x > threshold[node]) | ((x != x) & (missing_right[node] != 0))
                nodes[t] = child[node] + np.uint32(right)
    for k in range(out.shape[0]):
        out[k] = 0.0
    for t in range(n_trees):
        for k in range(out.shape[0]):
            out[k] += value[nodes[t], k]
    return finite


@dataclass(frozen=True, eq=False)
class FlatForest:
    """A fitted tree ensemble as contiguous arrays, scored like the estimator it came from.

    Build one with ``flatten_forest``. ``kind`` is ``"isolation"`` (the value
    of a leaf is its isolation path length), ``"classifier"`` (class
    fractions) or ``"regressor"`` (the predicted value). Instances are
    immutable and safe to share between threads.
    """

    kind: str
    n_features: int
    child: np.ndarray  # uint32: first child of each node (the right one follows); a leaf: itself
    feature: np.ndarray  # uint32: input column a node tests (0 at leaves)
    threshold: np.ndarray  # float32: largest float32 <= the fitted threshold (NaN at leaves)
    missing_right: np.ndarray  # uint8: 1 where a missing value goes to the right child
    roots: np.ndarray  # uint32: first node of each tree
    depths: np.ndarray  # int64: steps from the root to the deepest leaf of each tree
    value: np.ndarray  # float64 (nodes, outputs): what a leaf contributes to the sum
    classes: np.ndarray | None = None  # classifier labels, in the estimator's order
    normaliser: float = 0.0  # isolation: trees x average path length of max_samples_

    @property
    def n_trees(self) -> int:
        """Returns the number of trees."""
        return int(self.roots.shape[0])

    @property
    def n_outputs(self) -> int:
        """Returns how many numbers a leaf holds (classes, or 1)."""
        return int(self.value.shape[1])

    @property
    def nbytes(self) -> int:
        """Returns the memory held by the arrays, in bytes."""
        arrays = (self.child, self.feature, self.threshold, self.missing_right, self.roots)
        return sum(a.nbytes for a in arrays) + self.depths.nbytes + self.value.nbytes

    # --- raw sums --------------------------------------------------------------------

    def leaf_sums(self, X: Any, *, n_threads: int | None = None) -> np.ndarray:
        """Returns, for each row of ``X``, the sum over trees of the leaf values it reaches.

        ``X`` is cast to float32 as scikit-learn does before walking trees.
        Large batches are split over ``n_threads`` threads (default: the CPUs
        this process may use); the kernel releases the GIL.
        """
        rows = self._as_rows(X)
        out = np.empty((rows.shape[0], self.n_outputs), dtype=np.float64)
        threads = _thread_count(rows.shape[0], n_threads)
        if threads <= 1:
            self._run_block(rows, out)
            return out
        bounds = np.linspace(0, rows.shape[0], threads + 1).astype(int)
        workers = [
            threading.Thread(target=self._run_block, args=(rows[lo:hi], out[lo:hi]))
            for lo, hi in itertools.pairwise(bounds)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return out

    def _run_block(self, rows: np.ndarray, out: np.ndarray) -> None:
        _sum_leaves_rows(
            self.child,
            self.feature,
            self.threshold,
            self.missing_right,
            self.roots,
            self.depths,
            self.value,
            rows.reshape(-1),
            self.n_features,
            out,
        )

    def _run_row(self, row: np.ndarray, out: np.ndarray) -> bool:
        if row.dtype != np.float64 or not row.flags.c_contiguous:
            # One compiled signature only: another dtype or layout would compile anew.
            row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise ValueError(f"Expected {self.n_features} features, got shape {row.shape}.")
        return bool(
            _sum_leaves_row(
                self.child,
                self.feature,
                self.threshold,
                self.missing_right,
                self.roots,
                self.depths,
                self.value,
                row,
                out,
            )
        )

    def _as_rows(self, X: Any) -> np.ndarray:
        with np.errstate(over="ignore"):  # values beyond float32 are refused where it matters
            rows = np.ascontiguousarray(X, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(
                f"Expected a 2-D array with {self.n_features} features, got shape {rows.shape}."
            )
        return rows

    # --- what the estimators return ----------------------------------------------------

    def score_samples(self, X: Any, *, n_threads: int | None = None) -> np.ndarray:
        """Returns ``IsolationForest.score_samples(X)``: minus the anomaly score (lower = odder)."""
        self._require("isolation")
        depths = self.leaf_sums(X, n_threads=n_threads)[:, 0]
        return -self._isolation_scores(depths)

    def score_sample(self, row: np.ndarray) -> float:
        """Returns ``score_samples`` for one row given as a 1-D array."""
        self._require("isolation")
        depth = np.empty(1, dtype=np.float64)
        self._run_row(row, depth)
        ratio = depth[0] / self.normaliser if self.normaliser != 0 else 1.0
        # NumPy's power on a NumPy scalar rounds as the batch expression does.
        return -float(np.power(2.0, -ratio))

    def _isolation_scores(self, depths: np.ndarray) -> np.ndarray:
        # The same expression as scikit-learn, so the rounding is the same.
        ratio = np.divide(
            depths, self.normaliser, out=np.ones_like(depths), where=self.normaliser != 0
        )
        return np.asarray(2 ** (-ratio), dtype=np.float64)

    def predict_proba(self, X: Any, *, n_threads: int | None = None) -> np.ndarray:
        """Returns the classifier's ``predict_proba(X)``: the trees' mean class fractions."""
        self._require("classifier")
        rows = self._checked_rows(X)
        sums = self.leaf_sums(rows, n_threads=n_threads)
        sums /= self.n_trees
        return sums

    def predict(self, X: Any, *, n_threads: int | None = None) -> np.ndarray:
        """Returns ``predict(X)``: class labels for a classifier, values for a regressor."""
        if self.kind == "classifier":
            assert self.classes is not None
            proba = self.predict_proba(X, n_threads=n_threads)
            return self.classes.take(np.argmax(proba, axis=1), axis=0)
        self._require("regressor")
        sums = self.leaf_sums(self._checked_rows(X), n_threads=n_threads)[:, 0]
        sums /= self.n_trees
        return sums

    def predict_row(self, row: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Returns one row's class probabilities (classifier) or ``[value]`` (regressor).

        Raises ``ValueError`` when a value does not fit float32, as
        scikit-learn's forests do.
        """
        if self.kind == "isolation":
            raise ValueError("An isolation forest scores rows with score_sample.")
        result = np.empty(self.n_outputs, dtype=np.float64) if out is None else out
        if not self._run_row(row, result):
            raise ValueError("Input contains infinity or a value too large for dtype('float32').")
        result /= self.n_trees
        return result

    def _checked_rows(self, X: Any) -> np.ndarray:
        rows = self._as_rows(X)
        # scikit-learn's forests refuse what does not fit float32; NaN is routed.
        if np.isinf(rows).any():
            raise ValueError("Input contains infinity or a value too large for dtype('float32').")
        return rows

    def _require(self, kind: str) -> None:
        if self.kind != kind:
            raise ValueError(f"This operation needs a {kind} forest; this one is a {self.kind}.")


def flatten_forest(estimator: Any) -> FlatForest:
    """Returns the fitted ensemble as a ``FlatForest``, or raises ``NotCompilable``.

    Accepts fitted ``IsolationForest``, ``RandomForestClassifier``,
    ``RandomForestRegressor``, ``ExtraTreesClassifier`` and
    ``ExtraTreesRegressor`` with a single output.
    """
    if isinstance(estimator, IsolationForest):
        kind = "isolation"
    elif isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier):
        kind = "classifier"
    elif isinstance(estimator, RandomForestRegressor | ExtraTreesRegressor):
        kind = "regressor"
    else:
        raise NotCompilable(f"No compiled scorer for {type(estimator).__name__}.")
    trees = getattr(estimator, "estimators_", None)
    if not trees:
        raise NotCompilable(f"{type(estimator).__name__} is not fitted.")
    if kind != "isolation" and getattr(estimator, "n_outputs_", 1) != 1:
        raise NotCompilable("Forests with several outputs are not compiled.")
    n_features = int(estimator.n_features_in_)

    features_of_tree: list[np.ndarray | None] = [None] * len(trees)
    subsets = getattr(estimator, "estimators_features_", None)
    if kind == "isolation" and subsets is not None and len(subsets[0]) != n_features:
        # Each tree was fitted on its own column subset (scikit-learn indexes the
        # columns only when the subset is smaller than all of them); map them back.
        features_of_tree = [np.asarray(f, dtype=np.int64) for f in estimator.estimators_features_]

    parts = [
        _flatten_tree(tree.tree_, kind, subset)
        for tree, subset in zip(trees, features_of_tree, strict=True)
    ]
    sizes = np.asarray([len(p["child"]) for p in parts], dtype=np.int64)
    total = int(sizes.sum())
    if total >= _MAX_NODES:
        raise NotCompilable(f"The forest has {total} nodes, more than a flat index can hold.")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    child = np.concatenate([p["child"] + off for p, off in zip(parts, offsets, strict=True)])

    normaliser = 0.0
    classes = None
    if kind == "isolation":
        normaliser = len(trees) * float(
            _average_path_length(np.asarray([estimator.max_samples_]))[0]
        )
    elif kind == "classifier":
        classes = np.asarray(estimator.classes_)

    forest = FlatForest(
        kind=kind,
        n_features=n_features,
        child=child.astype(np.uint32),
        feature=np.concatenate([p["feature"] for p in parts]).astype(np.uint32),
        threshold=np.concatenate([p["threshold"] for p in parts]),
        missing_right=np.concatenate([p["missing_right"] for p in parts]),
        roots=offsets.astype(np.uint32),
        depths=np.asarray([p["depth"] for p in parts], dtype=np.int64),
        value=np.ascontiguousarray(np.concatenate([p["value"] for p in parts])),
        classes=classes,
        normaliser=normaliser,
    )
    for array in (forest.child, forest.feature, forest.threshold, forest.missing_right):
        array.flags.writeable = False
    forest.roots.flags.writeable = False
    forest.depths.flags.writeable = False
    forest.value.flags.writeable = False
    return forest


def _flatten_tree(tree: Any, kind: str, subset: np.ndarray | None) -> dict[str, Any]:
    """Returns one tree's arrays in breadth-first order, indices local to the tree."""
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    # Level by level: each internal node's two children are appended together.
    order_parts = [np.zeros(1, dtype=np.int64)]
    level = order_parts[0]
    while True:
        internal = level[left[level] >= 0]
        if internal.size == 0:
            break
        level = np.column_stack([left[internal], right[internal]]).ravel()
        order_parts.append(level)
    order = np.concatenate(order_parts)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))

    is_leaf = left[order] < 0
    child = np.where(is_leaf, np.arange(len(order)), position[np.maximum(left[order], 0)])
    feature = np.where(is_leaf, 0, np.asarray(tree.feature, dtype=np.int64)[order])
    if subset is not None:
        feature = np.where(is_leaf, 0, subset[feature])
    threshold = np.where(is_leaf, np.nan, _round_down_to_float32(tree.threshold[order]))
    missing_left = np.asarray(tree.missing_go_to_left, dtype=bool)[order]
    missing_right = (~missing_left & ~is_leaf).astype(np.uint8)

    if kind == "isolation":
        # scikit-learn: depth of the leaf + average path length of its samples - 1.
        node_depths = np.asarray(tree.compute_node_depths())
        path = node_depths + _average_path_length(np.asarray(tree.n_node_samples)) - 1.0
        value = path[order].reshape(-1, 1)
    elif kind == "classifier":
        value = np.asarray(tree.value, dtype=np.float64)[order, 0, :]
    else:
        value = np.asarray(tree.value, dtype=np.float64)[order, 0, :1]
    value = np.where(is_leaf[:, None], value, 0.0)
    return {
        "child": child,
        "feature": feature,
        "threshold": threshold.astype(np.float32),
        "missing_right": missing_right,
        "value": value,
        "depth": len(order_parts) - 1,
    }


def _round_down_to_float32(values: np.ndarray) -> np.ndarray:
    """Returns the largest float32 not above each float64 value."""
    with np.errstate(over="ignore"):
        rounded = np.asarray(values, dtype=np.float64).astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """Returns the average path length of an unsuccessful search in a BST of n samples.

    The same expression as scikit-learn's, so the values are bit-for-bit equal.
    """
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape)
    result[n == 2] = 1.0
    many = n > 2
    result[many] = 2.0 * (np.log(n[many] - 1.0) + np.euler_gamma) - 2.0 * (n[many] - 1.0) / n[many]
    return result


def _thread_count(n_rows: int, requested: int | None) -> int:
    """Returns how many threads a batch of ``n_rows`` is worth."""
    available = requested if requested is not None else usable_cpus()
    return max(1, min(available, n_rows // _MIN_ROWS_PER_THREAD))


def usable_cpus() -> int:
    """Returns the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def warm_up() -> None:
    """Returns nothing; compiles (or loads from cache) the kernels before the first request."""
    tree_child = np.zeros(1, dtype=np.uint32)
    tree_feature = np.zeros(1, dtype=np.uint32)
    threshold = np.full(1, np.nan, dtype=np.float32)
    missing = np.zeros(1, dtype=np.uint8)
    roots = np.zeros(1, dtype=np.uint32)
    depths = np.zeros(1, dtype=np.int64)
    value = np.zeros((1, 1), dtype=np.float64)
    out = np.empty((1, 1), dtype=np.float64)
    rows = np.zeros(1, dtype=np.float32)
    _sum_leaves_rows(
        tree_child, tree_feature, threshold, missing, roots, depths, value, rows, 1, out
    )
    _sum_leaves_row(
        tree_child,
        tree_feature,
        threshold,
        missing,
        roots,
        depths,
        value,
        np.zeros(1, dtype=np.float64),
        out[0],
    )
