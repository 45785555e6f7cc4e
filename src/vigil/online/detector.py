"""The online metric detector: settings, and scoring one series' values from a state.

:class:`OnlineDetector` holds only settings; what it learns lives in an
:class:`~vigil.online.state.OnlineState` passed in and updated, so one
detector serves any number of streams, each with its own state.

``half_life`` is the adaptation speed in points: the references are sliding
windows of ``2 x half_life`` points, so ``half_life`` points after a level
shift half of the reference is the new level, and by ``2 x half_life`` all
of it is. A spike stays a spike: one point never moves a window's tails.
It is capped at 4,000 so that a series' state stays under 1 MB. The
anomaly likelihood judges the raw score against a longer history of its own,
``likelihood_window`` points (HTM's 8,640 by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.errors import UsageError
from vigil.online import layout
from vigil.online.state import OnlineState, SeriesState

DEFAULT_HALF_LIFE = 700
MAX_HALF_LIFE = 4000
# The second likelihood's averaging window. HTM averages 10 raw scores (Ahmad et al.
# 2017); with the level surprise that scored lower on the tuning categories (65.4
# against 65.6 with none), so by default the two likelihoods coincide.
DEFAULT_SHORT = 1
# How many recent raw scores the likelihood's Gaussian is fitted to: HTM's historic window
# (8,640 points, 30 days of 5-minute data; Ahmad et al. 2017), longer than the references,
# so that a few weeks of the score's usual ups and downs set how high is unusual. On the
# tuning categories of benchmarks/anomaly/nab.py it scored 68.2 against 67.2 with the
# references' 1,400 points (4,000: 68.0). The cap keeps the largest state under 1 MB.
DEFAULT_LIKELIHOOD_WINDOW = 8640
MAX_LIKELIHOOD_WINDOW = 8640
# Refractory span and cycle length for a stream without timestamps (in points).
DEFAULT_REFRACTORY = 192
MAX_CYCLE = 10_000
# The refractory queue holds up to this many scores per series (2,000: 33 minutes of
# points a second apart).
MAX_REFRACTORY = 2_000
# The surprises of the default detector (layout's bit mask): value, step, level and the
# seasonal forecast's miss, which took the place of the same-time-yesterday difference
# (chosen on the tuning categories of benchmarks/anomaly/nab.py); and the forecast
# residual alone (the ``forecast_residual`` algorithm).
DEFAULT_COMPONENTS = layout.VALUE | layout.STEP | layout.LEVEL | layout.FORECAST
FORECAST_COMPONENTS = layout.FORECAST
# The forecaster's smoothing of its level and of each phase's seasonal offset (per point,
# per day): about 20 points to follow a new level, about 10 days to learn a new profile.
DEFAULT_ALPHA = 0.05
DEFAULT_GAMMA = 0.1
# How much more surprising than the highest score of the refractory span a score must be
# to raise an alarm of its own (vigil.online.kernel, step 4): 1.5 times its surprisal.
# On the tuning categories of benchmarks/anomaly/nab.py 1.5 scored 69.2 (1 -- any new
# high -- 68.2; 1.25 68.4, 1.35 68.8, 1.75 69.2).
DEFAULT_REARM = 1.5
# The forecast residual alone re-arms on any new high: at 1.5 it scored lower on the tuning
# categories (55.2 against 57.8).
FORECAST_REARM = 1.0
MAX_REARM = 100.0


@dataclass(frozen=True)
class OnlineDetector:
    """Settings of the online detector (see :mod:`vigil.online.kernel` for what it computes).

    Parameters
    ----------
    half_life : int
        Adaptation speed in points (the reference windows hold twice as many).
    short : int
        How many recent raw scores the second likelihood averages.
    refractory : int
        How many earlier scores a new alarm must rise above (points).
    cycle : int
        Points in one day, for the cycle residual and the forecast's season (0: none).
    likelihood_window : int
        How many recent raw scores the likelihood's distribution is fitted to.
    components : int
        Which surprises the raw score takes the largest of (``layout``'s bits).
    alpha, gamma : float
        The forecaster's smoothing of its level and of its seasonal offsets.
    rearm : float
        How many times the surprisal of the refractory span's highest score
        a score needs to raise an alarm of its own (1: any new high).
    learn : bool
        Whether scoring keeps learning (``online=true``) or the references
        stay as training left them (``online=false``).
    """

    half_life: int = DEFAULT_HALF_LIFE
    short: int = DEFAULT_SHORT
    refractory: int = DEFAULT_REFRACTORY
    cycle: int = 0
    learn: bool = True
    components: int = DEFAULT_COMPONENTS
    likelihood_window: int = DEFAULT_LIKELIHOOD_WINDOW
    alpha: float = DEFAULT_ALPHA
    gamma: float = DEFAULT_GAMMA
    rearm: float = DEFAULT_REARM

    def __post_init__(self) -> None:
        for name, low, high in (
            ("half_life", 10, MAX_HALF_LIFE),
            ("short", 1, 1000),
            ("refractory", 1, MAX_REFRACTORY),
            ("cycle", 0, MAX_CYCLE),
            ("likelihood_window", layout.MIN_REFERENCE, MAX_LIKELIHOOD_WINDOW),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise UsageError(f"{name} must be an integer from {low} to {high}; got {value!r}.")
        if not 0 < self.components <= layout.ALL_COMPONENTS:
            raise UsageError(
                f"components must be a non-empty set of surprises; got {self.components}."
            )
        for name in ("alpha", "gamma"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise UsageError(f"{name} must lie in (0, 1]; got {getattr(self, name)!r}.")
        if not 1.0 <= self.rearm <= MAX_REARM:
            raise UsageError(f"rearm must lie in [1, {MAX_REARM:g}]; got {self.rearm!r}.")

    @property
    def window(self) -> int:
        """Returns the length of the reference windows (points)."""
        return 2 * self.half_life

    @property
    def settings(self) -> tuple[int, int, int, int, int]:
        """Returns the sizes a state for this detector has.

        (window, short, refractory, cycle, likelihood window), as
        :attr:`OnlineState.settings`.
        """
        return (self.window, self.short, self.refractory, self.cycle, self.likelihood_window)

    def empty_state(self) -> OnlineState:
        """Returns a state that knows no series yet."""
        return OnlineState(*self.settings)

    def score(
        self, values: np.ndarray, state: SeriesState, *, learn: bool | None = None
    ) -> np.ndarray:
        """Returns the score of each value (time order), updating ``state`` in place.

        ``learn`` overrides the detector's own setting: training always
        learns from its points, whatever the model does after.
        """
        from vigil.online.kernel import score_run  # numba compiles on first use, not at import

        values = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty(len(values))
        if len(values):
            score_run(
                values,
                self.learn if learn is None else learn,
                self.cycle,
                self.components,
                self.alpha,
                self.gamma,
                self.rearm,
                out,
                state.value_ring,
                state.value_sorted,
                state.step_ring,
                state.step_sorted,
                state.cycle_ring,
                state.cycle_sorted,
                state.history,
                state.recent,
                state.level_ring,
                state.level_sorted,
                state.raw_ring,
                state.point_ring,
                state.mean_ring,
                state.peak_scores,
                state.peak_times,
                state.season,
                state.residual_ring,
                state.residual_sorted,
                state.counts,
                state.scalars,
            )
        return out
