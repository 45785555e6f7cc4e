"""Logistic regression written from scratch in NumPy, for teaching and comparison.

The model is fitted by accelerated proximal gradient descent (FISTA) on the
full batch: every iteration is a handful of matrix products over all rows, so
no Python code runs per row. The L2 penalty is part of the smooth objective;
the L1 penalty is handled by its proximal operator (soft-thresholding), which
sets coefficients exactly to zero.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

Array = NDArray[np.float64]

_PENALTIES = ("l2", "l1", "none")
# Backtracking grows the Lipschitz estimate by this factor when a step overshoots,
# and shrinks it a little every iteration so the step can lengthen again where
# the loss is flatter than it was at the start (it usually is near the optimum).
_BACKTRACK = 2.0
_RELAX = 1.1


class ScratchLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary or multinomial) fitted by accelerated proximal gradient.

    Two classes use the logistic (sigmoid) link with one coefficient vector;
    more classes use the softmax link with one vector per class (multinomial).
    The objective is the mean log-loss plus ``R(w) / (C * n_samples)``, where
    ``R`` is ``||w||_2^2 / 2`` (``"l2"``) or ``||w||_1`` (``"l1"``); the intercept
    is never penalised. Multiplied by ``C * n_samples`` this is exactly the
    objective of scikit-learn's ``LogisticRegression``, so the same ``C`` gives
    the same model.

    Parameters
    ----------
    penalty : {"l2", "l1", "none"}, default="l2"
        The penalty on the coefficients. ``"l1"`` gives sparse coefficients.
    C : float, default=1.0
        Inverse regularisation strength: larger values penalise less.
    fit_intercept : bool, default=True
        Whether to learn an intercept (one per class for more than two classes).
    scale : bool, default=True
        Standardise the features inside the estimator before fitting (centring
        too when there is an intercept). The penalty then acts on standardised
        coefficients, as with a ``StandardScaler`` in front, but ``coef_`` and
        ``intercept_`` are reported in the original units of ``X``.
    max_iter : int, default=1000
        The most gradient iterations to run.
    tol : float, default=1e-6
        Training stops when the monitored loss (the training objective, or the
        validation log-loss with ``early_stopping``) has not improved by at
        least ``tol`` for ``n_iter_no_change`` consecutive iterations.
    learning_rate : float, default=0.1
        The first step size tried. A backtracking line search shortens it when
        it overshoots and lets it grow again slowly, so this only needs to be
        the right order of magnitude.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the rows and monitor
        their log-loss instead of the training objective. Either way, the
        coefficients where the monitored loss was lowest are kept.
    validation_fraction : float, default=0.1
        The share of each class held out when ``early_stopping`` is set.
    n_iter_no_change : int, default=5
        Patience: the number of iterations without an improvement of ``tol``
        before training stops.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split of ``early_stopping``; nothing else is random.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients in the units of ``X``; one row for two classes.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts in the units of ``X`` (zeros without ``fit_intercept``).
    feature_importances_ : ndarray of shape (n_features,)
        ``|coef_|`` summed over classes times each feature's standard deviation,
        normalised to sum to 1 (all zeros when every coefficient is zero).
    cost_history_ : list of float
        The objective (penalised mean log-loss on the training rows) after each
        iteration.
    n_iter_ : int
        The number of iterations run.
    n_features_in_ : int
        The number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when ``X`` had string column names.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding
       algorithm for linear inverse problems", SIAM Journal on Imaging Sciences
       2(1), 2009.
    .. [2] B. O'Donoghue and E. Candès, "Adaptive restart for accelerated
       gradient schemes", Foundations of Computational Mathematics 15, 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(
    ...     X, y, test_size=0.2, stratify=y, random_state=42
    ... )
    >>> model = ScratchLogisticRegression(C=1.0).fit(X_train, y_train)
    >>> round(model.score(X_test, y_test), 3)
    0.982
    >>> sparse = ScratchLogisticRegression(penalty="l1", C=0.05).fit(X_train, y_train)
    >>> int((sparse.coef_ != 0).sum()), sparse.coef_.shape[1]
    (4, 30)
    """

    def __init__(
        self,
        *,
        penalty: Literal["l2", "l1", "none"] = "l2",
        C: float = 1.0,
        fit_intercept: bool = True,
        scale: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-6,
        learning_rate: float = 0.1,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> ScratchLogisticRegression:
        """Returns self, fitted on ``X`` (n_samples, n_features) and labels ``y``."""
        self._check_params()
        data, labels = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(labels)
        self.classes_, y_index = np.unique(labels, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                "ScratchLogisticRegression needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {self.classes_[0]!r}."
            )

        feature_std = data.std(axis=0)
        if self.scale:
            center = data.mean(axis=0) if self.fit_intercept else np.zeros(data.shape[1])
            # Constant columns keep unit spread, as StandardScaler does, instead of dividing by 0.
            spread = np.where(feature_std < 10 * np.finfo(np.float64).eps, 1.0, feature_std)
            X_work = (data - center) / spread
        else:
            center, spread = np.zeros(data.shape[1]), np.ones(data.shape[1])
            X_work = data

        validation = None
        if self.early_stopping:
            held_out = _stratified_holdout(
                y_index, self.validation_fraction, check_random_state(self.random_state)
            )
            validation = (X_work[held_out], y_index[held_out])
            X_work, y_index = X_work[~held_out], y_index[~held_out]

        n_outputs = 1 if self.classes_.size == 2 else self.classes_.size
        problem = _Problem(
            X_work, y_index, n_outputs, self.penalty, float(self.C), self.fit_intercept
        )
        theta, history, converged = self._minimise(problem, validation)
        if not converged:
            warnings.warn(
                f"ScratchLogisticRegression did not converge in max_iter={self.max_iter} "
                "iterations; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )

        coef_scaled = theta[:-1].T
        self.coef_ = coef_scaled / spread
        self.intercept_ = theta[-1] - self.coef_ @ center
        self.cost_history_ = history
        self.n_iter_ = len(history)
        importance = np.abs(self.coef_).sum(axis=0) * feature_std
        total = importance.sum()
        self.feature_importances_ = importance / total if total > 0 else importance
        return self

    def decision_function(self, X: ArrayLike) -> Array:
        """Returns the linear scores: shape (n_samples,) for two classes, else (n, n_classes)."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        scores: Array = data @ self.coef_.T + self.intercept_
        return scores.ravel() if self.classes_.size == 2 else scores

    def predict_proba(self, X: ArrayLike) -> Array:
        """Returns the probability of each class, shape (n_samples, n_classes)."""
        scores = self.decision_function(X)
        if self.classes_.size == 2:
            positive = _sigmoid(scores)
            return np.column_stack([1.0 - positive, positive])
        return _softmax(scores, axis=1)

    def predict_log_proba(self, X: ArrayLike) -> Array:
        """Returns the natural log of ``predict_proba``."""
        scores = self.decision_function(X)
        if self.classes_.size == 2:
            return -_softplus(-np.column_stack([-scores, scores]))
        return scores - _logsumexp(scores, axis=1)[:, None]

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Returns the most probable class of each row."""
        scores = self.decision_function(X)
        if self.classes_.size == 2:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _minimise(
        self, problem: _Problem, validation: tuple[Array, NDArray[np.intp]] | None
    ) -> tuple[Array, list[float], bool]:
        """Returns the parameters with the lowest monitored loss, the objective per iteration,
        and whether the stopping rule was met before ``max_iter``.

        FISTA with backtracking; momentum is reset whenever the step points
        against the previous direction (gradient-based adaptive restart, [2]),
        which keeps the objective close to monotone and restores linear
        convergence on strongly convex problems.
        """
        x = problem.zeros()
        z_x = problem.scores(x)
        y, z_y = x, z_x
        lipschitz = 1.0 / self.learning_rate
        momentum = 1.0
        history: list[float] = []
        best_loss, best_x, stalled = math.inf, x, 0
        f_y, grad_y = problem.smooth(y, z_y, with_grad=True)

        for _ in range(self.max_iter):
            lipschitz /= _RELAX
            while True:
                step = 1.0 / lipschitz
                candidate = problem.prox(y - step * grad_y, step)
                z_candidate = problem.scores(candidate)
                f_candidate, _ = problem.smooth(candidate, z_candidate, with_grad=False)
                move = candidate - y
                bound = f_y + np.vdot(grad_y, move) + 0.5 * lipschitz * np.vdot(move, move)
                # The slack absorbs rounding once steps are tiny, where an exact test
                # would reject every step and drive the step size to zero.
                if f_candidate <= bound + 1e-12 * abs(f_y) or lipschitz > 1e30:
                    break
                lipschitz *= _BACKTRACK
            history.append(f_candidate + problem.nonsmooth(candidate))

            if validation is None:
                monitored = history[-1]
            else:
                monitored = problem.validation_loss(candidate, *validation)
            if monitored < best_loss - self.tol:
                stalled = 0
            else:
                stalled += 1
            if monitored < best_loss:
                best_loss, best_x = monitored, candidate

            if np.vdot(y - candidate, candidate - x) > 0:
                momentum = 1.0
            next_momentum = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum * momentum))
            beta = (momentum - 1.0) / next_momentum
            # Scores are linear in the parameters, so the extrapolated point's scores
            # come from the two known ones without another pass over X.
            y = candidate + beta * (candidate - x)
            z_y = z_candidate + beta * (z_candidate - z_x)
            x, z_x, momentum = candidate, z_candidate, next_momentum

            if stalled >= self.n_iter_no_change:
                return best_x, history, True
            f_y, grad_y = problem.smooth(y, z_y, with_grad=True)
        return best_x, history, False

    def _check_params(self) -> None:
        if self.penalty not in _PENALTIES:
            raise ValueError(f"penalty must be one of {_PENALTIES}, got {self.penalty!r}.")
        _require(isinstance(self.C, Real) and self.C > 0, "C must be a positive number")
        _require(
            isinstance(self.max_iter, Integral) and self.max_iter >= 1,
            "max_iter must be an integer >= 1",
        )
        _require(isinstance(self.tol, Real) and self.tol >= 0, "tol must be a number >= 0")
        _require(
            isinstance(self.learning_rate, Real) and self.learning_rate > 0,
            "learning_rate must be a positive number",
        )
        _require(
            isinstance(self.validation_fraction, Real) and 0 < self.validation_fraction < 1,
            "validation_fraction must be a number in (0, 1)",
        )
        _require(
            isinstance(self.n_iter_no_change, Integral) and self.n_iter_no_change >= 1,
            "n_iter_no_change must be an integer >= 1",
        )


