"""The training metrics of an online metric model: its own online scoring on later points.

A metrics anomaly model answers with its online detector (vigil.online), not
with the catalogue pipeline fitted beside it (kept for explanations), so the
metrics stored with its version come from the online detector too, measured
as it is served: a model of the same settings learns from the first
``TRAIN_SHARE`` of the points (by time: every series is cut at the same
instant) and scores the rest in time order from the state that left,
learning as it goes (or not, for ``online=false``). The model that is saved
then learns from all the points.

The metrics are those of any anomaly model: ``anomaly_rate`` (the share of
scored points flagged) and, when the points are labelled, ``precision``,
``recall``, ``f1``, ``roc_auc`` and ``pr_auc`` of the flags and scores; plus
``evaluated_points``, how many points were scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vigil.online.model import OnlineModel, _nanoseconds
from vigil.training import metrics as task_metrics
from vigil.training.bundle import anomaly_labels

# The share of the points (by time) the evaluated model learns from before scoring the rest.
TRAIN_SHARE = 0.7


def time_split(events: pd.DataFrame, time_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Returns the row positions before and from the cut at ``TRAIN_SHARE`` of the points.

    With a time column the cut is the time of the point at that share in time
    order (ties go with the earlier part, so one instant is never split);
    without one, it is the position in input order.
    """
    rows = len(events)
    cut = max(1, int(rows * TRAIN_SHARE))
    if time_column is None or time_column not in events.columns or rows == 0:
        positions = np.arange(rows)
        return positions[:cut], positions[cut:]
    times = _nanoseconds(events[time_column])
    edge = np.sort(times)[cut - 1]
    return np.flatnonzero(times <= edge), np.flatnonzero(times > edge)


def online_metrics(
    events: pd.DataFrame, model: OnlineModel, labels: pd.Series | None
) -> dict[str, Any]:
    """Returns the metrics of ``model``'s settings scored online on the later points of ``events``.

    ``events`` are the training points as the extractor read them and
    ``labels`` their anomaly labels, if any (aligned with ``events``).
    """
    first, rest = time_split(events, model.time_column)
    if len(rest) == 0:
        return {"anomaly_rate": 0.0, "evaluated_points": 0}
    trained = OnlineModel.fit(
        events.iloc[first],
        model.detector,
        value_column=model.value_column,
        time_column=model.time_column,
        series_column=model.series_column,
    )
    scores, _ = trained.scores(events.iloc[rest], trained.initial_state())
    flagged = (scores >= trained.threshold).astype(int)
    if labels is None:
        out: dict[str, Any] = {"anomaly_rate": float(flagged.mean())}
    else:
        truth = anomaly_labels(labels.iloc[rest].reset_index(drop=True))
        out = task_metrics.anomaly_metrics(np.asarray(truth), flagged, scores)
    out["evaluated_points"] = len(rest)
    return out


def training_metrics(
    frame: pd.DataFrame, extracted: Any, model: OnlineModel, target: str | None
) -> dict[str, Any]:
    """Returns the metrics a version of online ``model`` stores (see :func:`online_metrics`).

    ``frame`` is the training data as given and ``extracted`` the trainer's
    extraction, whose fitted extractor reads the points (and the label
    column ``target``, when there is one) as they were read for training.
    """
    events, _ = extracted.extractor.read(frame)
    events = events.reset_index(drop=True)
    labels = events[target] if target is not None and target in events.columns else None
    return online_metrics(events, model, labels)
