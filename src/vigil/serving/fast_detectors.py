"""Calibrated anomaly detectors (``auto``'s ensembles too) scored without sklearn's overhead.

A calibrated detector (``CalibratedAnomalyDetector``) answers with
``calibrate(raw)``, ``raw`` being minus its wrapped detector's
``score_samples``; an ``AnomalyEnsemble`` (what ``auto`` is on tables)
combines its calibrated members' scores by its rule, and is calibrated in
turn. On one row the detectors themselves spend a few hundred microseconds
per layer on input validation and NumPy's per-call costs; ``compile_detector``
rebuilds the same tree from parts that skip them:

- isolation forest: the flattened forest (``fast_trees``), bit for bit;
- k-NN over random subsamples: the detector's own kernel
  (``knn.subsample_distances``) with the reference arrays prepared once,
  not per call; exact k-NN: the detector's own neighbour index;
- ECOD: its tail-score tables and compiled lookup (``feature_scores``),
  each row summed as the detector sums it (``ecod.row_totals``);
- any other detector (``invariants``, a member of an ensemble…): its own
  ``score_samples``;
- calibrations: ``FastCalibration``, checked against each detector's own;
- the combination: the ensemble's own ``combine_member_scores`` on the
  members' scores in the forms of ``member_forms``, each computed only when
  the rule reads it (a rule reading a form not known here fails the check
  below).

Every part computes what the detector computes on the same feature matrix,
in the same order, so the answers are the slow path's, for one row as for a
batch (``knn`` sums its products in a fixed order so that a row scores the
same alone or among others). ``compile_detector`` scores probe rows both ways
before a model is served and raises ``NotCompilable`` on any difference, so
a detector changed since this was written is answered by the slow path,
never wrongly.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numba import njit
from sklearn.ensemble import IsolationForest

from vigil.algorithms import ecod as ecod_module
from vigil.algorithms import knn as knn_module
from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import AnomalyEnsemble, combine_member_scores
from vigil.algorithms.knn import KNNDetector
from vigil.serving.fast_calibration import FastCalibration, verified_calibration
from vigil.serving.fast_trees import FlatForest, NotCompilable, flatten_forest

__all__ = ["CalibratedScorer", "compile_detector"]

# The largest difference from the detector's own score allowed on the probes (issue 13).
TOLERANCE = 1e-9


def _keeping_the_gil(kernel: Any) -> Any:
    """Returns a twin of a compiled kernel (same code, same options) that keeps the GIL.

    The detectors' kernels release the GIL, which pays on batches shared by
    threads; for one row, taking it back waits for whichever thread (the
    prediction log's writer, a job) took it meanwhile, up to the 5 ms switch
    interval, several times per request. The twin is the same code under
    another name, so numba caches it apart from the original (its cache
    index does not tell the two by their options) and recompiles it when the
    original's source file changes.
    """
    original = kernel.py_func
    twin = types.FunctionType(
        original.__code__,
        original.__globals__,
        f"{original.__name__}_keeping_the_gil",
        original.__defaults__,
        original.__closure__,
    )
    twin.__qualname__ = f"{original.__qualname__}_keeping_the_gil"
    twin.__module__ = original.__module__
    skipped = ("nogil", "nopython")  # nopython is what njit means; numba warns when given
    options = {name: value for name, value in kernel.targetoptions.items() if name not in skipped}
    return njit(cache=True, **options)(twin)


_squared_norms = _keeping_the_gil(knn_module._squared_norms)
_products = _keeping_the_gil(knn_module._products)
_nearest_in_draws = _keeping_the_gil(knn_module._nearest_in_draws)
_tail_scores = _keeping_the_gil(ecod_module._tail_scores)


class RawScorer(Protocol):
    """Minus a wrapped detector's ``score_samples`` of a feature matrix (higher = odder)."""

    @property
    def nbytes(self) -> int:
        """Returns the memory held by the scorer's own arrays, in bytes."""
        ...

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        """Returns the raw scores of the rows of ``X`` (float64, C order)."""
        ...

    def raw_row(self, x: np.ndarray) -> float:
        """Returns ``raw_rows`` of one row (a 1-D float64 array), keeping the GIL."""
        ...


@dataclass(frozen=True, eq=False)
class _ForestScorer:
    forest: FlatForest

    @property
    def nbytes(self) -> int:
        return self.forest.nbytes

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        return -self.forest.score_samples(X, n_threads=n_threads)

    def raw_row(self, x: np.ndarray) -> float:
        return -self.forest.score_sample(x)


@dataclass(frozen=True, eq=False)
class _SubsampledKNNScorer:
    """``KNNDetector`` with ``max_samples``: its kernel, its reference arrays built once."""

    references: np.ndarray
    references_t: np.ndarray
    reference_norms: np.ndarray
    sample_size: int
    k: int
    mean: bool
    rescaled: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def of(cls, detector: KNNDetector) -> _SubsampledKNNScorer:
        assert detector.references_ is not None
        references, references_t, norms = knn_module.reference_arrays(detector.references_)
        # A detector that rescales its features first (min-max) says how; older ones do not.
        rescaled = getattr(detector, "rescaled", None)
        return cls(
            references,
            references_t,
            norms,
            int(detector.sample_size_),
            int(detector.k_),
            detector.method == "mean",
            rescaled,
        )

    @property
    def nbytes(self) -> int:
        return self.references.nbytes + self.references_t.nbytes + self.reference_norms.nbytes

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        if self.rescaled is not None:
            X = self.rescaled(X)
        # score_samples is minus the distance; raw is minus that.
        return knn_module.subsample_distances(
            X,
            self.references,
            self.references_t,
            self.reference_norms,
            self.sample_size,
            self.k,
            self.mean,
        )

    def raw_row(self, x: np.ndarray) -> float:
        # subsample_distances' steps for one row, by the twins that keep the GIL.
        row = x.reshape(1, -1) if self.rescaled is None else self.rescaled(x.reshape(1, -1))
        rows = np.ascontiguousarray(row, dtype=np.float32)
        row_norms = np.empty(1, dtype=np.float32)
        _squared_norms(rows, row_norms)
        products = np.empty((self.reference_norms.shape[0], 1), dtype=np.float32)
        _products(self.references, self.references_t, rows, products)
        distance = np.empty(1, dtype=np.float32)
        _nearest_in_draws(
            products, self.reference_norms, row_norms, self.sample_size, self.k, self.mean, distance
        )
        return float(distance[0])


@dataclass(frozen=True, eq=False)
class _OwnScorer:
    """A detector's own ``score_samples`` (or ``decision_function``), as calibration reads it."""

    detector: Any

    @property
    def nbytes(self) -> int:
        return 0

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        if hasattr(self.detector, "score_samples"):
            return -np.asarray(self.detector.score_samples(X), dtype=float)
        return -np.asarray(self.detector.decision_function(X), dtype=float)

    def raw_row(self, x: np.ndarray) -> float:
        return float(self.raw_rows(x.reshape(1, -1), None)[0])


@dataclass(frozen=True, eq=False)
class _ECODScorer:
    detector: ECODDetector

    @property
    def nbytes(self) -> int:
        tables = ("values_", "offsets_", "at_scores_", "between_scores_")
        return sum(int(getattr(self.detector, name, np.empty(0)).nbytes) for name in tables)

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        # score_samples is minus the summed tail scores: the same sum, negated twice.
        return self._totals(self.detector.feature_scores(X))

    def _totals(self, scores: np.ndarray) -> np.ndarray:
        # In the order the detector sums (ecod.row_totals): equal rows score equal to the bit,
        # which calibration's blocks of equal training scores need.
        if getattr(self.detector, "sequential_sum_", False):
            return ecod_module.row_totals(scores)
        return np.asarray(scores.sum(axis=1))

    def raw_row(self, x: np.ndarray) -> float:
        detector = self.detector
        if not hasattr(detector, "values_"):  # fitted before the tables existed
            return float(self.raw_rows(x.reshape(1, -1), None)[0])
        rows = x.reshape(1, -1)
        scores = np.empty_like(rows)
        tables = (detector.values_, detector.offsets_, detector.at_scores_)
        _tail_scores(rows, *tables, detector.between_scores_, scores)
        return float(self._totals(scores)[0])


@dataclass(frozen=True, eq=False)
class CalibratedScorer:
    """A fitted ``CalibratedAnomalyDetector``: its raw scorer, calibration and threshold.

    ``calibration`` is None when the fast copy disagrees with the detector's
    own (then the detector's NumPy code calibrates, slower but exact).
    """

    detector: CalibratedAnomalyDetector
    raw: RawScorer
    calibration: FastCalibration | None
    forest: FlatForest | None = None  # the wrapped isolation forest, if it is one

    @property
    def threshold(self) -> float:
        """Returns the calibrated score from which a row is an anomaly."""
        return float(self.detector.threshold_)

    @property
    def nbytes(self) -> int:
        """Returns the memory held by the compiled parts, in bytes."""
        return self.raw.nbytes

    def raw_rows(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """Returns the wrapped detector's raw scores (minus its ``score_samples``)."""
        return self.raw.raw_rows(X, n_threads)

    def surprisals(self, raw: np.ndarray) -> np.ndarray:
        """Returns ``detector.surprisal_of(raw)``."""
        if self.calibration is not None:
            return self.calibration.surprisals(raw)
        return np.asarray(self.detector.surprisal_of(raw))

    def scores(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """Returns ``detector.calibrated_score(X)`` for a feature matrix."""
        raw = self.raw_rows(X, n_threads)
        if self.calibration is not None:
            return self.calibration.scores(raw)
        return np.asarray(self.detector.calibrate(raw))

    def surprisal(self, raw: float) -> np.ndarray:
        """Returns ``detector.surprisal_of([raw])`` (one value, in plain floats when it can)."""
        if self.calibration is not None:
            return np.asarray([self.calibration.surprisal(raw)])
        return np.asarray(self.detector.surprisal_of(np.asarray([raw])))

    def score_row(self, features: np.ndarray) -> float:
        """Returns ``detector.calibrated_score`` of one feature vector."""
        raw = self.raw.raw_row(features)
        if self.calibration is not None:
            return self.calibration.score(raw)
        return float(self.detector.calibrate(np.asarray([raw]))[0])

    def severity(self, score: float) -> str:
        """Returns ``detector.severity([score])[0]``."""
        if self.calibration is not None:
            return self.calibration.severity(score)
        return str(self.detector.severity(np.asarray([score]))[0])

    def severities(self, scores: np.ndarray) -> list[str]:
        """Returns ``detector.severity(scores)``."""
        return list(self.detector.severity(scores))


class _Forms(Mapping[str, np.ndarray]):
    """A member's scores in the forms a combination rule reads, each computed when first read.

    The same forms as ``ensemble.member_forms``: ``surprisal``, ``calibrated``
    (``-expm1(-surprisal)``) and ``zscore`` (standardised by the calibration
    scores' mean and spread); the rule reads one.
    """

    _NAMES = ("calibrated", "surprisal", "zscore")

    def __init__(self, member: CalibratedScorer, raw: np.ndarray, *, one: bool = False) -> None:
        self._member = member
        self._raw = raw
        self._one = one  # one row: the surprisal in plain floats, no kernel call
        self._known: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._known:
            self._known[name] = self._compute(name)
        return self._known[name]

    def _compute(self, name: str) -> np.ndarray:
        detector = self._member.detector
        if name == "surprisal":
            if self._one:
                return self._member.surprisal(float(self._raw[0]))
            return self._member.surprisals(self._raw)
        if name == "calibrated":
            return np.asarray(-np.expm1(-self["surprisal"]))
        if name == "zscore":
            # The expression of CalibratedAnomalyDetector.standardised_of, without its checks.
            return (np.asarray(self._raw, dtype=float) - detector.raw_mean_) / detector.raw_scale_
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


@dataclass(frozen=True, eq=False)
class _EnsembleScorer:
    """``AnomalyEnsemble.score_samples``, negated: its members' scores combined by its rule."""

    members: tuple[tuple[str, CalibratedScorer], ...]
    combine: str

    @property
    def nbytes(self) -> int:
        return sum(member.nbytes for _, member in self.members)

    def raw_rows(self, X: np.ndarray, n_threads: int | None) -> np.ndarray:
        forms = {
            name: _Forms(member, member.raw_rows(X, n_threads)) for name, member in self.members
        }
        return np.asarray(combine_member_scores(forms, self.combine))

    def raw_row(self, x: np.ndarray) -> float:
        forms = {
            name: _Forms(member, np.asarray([member.raw.raw_row(x)]), one=True)
            for name, member in self.members
        }
        return float(combine_member_scores(forms, self.combine)[0])


def compile_detector(detector: Any, n_features: int) -> CalibratedScorer:
    """Returns the compiled ``detector`` (a fitted ``CalibratedAnomalyDetector``), checked.

    Raises ``NotCompilable`` when a part has no compiled equivalent or when
    the compiled scores of probe rows differ from the detector's own.
    """
    scorer = _calibrated(detector)
    _check_probes(scorer, n_features)
    return scorer


def _calibrated(detector: Any) -> CalibratedScorer:
    if not isinstance(detector, CalibratedAnomalyDetector) or not hasattr(detector, "detector_"):
        raise NotCompilable(f"No compiled scorer for {type(detector).__name__}.")
    inner = detector.detector_
    forest = None
    raw: RawScorer
    if isinstance(inner, IsolationForest):
        forest = flatten_forest(inner)
        raw = _ForestScorer(forest)
    elif isinstance(inner, KNNDetector) and getattr(inner, "references_", None) is not None:
        raw = _SubsampledKNNScorer.of(inner)
    elif isinstance(inner, KNNDetector | ECODDetector):
        # Exact k-NN asks its neighbour index; ECOD's feature_scores is its compiled lookup.
        raw = _ECODScorer(inner) if isinstance(inner, ECODDetector) else _OwnScorer(inner)
    elif isinstance(inner, AnomalyEnsemble):
        members = tuple((name, _calibrated(member)) for name, member in inner.detectors_)
        raw = _EnsembleScorer(members, inner.combine)
    else:
        # Any other detector (invariants, LOF…) through its own score_samples: the
        # calibration and the preprocessing are still compiled, and the probes check it.
        raw = _OwnScorer(inner)
    return CalibratedScorer(detector, raw, verified_calibration(detector), forest)


def _probe_rows(n_features: int) -> np.ndarray:
    """Returns feature rows that reach every branch: typical, tied, beyond the training range."""
    rng = np.random.default_rng(0)
    typical = rng.normal(size=(12, n_features)) * np.repeat([0.3, 1.0, 3.0], 4)[:, None]
    constant = np.outer([0.0, 1.0, -1.0, 4.0, -4.0, 1e3], np.ones(n_features))
    return np.ascontiguousarray(np.vstack([typical, constant]))


def _check_probes(scorer: CalibratedScorer, n_features: int) -> None:
    """Raises ``NotCompilable`` unless the probes score as the detector scores them."""
    probes = _probe_rows(n_features)
    detector = scorer.detector
    try:
        expected = np.asarray(detector.calibrated_score(probes))
        alone = [float(detector.calibrated_score(probes[i : i + 1])[0]) for i in (0, 5, 13, 17)]
        together = scorer.scores(probes)
        one_by_one = [scorer.score_row(probes[i]) for i in (0, 5, 13, 17)]
    except (AttributeError, ValueError, TypeError, KeyError) as exc:
        raise NotCompilable(f"Probe rows could not be scored: {exc}") from None
    differences = [
        float(np.max(np.abs(together - expected))),
        *(abs(a - b) for a, b in zip(alone, one_by_one, strict=True)),
    ]
    # NaN compares false: a NaN anywhere is a difference.
    if not all(d <= TOLERANCE for d in differences):
        raise NotCompilable(
            f"The compiled {type(detector.detector_).__name__} differs from the detector's own "
            f"scores by up to {max(differences):.3g} on probe rows."
        )