class _Problem:
    """The penalised log-loss of one training set, over parameters stacked as (n_features + 1, k).

    The last row holds the intercepts; ``k`` is 1 for two classes (sigmoid)
    and the number of classes otherwise (softmax). Scores are kept as
    (k, n_samples), so the per-row reductions over classes run along the
    short axis in long contiguous passes rather than one tiny reduction per row.
    """

    def __init__(
        self,
        X: Array,
        y_index: NDArray[np.intp],
        n_outputs: int,
        penalty: str,
        C: float,
        fit_intercept: bool,
    ) -> None:
        self.X = X
        self.n_outputs = n_outputs
        self.fit_intercept = fit_intercept
        n_samples = X.shape[0]
        if n_outputs == 1:
            self.target = y_index.astype(np.float64)[None, :]
        else:
            self.target = np.zeros((n_outputs, n_samples))
            self.target[y_index, np.arange(n_samples)] = 1.0
        strength = 1.0 / (C * n_samples)
        self.l2 = strength if penalty == "l2" else 0.0
        self.l1 = strength if penalty == "l1" else 0.0

    def zeros(self) -> Array:
        return np.zeros((self.X.shape[1] + 1, self.n_outputs))

    def scores(self, theta: Array, X: Array | None = None) -> Array:
        """Returns the (k, n_samples) linear scores of ``X`` (the training rows by default)."""
        rows = self.X if X is None else X
        result: Array = theta[:-1].T @ rows.T + theta[-1][:, None]
        return result

    def smooth(self, theta: Array, scores: Array, *, with_grad: bool) -> tuple[float, Array]:
        """Returns the mean log-loss plus the L2 term, and its gradient when asked."""
        weights = theta[:-1]
        n_samples = self.X.shape[0]
        if self.n_outputs == 1:
            loss = float((_softplus(scores) - self.target * scores).sum())
        else:
            loss = float(_logsumexp(scores, axis=0).sum() - (self.target * scores).sum())
        value = loss / n_samples + 0.5 * self.l2 * float(np.vdot(weights, weights))
        if not with_grad:
            return value, theta
        probability = _sigmoid(scores) if self.n_outputs == 1 else _softmax(scores, axis=0)
        residual = (probability - self.target) / n_samples
        grad = np.empty_like(theta)
        grad[:-1] = (residual @ self.X).T + self.l2 * weights
        grad[-1] = residual.sum(axis=1) if self.fit_intercept else 0.0
        return value, grad

    def nonsmooth(self, theta: Array) -> float:
        return self.l1 * float(np.abs(theta[:-1]).sum()) if self.l1 else 0.0

    def prox(self, theta: Array, step: float) -> Array:
        """Returns the proximal point: soft-thresholded weights for L1, intercept untouched."""
        if self.l1:
            weights = theta[:-1]
            theta[:-1] = np.sign(weights) * np.maximum(np.abs(weights) - step * self.l1, 0.0)
        if not self.fit_intercept:
            theta[-1] = 0.0
        return theta

    def validation_loss(self, theta: Array, X: Array, y_index: NDArray[np.intp]) -> float:
        scores = self.scores(theta, X)
        if self.n_outputs == 1:
            margin = np.where(y_index == 1, scores[0], -scores[0])
            return float(_softplus(-margin).mean())
        picked = scores[y_index, np.arange(X.shape[0])]
        return float((_logsumexp(scores, axis=0) - picked).mean())


