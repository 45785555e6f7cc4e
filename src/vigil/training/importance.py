"""Feature importance of a trained model, per input column: native where the model has it.

Trees and linear models carry their own importances (summed over the encoded
columns each input became); other models of a supervised task are measured
by permutation on the test part. Importances are normalised to sum to 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from vigil.features.tabular import source_column
from vigil.training.bundle import ModelBundle

# Permutation importance is costly; on large test sets a sample gives the same ranking.
_PERMUTATION_MAX_ROWS = 2000


def feature_importance(
    bundle: ModelBundle, X_test: pd.DataFrame | None, y_test: pd.Series | None
) -> dict[str, float]:
    """Returns importance per input column summing to 1: native if available, else permutation."""
    estimator = bundle.pipeline[-1]
    raw: np.ndarray | None = None
    try:
        raw = np.asarray(estimator.feature_importances_, dtype=float)
    except (AttributeError, ValueError):
        coef = getattr(estimator, "coef_", None)
        if coef is not None:
            raw = np.abs(np.atleast_2d(np.asarray(coef, dtype=float))).sum(axis=0)
    if raw is not None:
        names = bundle.pipeline[:-1].get_feature_names_out()
        if len(names) == len(raw):
            totals: dict[str, float] = {}
            for name, value in zip(names, raw, strict=True):
                column = source_column(str(name), bundle.schema)
                totals[column] = totals.get(column, 0.0) + float(value)
            return _normalised(totals)
    if X_test is None or y_test is None or bundle.task not in ("classification", "regression"):
        return {}
    sample = X_test.iloc[:_PERMUTATION_MAX_ROWS]
    truth = y_test.iloc[:_PERMUTATION_MAX_ROWS]
    if bundle.task == "classification":
        truth = pd.Series(bundle.class_codes(truth))
        if (truth < 0).any():  # a class seen only in the test part cannot be scored
            return {}
    result = permutation_importance(
        bundle.pipeline, sample, truth.to_numpy(), n_repeats=3, random_state=0
    )
    return _normalised(
        {
            c.name: max(float(v), 0.0)
            for c, v in zip(bundle.schema, result.importances_mean, strict=True)
        }
    )


def _normalised(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    if total <= 0:
        return {k: 0.0 for k in values}
    ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    return {k: round(v / total, 6) for k, v in ordered}
