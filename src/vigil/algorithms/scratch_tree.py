"""A CART decision tree classifier written from scratch in NumPy, for teaching and comparison.

The tree grows one depth level at a time. Each feature column is sorted once
before growing; that order is kept grouped by node as the tree deepens, so the
split search at a level is, per feature, one cumulative sum of one-hot class
labels over all rows of all nodes of the level, from which the impurity of
every candidate threshold of every node follows at once. Prediction walks all
rows down the flattened tree together, one level per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

Array = NDArray[np.float64]
Index = NDArray[np.intp]

TREE_LEAF = -1
TREE_UNDEFINED = -2
# Values closer than this count as equal, so no threshold is placed between
# them (scikit-learn's FEATURE_THRESHOLD); it keeps splits away from rounding noise.
_FEATURE_THRESHOLD = 1e-7
_EPSILON = float(np.finfo(np.float64).eps)


@dataclass(frozen=True, eq=False)
class FlatTree:
    """A fitted tree as parallel arrays with one entry per node; node 0 is the root.

    Nodes are numbered breadth first, so a node's children always have larger
    numbers than the node. At a leaf, ``children_left`` and ``children_right``
    are ``TREE_LEAF`` (-1), and ``feature`` and ``threshold`` are
    ``TREE_UNDEFINED`` (-2). A row goes left when
    ``x[feature] <= threshold``.

    Attributes
    ----------
    children_left, children_right : ndarray of shape (node_count,)
        The numbers of each node's children.
    feature : ndarray of shape (node_count,)
        The feature each internal node splits on.
    threshold : ndarray of shape (node_count,)
        The split threshold of each internal node.
    value : ndarray of shape (node_count, n_classes)
        The training rows of each class that reached the node.
    impurity : ndarray of shape (node_count,)
        The node's impurity under the fitted criterion.
    n_node_samples : ndarray of shape (node_count,)
        The training rows that reached the node.
    depth : ndarray of shape (node_count,)
        The node's depth (the root is at depth 0).
    """

    children_left: Index
    children_right: Index
    feature: Index
    threshold: Array
    value: Array
    impurity: Array
    n_node_samples: Index
    depth: Index

    @property
    def node_count(self) -> int:
        """Returns the number of nodes."""
        return int(self.children_left.size)

    @property
    def is_leaf(self) -> NDArray[np.bool_]:
        """Returns a mask of the leaves."""
        return self.children_left == TREE_LEAF


class ScratchDecisionTreeClassifier(ClassifierMixin, BaseEstimator):
    """A CART decision tree classifier, grown greedily level by level and optionally pruned.

    Each internal node splits on the feature and threshold that most reduce
    the impurity (Gini, or entropy: information gain); thresholds lie midway
    between consecutive distinct values. With ``ccp_alpha > 0`` the grown tree
    is then pruned by minimal cost-complexity pruning.

    Parameters
    ----------
    criterion : {"gini", "entropy"}, default="gini"
        The impurity to reduce: Gini impurity, or Shannon entropy in bits (the
        reduction is then the information gain).
    max_depth : int or None, default=None
        The deepest a node may be (the root is at depth 0); ``None`` grows
        until the leaves are pure or the other limits stop it.
    min_samples_split : int or float, default=2
        The fewest rows a node needs to be split; a float is a share of the
        training rows (rounded up).
    min_samples_leaf : int or float, default=1
        The fewest rows each child of a split must keep; a float is a share of
        the training rows (rounded up).
    min_impurity_decrease : float, default=0.0
        A node is split only if ``N_t / N * (impurity - N_t_L / N_t * left_impurity
        - N_t_R / N_t * right_impurity)`` is at least this, where ``N`` counts the
        training rows, ``N_t`` the node's rows and ``N_t_L``, ``N_t_R`` its
        children's.
    ccp_alpha : float, default=0.0
        Complexity parameter of minimal cost-complexity pruning: the subtree
        whose removal costs the least impurity per leaf removed is pruned
        while that cost is at most ``ccp_alpha``. 0 keeps the grown tree.
    max_features : int, float, "sqrt", "log2" or None, default=None
        The features considered at each split: a count, a share of the
        features, ``sqrt(n_features)``, ``log2(n_features)``, or all of them
        (``None``). The subset is drawn at random per node, and, as in
        scikit-learn, features constant within the node do not count towards it.
    random_state : int, RandomState instance or None, default=None
        Seeds the per-node feature subsets; with ``max_features=None`` the
        fit is deterministic and the seed is not used.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    tree_ : FlatTree
        The fitted (and pruned) tree as flat arrays.
    feature_importances_ : ndarray of shape (n_features,)
        The total impurity decrease brought by each feature, weighted by the
        share of rows reaching each split, normalised to sum to 1 (all zeros
        for a tree that is a single leaf).
    n_features_in_ : int
        The number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when ``X`` had string column names.

    References
    ----------
    .. [1] L. Breiman, J. Friedman, R. Olshen and C. Stone, "Classification and
       Regression Trees", Wadsworth, 1984 (chapter 3 for cost-complexity pruning).
    .. [2] J. R. Quinlan, "Induction of decision trees", Machine Learning 1, 1986
       (information gain).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.model_selection import train_test_split
    >>> data = load_breast_cancer()
    >>> X_train, X_test, y_train, y_test = train_test_split(
    ...     data.data, data.target, test_size=0.2, stratify=data.target, random_state=42
    ... )
    >>> tree = ScratchDecisionTreeClassifier(max_depth=3).fit(X_train, y_train)
    >>> round(tree.score(X_test, y_test), 3)
    0.939
    >>> tree.get_depth(), tree.get_n_leaves()
    (3, 7)
    >>> shallow = ScratchDecisionTreeClassifier(max_depth=2).fit(X_train, y_train)
    >>> print(shallow.export_text(feature_names=list(data.feature_names)), end="")
    |--- worst radius <= 16.80
    |   |--- worst concave points <= 0.14
    |   |   |--- class: 1
    |   |--- worst concave points >  0.14
    |   |   |--- class: 0
    |--- worst radius >  16.80
    |   |--- texture error <= 0.47
    |   |   |--- class: 1
    |   |--- texture error >  0.47
    |   |   |--- class: 0
    """

    def __init__(
        self,
        *,
        criterion: Literal["gini", "entropy"] = "gini",
        max_depth: int | None = None,
        min_samples_split: int | float = 2,
        min_samples_leaf: int | float = 1,
        min_impurity_decrease: float = 0.0,
        ccp_alpha: float = 0.0,
        max_features: int | float | str | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.min_impurity_decrease = min_impurity_decrease
        self.ccp_alpha = ccp_alpha
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> ScratchDecisionTreeClassifier:
        """Returns self, with a tree grown on ``X`` (n_samples, n_features) and labels ``y``."""
        data, labels = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(labels)
        self.classes_, y_index = np.unique(labels, return_inverse=True)
        n_samples, n_features = data.shape
        limits = _GrowthLimits(
            max_depth=_resolve_max_depth(self.max_depth),
            min_samples_leaf=_resolve_count(self.min_samples_leaf, n_samples, "min_samples_leaf"),
            min_samples_split=_resolve_count(
                self.min_samples_split, n_samples, "min_samples_split", minimum=2
            ),
            min_impurity_decrease=_nonnegative(self.min_impurity_decrease, "min_impurity_decrease"),
            max_features=_resolve_max_features(self.max_features, n_features),
        )
        if self.criterion not in ("gini", "entropy"):
            raise ValueError(f"criterion must be 'gini' or 'entropy', got {self.criterion!r}.")
        ccp_alpha = _nonnegative(self.ccp_alpha, "ccp_alpha")

        grower = _LevelWiseGrower(
            data, y_index, self.classes_.size, self.criterion, limits, self.random_state
        )
        tree = grower.grow()
        if ccp_alpha > 0:
            tree = _prune(tree, ccp_alpha)
        self.tree_ = tree
        self.feature_importances_ = _feature_importances(tree, n_features)
        return self

    def apply(self, X: ArrayLike) -> Index:
        """Returns the number of the leaf each row lands in."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        tree = self.tree_
        node = np.zeros(data.shape[0], dtype=np.intp)
        rows = np.arange(data.shape[0])
        for _ in range(self.get_depth()):
            left = tree.children_left[node]
            internal = left != TREE_LEAF
            # Leaves hold feature -2; any valid column will do since their rows stay put.
            feature = np.where(internal, tree.feature[node], 0)
            goes_left = data[rows, feature] <= tree.threshold[node]
            node = np.where(internal, np.where(goes_left, left, tree.children_right[node]), node)
        return node

    def predict_proba(self, X: ArrayLike) -> Array:
        """Returns the class shares of each row's leaf, shape (n_samples, n_classes)."""
        leaves = self.apply(X)
        counts = self.tree_.value[leaves]
        share: Array = counts / counts.sum(axis=1, keepdims=True)
        return share

    def predict_log_proba(self, X: ArrayLike) -> Array:
        """Returns the natural log of ``predict_proba`` (``-inf`` for absent classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Returns the majority class of each row's leaf."""
        share = self.predict_proba(X)
        return self.classes_[np.argmax(share, axis=1)]

    def get_depth(self) -> int:
        """Returns the depth of the tree: the most splits from the root to a leaf."""
        check_is_fitted(self)
        return int(self.tree_.depth.max())

    def get_n_leaves(self) -> int:
        """Returns the number of leaves."""
        check_is_fitted(self)
        return int(self.tree_.is_leaf.sum())

    def export_text(
        self,
        feature_names: list[str] | None = None,
        *,
        decimals: int = 2,
        show_weights: bool = False,
    ) -> str:
        """Returns the tree as indented text, one line per branch, like scikit-learn's export_text.

        ``feature_names`` defaults to the fitted column names, else
        ``feature_0``, ``feature_1``, ...; ``show_weights`` adds the training
        rows of each class at each leaf.
        """
        check_is_fitted(self)
        if feature_names is None:
            fitted_names = getattr(self, "feature_names_in_", None)
            names = (
                [str(name) for name in fitted_names]
                if fitted_names is not None
                else [f"feature_{i}" for i in range(self.n_features_in_)]
            )
        else:
            names = list(feature_names)
            if len(names) != self.n_features_in_:
                raise ValueError(
                    f"feature_names has {len(names)} names, but the tree was fitted on "
                    f"{self.n_features_in_} features."
                )
        tree = self.tree_
        lines: list[str] = []
        # An explicit stack, not recursion: an unlimited tree can be deeper than
        # Python's recursion limit. Entries are a node to expand or a finished line.
        stack: list[tuple[int, int] | str] = [(0, 0)]
        while stack:
            entry = stack.pop()
            if isinstance(entry, str):
                lines.append(entry)
                continue
            node, depth = entry
            prefix = "|   " * depth + "|--- "
            if tree.children_left[node] == TREE_LEAF:
                counts = tree.value[node]
                line = f"class: {self.classes_[int(np.argmax(counts))]}"
                if show_weights:
                    line = f"weights: [{', '.join(f'{c:.{decimals}f}' for c in counts)}] " + line
                lines.append(prefix + line)
                continue
            name = names[int(tree.feature[node])]
            threshold = f"{tree.threshold[node]:.{decimals}f}"
            stack.append((int(tree.children_right[node]), depth + 1))
            stack.append(f"{prefix}{name} >  {threshold}")
            stack.append((int(tree.children_left[node]), depth + 1))
            stack.append(f"{prefix}{name} <= {threshold}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _GrowthLimits:
    max_depth: int
    min_samples_leaf: int
    min_samples_split: int
    min_impurity_decrease: float
    max_features: int


class _LevelWiseGrower:
    """Grows a tree breadth first, searching the splits of a whole level at once."""

    def __init__(
        self,
        X: Array,
        y_index: Index,
        n_classes: int,
        criterion: str,
        limits: _GrowthLimits,
        random_state: int | np.random.RandomState | None,
    ) -> None:
        self.X_columns = np.ascontiguousarray(X.T)
        self.y_index = y_index
        self.n_classes = n_classes
        self.criterion = criterion
        self.limits = limits
        self.rng = check_random_state(random_state)
        self.n_samples, self.n_features = X.shape
        if criterion == "entropy":
            # Counts are integers, so c*log2(c) for every count that can occur is
            # a lookup table, cheaper than a log per candidate threshold.
            counts = np.arange(self.n_samples + 1, dtype=np.float64)
            self.count_log_count = counts * np.log2(np.maximum(counts, 1.0))

    def impurity(self, counts: Array) -> Array:
        """Returns the impurity of each row of class counts."""
        total = counts.sum(axis=1)
        share = counts / np.maximum(total, 1.0)[:, None]
        if self.criterion == "gini":
            result: Array = 1.0 - (share * share).sum(axis=1)
        else:
            result = -(share * np.log2(np.where(share > 0, share, 1.0))).sum(axis=1)
        return result

    def grow(self) -> FlatTree:
        limits = self.limits
        left: list[Index] = []
        right: list[Index] = []
        feature: list[Index] = []
        threshold: list[Array] = []
        value: list[Array] = []
        n_node_samples: list[Index] = []
        depth: list[Index] = []

        # The rows still in nodes that may split, each column's rows sorted by
        # (node, feature value), and each row's node among this level's nodes.
        rows = np.arange(self.n_samples)
        order = np.argsort(self.X_columns, axis=1, kind="stable")
        slot_of = np.zeros(self.n_samples, dtype=np.intp)
        n_level = 1
        n_nodes = 0
        level = 0
        while True:
            counts = (
                np.bincount(
                    slot_of[rows] * self.n_classes + self.y_index[rows],
                    minlength=n_level * self.n_classes,
                )
                .reshape(n_level, self.n_classes)
                .astype(np.float64)
            )
            size = counts.sum(axis=1)
            node_impurity = self.impurity(counts)
            splittable = (
                (level < limits.max_depth)
                & (size >= limits.min_samples_split)
                & (size >= 2 * limits.min_samples_leaf)
                & (node_impurity > _EPSILON)
            )
            split_feature = np.full(n_level, TREE_UNDEFINED, dtype=np.intp)
            split_threshold = np.full(n_level, float(TREE_UNDEFINED))

            if splittable.any():
                rows, order = _keep_rows(rows, order, splittable[slot_of[rows]], self.n_samples)
                found = self._best_splits(order, slot_of, counts, size, node_impurity, splittable)
                split_feature[splittable] = found[0]
                split_threshold[splittable] = found[1]
                splittable[splittable] = found[0] != TREE_UNDEFINED

            n_children = 2 * int(splittable.sum())
            first_child = n_nodes + n_level
            child_left = np.full(n_level, TREE_LEAF, dtype=np.intp)
            child_left[splittable] = first_child + 2 * np.arange(n_children // 2)
            child_right = np.where(splittable, child_left + 1, TREE_LEAF)
            left.append(child_left)
            right.append(child_right)
            feature.append(np.where(splittable, split_feature, TREE_UNDEFINED))
            threshold.append(np.where(splittable, split_threshold, float(TREE_UNDEFINED)))
            value.append(counts)
            n_node_samples.append(size.astype(np.intp))
            depth.append(np.full(n_level, level, dtype=np.intp))

            n_nodes += n_level
            level += 1
            n_level = n_children
            if not n_children:
                break
            rows, order, slot_of = self._partition(
                rows, order, slot_of, splittable, split_feature, split_threshold
            )

        return FlatTree(
            children_left=np.concatenate(left),
            children_right=np.concatenate(right),
            feature=np.concatenate(feature),
            threshold=np.concatenate(threshold),
            value=np.concatenate(value),
            impurity=self.impurity(np.concatenate(value)),
            n_node_samples=np.concatenate(n_node_samples),
            depth=np.concatenate(depth),
        )

    def _best_splits(
        self,
        order: Index,
        slot_of: Index,
        counts: Array,
        size: Array,
        node_impurity: Array,
        splittable: NDArray[np.bool_],
    ) -> tuple[Index, Array]:
        """Returns, for each splittable node, the chosen feature (-2 if none) and threshold."""
        nodes = np.flatnonzero(splittable)
        n_split = nodes.size
        # Renumber the splittable nodes 0..n_split-1 so per-node arrays stay dense.
        dense = np.full(splittable.size, -1, dtype=np.intp)
        dense[nodes] = np.arange(n_split)
        node_counts, node_size = counts[nodes], size[nodes]
        seg_start = np.concatenate([[0], np.cumsum(node_size[:-1])]).astype(np.intp)
        seg_last = seg_start + node_size.astype(np.intp) - 1

        gain = np.full((n_split, self.n_features), -np.inf)
        cut = np.zeros((n_split, self.n_features))
        non_constant = np.zeros((n_split, self.n_features), dtype=bool)
        for j in range(self.n_features):
            sorted_rows = order[j]
            values = self.X_columns[j, sorted_rows]
            segment = dense[slot_of[sorted_rows]]
            non_constant[:, j] = values[seg_last] > values[seg_start] + _FEATURE_THRESHOLD
            best = self._best_split_of_column(
                values, self.y_index[sorted_rows], segment, seg_start, node_counts, node_size
            )
            found_nodes, proxy, cut_j = best
            gain[found_nodes, j] = proxy
            cut[found_nodes, j] = cut_j

        allowed = self._feature_subsets(non_constant)
        gain = np.where(allowed, gain, -np.inf)
        chosen = np.argmax(gain, axis=1)
        has_split = np.isfinite(gain[np.arange(n_split), chosen])

        take = np.arange(n_split)
        best_proxy = gain[take, chosen]
        # The proxy is -(n_L * impurity_L + n_R * impurity_R), shifted by n_t for Gini.
        children = node_size - best_proxy if self.criterion == "gini" else -best_proxy
        with np.errstate(invalid="ignore"):
            decrease = (node_size * node_impurity[nodes] - children) / self.n_samples
        has_split &= decrease + _EPSILON >= self.limits.min_impurity_decrease
        best_feature = np.where(has_split, chosen, TREE_UNDEFINED)
        return best_feature, cut[take, chosen]

    def _best_split_of_column(
        self,
        values: Array,
        labels: Index,
        segment: Index,
        seg_start: Index,
        node_counts: Array,
        node_size: Array,
    ) -> tuple[Index, Array, Array]:
        """Returns the nodes with a valid split on this column, and each one's best proxy and cut.

        ``values`` and ``labels`` are the column and the classes of the rows,
        grouped by node (``segment``) and sorted by value within each node.
        A candidate split after position ``i`` sends positions up to ``i`` of
        the node left; its class counts are a difference of cumulative counts.
        The best split maximises a proxy of the impurity decrease:
        ``-(n_L * impurity_L + n_R * impurity_R)`` up to terms that are the same
        for every split of the node.
        """
        n_rows = values.size
        one_hot = np.zeros((n_rows + 1, self.n_classes))
        one_hot[np.arange(1, n_rows + 1), labels] = 1.0
        cumulative = np.cumsum(one_hot, axis=0)
        start = seg_start[segment]
        left = cumulative[1:] - cumulative[start]
        right = node_counts[segment] - left
        n_left = (np.arange(1, n_rows + 1) - start).astype(np.float64)
        n_right = node_size[segment] - n_left

        min_leaf = self.limits.min_samples_leaf
        valid = np.zeros(n_rows, dtype=bool)
        valid[:-1] = (segment[1:] == segment[:-1]) & (values[1:] > values[:-1] + _FEATURE_THRESHOLD)
        valid &= (n_left >= min_leaf) & (n_right >= min_leaf)

        if self.criterion == "gini":
            # A node's last position has n_right == 0; it is never valid, so any
            # nonzero divisor will do there.
            proxy = np.einsum("ij,ij->i", left, left) / n_left + np.einsum(
                "ij,ij->i", right, right
            ) / np.maximum(n_right, 1.0)
        else:
            table = self.count_log_count
            proxy = (
                table[left.astype(np.intp)].sum(axis=1)
                - table[n_left.astype(np.intp)]
                + table[right.astype(np.intp)].sum(axis=1)
                - table[n_right.astype(np.intp)]
            )
        proxy[~valid] = -np.inf

        # Each node's best proxy, then the first position reaching it (positions
        # are grouped by node, so the first hit of each node is where the node
        # number changes along the hits).
        node_best = np.maximum.reduceat(proxy, seg_start)
        hits = np.flatnonzero(valid & (proxy == node_best[segment]))
        if not hits.size:
            return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0)
        first = np.ones(hits.size, dtype=bool)
        first[1:] = segment[hits[1:]] != segment[hits[:-1]]
        at = hits[first]

        low, high = values[at], values[at + 1]
        cut = low / 2.0 + high / 2.0
        # The midpoint of two adjacent floats can round up to the higher one,
        # which would send it left; fall back to the lower value then.
        cut = np.where((cut == high) | ~np.isfinite(cut), low, cut)
        return segment[at], proxy[at], cut

    def _feature_subsets(self, non_constant: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Returns, per node, the features it may split on.

        Each node visits the features in its own random order and keeps the
        first ``max_features`` that are not constant within it.
        """
        n_split, n_features = non_constant.shape
        if self.limits.max_features >= n_features:
            return np.ones_like(non_constant)
        visit = np.argsort(self.rng.random_sample((n_split, n_features)), axis=1)
        in_visit_order = np.take_along_axis(non_constant, visit, axis=1)
        taken = in_visit_order & (np.cumsum(in_visit_order, axis=1) <= self.limits.max_features)
        allowed = np.zeros_like(non_constant)
        np.put_along_axis(allowed, visit, taken, axis=1)
        return allowed

    def _partition(
        self,
        rows: Index,
        order: Index,
        slot_of: Index,
        split: NDArray[np.bool_],
        split_feature: Index,
        split_threshold: Array,
    ) -> tuple[Index, Index, Index]:
        """Returns the rows, column orders and node numbers for the next level's nodes."""
        rows, order = _keep_rows(rows, order, split[slot_of[rows]], self.n_samples)
        parent = slot_of[rows]
        goes_left = self.X_columns[split_feature[parent], rows] <= split_threshold[parent]
        child_of_parent = np.full(split.size, -1, dtype=np.intp)
        child_of_parent[split] = 2 * np.arange(int(split.sum()))
        slot_of = slot_of.copy()
        slot_of[rows] = child_of_parent[parent] + np.where(goes_left, 0, 1)
        # A stable sort by child keeps each child's rows in feature order; small
        # unsigned keys let NumPy use a linear-time radix sort.
        keys = slot_of[order]
        if keys.max(initial=0) < np.iinfo(np.uint16).max:
            keys = keys.astype(np.uint16)
        regroup = np.argsort(keys, axis=1, kind="stable")
        return rows, np.take_along_axis(order, regroup, axis=1), slot_of


def _keep_rows(
    rows: Index, order: Index, keep_row: NDArray[np.bool_], n_samples: int
) -> tuple[Index, Index]:
    """Returns the rows where ``keep_row`` is set, and each column's order restricted to them."""
    if keep_row.all():
        return rows, order
    kept = rows[keep_row]
    mask = np.zeros(n_samples, dtype=bool)
    mask[kept] = True
    n_features = order.shape[0]
    return kept, order[mask[order]].reshape(n_features, kept.size)


def _prune(tree: FlatTree, ccp_alpha: float) -> FlatTree:
    """Returns the tree after minimal cost-complexity pruning with parameter ``ccp_alpha``.

    Repeatedly collapses the weakest link, the internal node t with the
    smallest ``(R(t) - R(T_t)) / (|leaves(T_t)| - 1)``, while that is at most
    ``ccp_alpha``; ``R`` is the row-weighted impurity and ``T_t`` the subtree
    rooted at t.
    """
    n_nodes = tree.node_count
    total = float(tree.n_node_samples[0])
    risk = tree.n_node_samples / total * tree.impurity
    parent = np.full(n_nodes, -1, dtype=np.intp)
    internal = ~tree.is_leaf
    parent[tree.children_left[internal]] = np.flatnonzero(internal)
    parent[tree.children_right[internal]] = np.flatnonzero(internal)

    # Children are numbered after their parents, so one backward sweep per depth
    # level accumulates each subtree's leaves and risk.
    subtree_leaves = np.where(internal, 0, 1).astype(np.float64)
    subtree_risk = np.where(internal, 0.0, risk)
    for level in range(int(tree.depth.max()), 0, -1):
        at = np.flatnonzero(tree.depth == level)
        np.add.at(subtree_leaves, parent[at], subtree_leaves[at])
        np.add.at(subtree_risk, parent[at], subtree_risk[at])

    active = internal.copy()
    while active.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            link = np.where(active, (risk - subtree_risk) / (subtree_leaves - 1.0), np.inf)
        weakest = int(np.argmin(link))
        if link[weakest] > ccp_alpha:
            break
        leaves_removed = subtree_leaves[weakest] - 1.0
        risk_added = risk[weakest] - subtree_risk[weakest]
        ancestor = parent[weakest]
        while ancestor != -1:
            subtree_leaves[ancestor] -= leaves_removed
            subtree_risk[ancestor] += risk_added
            ancestor = parent[ancestor]
        subtree_leaves[weakest], subtree_risk[weakest] = 1.0, risk[weakest]
        stack = [weakest]
        while stack:
            node = stack.pop()
            if active[node]:
                active[node] = False
                stack.extend((int(tree.children_left[node]), int(tree.children_right[node])))

    # A node survives when every ancestor is still an internal node.
    alive = np.zeros(n_nodes, dtype=bool)
    alive[0] = True
    for level in range(1, int(tree.depth.max()) + 1):
        at = np.flatnonzero(tree.depth == level)
        alive[at] = alive[parent[at]] & active[parent[at]]
    new_number = np.cumsum(alive) - 1
    keep_split = active[alive]
    return FlatTree(
        children_left=np.where(keep_split, new_number[tree.children_left[alive]], TREE_LEAF),
        children_right=np.where(keep_split, new_number[tree.children_right[alive]], TREE_LEAF),
        feature=np.where(keep_split, tree.feature[alive], TREE_UNDEFINED),
        threshold=np.where(keep_split, tree.threshold[alive], float(TREE_UNDEFINED)),
        value=tree.value[alive],
        impurity=tree.impurity[alive],
        n_node_samples=tree.n_node_samples[alive],
        depth=tree.depth[alive],
    )


def _feature_importances(tree: FlatTree, n_features: int) -> Array:
    """Returns each feature's share of the total row-weighted impurity decrease."""
    internal = np.flatnonzero(~tree.is_leaf)
    weighted = tree.n_node_samples * tree.impurity
    decrease = (
        weighted[internal]
        - weighted[tree.children_left[internal]]
        - weighted[tree.children_right[internal]]
    )
    importance = np.bincount(tree.feature[internal], weights=decrease, minlength=n_features)
    total = importance.sum()
    result: Array = importance / total if total > 0 else importance.astype(np.float64)
    return result


def _resolve_max_depth(max_depth: int | None) -> int:
    if max_depth is None:
        return np.iinfo(np.intp).max
    if not isinstance(max_depth, Integral) or isinstance(max_depth, bool) or max_depth < 1:
        raise ValueError(f"max_depth must be an integer >= 1 or None, got {max_depth!r}.")
    return int(max_depth)


def _resolve_count(value: float, n_samples: int, name: str, minimum: int = 1) -> int:
    """Returns a row count from an int, or from a float share of the rows (rounded up)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        if value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
        return int(value)
    if isinstance(value, Real) and 0.0 < value <= 1.0:
        return max(minimum, math.ceil(value * n_samples))
    raise ValueError(f"{name} must be an integer >= {minimum} or a float in (0, 1], got {value!r}.")


def _resolve_max_features(value: int | float | str | None, n_features: int) -> int:
    if value is None:
        return n_features
    if value == "sqrt":
        return max(1, int(math.sqrt(n_features)))
    if value == "log2":
        return max(1, int(math.log2(n_features)))
    if isinstance(value, Integral) and not isinstance(value, bool) and value >= 1:
        return min(int(value), n_features)
    if isinstance(value, Real) and 0.0 < value <= 1.0:
        return max(1, int(value * n_features))
    raise ValueError(
        "max_features must be None, 'sqrt', 'log2', an integer >= 1 or a float in (0, 1], "
        f"got {value!r}."
    )


def _nonnegative(value: float, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)
