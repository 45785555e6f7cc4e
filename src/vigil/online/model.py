"""An online metric model: the detector's settings, the columns it reads, the state training left.

:class:`OnlineModel` is what a metrics anomaly model's bundle carries
(``bundle.online``). It reads raw points (the rows ``vigil predict`` reads:
a time, a value and optionally a series), groups them by series, puts each
series in time order (stable: points with one timestamp keep their input
order) and scores them from a given :class:`~vigil.online.state.OnlineState`,
returning the answers in input order and the state after the last point.

Scoring the same points in one call, in pieces (each piece from the state
the previous one returned) or one at a time gives the same answers, bit
for bit: the compiled loop's arithmetic depends only on the state and the
point. Points older than ones already scored are scored in the order they
arrive: nothing already answered is re-scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from vigil.algorithms.params import Param, resolve_params
from vigil.errors import InvalidInput
from vigil.online.detector import (
    DEFAULT_COMPONENTS,
    DEFAULT_HALF_LIFE,
    DEFAULT_REARM,
    FORECAST_COMPONENTS,
    FORECAST_REARM,
    MAX_CYCLE,
    MAX_HALF_LIFE,
    MAX_REFRACTORY,
    OnlineDetector,
)
from vigil.online.state import ARRAYS, OnlineState

# The score at and above which a point is an anomaly. The likelihood maps the
# Gaussian tail of the recent raw scores to (0, 1), 0.5 at their mean; 0.95 is a
# tail probability of about 1e-6, and near the best NAB threshold on the tuning
# categories (0.956 at the current defaults, benchmarks/anomaly/nab.py).
DEFAULT_THRESHOLD = 0.95
# Severity bands between the threshold and 1, in thirds of the surprisal scale.
SEVERITIES = ("low", "medium", "high", "critical")

# The train parameters of a metrics anomaly model that set its online learning;
# the catalogue's detector never sees them.
ONLINE_PARAMS = (
    Param(
        "online",
        "bool",
        True,
        help="keep learning from the points scored (false: a frozen model)",
    ),
    Param(
        "half_life",
        "int",
        DEFAULT_HALF_LIFE,
        help="adaptation speed in points: half the reference is replaced after this many",
        minimum=10,
        maximum=MAX_HALF_LIFE,
    ),
)
# The catalogue algorithm whose online model judges points by the forecast residual.
FORECAST_RESIDUAL = "forecast_residual"
# How long after an alarm a lower score raises none (see vigil.online.kernel, step 4).
REFRACTORY_HOURS = 16
_DAY_NS = 86_400 * 10**9


def split_online_params(
    params: Mapping[str, Any], algorithm: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (the detector's parameters, the online parameters resolved with defaults).

    >>> split_online_params({"online": "false", "n_neighbors": 5}, "auto")
    ({'n_neighbors': 5}, {'online': False, 'half_life': 700})
    """
    names = {p.name for p in ONLINE_PARAMS}
    given = {k: v for k, v in params.items() if k in names}
    rest = {k: v for k, v in params.items() if k not in names}
    return rest, resolve_params(ONLINE_PARAMS, given, algorithm)


