"""A calibrated detector's ``calibrate``, ``surprisal_of``, ``severity``: no per-call cost.

``CalibratedAnomalyDetector`` maps a raw score through its training quantiles
with NumPy (``searchsorted``, ``interp``), which costs about 30 µs for one
value: more than a whole isolation forest or a k-NN over a bounded reference
set. ``FastCalibration`` repeats the same arithmetic, in plain floats for one
value and compiled for a batch, and ``verified_calibration`` checks it against
the detector when a model is loaded, so a detector whose calibration has
changed is used as it is.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import numpy as np
from numba import njit

from vigil.algorithms.calibration import SEVERITIES, CalibratedAnomalyDetector

log = logging.getLogger("vigil.serving.fast")

__all__ = ["FastCalibration", "verified_calibration", "warm_up"]


@njit(cache=True, nogil=True)
def _quantile_levels(
    raw: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Returns nothing; writes the level of each raw score among the training quantiles.

    ``np.interp(raw, quantiles, levels)`` with a tie (a score equal to
    several quantiles) given the middle of their levels, step by step as
    ``FastCalibration.level`` does. Past the ends: the first or last level.
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
class FastCalibration:
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
    def of(cls, detector: CalibratedAnomalyDetector) -> FastCalibration:
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

    def surprisal(self, raw: float) -> np.float64:
        """Returns ``surprisal_of([raw])[0]``: ``-log(1 - calibrated score)``."""
        top = self.quantiles[-1]
        # NumPy's log1p on NumPy scalars, which rounds as on arrays.
        if raw > top:
            return np.float64(
                -np.log1p(-self.top_level) + (np.float64(raw) - top) / self.tail_scale
            )
        return np.float64(-np.log1p(np.float64(-self.level(raw))))

    def score(self, raw: float) -> float:
        """Returns ``calibrate([raw])[0]``."""
        return float(-np.expm1(-self.surprisal(raw)))

    def surprisals(self, raw: np.ndarray) -> np.ndarray:
        """Returns ``surprisal_of(raw)`` for a batch."""
        raw = np.ascontiguousarray(raw, dtype=np.float64)
        inside = np.empty_like(raw)
        _quantile_levels(raw, self.quantile_array, self.level_array, inside)
        surprisal = -np.log1p(-inside)
        top = self.quantiles[-1]
        beyond = raw > top
        surprisal[beyond] = -np.log1p(-self.top_level) + (raw[beyond] - top) / self.tail_scale
        return np.asarray(surprisal)

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Returns ``calibrate(raw)`` for a batch."""
        return np.asarray(-np.expm1(-self.surprisals(raw)))

    def severity(self, score: float) -> str:
        """Returns ``severity([score])[0]``: at least ``low`` from the threshold up."""
        if score < self.threshold:
            return SEVERITIES[0]
        return SEVERITIES[max(bisect.bisect_right(self.bands, score), 1)]

    def agrees_with(self, detector: CalibratedAnomalyDetector) -> bool:
        """Returns whether scores, surprisals and severities equal the detector's on probes.

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
            surprisals = np.asarray(detector.surprisal_of(probes))
        except (AttributeError, ValueError, TypeError):
            return False
        one_by_one = np.asarray([self.score(float(p)) for p in probes])
        surprisal_by_one = np.asarray([self.surprisal(float(p)) for p in probes])
        if not (
            np.array_equal(expected, one_by_one)
            and np.array_equal(expected, self.scores(probes))
            and np.array_equal(surprisals, surprisal_by_one)
            and np.array_equal(surprisals, self.surprisals(probes))
        ):
            return False
        cuts = np.asarray([self.threshold, *self.bands])
        levels = np.concatenate([expected, cuts, np.nextafter(cuts, 0.0), [0.0, 1.0]])
        return detector.severity(levels) == [self.severity(float(v)) for v in levels]


def verified_calibration(detector: CalibratedAnomalyDetector) -> FastCalibration | None:
    """Returns the fast calibration of ``detector`` if it agrees with the detector's own."""
    try:
        calibration = FastCalibration.of(detector)
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


def warm_up() -> None:
    """Returns nothing; compiles (or loads from cache) the batch kernel before the first request."""
    values = np.zeros(2, dtype=np.float64)
    out = np.empty(1, dtype=np.float64)
    _quantile_levels(values[:1], values, values, out)
