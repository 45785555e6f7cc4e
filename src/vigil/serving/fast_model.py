"""A trained tree-ensemble bundle served by compiled code instead of scikit-learn.

``FastModel.from_bundle`` compiles the bundle's preprocessing
(``compile_preprocessor``) and flattens its forest (``flatten_forest``) when
both can be done, and returns None otherwise, so the caller keeps
``ModelBundle.predict``. The answers are ``ModelBundle.predict``'s: the same
labels and predictions, probabilities and scores equal to within 1e-9, the
same anomaly flags and severities. (Bit for bit, except where scikit-learn
sums a forest's trees in whatever order its threads finish, with n_jobs > 1.)

Accelerated: ``random_forest`` (and extra-trees) classification and
regression, and ``isolation_forest`` anomaly bundles. Explanations are not
produced here; ask the bundle for them.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline

from vigil.algorithms.calibration import SEVERITIES, CalibratedAnomalyDetector
from vigil.errors import InvalidInput
from vigil.serving import fast_preprocess, fast_trees
from vigil.serving.fast_preprocess import CompiledPreprocessor, compile_preprocessor
from vigil.serving.fast_trees import FlatForest, NotCompilable, flatten_forest
from vigil.training.bundle import ModelBundle

log = logging.getLogger("vigil.serving.fast")

__all__ = ["CHUNK_ROWS", "BatchAnswers", "FastModel"]

# Rows of a DataFrame answered at once: bounds the memory of the feature matrix
# (chunk x features x 8 bytes), and chunks are shared among threads.
CHUNK_ROWS = 32_768


@njit(cache=True, nogil=True)
def _quantile_levels(
    raw: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Returns nothing; writes the level of each raw score among the training quantiles.

    ``np.interp(raw, quantiles, levels)`` with a tie (a score equal to
    several quantiles) given the middle of their levels, step by step as
    ``_Calibration.level`` does. Past the ends: the first or last level.
    """
    n = quantiles.shape[0]
    for i in range(raw.shape[0]):
        x = raw[i]
        lo, hi = 0, n
        while lo < hi:  # first quantile >= x
            mid = (lo + hi) // 2
            if quantiles[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        left = lo
        hi = n
        while lo < hi:  # first quantile > x
            mid = (lo + hi) // 2
            if quantiles[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        right = lo
        if right - left > 1:
            out[i] = (levels[left] + levels[right - 1]) / 2
        elif right - left == 1:
            out[i] = levels[left]
        elif left == 0:
            out[i] = levels[0]
        elif left == n:
            out[i] = levels[n - 1]
        else:
            j = left - 1
            slope = (levels[j + 1] - levels[j]) / (quantiles[j + 1] - quantiles[j])
            out[i] = slope * (x - quantiles[j]) + levels[j]


@dataclass(frozen=True)
class _Calibration:
    """``CalibratedAnomalyDetector.calibrate`` and ``severity`` without NumPy's per-call cost.

    NumPy's versions cost about 30 µs for a single value, more than the whole
    forest, and three binary searches per value in a batch. These repeat the
    same arithmetic: the level among the training quantiles step by step (in
    plain floats for one value, compiled for a batch), then the same NumPy
    expressions. ``agrees_with`` checks them against the detector when a model
    is loaded; a detector whose calibration has changed is used as it is.
    """

    quantiles: list[float]
    levels: list[float]
    quantile_array: np.ndarray
    level_array: np.ndarray
    top_level: float
    tail_scale: float
    threshold: float
    bands: list[float]

    @classmethod
    def of(cls, detector: CalibratedAnomalyDetector) -> _Calibration:
        """Returns the calibration learned by a fitted ``detector``."""
        quantiles = np.asarray(detector.quantiles_, dtype=np.float64)
        top_level = float(detector.top_level_)
        levels = np.linspace(0.0, top_level, len(quantiles))
        return cls(
            quantiles=quantiles.tolist(),
            levels=levels.tolist(),
            quantile_array=quantiles,
            level_array=levels,
            top_level=top_level,
            tail_scale=float(detector.tail_scale_),
            threshold=float(detector.threshold_),
            bands=[float(b) for b in detector.bands_],
        )

    def level(self, raw: float) -> float:
        """Returns the level of one raw score among the training quantiles."""
        quantiles, levels = self.quantiles, self.levels
        left = bisect.bisect_left(quantiles, raw)
        right = bisect.bisect_right(quantiles, raw)
        if right - left > 1:
            return (levels[left] + levels[right - 1]) / 2
        if right - left == 1:
            return levels[left]
        if left == 0:
            return levels[0]
        if left == len(quantiles):
            return levels[-1]
        # np.interp strictly between two quantiles, in its order of operations.
        j = left - 1
        slope = (levels[j + 1] - levels[j]) / (quantiles[j + 1] - quantiles[j])
        return slope * (raw - quantiles[j]) + levels[j]

    def score(self, raw: float) -> float:
        """Returns ``calibrate([raw])[0]``."""
        top = self.quantiles[-1]
        # NumPy's log1p and expm1 on NumPy scalars, which round as on arrays.
        if raw > top:
            surprisal = -np.log1p(-self.top_level) + (np.float64(raw) - top) / self.tail_scale
        else:
            surprisal = -np.log1p(np.float64(-self.level(raw)))
        return float(-np.expm1(-surprisal))

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Returns ``calibrate(raw)`` for a batch."""
        raw = np.ascontiguousarray(raw, dtype=np.float64)
        inside = np.empty_like(raw)
        _quantile_levels(raw, self.quantile_array, self.level_array, inside)
        surprisal = -np.log1p(-inside)
        top = self.quantiles[-1]
        beyond = raw > top
        surprisal[beyond] = -np.log1p(-self.top_level) + (raw[beyond] - top) / self.tail_scale
        return np.asarray(-np.expm1(-surprisal))

    def severity(self, score: float) -> str:
        """Returns ``severity([score])[0]``: at least ``low`` from the threshold up."""
        if score < self.threshold:
            return SEVERITIES[0]
        return SEVERITIES[max(bisect.bisect_right(self.bands, score), 1)]

    def agrees_with(self, detector: CalibratedAnomalyDetector) -> bool:
        """Returns whether scores and severities equal the detector's on probe values.

        The probes are every training quantile, the midpoints between them,
        values below and far beyond them, and the severity cut-offs.
        """
        quantiles = self.quantile_array
        spread = max(quantiles[-1] - quantiles[0], 1e-6)
        probes = np.concatenate(
            [
                quantiles,
                (quantiles[:-1] + quantiles[1:]) / 2,
                quantiles[0] - spread * np.asarray([1e-3, 1.0]),
                quantiles[-1] + spread * np.asarray([1e-6, 1e-3, 0.1, 1.0, 10.0, 1e3]),
            ]
        )
        try:
            expected = np.asarray(detector.calibrate(probes))
        except (AttributeError, ValueError, TypeError):
            return False
        one_by_one = np.asarray([self.score(float(p)) for p in probes])
        if not (
            np.array_equal(expected, one_by_one) and np.array_equal(expected, self.scores(probes))
        ):
            return False
        cuts = np.asarray([self.threshold, *self.bands])
        levels = np.concatenate([expected, cuts, np.nextafter(cuts, 0.0), [0.0, 1.0]])
        return detector.severity(levels) == [self.severity(float(v)) for v in levels]


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
    """A bundle's preprocessing and forest, compiled; answers as ``ModelBundle.predict``.

    Build with ``from_bundle``. Construction compiles or loads the numba
    kernels and runs one row through, so the first request is not slow.
    Instances hold no mutable state: one may serve many threads at once, and
    the batch kernels release the GIL (the one-row kernels keep it: too short to gain).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        preprocessor: CompiledPreprocessor,
        forest: FlatForest,
        calibration: _Calibration | None,
        detector: CalibratedAnomalyDetector | None,
    ) -> None:
        self.task = bundle.task
        self.algorithm = bundle.algorithm
        self.preprocessor = preprocessor
        self.forest = forest
        self._calibration = calibration
        self._detector = detector
        self._labels: tuple[str, ...] = ()
        self._answers: list[Any] = []
        if forest.kind == "classifier":
            assert forest.classes is not None
            # The estimator learned class codes; the bundle maps them back to labels.
            self._answers = [_plain(bundle.classes[int(code)]) for code in forest.classes]
            self._labels = tuple(str(_plain(c)) for c in bundle.classes)
        fast_trees.warm_up()
        fast_preprocess.warm_up()
        self.predict_row(dict.fromkeys(c.name for c in preprocessor.schema))

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> FastModel | None:
        """Returns the compiled model, or None when the bundle is not one it accelerates."""
        pipeline = bundle.pipeline
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        preprocess, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(preprocess, ColumnTransformer):
            return None
        if getattr(bundle, "extractor", None) is not None:
            return None  # its inputs are raw events, read by the bundle's extractor
        detector = None
        calibration = None
        if bundle.task == "anomaly":
            if not isinstance(estimator, CalibratedAnomalyDetector) or not isinstance(
                getattr(estimator, "detector_", None), IsolationForest
            ):
                return None
            detector = estimator
            calibration = _verified_calibration(estimator)
            estimator = estimator.detector_
        try:
            forest = flatten_forest(estimator)
            preprocessor = compile_preprocessor(preprocess, bundle.schema)
        except NotCompilable:
            return None
        expected = {
            "anomaly": "isolation",
            "classification": "classifier",
            "regression": "regressor",
        }
        if forest.kind != expected.get(bundle.task):
            return None
        if forest.n_features != preprocessor.n_features_out:
            return None
        if forest.kind == "classifier" and len(bundle.classes) != forest.n_outputs:
            return None
        return cls(bundle, preprocessor, forest, calibration, detector)

    @property
    def nbytes(self) -> int:
        """Returns the memory held by the flattened forest, in bytes (the bulk of the model)."""
        return self.forest.nbytes

    # --- one row ---------------------------------------------------------------------

    def predict_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Returns the output dict of one row (a mapping of column name to value)."""
        features = self.preprocessor.transform_row(row)
        if self.forest.kind == "isolation":
            assert self._detector is not None
            raw = -self.forest.score_sample(features)
            if self._calibration is not None:
                score = self._calibration.score(raw)
                severity = self._calibration.severity(score)
            else:
                score = float(self._detector.calibrate(np.asarray([raw]))[0])
                severity = self._detector.severity(np.asarray([score]))[0]
            flag = bool(score >= self._detector.threshold_)
            return {"prediction": flag, "score": score, "is_anomaly": flag, "severity": severity}
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
        if self.forest.kind == "isolation":
            assert self._detector is not None
            raw = -self.forest.score_samples(features, n_threads=n_threads)
            if self._calibration is not None:
                scores = self._calibration.scores(raw)
            else:
                scores = np.asarray(self._detector.calibrate(raw))
            return BatchAnswers(
                task=self.task,
                score=scores,
                is_anomaly=scores >= self._detector.threshold_,
                severity=self._detector.severity(scores),
            )
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


def _verified_calibration(detector: CalibratedAnomalyDetector) -> _Calibration | None:
    """Returns the fast calibration of ``detector`` if it agrees with the detector's own."""
    try:
        calibration = _Calibration.of(detector)
    except AttributeError:
        calibration = None
    if calibration is None or not calibration.agrees_with(detector):
        # Slower (the detector's NumPy code per row) but still exact.
        log.warning(
            "The fast calibration differs from %s.calibrate; using the detector's own.",
            type(detector).__name__,
        )
        return None
    return calibration


def _too_large(row: int) -> InvalidInput:
    return InvalidInput(
        f"Row {row} holds a value too large for the model (beyond ±3.4e38).",
        errors=[{"loc": ["data", row], "msg": "value too large"}],
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
