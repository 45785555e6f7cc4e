"""Anomaly scores calibrated to [0, 1] on the training distribution.

Raw detector scores live on scales that differ per algorithm and per data
set. Mapping each raw score through the empirical distribution of the training
scores gives a number that means the same for every detector: 0.97 is "more
unusual than 97% of what was seen in training". Beyond the largest training
score an exponential tail, fitted to the top 1% (at least the top ten) of the
training scores, keeps
ordering extreme points instead of flattening them all to 1.0; surprisals,
``-log(1 - score)``, keep them apart where the scores themselves round to 1.

The threshold that makes a row an anomaly is a quantile of the training
scores, set by ``contamination`` or ``target_fpr``; ``severity`` bands the
anomalies into low, medium, high and critical.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows

SEVERITIES = ("normal", "low", "medium", "high", "critical")
_N_QUANTILES = 1001
# The exponential tail is fitted to the top 1% of the calibration scores, at least this many.
_TAIL_ROWS = 10
_BANDS_EXAMPLE = "0.95,0.98,0.995,0.999"

SeverityBands = tuple[float, float, float, float]
# Neighbour detectors are calibrated on this share of the training rows, the last in
# input order, scored against the rows before them (see ``fit_detector``).
HELD_OUT_SHARE = 0.25


def parse_severity_bands(
    value: str | Sequence[float] | None, threshold: float
) -> SeverityBands | None:
    """Returns the four severity cut-offs in ``value``; raises ``ValueError`` saying what is valid.

    ``value`` is a comma-separated string (``"0.95,0.98,0.995,0.999"``) or a
    sequence of four numbers: where low, medium, high and critical begin. They
    must ascend strictly, lie in [``threshold``, 1] (a band below the threshold
    would grade rows that are not anomalies) and ``None`` means "derive them
    from the threshold".

    Examples
    --------
    >>> parse_severity_bands("0.95, 0.98, 0.995, 0.999", threshold=0.95)
    (0.95, 0.98, 0.995, 0.999)
    """
    if value is None:
        return None
    allowed = (
        f"four strictly ascending numbers in [{threshold:g}, 1] (the threshold to 1) "
        f"for low, medium, high and critical, e.g. {_BANDS_EXAMPLE!r}"
    )
    parts: Sequence[Any] = value.split(",") if isinstance(value, str) else value
    try:
        bands = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise ValueError(f"severity_bands must be {allowed}; got {value!r}.") from None
    if len(bands) != len(SEVERITIES) - 1:
        raise ValueError(f"severity_bands must be {allowed}; got {len(bands)} values.")
    if any(not np.isfinite(b) for b in bands) or any(
        later <= earlier for earlier, later in itertools.pairwise(bands)
    ):
        raise ValueError(f"severity_bands must be {allowed}; {value!r} does not ascend.")
    if bands[0] < threshold or bands[-1] > 1.0:
        raise ValueError(f"severity_bands must be {allowed}; got {value!r}.")
    return (bands[0], bands[1], bands[2], bands[3])


def flagged_share(contamination: float, target_fpr: float | None) -> float:
    """Returns the share of training rows above the threshold (``target_fpr`` if set).

    Raises ``ValueError`` naming the parameter when the share is outside (0, 0.5].
    """
    name, share = (
        ("contamination", contamination) if target_fpr is None else ("target_fpr", target_fpr)
    )
    if not 0.0 < float(share) <= 0.5:
        raise ValueError(f"{name} must be a number in (0, 0.5]; got {share!r}.")
    return float(share)


def held_out_start(rows: int, share: float = HELD_OUT_SHARE) -> int:
    """Returns the first of the last ``share`` of ``rows`` rows: at least one row each side.

    >>> held_out_start(1000), held_out_start(2)
    (750, 1)
    """
    held = min(max(1, round(share * rows)), rows - 1)
    return rows - held


def fit_detector(detector: Any, X: Any) -> tuple[Any, np.ndarray, int]:
    """Returns ``detector`` fitted on ``X``, calibration scores (higher = more normal), and
    the first row they belong to: the scores are those of ``X[start:]``.

    Calibration needs scores distributed like those of new rows. Most
    detectors score their training rows as they would new ones (a row is one
    of thousands in a forest's samples or a feature's distribution), and all
    rows are used (``start`` 0). A neighbour method compares a training row
    with its own neighbourhood, so in-sample it looks more normal than a new
    row; leave-one-out is no cure in a stream, where a row's nearest
    neighbours are the rows just before and after it, which a new row never
    has. So neighbour methods are calibrated on held-out rows, the last
    ``HELD_OUT_SHARE`` in input order, scored by the detector fitted on the
    rows before them alone (split conformal calibration); the detector that
    is kept is fitted on every row. Vigil's detectors that need this do it in
    ``fit_score_samples`` and say where the scores begin
    (``calibration_start_``); scikit-learn's LOF (it has
    ``negative_outlier_factor_``) is refitted here on the earlier rows.
    """
    if hasattr(detector, "fit_score_samples"):
        normal = np.asarray(detector.fit_score_samples(X), dtype=float)
        start = int(getattr(detector, "calibration_start_", 0))
        return detector, normal, start
    detector.fit(X)
    if getattr(detector, "negative_outlier_factor_", None) is not None:
        start = held_out_start(X.shape[0])
        earlier = clone(detector).fit(X[:start])
        return detector, _normal_scores(earlier, X[start:]), start
    return detector, _normal_scores(detector, X), 0


def _tail_scale(raw: np.ndarray) -> float:
    """Returns the scale of the exponential tail fitted to the top 1% of training scores.

    The mean excess over a high quantile is the maximum-likelihood scale of an
    exponential tail (peaks over threshold). Bounded scores (an isolation
    forest's, a calibrated ensemble's) have a short tail, so a row beyond
    them is rarer than a wide scale would say; heavy-tailed distances have a
    long one. Without excesses (ties at the top) the upper spread stands in.

    At least the ten largest scores are used: calibration may rest on a few
    hundred held-out rows (see ``fit_detector``), whose top 1% is one or two
    values, too few to estimate a scale from.
    """
    cut = float(np.quantile(raw, 1.0 - max(0.01, min(_TAIL_ROWS / len(raw), 0.5))))
    excess = raw[raw > cut] - cut
    if excess.size and float(excess.mean()) > 0:
        return float(excess.mean())
    spread = float(np.quantile(raw, 0.99) - np.quantile(raw, 0.5))
    return spread if spread > 0 else float(np.std(raw)) or 1.0


def threshold_cut(raw: np.ndarray, share: float) -> float:
    """Returns the raw score from which a row is an anomaly: at most ``share`` of ``raw`` reach it.

    The ``1 - share`` quantile of the training scores, unless it falls in a
    block of equal scores that holds more than one row beyond the share:
    then the block is normal and the cut moves to the next higher score (or
    just beyond the largest). Equal scores are common where rows repeat (log
    lines, sessions of one event, a neighbour at distance 0); flagging the
    whole block would flag most of the traffic.
    """
    cut = float(np.quantile(raw, 1.0 - share))
    if np.mean(raw >= cut) <= share + 1.0 / len(raw):
        return cut
    above = raw[raw > cut]
    return float(above.min()) if above.size else float(np.nextafter(raw.max(), np.inf))


def _normal_scores(detector: Any, X: Any) -> np.ndarray:
    """Returns ``detector``'s scores of ``X`` oriented so that higher means more normal."""
    if hasattr(detector, "score_samples"):
        return np.asarray(detector.score_samples(X), dtype=float)
    return np.asarray(detector.decision_function(X), dtype=float)