@dataclass
class OnlineModel:
    """A fitted online detector: settings, the point columns, and the state after training.

    Build it with :meth:`fit`; score with :meth:`score_in_order`.
    """

    detector: OnlineDetector
    value_column: str
    time_column: str | None
    series_column: str | None
    trained: OnlineState
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def fit(
        cls,
        events: pd.DataFrame,
        detector: OnlineDetector,
        *,
        value_column: str,
        time_column: str | None = None,
        series_column: str | None = None,
    ) -> OnlineModel:
        """Returns the model after learning from the training points ``events``, in time order.

        Training always learns (a frozen model is frozen from its first
        scored point on, not before). With a time column, the day's number
        of points (the cycle) and the refractory span (16 hours) are set
        from the median interval between training points of a series.
        """
        model = cls(detector, value_column, time_column, series_column, detector.empty_state())
        interval = model._interval(events)
        if interval is not None:
            cycle = round(_DAY_NS / interval)
            detector = replace(
                detector,
                cycle=cycle if 2 <= cycle <= MAX_CYCLE else 0,
                refractory=max(1, min(MAX_REFRACTORY, round(REFRACTORY_HOURS * 3600e9 / interval))),
            )
            model.detector, model.trained = detector, detector.empty_state()
        model.trained = model._run(events, model.trained, learn=True)[1]
        return model

    def initial_state(self) -> OnlineState:
        """Returns the state right after training (a copy: scoring never changes the model)."""
        return _current(self.trained).copy()

    def score_in_order(
        self, events: pd.DataFrame, state: OnlineState
    ) -> tuple[list[dict[str, Any]], OnlineState]:
        """Returns one answer per point of ``events`` (input order) and the state after them.

        ``state`` is not changed; each answer holds ``prediction`` and
        ``is_anomaly`` (the same flag), ``score`` in [0, 1) and ``severity``.
        """
        scores, after = self._run(events, _current(state).copy(), learn=None)
        flagged = scores >= self.threshold
        levels = self.severity(scores)
        answers = [
            {"prediction": flag, "score": score, "is_anomaly": flag, "severity": level}
            for score, flag, level in zip(scores.tolist(), flagged.tolist(), levels, strict=True)
        ]
        return answers, after

    def scores(self, events: pd.DataFrame, state: OnlineState) -> tuple[np.ndarray, OnlineState]:
        """Returns the scores of ``events`` (input order) and the state after them."""
        return self._run(events, _current(state).copy(), learn=None)

    def severity(self, scores: np.ndarray) -> list[str]:
        """Returns ``normal`` below the threshold, then low … critical in equal bands up to 1."""
        band = (1.0 - self.threshold) / len(SEVERITIES)
        levels = np.floor((np.asarray(scores) - self.threshold) / band).astype(int)
        return [
            "normal" if score < self.threshold else SEVERITIES[min(level, len(SEVERITIES) - 1)]
            for score, level in zip(np.asarray(scores).tolist(), levels.tolist(), strict=True)
        ]

    def _run(
        self, events: pd.DataFrame, state: OnlineState, learn: bool | None
    ) -> tuple[np.ndarray, OnlineState]:
        """Scores ``events`` from ``state`` (updated in place), per series in time order."""
        if state.settings != self.detector.settings:
            raise InvalidInput(
                "This online state was built for other detector settings "
                f"(window, short, refractory, cycle, likelihood window: {state.settings}; "
                f"the model's: {self.detector.settings})."
            )
        rows = len(events)
        scores = np.zeros(rows)
        if rows == 0:
            return scores, state
        if self.value_column not in events.columns:
            raise InvalidInput(f"Missing value column {self.value_column!r}.")
        values = pd.to_numeric(events[self.value_column], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InvalidInput(
                f"Row {int(bad[0])}: field {self.value_column!r} must be a finite number."
            )
        if self.series_column is not None and self.series_column in events.columns:
            names = events[self.series_column].astype(str).to_numpy()
        else:
            names = np.full(rows, "", dtype=object)
        order = self._order(events)
        for name in pd.unique(names[order]):
            at = order[names[order] == name]
            scores[at] = self.detector.score(values[at], state.of(str(name)), learn=learn)
        return scores, state

    def _interval(self, events: pd.DataFrame) -> float | None:
        """Returns the median time between consecutive points of a series (ns), if known."""
        if self.time_column is None or self.time_column not in events.columns or len(events) < 3:
            return None
        times = _nanoseconds(events[self.time_column])
        if self.series_column is not None and self.series_column in events.columns:
            names = pd.factorize(events[self.series_column].astype(str))[0]
        else:
            names = np.zeros(len(events), dtype=np.int64)
        order = np.lexsort((times, names))
        gaps = np.diff(times[order])[names[order][1:] == names[order][:-1]]
        gaps = gaps[gaps > 0]
        return float(np.median(gaps)) if len(gaps) else None

    def _order(self, events: pd.DataFrame) -> np.ndarray:
        """Returns the row positions in time order (stable), input order without a time column."""
        rows = len(events)
        if self.time_column is None or self.time_column not in events.columns:
            return np.arange(rows)
        return np.argsort(_nanoseconds(events[self.time_column]), kind="stable")


def _current(state: OnlineState) -> OnlineState:
    """Returns ``state``, refusing one pickled by an earlier Vigil that lacks arrays."""
    if not hasattr(state, "likelihood_window") or any(
        not all(hasattr(s, name) for name in ARRAYS) for s in state.series.values()
    ):
        # Nothing such a state learned can stand in for what the detector now keeps.
        raise InvalidInput(
            "This model's online state was saved by an earlier version of Vigil and "
            "lacks what the online detector now keeps; retrain the model."
        )
    return state


def _nanoseconds(column: pd.Series) -> np.ndarray:
    """Returns times as integer nanoseconds since the epoch (UTC), refusing what is no time."""
    times = pd.to_datetime(column, errors="coerce", utc=True)
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise InvalidInput(f"Row {row}: field {column.name!r} is not a time.")
    # The unit pandas infers varies (s, us, ns): one unit before comparing.
    return np.asarray(
        times.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    )


def online_params(
    params: Mapping[str, Any], algorithm: str, feature_kind: str, task: str
) -> tuple[Mapping[str, Any], dict[str, Any] | None]:
    """Returns (the catalogue detector's parameters, the online ones or None).

    Only a metrics anomaly model is online: for it the ``online`` and
    ``half_life`` parameters are taken out (the catalogue's detector never
    sees them) and resolved with their defaults; any other model keeps its
    parameters as given.
    """
    if feature_kind != "metrics" or task != "anomaly":
        return params, None
    return split_online_params(params, algorithm)


def fit_online_model(
    frame: pd.DataFrame,
    extracted: Any,
    online: Mapping[str, Any] | None,
    algorithm: str | None = None,
) -> OnlineModel | None:
    """Returns the online model of a metrics model trained on ``frame`` (raw points), if any.

    ``extracted`` is the trainer's extraction: its fitted metrics extractor
    checks the points and names the time, value and series columns.
    ``online`` holds the resolved ``online`` and ``half_life`` parameters
    (``None``: the model is not online). ``forecast_residual`` judges each
    point by its seasonal forecast's miss alone (re-arming on any new high);
    any other algorithm by the default surprises.
    """
    if online is None or extracted is None:
        return None
    extractor = extracted.extractor
    events, _ = extractor.read(frame)
    features = extractor.features_
    forecast = algorithm == FORECAST_RESIDUAL
    detector = OnlineDetector(
        half_life=int(online["half_life"]),
        learn=bool(online["online"]),
        components=FORECAST_COMPONENTS if forecast else DEFAULT_COMPONENTS,
        rearm=FORECAST_REARM if forecast else DEFAULT_REARM,
    )
    return OnlineModel.fit(
        events,
        detector,
        value_column=features.value_,
        time_column=features.time_,
        series_column=features.series_,
    )
