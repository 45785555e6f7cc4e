"""One-class SVM fitted on a bounded random subsample of the training rows.

A kernel SVM's fit grows between quadratically and cubically with the rows,
so beyond ``max_samples`` rows a random subsample of that size is fitted: the
boundary of the normal region is learned as well from ten thousand rows as
from a million, in seconds instead of hours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.svm import OneClassSVM
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows


class SubsampledOneClassSVM(BaseEstimator):
    """scikit-learn's OneClassSVM on at most ``max_samples`` random training rows.

    Parameters
    ----------
    nu : float
        Upper bound on the share of training rows outside the boundary, in
        (0, 1]; scikit-learn's default 0.5 keeps a smooth boundary.
    kernel : {"rbf", "linear", "poly", "sigmoid"}
        Kernel of the SVM.
    gamma : {"scale", "auto"} or float
        Kernel coefficient.
    max_samples : int
        Most rows the SVM is fitted on.
    random_state : int, RandomState or None
        Seed of the subsample.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2))
    >>> model = SubsampledOneClassSVM(max_samples=500, random_state=0).fit(X)
    >>> model.svm_.shape_fit_
    (500, 2)
    >>> scores = model.score_samples(np.array([[0.0, 0.0], [4.0, 4.0]]))
    >>> bool(scores[0] > scores[1])
    True
    """

    def __init__(
        self,
        nu: float = 0.5,
        kernel: str = "rbf",
        gamma: str | float = "scale",
        max_samples: int = 10_000,
        random_state: Any = None,
    ) -> None:
        self.nu = nu
        self.kernel = kernel
        self.gamma = gamma
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SubsampledOneClassSVM:
        """Returns self, with the SVM fitted on the (sub)sample."""
        if int(self.max_samples) < 1:
            raise ValueError(f"max_samples must be at least 1; got {self.max_samples!r}.")
        X = validate_data(self, X, dtype=np.float64)
        if X.shape[0] > self.max_samples:
            rng = check_random_state(self.random_state)
            X = X[rng.choice(X.shape[0], size=int(self.max_samples), replace=False)]
        self.svm_ = OneClassSVM(nu=self.nu, kernel=self.kernel, gamma=self.gamma).fit(X)
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns the SVM's score of each row (higher = more normal)."""
        check_is_fitted(self, "svm_")
        X = checked_rows(self, X, dtype=np.float64)
        return np.asarray(self.svm_.score_samples(X), dtype=float)
