"""Metrics by task, computed on held-out data."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

# Re-exported: callers of this module compare metrics by it.
from vigil.training.metric_names import LOWER_IS_BETTER as LOWER_IS_BETTER


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: list[Any]
) -> dict[str, Any]:
    """Returns accuracy, precision / recall / f1, roc_auc and the confusion matrix.

    ``y_true`` and ``y_pred`` are class codes (indexes into ``classes``; -1 for
    a label the model never saw). Binary problems report the second class as
    positive; multiclass ones weight each class by its support.
    """
    codes = list(range(len(classes)))
    binary = len(classes) == 2
    average = "binary" if binary else "weighted"
    labels = None if binary else codes
    scores = {
        "precision": skm.precision_score,
        "recall": skm.recall_score,
        "f1": skm.f1_score,
    }
    out: dict[str, Any] = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    for name, score in scores.items():
        out[name] = float(
            score(y_true, y_pred, average=average, pos_label=1, labels=labels, zero_division=0)
        )
    present = np.unique(y_true[y_true >= 0])
    if proba is not None and binary and len(present) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true == 1, proba[:, 1]))
    elif proba is not None and len(classes) > 2 and len(present) == len(classes):
        known = y_true >= 0
        out["roc_auc_ovr"] = float(
            skm.roc_auc_score(y_true[known], proba[known], multi_class="ovr", labels=codes)
        )
    out["confusion_matrix"] = {
        "labels": [_plain(c) for c in classes],
        "matrix": skm.confusion_matrix(y_true, y_pred, labels=codes).tolist(),
    }
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Returns r2, mse, rmse, mae and mape (mape skips zero targets)."""
    mse = float(skm.mean_squared_error(y_true, y_pred))
    nonzero = y_true != 0
    mape = (
        float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero])))
        if nonzero.any()
        else None
    )
    return {
        "r2": float(skm.r2_score(y_true, y_pred)),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "mape": mape,
    }


def clustering_metrics(X: Any, labels: np.ndarray) -> dict[str, Any]:
    """Returns silhouette and Davies-Bouldin (when there are 2+ clusters) and cluster sizes."""
    values, counts = np.unique(labels, return_counts=True)
    out: dict[str, Any] = {
        "n_clusters": int((values >= 0).sum()),
        "cluster_sizes": {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
    }
    clustered = labels >= 0
    if len(np.unique(labels[clustered])) >= 2 and clustered.sum() > len(np.unique(labels)):
        data = X[clustered] if hasattr(X, "shape") else X
        out["silhouette"] = float(
            skm.silhouette_score(
                data, labels[clustered], sample_size=min(5000, int(clustered.sum())), random_state=0
            )
        )
        dense = data.toarray() if hasattr(data, "toarray") else data
        out["davies_bouldin"] = float(skm.davies_bouldin_score(dense, labels[clustered]))
    return out


def anomaly_metrics(y_true: np.ndarray, flagged: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Returns precision, recall, f1 at the threshold, and roc_auc / pr_auc of the scores."""
    out: dict[str, Any] = {
        "precision": float(skm.precision_score(y_true, flagged, zero_division=0)),
        "recall": float(skm.recall_score(y_true, flagged, zero_division=0)),
        "f1": float(skm.f1_score(y_true, flagged, zero_division=0)),
        "anomaly_rate": float(np.mean(flagged)),
    }
    if len(np.unique(y_true)) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, scores))
        out["pr_auc"] = float(skm.average_precision_score(y_true, scores))
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
