"""An ensemble of anomaly detectors on one scale: their calibrated scores, combined.

Raw scores of different detectors cannot be averaged (a path length and a
distance share no unit), but calibrated scores can: each member's score is
its rank among its own training scores. Detectors see different kinds of
anomaly: an isolation forest finds rows that few random axis-parallel cuts
separate, a k-NN distance finds rows in sparse regions between clusters,
ECOD finds extreme single features.

A member's raw score ``raw`` (higher = more anomalous) takes three forms
(``member_forms``): ``calibrated`` (its rank among the member's calibration
scores, in [0, 1], with an exponential tail beyond them), ``surprisal``
(``-log(1 - calibrated)``: the same order, unbounded where calibrated scores
crowd against 1, so a row far beyond everything seen in training stays far
beyond it) and ``zscore`` (``(raw - mean) / std`` of the calibration
scores). The combination rules (``combine_member_scores``), each reading one
form:

- ``max``: the largest member surprisal (a row any member finds rare);
- ``mean``: the mean surprisal (the mean log-rarity, Fisher's method);
- ``rank``: the mean calibrated score (rank averaging);
- ``zscore``: the mean z-score (standardised averaging, as PyOD's combination).

``auto`` on tables is ``zscore`` of ``isolation_forest`` and ``subsampled_knn``
(k=10, features min-max scaled), chosen on 26 tables (benchmarks/anomaly/
tabular.py); on logs and requests ``max`` of ``subsampled_knn`` and ``ecod``. The combination is
calibrated again by the ``CalibratedAnomalyDetector`` that wraps the ensemble
in the catalogue, so its threshold and severity bands mean what they mean for
a single detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.spec import COMBINATIONS  # how member scores are combined
from vigil.algorithms.validation import checked_rows

# The form of a member's score each rule reads (see ``member_forms``).
_FORM = {"max": "surprisal", "mean": "surprisal", "rank": "calibrated", "zscore": "zscore"}


def member_forms(member: CalibratedAnomalyDetector, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Returns a calibrated member's raw scores in every form a combination rule reads.

    ``calibrated`` (its rank among its calibration scores, in [0, 1]),
    ``surprisal`` (``-log(1 - calibrated)``) and ``zscore`` (the raw score
    standardised by the mean and standard deviation of the calibration
    scores); higher is more anomalous in each.
    """
    surprisal = member.surprisal_of(raw)
    return {
        "calibrated": -np.expm1(-surprisal),
        "surprisal": surprisal,
        "zscore": member.standardised_of(raw),
    }


def combine_member_scores(
    forms: Mapping[str, Mapping[str, np.ndarray]], combine: str
) -> np.ndarray:
    """Returns the combination ``combine`` of members' scores (higher = more anomalous).

    ``forms`` maps each member's name to its scores by form (``member_forms``).
    ``max``: the largest surprisal; ``mean``: the mean surprisal; ``rank``:
    the mean calibrated score; ``zscore``: the mean z-score.

    >>> forms = {
    ...     "a": {"surprisal": np.array([0.1, 3.0]), "calibrated": np.array([0.1, 0.95]),
    ...           "zscore": np.array([-1.0, 4.0])},
    ...     "b": {"surprisal": np.array([0.5, 1.0]), "calibrated": np.array([0.4, 0.63]),
    ...           "zscore": np.array([0.0, 1.0])},
    ... }
    >>> [combine_member_scores(forms, rule).round(3).tolist() for rule in COMBINATIONS]
    [[0.5, 3.0], [0.3, 2.0], [0.25, 0.79], [-0.5, 2.5]]
    """
    if combine not in COMBINATIONS:
        raise ValueError(f"combine must be one of {COMBINATIONS}; got {combine!r}.")
    stacked = np.vstack([np.asarray(scores[_FORM[combine]]) for scores in forms.values()])
    return stacked.max(axis=0) if combine == "max" else stacked.mean(axis=0)


class AnomalyEnsemble(BaseEstimator):
    """Combines detectors by their calibrated scores (higher ``score_samples`` = more normal).

    Parameters
    ----------
    detectors : list of (str, estimator)
        Named members: detectors with ``score_samples`` or
        ``decision_function`` (each wrapped in a ``CalibratedAnomalyDetector``)
        or ``CalibratedAnomalyDetector`` instances.
    combine : {"max", "mean"}
        The largest member surprisal, or the mean.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from vigil.algorithms.knn import KNNDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2))
    >>> ensemble = AnomalyEnsemble(
    ...     [("forest", IsolationForest(random_state=0)), ("knn", KNNDetector())]
    ... ).fit(X)
    >>> rows = np.array([[0.0, 0.0], [5.0, -5.0]])
    >>> {name: scores.round(3).tolist() for name, scores in ensemble.member_scores(rows).items()}
    {'forest': [0.087, 1.0], 'knn': [0.034, 1.0]}
    >>> {name: member.surprisal(rows).round(1).tolist() for name, member in ensemble.detectors_}
    {'forest': [0.1, 8.1], 'knn': [0.0, 15.5]}
    >>> (-ensemble.score_samples(rows)).round(1).tolist()
    [0.1, 15.5]
    """

    def __init__(
        self, detectors: Sequence[tuple[str, Any]] | None = None, combine: str = "max"
    ) -> None:
        self.detectors = detectors
        self.combine = combine

    def fit(self, X: Any, y: Any = None) -> AnomalyEnsemble:
        """Returns self, with every member fitted and calibrated."""
        self.fit_score_samples(X)
        return self

    def fit_score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the combined scores of ``X[calibration_start_:]``, having fitted.

        Each member scores the training rows as it does while fitting, and
        says from which row its scores are honest (neighbour methods hold
        out the last rows, see ``fit_detector``); the combination is taken
        on the rows every member scored honestly, so the outer calibration
        sees it distributed like that of new rows.
        """
        if self.combine not in COMBINATIONS:
            raise ValueError(f"combine must be one of {COMBINATIONS}; got {self.combine!r}.")
        if not self.detectors:
            raise ValueError("detectors must name at least one (name, detector) pair.")
        names = [name for name, _ in self.detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"detector names must be unique; got {names}.")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        members = []
        training = []
        for name, detector in self.detectors:
            member = (
                clone(detector)
                if isinstance(detector, CalibratedAnomalyDetector)
                else CalibratedAnomalyDetector(clone(detector))
            )
            training.append(member.fit_raw_scores(X))
            members.append((name, member))
        self.detectors_: list[tuple[str, CalibratedAnomalyDetector]] = members
        start = max(member.calibration_start_ for _, member in members)
        self.calibration_start_ = start
        common = {
            name: member_forms(member, raw[start - member.calibration_start_ :])
            for raw, (name, member) in zip(training, members, strict=True)
        }
        return -combine_member_scores(common, self.combine)

    def member_scores(self, X: Any) -> dict[str, np.ndarray]:
        """Returns each member's calibrated scores of ``X`` (higher = more anomalous), by name."""
        check_is_fitted(self, "detectors_")
        X = checked_rows(self, X, dtype=np.float64)
        return {name: member.calibrated_score(X) for name, member in self.detectors_}

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the combined member scores (higher = more normal)."""
        check_is_fitted(self, "detectors_")
        X = checked_rows(self, X, dtype=np.float64)
        forms = {
            name: member_forms(member, member.raw_score(X)) for name, member in self.detectors_
        }
        return -combine_member_scores(forms, self.combine)