class CalibratedAnomalyDetector(OutlierMixin, BaseEstimator):
    """Wraps an unsupervised detector so its scores are calibrated to [0, 1].

    A calibrated score is the rank of the raw score among the training scores:
    0.97 means more unusual than 97% of the training rows. Inside the training
    range scores run from 0 to ``n / (n + 1)`` for ``n`` training rows; the
    last ``1 / (n + 1)`` is left to rows beyond everything seen in training,
    which approach 1 with an exponential tail (its scale fitted to the top 1%
    of training scores, at least ten) so they keep their order.

    Parameters
    ----------
    detector : estimator
        Any estimator with ``score_samples`` (higher = more normal, as in
        scikit-learn) or ``decision_function``.
    contamination : float
        Expected share of anomalies in the training data, in (0, 0.5]: the
        threshold is the score above which this share of the training rows
        lies.
    target_fpr : float or None
        When set, overrides ``contamination``: the threshold is the
        ``1 - target_fpr`` quantile of the training scores. The arithmetic is
        the same; the assumption differs. ``contamination`` says the training
        data hold that share of anomalies and flags them. ``target_fpr``
        treats the training data as clean (all normal), so the share of
        training rows above the threshold is the false-positive rate to
        expect on normal traffic; set it small (0.001) to page only on what is
        rarer than one normal row in a thousand.
    severity_bands : str, sequence of four floats or None
        Where low, medium, high and critical begin, as calibrated scores
        (e.g. ``"0.95,0.98,0.995,0.999"``), ascending and at least the nominal
        threshold (``1 - target_fpr`` or ``1 - contamination``). ``None``
        places them at 0%, 60%, 90% and 98% of the way from the threshold
        to 1. Whatever the bands, an anomaly is never ``normal`` and a row
        below the threshold is never anything else.

    Attributes
    ----------
    threshold_ : float
        Calibrated score from which a row is an anomaly.
    bands_ : tuple of float
        The four severity cut-offs in use.

    calibration_start_ : int
        The calibration scores are those of the training rows from this one
        on (0 for most detectors; the held-out last rows for neighbour
        methods, see ``fit_detector``).

    Notes
    -----
    Neighbour-based detectors are calibrated on held-out rows scored against
    the earlier rows alone (see ``fit_detector``), so new rows are judged as
    those were. Scoring the training rows themselves again afterwards makes
    each its own neighbour: they look a little more normal, and fewer than
    the share are flagged among them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> model = CalibratedAnomalyDetector(IsolationForest(random_state=0), target_fpr=0.01)
    >>> model = model.fit(X)
    >>> round(model.threshold_, 3)
    0.988
    >>> scores = model.calibrated_score(np.array([[0.0, 0.0, 0.0], [8.0, 8.0, 8.0]]))
    >>> scores.round(3).tolist(), model.severity(scores)
    ([0.002, 1.0], ['normal', 'critical'])
    """

    def __init__(
        self,
        detector: Any = None,
        contamination: float = 0.05,
        target_fpr: float | None = None,
        severity_bands: str | Sequence[float] | None = None,
    ) -> None:
        self.detector = detector
        self.contamination = contamination
        self.target_fpr = target_fpr
        self.severity_bands = severity_bands

    def fit(self, X: Any, y: Any = None) -> CalibratedAnomalyDetector:
        """Returns self, with the detector fitted and its score distribution recorded."""
        self.fit_score_samples(X)
        return self

    def fit_score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the calibrated scores of ``X[calibration_start_:]``, having fitted.

        Those rows are scored as the detector scores them while fitting
        (held out for neighbour methods), which is what an ensemble of
        calibrated detectors needs to calibrate its own combination.
        """
        return -self.calibrate(self.fit_raw_scores(X))

    def fit_raw_scores(self, X: Any) -> np.ndarray:
        """Returns the raw calibration scores of ``X[calibration_start_:]``, having fitted.

        Higher is more anomalous; ``fit_score_samples`` calibrates them.
        """
        X = validate_data(self, X, accept_sparse=["csr", "csc"])
        share = flagged_share(self.contamination, self.target_fpr)
        # Checked before the (possibly long) fit so a bad value fails at once.
        bands = parse_severity_bands(self.severity_bands, 1.0 - share)
        self.detector_, normal, self.calibration_start_ = fit_detector(clone(self.detector), X)
        raw = -normal
        self.quantiles_ = np.quantile(raw, np.linspace(0.0, 1.0, _N_QUANTILES))
        self.top_level_ = len(raw) / (len(raw) + 1.0)
        self.tail_scale_ = _tail_scale(raw)
        # The exact training quantile, mapped: the flagged share of training rows is
        # ``share`` however coarse the 1001-point grid is (target_fpr may be 0.0001).
        cut = threshold_cut(raw, share)
        self.threshold_ = float(self.calibrate(np.array([cut]))[0])
        # scikit-learn's outlier contract: decision_function = score_samples - offset_.
        self.offset_ = -self.threshold_
        self.bands_ = bands if bands is not None else self._derived_bands()
        # For z-scores (``standardised_of``): an ensemble may average members that way.
        self.raw_mean_ = float(np.mean(raw))
        self.raw_scale_ = float(np.std(raw)) or 1.0
        return raw

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self.detector is not None:
            tags.input_tags.sparse = get_tags(self.detector).input_tags.sparse
        return tags

    def _derived_bands(self) -> tuple[float, ...]:
        t = self.threshold_
        gap = 1.0 - t
        return (t, t + 0.6 * gap, t + 0.9 * gap, t + 0.98 * gap)

    def calibrated_score(self, X: Any) -> np.ndarray:
        """Returns calibrated anomaly scores in [0, 1] (higher = more anomalous)."""
        return self.calibrate(self._raw(X))

    def surprisal(self, X: Any) -> np.ndarray:
        """Returns ``-log(1 - calibrated score)``: the same order, but unbounded.

        Far beyond the training maximum calibrated scores all round to 1.0;
        surprisals keep growing linearly with the raw score there, so
        extremes stay apart when detectors are combined.
        """
        return self.surprisal_of(self._raw(X))

    def standardised_of(self, raw: np.ndarray) -> np.ndarray:
        """Returns raw scores as z-scores of the calibration scores (higher = more anomalous).

        Unlike calibrated scores they keep the raw scale's spacing: a distance
        twice as far from the mean counts twice as much.
        """
        check_is_fitted(self, "raw_mean_")
        return (np.asarray(raw, dtype=float) - self.raw_mean_) / self.raw_scale_

    def raw_score(self, X: Any) -> np.ndarray:
        """Returns the wrapped detector's scores of ``X``, higher = more anomalous."""
        return self._raw(X)

    def _raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "quantiles_")
        X = checked_rows(self, X, accept_sparse=["csr", "csc"])
        return -_normal_scores(self.detector_, X)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Returns raw scores (higher = more anomalous) mapped through the training distribution."""
        return -np.expm1(-self.surprisal_of(raw))

    def surprisal_of(self, raw: np.ndarray) -> np.ndarray:
        """Returns ``-log(1 - calibrated score)`` of raw scores (higher = more anomalous)."""
        raw = np.asarray(raw, dtype=float)
        levels = np.linspace(0.0, self.top_level_, _N_QUANTILES)
        # A score equal to several quantiles (many equal training scores) spans their
        # levels, of which interp would pick one end; the middle is the fair rank. One
        # matching quantile is no tie: interp is exact there.
        left = np.searchsorted(self.quantiles_, raw, side="left")
        right = np.searchsorted(self.quantiles_, raw, side="right")
        inside = np.interp(raw, self.quantiles_, levels)
        tied = right - left > 1
        inside[tied] = (levels[left[tied]] + levels[right[tied] - 1]) / 2
        surprisal = -np.log1p(-inside)
        top = self.quantiles_[-1]
        beyond = raw > top
        # Above the training maximum an exponential tail: a new normal row exceeds all n
        # training rows with probability 1 / (n + 1), and the raw score further by x
        # with exp(-x / tail_scale_) of that. Continuous at the maximum, so the order of
        # scores is never inverted there.
        surprisal[beyond] = -np.log1p(-self.top_level_) + (raw[beyond] - top) / self.tail_scale_
        return surprisal

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the calibrated score (higher = more normal), as scikit-learn does."""
        return -self.calibrated_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Returns the distance below the threshold: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """Returns -1 for anomalies and 1 for normal rows (scikit-learn's outlier convention)."""
        return np.where(self.decision_function(X) <= 0, -1, 1)

    def severity(self, scores: np.ndarray) -> list[str]:
        """Returns the severity band of each calibrated score.

        Rows at or above the threshold are at least ``low`` and rows below it
        are ``normal``, so severity never contradicts ``is_anomaly``.
        """
        check_is_fitted(self, "bands_")
        scores = np.asarray(scores, dtype=float)
        index = np.searchsorted(np.asarray(self.bands_), scores, side="right")
        index = np.where(scores >= self.threshold_, np.maximum(index, 1), 0)
        return [SEVERITIES[i] for i in index]

    @property
    def feature_importances_(self) -> np.ndarray:
        """Returns the wrapped detector's feature importances when it has them."""
        return np.asarray(self.detector_.feature_importances_)
