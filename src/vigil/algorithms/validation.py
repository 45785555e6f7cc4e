"""Input checks for scoring that cost nothing when the input is already right."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data


def checked_rows(estimator: Any, X: Any, **check: Any) -> Any:
    """Returns ``X`` checked for scoring by the fitted ``estimator``.

    scikit-learn's ``validate_data`` costs more than scoring one row, and a
    calibrated ensemble would pay it at every layer (ensemble, each calibrated
    member, each detector). A non-empty, finite float64 matrix with the fitted
    number of columns, for an estimator fitted without feature names, is what
    ``validate_data`` would return unchanged, so it passes as it is; anything
    else goes through ``validate_data(estimator, X, reset=False, **check)``
    and gets its conversions and its errors.
    """
    if (
        type(X) is np.ndarray
        and X.dtype == np.float64
        and X.ndim == 2
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", None)
        and not hasattr(estimator, "feature_names_in_")
        and np.isfinite(X).all()
    ):
        return X
    return validate_data(estimator, X, reset=False, **check)
