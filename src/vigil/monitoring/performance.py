"""Live metrics per version over time windows, from the prediction log and its feedback."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from vigil.monitoring.feedback import LoggedRow
from vigil.training import metrics as task_metrics

# The metrics feedback yields per task: what a policy can watch, compare and roll back on.
LIVE_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "regression": ("r2", "mse", "rmse", "mae", "mape"),
    "anomaly": ("precision", "recall", "f1", "roc_auc", "pr_auc"),
    "forecast": ("mase", "smape", "rmse", "coverage_80", "coverage_95"),
}
# Per version, per series: the scale a forecast's absolute errors are divided by for MASE.
Scales = Mapping[int, Mapping[str, float]]


def version_performance(
    rows: list[LoggedRow], task: str, classes: list[Any], scales: Scales | None = None
) -> dict[int, Any]:
    """Returns, per version, prediction counts, latency, anomaly rate and metrics from feedback.

    Forecast versions get MASE (each series' errors over its ``scales``), sMAPE,
    RMSE and the share of actuals inside each interval.
    """
    by_version: dict[int, list[LoggedRow]] = defaultdict(list)
    for row in rows:
        by_version[row.version].append(row)
    return {
        v: _summary(group, task, classes, (scales or {}).get(v, {}))
        for v, group in sorted(by_version.items())
    }


def _summary(
    rows: list[LoggedRow], task: str, classes: list[Any], scales: Mapping[str, float]
) -> dict[str, Any]:
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
    if labelled and task == "forecast":
        out["metrics"] = forecast_metrics(labelled, scales)
    elif labelled:
        out["metrics"] = _metrics(labelled, task, classes)
    return out


def forecast_metrics(rows: list[LoggedRow], scales: Mapping[str, float]) -> dict[str, float]:
    """Returns live MASE, sMAPE (%), RMSE and interval coverage (shares) of forecast points.

    The definitions are the backtest's (``vigil.forecast.metrics``), so a
    version's live figures compare with its trained ones. Actuals that are not
    finite numbers are left out; each point's error is divided by its series'
    MASE scale (1.0 for a series without one).

    >>> from datetime import datetime
    >>> def point(actual, forecast):
    ...     output = {"series": "a", "forecast": forecast, "lo_80": 9.0, "hi_80": 11.0}
    ...     return LoggedRow("id", 1, False, {}, output, actual, True, 1.0, datetime(2024, 1, 1))
    >>> forecast_metrics([point(10.0, 10.0), point(13.0, 10.0)], {"a": 2.0})["mase"]
    0.75
    """
    from vigil.forecast.metrics import coverage, mase, rmse, smape

    points = [
        (r.output, float(r.actual))
        for r in rows
        if isinstance(r.actual, int | float)
        and not isinstance(r.actual, bool)
        and math.isfinite(r.actual)
        and isinstance(r.output.get("forecast"), int | float)
    ]
    if not points:
        return {}
    actual = np.asarray([a for _, a in points])
    forecast = np.asarray([float(o["forecast"]) for o, _ in points])
    scale = np.asarray([scales.get(str(o.get("series")), 1.0) or 1.0 for o, _ in points])
    metrics = {
        # Scaled per point: a model's series have scales of their own.
        "mase": mase(actual / scale, forecast / scale, 1.0),
        "smape": smape(actual, forecast),
        "rmse": rmse(actual, forecast),
    }
    levels = sorted({k[3:] for o, _ in points for k in o if k.startswith("lo_")})
    for level in levels:
        lower = [o.get(f"lo_{level}", math.nan) for o, _ in points]
        upper = [o.get(f"hi_{level}", math.nan) for o, _ in points]
        metrics[f"coverage_{level}"] = coverage(actual, lower, upper)
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


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
