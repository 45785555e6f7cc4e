"""Drift of a forecast model: the series' recent behaviour against what it was trained on.

A forecaster has no input rows to compare, so drift is judged from the
actuals that arrived through feedback, per series, by two tests of
``drift.numeric_drift`` (KS while the reference is small, PSI reported):

- ``error``: the forecast errors of the logged points whose actuals came
  (actual minus forecast), against the backtest's errors kept with the
  version (each window's actuals minus its forecast), both divided by the
  series' MASE scale (the in-sample seasonal naive error), as live MASE is.
  Errors that moved (a bias, a wider spread) mean the model no longer fits.
- ``level``: the actuals against the series' training values, each taken
  as its distance from the training's mean at the same phase of the season
  (hour of day for hourly data), so a daily cycle is not read as a shift.
  The training values' own distances (each from the mean of the other
  cycles at its phase) are the reference. A level shift shows here even
  when forecasts were made from a ``history`` that already followed it.

A series has drifted when either test says so; the model has drifted when
the share of drifted series reaches the policy's ``drift_share``. When no
series has enough actuals alone, their samples are pooled (``all_series``)
and that test decides. The answer has the shape of other models' drift:
``features`` holds each series' tests as ``<series>.level`` and
``<series>.error``, the drifted series are the ``drifted_fields``, and
``series`` gives each series' verdict.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.monitoring.drift import DriftSettings, numeric_drift

if TYPE_CHECKING:
    from vigil.forecast.model import SeriesFit
    from vigil.monitoring.feedback import LoggedRow
    from vigil.training.forecasting import ForecastBundle

# A series is judged on at least this many actual points per test: below it a KS
# test finds only shifts far larger than the ones worth an alert.
MIN_SERIES_POINTS = 10
KINDS = ("level", "error")
# The name of the pooled tests of series too short to judge alone.
POOLED = "all_series"


def forecast_drift(
    bundle: ForecastBundle, logged: Sequence[LoggedRow], settings: DriftSettings
) -> dict[str, Any]:
    """Returns per-series and overall drift of ``bundle``'s series from the logged actuals.

    ``logged`` are the version's logged forecast points (any order); those
    without an actual are ignored. The caller refuses when none has one.
    """
    import pandas as pd

    forecaster = bundle._fitted()
    errors: dict[str, list[float]] = defaultdict(list)
    actuals: dict[str, dict[pd.Timestamp, float]] = defaultdict(dict)
    for row in logged:
        series, when = row.output.get("series"), row.output.get("timestamp")
        value, forecast = row.actual, row.output.get("forecast")
        if not row.has_actual or not _number(value) or str(series) not in forecaster.fits:
            continue
        if _number(forecast):
            errors[str(series)].append(float(value) - float(forecast))  # type: ignore[arg-type]
        if isinstance(when, str):
            # Several forecasts of one time share its actual: the level counts it once.
            actuals[str(series)][pd.Timestamp(when)] = float(value)
    features: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    verdicts: dict[str, Any] = {}
    pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {k: ([], []) for k in KINDS}
    for name, fit in forecaster.fits.items():
        samples = {
            "level": _level_samples(
                fit, actuals.get(name, {}), forecaster.freq, forecaster.season_lengths
            ),
            "error": _error_samples(fit, errors.get(name, [])),
        }
        verdict: dict[str, Any] = {"drifted": False, "actuals": len(actuals.get(name, {}))}
        for kind, (reference, current) in samples.items():
            key = f"{name}.{kind}"
            if current.size and reference.size:
                pooled[kind][0].append(reference)
                pooled[kind][1].append(current)
            if current.size < MIN_SERIES_POINTS or reference.size < 2:
                skipped[key] = {"kind": "numeric", "drifted": False, "values": int(current.size)}
                verdict[kind] = None
                continue
            test = serial_drift(reference, current, settings)
            features[key] = test
            verdict[kind] = test["drifted"]
            verdict["drifted"] = verdict["drifted"] or test["drifted"]
        verdicts[name] = verdict
    judged = [name for name in verdicts if any(verdicts[name][k] is not None for k in KINDS)]
    drifted_series = [name for name in judged if verdicts[name]["drifted"]]
    if not judged:
        # Many short series (a week of days each): none has enough actuals alone, so
        # their samples, all in MASE scale, are judged together as one.
        for kind, (references, currents) in pooled.items():
            if sum(c.size for c in currents) >= MIN_SERIES_POINTS:
                test = serial_drift(np.concatenate(references), np.concatenate(currents), settings)
                features[f"{POOLED}.{kind}"] = test
        if features:
            judged = [POOLED]
            drifted_series = [POOLED] if any(t["drifted"] for t in features.values()) else []
    share = len(drifted_series) / len(judged) if judged else 0.0
    points = sum(len(v) for v in actuals.values())
    answer: dict[str, Any] = {
        "drifted": bool(judged) and share >= settings.dataset_share,
        "share_drifted": share,
        "drifted_fields": drifted_series,
        "drifted_features": [k for k, r in features.items() if r["drifted"]],
        "rows": points,
        "reference_rows": int(sum(fit.y.size for fit in forecaster.fits.values())),
        "features": features,
        "skipped_features": skipped,
        "series": verdicts,
    }
    if not judged:
        answer["reason"] = (
            f"fewer than {MIN_SERIES_POINTS} actuals in every series to compare ({points} in all)"
        )
    return answer


def serial_drift(
    reference: np.ndarray, current: np.ndarray, settings: DriftSettings
) -> dict[str, Any]:
    """Returns ``numeric_drift``'s report with the KS p-value of a series' dependent points.

    Points of a series are not independent: a promotion or a holiday moves a
    whole day of hours together, and KS read on 24 such hours as 24 draws
    calls one unusual day a shift. The p-value is taken at the effective
    sample sizes instead, ``n (1 - r) / (1 + r)`` for the lag-1
    autocorrelation ``r`` of the reference (as for an AR(1) series), so a
    shift must last to count.
    """
    from scipy import stats

    report = numeric_drift(reference, current, settings)
    r = _lag1_correlation(reference)
    shrink = (1.0 - r) / (1.0 + r)
    n, m = max(1.0, current.size * shrink), max(1.0, reference.size * shrink)
    statistic = float(stats.ks_2samp(reference, current).statistic)
    p_value = float(stats.kstwo.sf(statistic, max(1, round(n * m / (n + m)))))
    report.update(
        test="ks",
        statistic=statistic,
        p_value=p_value,
        drifted=bool(p_value < settings.ks_p_value),
        effective_points=round(n, 1),
    )
    return report


def _lag1_correlation(values: np.ndarray) -> float:
    """Returns the lag-1 autocorrelation of ``values`` in [0, 0.95] (0 when undefined)."""
    if values.size < 3 or np.std(values[:-1]) == 0 or np.std(values[1:]) == 0:
        return 0.0
    r = float(np.corrcoef(values[:-1], values[1:])[0, 1])
    return min(0.95, max(0.0, r)) if np.isfinite(r) else 0.0


def _error_samples(fit: SeriesFit, errors: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Returns (backtest errors, live errors) of one series, in its MASE scale."""
    from vigil.forecast import backtest as bt

    current = np.asarray(errors, dtype=float) / fit.scale
    if fit.backtest is None or fit.backtest.size == 0:  # a version trained before they were kept
        return np.empty(0), current
    windows, horizon = fit.backtest.shape
    reference = (bt.actuals(fit.y, horizon, windows) - fit.backtest).ravel() / fit.scale
    return reference[np.isfinite(reference)], current


