"""The data a retraining learns from and the data its challenger is judged on.

A challenger learns from the champion's training rows plus labelled recent
predictions, and is compared with the champion on the same evaluation data:
the champion's original held-out rows plus a share of the recent labelled
predictions that neither model trained on, spread evenly over the recent
period, so a retraining repeated on the same feedback picks the same ones.

Anomaly models learn "normal": they are retrained on recent inputs that were
not confirmed anomalous (inputs without feedback count as normal, as in
training, unless the served model flagged them and no label has arrived yet);
confirmed anomalies only ever enter the evaluation data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vigil.errors import InvalidInput
from vigil.features.extractors import make_extractor
from vigil.monitoring.feedback import LoggedRow
from vigil.monitoring.performance import is_anomaly_label
from vigil.training.trainer import TrainSpec, split_frame

# Recent labelled predictions held back for the comparison (the rest are learned from).
EVALUATION_SHARE = 0.3
# The label column of evaluation rows when the model was trained without one.
FEEDBACK_TARGET = "__vigil_actual__"


@dataclass
class RetrainingData:
    """What a challenger trains on and what both models are scored on."""

    train: pd.DataFrame
    evaluation: pd.DataFrame | None
    target: str
    original_rows: int
    original_test_rows: int
    recent_train_rows: int
    recent_evaluation_rows: int

    def summary(self) -> dict[str, int]:
        """Returns the row counts, as recorded with the retraining job."""
        return {
            "original_rows": self.original_rows,
            "original_test_rows": self.original_test_rows,
            "recent_train_rows": self.recent_train_rows,
            "recent_evaluation_rows": self.recent_evaluation_rows,
            "evaluation_rows": 0 if self.evaluation is None else len(self.evaluation),
        }


def held_back(position: int, share: float = EVALUATION_SHARE) -> bool:
    """Returns whether the labelled prediction at ``position`` (in time order) is held back.

    Spread evenly over time (3 of every 10 for the default share), so the
    evaluation rows cover the whole recent period and the same feedback
    always gives the same split.
    """
    slots = 10
    return (position % slots) < round(share * slots)


def retraining_data(
    original: pd.DataFrame, spec: TrainSpec, task: str, recent: list[LoggedRow]
) -> RetrainingData:
    """Returns the challenger's training rows and the shared evaluation rows."""
    original_train, original_test = split_frame(original, spec)
    target = spec.target or FEEDBACK_TARGET
    usable = [r for r in recent if isinstance(r.inputs, dict) and "session" not in r.inputs]
    usable.sort(key=lambda r: (r.created_at, r.id))
    labelled = [r for r in usable if r.has_actual and r.actual is not None]
    evaluation_rows = [r for i, r in enumerate(labelled) if held_back(i)]
    held = {r.id for r in evaluation_rows}
    if task == "anomaly":
        # Normal behaviour only: confirmed anomalies would teach the detector they are normal.
        # Confirmed normal, or unconfirmed and not flagged: a flagged row whose label has not
        # arrived yet may be a real anomaly, and would be learned as normal.
        learn = [
            r
            for r in usable
            if r.id not in held
            and (not is_anomaly_label(r.actual) if r.has_actual else not r.output.get("is_anomaly"))
        ]
    else:
        learn = [r for r in labelled if r.id not in held]

    recent_train = _frame(learn, spec, target if spec.target else None, task)
    recent_evaluation = _frame(evaluation_rows, spec, target, task)
    train = _concat([original_train, recent_train])
    if train is None:
        raise InvalidInput("There are no rows to retrain on.")
    evaluation_parts = [recent_evaluation]
    if original_test is not None:
        evaluation_parts.insert(0, original_test)
    evaluation = _concat(evaluation_parts)
    return RetrainingData(
        train=train,
        evaluation=evaluation if evaluation is not None and len(evaluation) else None,
        target=target,
        original_rows=len(original),
        original_test_rows=0 if original_test is None else len(original_test),
        recent_train_rows=0 if recent_train is None else len(recent_train),
        recent_evaluation_rows=0 if recent_evaluation is None else len(recent_evaluation),
    )


def _frame(
    rows: list[LoggedRow], spec: TrainSpec, target: str | None, task: str
) -> pd.DataFrame | None:
    """Returns logged inputs as rows (read as the model reads them), labelled when asked."""
    if not rows:
        return None
    frame = pd.DataFrame.from_records([r.inputs for r in rows])
    labels = np.asarray([_label(r, task) for r in rows], dtype=object)
    if spec.feature_kind != "tabular":
        # Raw lines become events the way training read them, so they join the original
        # events; parsed events are indexed by their 1-based line, which finds their label.
        events, report = make_extractor(spec.feature_kind, spec.feature_options).read(frame)
        if report is not None:
            labels = labels[np.asarray(events.index, dtype=int) - 1]
        frame = events.reset_index(drop=True)
    if target is not None:
        frame[target] = labels
    return frame


def _label(row: LoggedRow, task: str) -> Any:
    if task == "anomaly":
        return int(row.has_actual and is_anomaly_label(row.actual))
    return row.actual


def _concat(parts: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    present = [p.reset_index(drop=True) for p in parts if p is not None and len(p)]
    if not present:
        return None
    return pd.concat(present, ignore_index=True)
