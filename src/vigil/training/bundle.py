"""The artifact: the fitted preprocessing and estimator, with what is needed to serve them.

A ``ModelBundle`` is what gets pickled into the artifact store and loaded
back for prediction, so the pipeline that produced the evaluation metrics is
exactly the one that answers requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from vigil.data.schema import ColumnSchema, conform

# How many features an explanation lists.
EXPLAIN_TOP = 3


@dataclass
class NumericProfile:
    """The training distribution of one numeric input column, for explanations."""

    median: float
    low: float  # 1st percentile
    high: float  # 99th percentile
    scale: float  # robust spread (IQR / 1.349, else std, else 1)


@dataclass
class ModelBundle:
    """A trained model ready to answer: schema, pipeline, and task-specific outputs."""

    task: str
    algorithm: str
    params: dict[str, Any]
    schema: list[ColumnSchema]
    pipeline: Pipeline
    target: str | None = None
    classes: list[Any] = field(default_factory=list)
    profiles: dict[str, NumericProfile] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Returns the input columns the model reads."""
        return [c.name for c in self.schema]

    def class_codes(self, labels: pd.Series) -> np.ndarray:
        """Returns each label's index in ``classes`` (-1 for a label never seen in training).

        Labels are matched by their text so that ``1`` and ``"1"`` name the same
        class whether they came from a CSV or a JSON request.
        """
        index = {str(_plain(c)): i for i, c in enumerate(self.classes)}
        return np.asarray([index.get(str(_plain(v)), -1) for v in labels], dtype=int)

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Returns the schema's columns of ``frame``, validated and coerced (extras ignored)."""
        return conform(frame, self.schema)

    def predict(self, frame: pd.DataFrame, *, explain: bool = False) -> list[dict[str, Any]]:
        """Returns one output object per input row, in input order."""
        X = self.prepare(frame)
        if len(X) == 0:
            return []
        estimator = self.pipeline[-1]
        if self.task == "classification":
            codes = np.asarray(self.pipeline.predict(X)).astype(int)
            outputs: list[dict[str, Any]] = [{"prediction": _plain(self.classes[c])} for c in codes]
            if hasattr(estimator, "predict_proba"):
                proba = self.pipeline.predict_proba(X)
                labels = [str(_plain(c)) for c in self.classes]
                for out, row in zip(outputs, proba, strict=True):
                    out["probabilities"] = {
                        label: float(p) for label, p in zip(labels, row, strict=True)
                    }
            return outputs
        if self.task == "regression":
            return [{"prediction": float(v)} for v in self.pipeline.predict(X)]
        if self.task == "clustering":
            return [{"prediction": int(v)} for v in self.pipeline.predict(X)]
        return self._anomaly_outputs(X, explain)

    def anomaly_scores(self, X: pd.DataFrame) -> np.ndarray:
        """Returns calibrated anomaly scores in [0, 1] for already-prepared rows."""
        transformed = self.pipeline[:-1].transform(X)
        return np.asarray(self.pipeline[-1].calibrated_score(transformed))

    def _anomaly_outputs(self, X: pd.DataFrame, explain: bool) -> list[dict[str, Any]]:
        detector = self.pipeline[-1]
        scores = self.anomaly_scores(X)
        flagged = scores >= detector.threshold_
        severities = detector.severity(scores)
        outputs = []
        for i, (score, is_anomaly, severity) in enumerate(
            zip(scores, flagged, severities, strict=True)
        ):
            out: dict[str, Any] = {
                "prediction": bool(is_anomaly),
                "score": float(score),
                "is_anomaly": bool(is_anomaly),
                "severity": severity,
            }
            if explain:
                out["explanation"] = self.explain_row(X.iloc[i])
            outputs.append(out)
        return outputs

    def explain_row(self, row: pd.Series) -> list[dict[str, Any]]:
        """Returns the features of ``row`` furthest from training, with their normal range.

        Numeric features contribute their robust distance from the training
        median (in spreads); a category never seen in training contributes as
        much as the farthest numeric value, so it is always listed.
        """
        items: list[dict[str, Any]] = []
        for name, profile in self.profiles.items():
            value = row[name]
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            distance = abs(float(value) - profile.median) / profile.scale
            items.append(
                {
                    "feature": name,
                    "value": float(value),
                    "normal_range": [profile.low, profile.high],
                    "contribution": distance,
                }
            )
        top_numeric = max((i["contribution"] for i in items), default=1.0)
        for name, seen in self.categories.items():
            value = row[name]
            if value is not None and str(value) not in seen:
                items.append(
                    {
                        "feature": name,
                        "value": str(value),
                        "normal_range": seen[:10],
                        "contribution": max(top_numeric, 1.0),
                    }
                )
        items.sort(key=lambda i: i["contribution"], reverse=True)
        top = items[:EXPLAIN_TOP]
        total = sum(i["contribution"] for i in top) or 1.0
        for item in top:
            item["contribution"] = round(item["contribution"] / total, 4)
        return top


def profile_inputs(
    X: pd.DataFrame, schema: list[ColumnSchema]
) -> tuple[dict[str, NumericProfile], dict[str, list[str]]]:
    """Returns per-column training profiles: numeric ranges and the categories seen."""
    profiles: dict[str, NumericProfile] = {}
    categories: dict[str, list[str]] = {}
    for column in schema:
        values = X[column.name].dropna()
        if column.kind in ("numeric", "boolean") and len(values):
            data = values.to_numpy(dtype=float)
            q1, q25, q50, q75, q99 = np.percentile(data, [1, 25, 50, 75, 99])
            spread = (q75 - q25) / 1.349 or float(np.std(data)) or 1.0
            profiles[column.name] = NumericProfile(float(q50), float(q1), float(q99), float(spread))
        elif column.kind == "categorical":
            counts = values.astype(str).value_counts()
            categories[column.name] = counts.index.tolist()[:1000]
    return profiles, categories


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