def _level_samples(
    fit: SeriesFit, actuals: dict[Any, float], freq: str, seasons: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (training, new) distances from the training's mean at each point's phase.

    The phase is the position in the longest season the series holds twice
    (a week of hours: weekdays and weekends differ), counted from the first
    training point; an actual off the series' time grid is left out. Each
    training value is measured against the mean of the other cycles at its
    phase, so it is not compared with itself.
    """
    import pandas as pd

    y = fit.y.astype(float)
    held = [int(s) for s in (*seasons, fit.season) if int(s) > 1 and 2 * int(s) <= y.size]
    # Fewer than two cycles of any season: the mean of all points is the profile.
    season = max(held, default=1)
    phase = np.arange(y.size) % season
    sums = np.bincount(phase, weights=y, minlength=season)
    counts = np.bincount(phase, minlength=season).astype(float)
    others = np.where(counts[phase] > 1, counts[phase] - 1, 1.0)
    reference = (y - (sums[phase] - y) / others) / fit.scale
    if not actuals:
        return reference, np.empty(0)
    times = pd.DatetimeIndex(sorted(actuals))
    times = times[times > fit.last]
    if times.empty:
        return reference, np.empty(0)
    grid = pd.date_range(fit.last, times[-1], freq=freq)
    steps = grid.get_indexer(times)  # steps after the last training point; -1 off the grid
    on_grid = steps > 0
    values = np.array([actuals[t] for t in times[on_grid]])
    positions = (y.size - 1 + steps[on_grid]) % season
    current = (values - sums[positions] / counts[positions]) / fit.scale
    return reference, current


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and bool(np.isfinite(value))
    )
