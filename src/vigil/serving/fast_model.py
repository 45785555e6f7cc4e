"""A trained bundle served by compiled code instead of scikit-learn.

``FastModel.from_bundle`` compiles the bundle's preprocessing
(``compile_preprocessor``) and flattens its forest (``flatten_forest``) or
compiles its anomaly detector (``compile_detector``) when both can be done,
and returns None otherwise, so the caller keeps ``ModelBundle.predict``.
The answers are ``ModelBundle.predict``'s: the same labels and predictions,
probabilities and scores equal to within 1e-9, the same anomaly flags and
severities. (Bit for bit, except where scikit-learn
sums a forest's trees in whatever order its threads finish, with n_jobs > 1.)

Accelerated: ``random_forest`` (and extra-trees) classification and
regression; calibrated anomaly detectors (``fast_detectors``: compiled
kernels for ``isolation_forest``, ``knn``, ``subsampled_knn``, ``ecod``,
``ensemble`` and ``auto``, any other detector such as ``invariants``
through its own ``score_samples``). Explanations are not produced here; ask the bundle
for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from vigil.errors import InvalidInput
from vigil.serving import fast_calibration, fast_preprocess, fast_trees
from vigil.serving.fast_detectors import CalibratedScorer, compile_detector
from vigil.serving.fast_preprocess import CompiledPreprocessor, compile_preprocessor
from vigil.serving.fast_trees import FlatForest, NotCompilable, flatten_forest
from vigil.training.bundle import ModelBundle

log = logging.getLogger("vigil.serving.fast")

__all__ = ["CHUNK_ROWS", "BatchAnswers", "FastModel"]

# Rows of a DataFrame answered at once: bounds the memory of the feature matrix
# (chunk x features x 8 bytes), and chunks are shared among threads.
CHUNK_ROWS = 32_768


@dataclass(frozen=True)
class BatchAnswers:
    """A batch's answers as arrays; ``outputs()`` gives ``ModelBundle.predict``'s dicts.

    Classification fills ``prediction`` (labels) and ``probabilities``
    (rows x classes, columns in ``labels`` order); regression ``prediction``;
    anomaly ``score``, ``is_anomaly`` and ``severity``.
    """

    task: str
    prediction: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    labels: tuple[str, ...] = ()
    score: np.ndarray | None = None
    is_anomaly: np.ndarray | None = None
    severity: list[str] | None = None

    def outputs(self) -> list[dict[str, Any]]:
        """Returns one output dict per row, as ``ModelBundle.predict`` does."""
        if self.task == "anomaly":
            assert self.score is not None and self.is_anomaly is not None
            assert self.severity is not None
            return [
                {"prediction": flag, "score": score, "is_anomaly": flag, "severity": severity}
                for score, flag, severity in zip(
                    self.score.tolist(), self.is_anomaly.tolist(), self.severity, strict=True
                )
            ]
        assert self.prediction is not None
        if self.task == "regression":
            return [{"prediction": value} for value in self.prediction.tolist()]
        assert self.probabilities is not None
        return [
            {"prediction": label, "probabilities": dict(zip(self.labels, row, strict=True))}
            for label, row in zip(
                self.prediction.tolist(), self.probabilities.tolist(), strict=True
            )
        ]


class FastModel:
    """A bundle's preprocessing and model, compiled; answers as ``ModelBundle.predict``.

    Build with ``from_bundle``. Construction compiles or loads the numba
    kernels and runs one row through, so the first request is not slow.
    Instances hold no mutable state: one may serve many threads at once, and
    the batch kernels release the GIL (the one-row kernels keep it: too short to gain).

    ``forest`` is the flattened forest of a classifier, a regressor or an
    isolation forest (None for other detectors); ``detector`` the compiled
    calibrated detector of an anomaly model.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        preprocessor: CompiledPreprocessor,
        forest: FlatForest | None,
        detector: CalibratedScorer | None,
    ) -> None:
        self.task = bundle.task
        self.algorithm = bundle.algorithm
        self.preprocessor = preprocessor
        self.forest = forest
        self.detector = detector
        self._calibration = detector.calibration if detector is not None else None
        self._labels: tuple[str, ...] = ()
        self._answers: list[Any] = []
        if forest is not None and forest.kind == "classifier":
            assert forest.classes is not None
            # The estimator learned class codes; the bundle maps them back to labels.
            self._answers = [_plain(bundle.classes[int(code)]) for code in forest.classes]
            self._labels = tuple(str(_plain(c)) for c in bundle.classes)
        fast_trees.warm_up()
        fast_preprocess.warm_up()
        fast_calibration.warm_up()
        self.predict_row(dict.fromkeys(c.name for c in preprocessor.schema))

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, *, extracted: bool = False) -> FastModel | None:
        """Returns the compiled model, or None when the bundle is not one it accelerates.

        With ``extracted`` the model is compiled for rows its extractor already
        turned into features (``ModelBundle.features_of``; the stream path, which
        extracts each batch with its history), so bundles with an extractor
        compile too; without, their raw events need the extractor and they do not.
        """
        pipeline = bundle.pipeline
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        preprocess, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(preprocess, ColumnTransformer):
            return None
        if getattr(bundle, "extractor", None) is not None and not extracted:
            return None  # its inputs are raw events, read by the bundle's extractor
        try:
            preprocessor = compile_preprocessor(preprocess, bundle.schema)
            if bundle.task == "anomaly":
                detector = compile_detector(estimator, preprocessor.n_features_out)
                return cls(bundle, preprocessor, detector.forest, detector)
            forest = flatten_forest(estimator)
        except NotCompilable as exc:
            log.info("%s is served without the compiled path: %s", bundle.algorithm, exc)
            return None
        expected = {"classification": "classifier", "regression": "regressor"}
        if forest.kind != expected.get(bundle.task):
            return None
        if forest.n_features != preprocessor.n_features_out:
            return None
        if forest.kind == "classifier" and len(bundle.classes) != forest.n_outputs:
            return None
        return cls(bundle, preprocessor, forest, None)

    @property
    def nbytes(self) -> int:
        """Returns the memory held by the compiled model's arrays, in bytes (most of the model)."""
        if self.detector is not None:
            return self.detector.nbytes
        assert self.forest is not None
        return self.forest.nbytes

    # --- one row ---------------------------------------------------------------------

    def predict_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Returns the output dict of one row (a mapping of column name to value)."""
        features = self.preprocessor.transform_row(row)
        if self.detector is not None:
            score = self.detector.score_row(features)
            flag = score >= self.detector.threshold
            severity = self.detector.severity(score)
            return {"prediction": flag, "score": score, "is_anomaly": flag, "severity": severity}
        assert self.forest is not None
        try:
            values = self.forest.predict_row(features)
        except ValueError:
            raise _too_large(0) from None
        if self.forest.kind == "regressor":
            return {"prediction": float(values[0])}
        probabilities = values.tolist()
        return {
            "prediction": self._answers[int(np.argmax(values))],
            "probabilities": dict(zip(self._labels, probabilities, strict=True)),
        }

    # --- batches ---------------------------------------------------------------------

    def predict_rows(
        self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame
    ) -> list[dict[str, Any]]:
        """Returns one output dict per row, in order, for a list of rows or a DataFrame.

        A list is read as ``pd.DataFrame(rows)`` reads it; an empty list gives
        an empty answer.
        """
        return self.predict_batch(rows).outputs()

    def predict_batch(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> BatchAnswers:
        """Returns the answers for a list of rows or a DataFrame as arrays.

        A DataFrame is answered ``CHUNK_ROWS`` rows at a time, the chunks
        spread over the CPUs this process may use (every step but the last
        Python loops releases the GIL).
        """
        if not isinstance(rows, pd.DataFrame):
            return self.predict_features(self.preprocessor.transform_rows(rows))
        if len(rows) <= CHUNK_ROWS:
            return self.predict_features(self.preprocessor.transform_columns(rows))
        starts = range(0, len(rows), CHUNK_ROWS)
        threads = min(len(starts), fast_trees.usable_cpus())
        try:
            if threads <= 1:
                parts = [self._answer_chunk(rows, start) for start in starts]
            else:
                with ThreadPoolExecutor(threads, thread_name_prefix="vigil-fast") as pool:
                    parts = list(pool.map(lambda start: self._answer_chunk(rows, start), starts))
        except InvalidInput:
            # A chunk counts rows from its own top; the whole frame names the right row.
            self.preprocessor.transform_columns(rows)
            raise
        return _concatenate(parts)

    def _answer_chunk(self, frame: pd.DataFrame, start: int) -> BatchAnswers:
        features = self.preprocessor.transform_columns(frame.iloc[start : start + CHUNK_ROWS])
        return self._answer(features, n_threads=1, first_row=start)

    def predict_features(self, features: np.ndarray) -> BatchAnswers:
        """Returns the answers for an already transformed feature matrix."""
        return self._answer(features, n_threads=None, first_row=0)

    def _answer(self, features: np.ndarray, n_threads: int | None, first_row: int) -> BatchAnswers:
        if self.detector is not None:
            scores = self.detector.scores(features, n_threads=n_threads)
            return BatchAnswers(
                task=self.task,
                score=scores,
                is_anomaly=scores >= self.detector.threshold,
                severity=self.detector.severities(scores),
            )
        assert self.forest is not None
        try:
            if self.forest.kind == "regressor":
                values = self.forest.predict(features, n_threads=n_threads)
                return BatchAnswers(task=self.task, prediction=values)
            probabilities = self.forest.predict_proba(features, n_threads=n_threads)
        except ValueError:
            rows32 = np.asarray(features, dtype=np.float32)
            row = int(np.flatnonzero(np.isinf(rows32).any(axis=1))[0])
            raise _too_large(first_row + row) from None
        answers = np.empty(len(self._answers), dtype=object)
        answers[:] = self._answers
        return BatchAnswers(
            task=self.task,
            prediction=answers[np.argmax(probabilities, axis=1)],
            probabilities=probabilities,
            labels=self._labels,
        )


def _concatenate(parts: list[BatchAnswers]) -> BatchAnswers:
    """Returns the chunks' answers as one batch, in order."""

    def joined(name: str) -> Any:
        arrays = [getattr(p, name) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    first = parts[0]
    return BatchAnswers(
        task=first.task,
        prediction=joined("prediction"),
        probabilities=joined("probabilities"),
        labels=first.labels,
        score=joined("score"),
        is_anomaly=joined("is_anomaly"),
        severity=None if first.severity is None else [s for p in parts for s in p.severity or []],
    )


def _too_large(row: int) -> InvalidInput:
    return InvalidInput(
        f"Row {row} holds a value too large for the model (beyond ±3.4e38).",
        errors=[{"loc": ["data", row], "msg": "value too large"}],
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
