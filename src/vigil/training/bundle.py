"""The artifact: the fitted preprocessing and estimator, with what is needed to serve them.

A ``ModelBundle`` is what gets pickled into the artifact store and loaded
back for prediction, so the pipeline that produced the evaluation metrics is
exactly the one that answers requests. A model trained on logs, metrics or
requests also carries its fitted feature extractor: prediction reads raw
events (or raw lines) through it, and a session model answers once per
session, each answer naming its ``"session"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from vigil.data.schema import ColumnSchema, conform
from vigil.errors import InvalidInput
from vigil.features.extractors import Extracted, FeatureExtractor
from vigil.features.parsers import ParseReport

if TYPE_CHECKING:
    from vigil.online import OnlineModel, OnlineState

# How many features an explanation lists.
EXPLAIN_TOP = 3
# Differences below this share of a feature's magnitude are rounding (see features/windows.py).
EXPLAIN_RESOLUTION = 1e-9


@dataclass
class NumericProfile:
    """The training distribution of one numeric input column, for explanations."""

    median: float
    low: float  # 1st percentile
    high: float  # 99th percentile
    scale: float  # robust spread (IQR / 1.349, else std, else 1)


@dataclass
class BatchPrediction:
    """One output per unit (row, event or session) in order, and how raw lines were read."""

    outputs: list[dict[str, Any]]
    parse_report: ParseReport | None = None


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
    extractor: FeatureExtractor | None = None
    # A bounded sample of the training inputs (schema columns), the reference for drift.
    reference: pd.DataFrame | None = None
    # A metrics anomaly model's online detector (vigil.online): it answers predictions,
    # scoring points in time order from a state it keeps learning in.
    online: OnlineModel | None = None

    @property
    def feature_kind(self) -> str:
        """Returns how raw inputs become features: tabular, logs, metrics or requests."""
        return self.extractor.kind if self.extractor is not None else "tabular"

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
        """Returns the schema's columns of ``frame``, validated and coerced (extras ignored).

        With an extractor, ``frame`` holds raw events or lines and the result
        is their feature rows.
        """
        if self.extractor is None:
            return conform(frame, self.schema)
        return self._extract(frame)[0]

    def _extract(
        self, frame: pd.DataFrame
    ) -> tuple[pd.DataFrame, Extracted, ParseReport | None, pd.DataFrame]:
        """Returns (feature rows, extraction, parse report, events) of raw input ``frame``."""
        assert self.extractor is not None
        events, report = self.extractor.read(frame)
        features, extracted = self.features_of(events)
        assert extracted is not None
        return features, extracted, report, events

    def features_of(self, events: pd.DataFrame) -> tuple[pd.DataFrame, Extracted | None]:
        """Returns the model's input rows for events already read, with the extraction.

        With an extractor: the feature rows of ``events`` (as ``extractor.read``
        gives them; a stream passes its history followed by the batch) in the
        schema's columns. Without: the rows conformed to the schema, and None.
        """
        if self.extractor is None:
            return conform(events, self.schema), None
        extracted = self.extractor.transform(events)
        # The extractor writes float columns itself; only their selection is needed.
        return extracted.features.reindex(columns=self.feature_names), extracted

    def predict_rows(self, X: pd.DataFrame) -> list[dict[str, Any]]:
        """Returns one output object per row of model inputs (``features_of``), without
        explanations: the last step of ``predict``."""
        return self._predict_rows(X, False)

    def labelled(self, frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
        """Returns prepared rows and their labels from labelled data, for evaluation.

        Rows without a label are left out. With an extractor, the label column
        is read from the events and set aside before features are extracted;
        a session is anomalous when any of its events is.
        """
        if self.extractor is None:
            if target not in frame.columns:
                raise _no_target(target, frame)
            labelled = frame[frame[target].notna()]
            if labelled.empty:
                raise InvalidInput(f"Target column {target!r} has no values to evaluate against.")
            X = self.prepare(labelled).reset_index(drop=True)
            return X, labelled[target].reset_index(drop=True)
        events, _ = self.extractor.read(frame)
        if target not in events.columns:
            raise _no_target(target, events)
        labels = events[target]
        extracted = self.extractor.transform(events.drop(columns=[target]))
        if extracted.keys is None and self.task != "anomaly":
            y = labels.reset_index(drop=True)
        else:
            y = pd.Series(extracted.units.labels(anomaly_labels(labels)))
        X = conform(extracted.features, self.schema).reset_index(drop=True)
        keep = y.notna().to_numpy()
        if not keep.any():
            raise InvalidInput(f"Target column {target!r} has no values to evaluate against.")
        return X[keep].reset_index(drop=True), y[keep].reset_index(drop=True)

    def predict(self, frame: pd.DataFrame, *, explain: bool = False) -> list[dict[str, Any]]:
        """Returns one output object per unit (input row, event or session), in input order."""
        return self.predict_with_report(frame, explain=explain).outputs

    def predict_with_report(self, frame: pd.DataFrame, *, explain: bool = False) -> BatchPrediction:
        """Returns the outputs for ``frame`` with the parse report of raw lines.

        Sessions come in order of first appearance, each output starting with
        its ``"session"`` key; events parsed from raw lines carry their ``"line"``.
        """
        if self.extractor is None:
            return BatchPrediction(self._predict_rows(self.prepare(frame), explain))
        if getattr(self, "online", None) is not None:
            outputs, _ = self.score_in_order(frame, self.initial_state(), explain=explain)
            return BatchPrediction(outputs)
        X, extracted, report, _ = self._extract(frame)
        outputs = self._predict_rows(X, explain)
        if extracted.keys is not None:
            outputs = [
                {"session": key, **out} for key, out in zip(extracted.keys, outputs, strict=True)
            ]
        elif extracted.lines is not None:
            outputs = [
                {"line": line, **out}
                for line, out in zip(extracted.lines.tolist(), outputs, strict=True)
            ]
        return BatchPrediction(outputs, report)

    def initial_state(self) -> OnlineState:
        """Returns the online state right after training (see vigil.online)."""
        if getattr(self, "online", None) is None:
            raise InvalidInput(f"This {self.algorithm} model has no online state.")
        assert self.online is not None
        return self.online.initial_state()

    def score_in_order(
        self, frame: pd.DataFrame, state: OnlineState, *, explain: bool = False
    ) -> tuple[list[dict[str, Any]], OnlineState]:
        """Returns one output per raw point of ``frame`` (input order) and the next state.

        The points are checked as a prediction's are, then scored in time
        order from ``state`` (left unchanged) by the online model.
        """
        if getattr(self, "online", None) is None or self.extractor is None:
            raise InvalidInput(f"This {self.algorithm} model has no online state.")
        assert self.online is not None
        events, _ = self.extractor.read(frame)
        outputs, after = self.online.score_in_order(events, state)
        if explain and outputs:
            X = self.extractor.transform(events).features.reindex(columns=self.feature_names)
            for i, out in enumerate(outputs):
                out["explanation"] = self.explain_row(X.iloc[i])
        return outputs, after

    def _predict_rows(self, X: pd.DataFrame, explain: bool) -> list[dict[str, Any]]:
        """Returns one output object per prepared row."""
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
        # Plain Python values first: building a dict per row is the cost on big batches.
        outputs: list[dict[str, Any]] = [
            {"prediction": is_anomaly, "score": score, "is_anomaly": is_anomaly, "severity": level}
            for score, is_anomaly, level in zip(
                scores.tolist(), flagged.tolist(), severities, strict=True
            )
        ]
        if explain:
            for i, out in enumerate(outputs):
                out["explanation"] = self.explain_row(X.iloc[i])
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
            # A difference below the feature's resolution is rounding, not distance: a
            # window rate of -1e-16 against a training median of 5e-17 is no reason at all.
            resolution = EXPLAIN_RESOLUTION * max(
                abs(profile.low), abs(profile.high), abs(profile.median)
            )
            gap = abs(float(value) - profile.median)
            distance = max(gap - resolution, 0.0) / max(profile.scale, resolution)
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


def _no_target(target: str, frame: pd.DataFrame) -> InvalidInput:
    return InvalidInput(
        f"Target column {target!r} does not exist; columns are: "
        + ", ".join(map(str, frame.columns))
        + "."
    )


def anomaly_labels(y: pd.Series) -> np.ndarray:
    """Returns 0/1 labels from a label column (1, true, yes, anomaly… = anomaly)."""
    if pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return (y.astype(float) > 0).astype(int).to_numpy()
    lowered = y.astype(str).str.strip().str.lower()
    return (
        lowered.isin({"1", "true", "yes", "anomaly", "anom", "abnormal", "attack", "fraud"})
        .astype(int)
        .to_numpy()
    )
