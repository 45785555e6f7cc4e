"""Live metrics per version over time windows, from the prediction log and its feedback."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from vigil.monitoring.feedback import LoggedRow
from vigil.training import metrics as task_metrics

# The metrics feedback yields per task: what a policy can watch, compare and roll back on.
LIVE_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "regression": ("r2", "mse", "rmse", "mae", "mape"),
    "anomaly": ("precision", "recall", "f1", "roc_auc", "pr_auc"),
}


def version_performance(rows: list[LoggedRow], task: str, classes: list[Any]) -> dict[int, Any]:
    """Returns, per version, prediction counts, latency, anomaly rate and metrics from feedback."""
    by_version: dict[int, list[LoggedRow]] = defaultdict(list)
    for row in rows:
        by_version[row.version].append(row)
    return {v: _summary(group, task, classes) for v, group in sorted(by_version.items())}


def _summary(rows: list[LoggedRow], task: str, classes: list[Any]) -> dict[str, Any]:
    latency = np.array([r.latency_us for r in rows])
    out: dict[str, Any] = {
        "predictions": len(rows),
        "latency_us_p50": float(np.percentile(latency, 50)),
        "latency_us_p95": float(np.percentile(latency, 95)),
    }
    if task == "anomaly":
        out["anomaly_rate"] = float(np.mean([bool(r.output.get("is_anomaly")) for r in rows]))
    labelled = [r for r in rows if r.has_actual and r.actual is not None]
    out["feedback"] = len(labelled)
    if labelled:
        out["metrics"] = _metrics(labelled, task, classes)
    return out


def _metrics(rows: list[LoggedRow], task: str, classes: list[Any]) -> dict[str, Any]:
    predicted = [r.output.get("prediction") for r in rows]
    actual = [r.actual for r in rows]
    if task == "regression":
        return task_metrics.regression_metrics(
            np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
        )
    if task == "anomaly":
        truth = np.asarray([is_anomaly_label(a) for a in actual], dtype=int)
        flagged = np.asarray([bool(p) for p in predicted], dtype=int)
        scores = np.asarray([float(r.output.get("score", 0.0)) for r in rows])
        return task_metrics.anomaly_metrics(truth, flagged, scores)
    if task == "classification":
        index = {str(c): i for i, c in enumerate(classes)}
        truth = np.asarray([index.get(str(a), -1) for a in actual])
        guess = np.asarray([index.get(str(p), -1) for p in predicted])
        metrics = task_metrics.classification_metrics(truth, guess, None, classes)
        return {k: v for k, v in metrics.items() if k != "confusion_matrix"}
    return {}


def is_anomaly_label(value: Any) -> bool:
    """Returns whether a feedback label says anomaly (1, true, \"attack\", ...)."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "anomaly", "anom", "attack", "fraud"}
    return bool(value)