def _stratified_holdout(
    y_index: NDArray[np.intp], fraction: float, rng: np.random.RandomState
) -> NDArray[np.bool_]:
    """Returns a mask holding out ``floor(fraction * n_c)`` random rows of each class c."""
    shuffled = rng.permutation(y_index.size)
    by_class = shuffled[np.argsort(y_index[shuffled], kind="stable")]
    counts = np.bincount(y_index)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(y_index.size) - np.repeat(starts, counts)
    mask = np.zeros(y_index.size, dtype=bool)
    mask[by_class] = rank < np.floor(fraction * counts)[y_index[by_class]]
    if not mask.any():
        raise ValueError(
            f"validation_fraction={fraction} holds out no rows for early stopping; "
            "increase it or use more rows."
        )
    return mask


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message + ".")


def _softplus(scores: Array) -> Array:
    # log(1 + exp(s)) written so exp never overflows; several times faster than np.logaddexp.
    return np.maximum(scores, 0.0) + np.log1p(np.exp(-np.abs(scores)))


def _sigmoid(scores: Array) -> Array:
    # exp(-softplus(-s)) never overflows, unlike 1 / (1 + exp(-s)) for large -s.
    return np.exp(-_softplus(-scores))


def _logsumexp(scores: Array, axis: int) -> Array:
    top = scores.max(axis=axis, keepdims=True)
    result: Array = np.log(np.exp(scores - top).sum(axis=axis, keepdims=True)) + top
    return result.squeeze(axis=axis)


def _softmax(scores: Array, axis: int) -> Array:
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    result: Array = shifted / shifted.sum(axis=axis, keepdims=True)
    return result
