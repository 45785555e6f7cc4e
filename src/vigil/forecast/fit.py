"""``fit_forecaster``: every series fitted, backtested and scored, in parallel over series.

Series are independent, so they are fitted in chunks by worker processes
(statsforecast's models are single-threaded compiled code). Each series gets
its members' rolling-origin backtests (``backtest.py``), the weights ``auto``
learns from them (``auto.py``), the conformal ratios of its intervals, and
the forecast from the end of training for the longest horizon, cached.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidInput, UsageError
from vigil.forecast import algorithms as algos
from vigil.forecast import auto
from vigil.forecast import backtest as bt
from vigil.forecast.metrics import coverage, mase, mase_scale, rmse, smape
from vigil.forecast.model import FittedForecast, SeriesFit, bounds

if TYPE_CHECKING:
    from vigil.forecast.series import SeriesData

# Below this many series one process fits faster than starting workers.
PARALLEL_FROM = 24
METRIC_NAMES = ("mase", "smape", "rmse", "coverage_80", "coverage_95")


def fit_forecaster(
    data: SeriesData,
    *,
    algorithm: str = "auto",
    params: dict[str, Any] | None = None,
    horizon: int,
    cv: int = 3,
    levels: Sequence[int] = (80, 95),
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
) -> FittedForecast:
    """Returns ``algorithm`` fitted on every series of ``data``, backtested on ``cv`` windows.

    ``seed`` is recorded for reproducibility; the statsforecast models used are
    deterministic. ``n_jobs`` defaults to the machine's cores for many series.
    """
    resolved = algos.resolve(algorithm, params)
    horizon = _whole(horizon, "horizon", 1, 100_000)
    cv = _whole(cv, "cv", 1, 100)
    levels = tuple(sorted({_whole(level, "level", 1, 99) for level in levels}))
    members = algos.parse_members(resolved["members"]) if algorithm == algos.AUTO else [algorithm]
    plans = []
    shortest = min(len(data.values(name)) for name in data.series)
    for member in members:
        member_params = resolved if member == algorithm else algos.member_params(member, "native")
        seasons = algos.seasons_of(member, member_params, data.season_lengths)
        if member_params.get("approximation", False) is None:
            # R's auto.arima rule: the exact likelihood is too slow to search with there.
            member_params = {
                **member_params,
                "approximation": shortest - cv * horizon > 150 or seasons[0] > 12,
            }
        plans.append((member, member_params, seasons))
    needed = max(algos.min_train_length(m, s) for m, _, s in plans) + cv * horizon
    for name in data.series:
        length = len(data.values(name))
        if length < needed:
            raise InvalidInput(
                f"Series {name!r} has {length} points; {algorithm} with a horizon of "
                f"{horizon} and {cv} backtest windows needs at least {needed}.",
                errors=[{"loc": ["series", name], "msg": f"fewer than {needed} points"}],
            )
    uses = [bool(data.regressors) and algos.takes_regressors(m, p) for m, p, _ in plans]
    regressors, notes = _regressors_used(data, algorithm, any(uses))
    season = data.season_lengths[0] if data.season_lengths else 1
    jobs = [
        (
            name,
            data.values(name),
            data.timestamps(name)[-1],
            data.regressor_values(name) if regressors else None,
        )
        for name in data.series
    ]
    task = (plans, uses, horizon, cv, levels, season, resolved.get("combine", "select"))
    fits = _run(jobs, task, n_jobs, progress)
    conformal = resolved["intervals"] == "conformal"
    _share_ratios(fits, conformal)
    metrics_by_series = {name: _metrics(fit, horizon, cv) for name, fit in fits.items()}
    for fit, _, _ in fits.values():
        # With regressors a forecast needs their future values: none is cached.
        fit.cached = None if regressors else fit.path(horizon, levels, None)
    return FittedForecast(
        algorithm=algorithm,
        params={**resolved, "seed": seed},
        horizon=horizon,
        freq=data.freq,
        season_lengths=list(data.season_lengths),
        levels=levels,
        timestamp=data.timestamp,
        target=data.target,
        series_column=data.series_column,
        fits={name: fit for name, (fit, _, _) in fits.items()},
        metrics=_overall(metrics_by_series, fits, horizon, cv),
        metrics_by_series={n: m for n, (m, _) in metrics_by_series.items()},
        algorithm_by_series={name: _describe(fit) for name, (fit, _, _) in fits.items()},
        notes=list(data.notes) + notes + _failure_notes(fits),
        regressors=tuple(regressors),
    )


def _regressors_used(data: SeriesData, algorithm: str, taken: bool) -> tuple[list[str], list[str]]:
    """Returns the regressors the model learns from, and a note when the data's are left out.

    Regressors the request named but no algorithm of the model can use are
    refused naming them; numeric columns found in the data are only noted.
    """
    if not data.regressors or taken:
        return list(data.regressors), []
    listed = ", ".join(data.regressors)
    if data.regressors_named:
        raise UsageError(
            f"{algorithm} forecasts a series from its own values and takes no regressors "
            f"({listed}); the algorithms that do are {algos.REGRESSOR_ALGORITHMS}.",
            errors=[{"loc": ["features"], "msg": f"{algorithm} takes no regressors"}],
        )
    return [], [
        f"Columns not used by the forecast: {listed} ({algorithm} takes no regressors; "
        f"{algos.REGRESSOR_ALGORITHMS} do)."
    ]


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (low <= value <= high)
    ):
        raise UsageError(
            f"{name} must be a whole number from {low} to {high}, got {value!r}.",
            errors=[{"loc": [name], "msg": f"must be in [{low}, {high}]"}],
        )
    return int(value)


Task = tuple[
    list[tuple[str, dict[str, Any], list[int]]], list[bool], int, int, tuple[int, ...], int, str
]
Job = tuple[str, np.ndarray, Any, "np.ndarray | None"]
Fitted = tuple[SeriesFit, list[bt.Path], np.ndarray]


def _run(
    jobs: list[Job],
    task: Task,
    n_jobs: int | None,
    progress: Callable[[float], None] | None,
) -> dict[str, Fitted]:
    workers = n_jobs or (os.cpu_count() or 1)
    if len(jobs) < PARALLEL_FROM:
        workers = 1
    chunk = max(1, min(16, -(-len(jobs) // (workers * 4))))
    chunks = [jobs[i : i + chunk] for i in range(0, len(jobs), chunk)]
    out: dict[str, Fitted] = {}
    if workers == 1:
        results: Any = (_fit_chunk(c, task) for c in chunks)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_fit_chunk)(c, task) for c in chunks
        )
    for done in results:
        out.update(done)
        if progress is not None:
            progress(len(out) / len(jobs))
    return {job[0]: out[job[0]] for job in jobs}


def _fit_chunk(jobs: list[Job], task: Task) -> dict[str, Fitted]:
    return {name: _fit_series(name, y, last, x, task) for name, y, last, x in jobs}


def _fit_series(name: str, y: np.ndarray, last: Any, x: np.ndarray | None, task: Task) -> Fitted:
    plans, uses, horizon, cv, levels, season, combine_rule = task
    fallback_season = min(season, max(1, y.size - cv * horizon))
    fallback = lambda: algos.build("seasonal_naive", {}, [fallback_season])  # noqa: E731
    makers = [_maker(algorithm, params, seasons) for algorithm, params, seasons in plans]
    with warnings.catch_warnings():
        # Optimiser convergence notes would flood the log, one per series and fit.
        warnings.simplefilter("ignore")
        members = [
            bt.backtest_member(plan[0], make, fallback, y, horizon, cv, levels, x if use else None)
            for plan, make, use in zip(plans, makers, uses, strict=True)
        ]
        actual = bt.actuals(y, horizon, cv)
        scale = mase_scale(y[: y.size - cv * horizon], season)
        paths, weights = auto.honest_backtest(
            [m.backtest for m in members], actual, scale, combine_rule
        )
        # Only the members that carry weight are fitted on all points: the others
        # would cost a fit each and never forecast.
        keep = weights > 0
        models = [
            bt.fit_final(member, make, fallback, y, x if use else None)
            for member, make, use, kept in zip(members, makers, uses, keep, strict=True)
            if kept
        ]
    fit = SeriesFit(
        name=name,
        y=y,
        last=last,
        season=season,
        scale=mase_scale(y, season),
        members=models,
        algorithms=[m.algorithm for m, kept in zip(members, keep, strict=True) if kept],
        weights=weights[keep] / weights[keep].sum(),
        ratios=auto.ratios(paths, actual),
        backtest=np.stack([p.mean for p in paths]),
        failures=[f"{m.algorithm}: {m.failed}" for m in members if m.failed],
        x=x,
        uses_x=[
            use and m.failed is None
            for m, use, kept in zip(members, uses, keep, strict=True)
            if kept
        ],
    )
    return fit, paths, actual


def _maker(algorithm: str, params: dict[str, Any], seasons: list[int]) -> Callable[[], Any]:
    def make() -> Any:
        return algos.build(algorithm, params, seasons)

    return make


def _share_ratios(fits: dict[str, Fitted], conformal: bool) -> None:
    """Gives series with too few backtest errors the pooled ratios; drops them if native."""
    if not conformal:
        for fit, _, _ in fits.values():
            fit.ratios = None
        return
    pooled = np.sort(
        np.concatenate([fit.ratios for fit, _, _ in fits.values() if fit.ratios is not None])
    )
    grid = np.quantile(pooled, np.linspace(0, 1, 201)) if pooled.size else pooled
    for fit, _, _ in fits.values():
        if fit.ratios is None or fit.ratios.size < auto.MIN_RATIOS:
            fit.ratios = grid if grid.size else None


def _window_bounds(
    fit: SeriesFit, paths: list[bt.Path], actual: np.ndarray, k: int, level: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns window k's interval as it would have been: conformal from earlier windows only."""
    if fit.ratios is None:
        return bounds(paths[k], level, None)
    earlier = auto.ratios(paths[:k], actual)
    return bounds(paths[k], level, earlier if earlier.size >= auto.MIN_RATIOS else None)


def _metrics(
    entry: Fitted, horizon: int, cv: int
) -> tuple[dict[str, float], dict[int, tuple[np.ndarray, np.ndarray]]]:
    fit, paths, actual = entry
    forecast = np.stack([p.mean for p in paths])
    scale = mase_scale(fit.y[: fit.y.size - cv * horizon], fit.season)
    out = {
        "mase": mase(actual, forecast, scale),
        "smape": smape(actual, forecast),
        "rmse": rmse(actual, forecast),
    }
    intervals = {}
    for level in (80, 95):
        lows, highs = zip(
            *(_window_bounds(fit, paths, actual, k, level) for k in range(len(paths))),
            strict=True,
        )
        intervals[level] = (np.stack(lows), np.stack(highs))
        out[f"coverage_{level}"] = coverage(actual, *intervals[level])
    return out, intervals


def _overall(
    by_series: dict[str, tuple[dict[str, float], Any]],
    fits: dict[str, Fitted],
    horizon: int,
    cv: int,
) -> dict[str, float]:
    """Returns the mean of the per-series MASE, sMAPE and RMSE, and the pooled coverage."""
    out = {
        name: float(np.mean([m[name] for m, _ in by_series.values()]))
        for name in ("mase", "smape", "rmse")
    }
    for level in (80, 95):
        inside = total = 0
        for series, (_, intervals) in by_series.items():
            actual = fits[series][2]
            lo, hi = intervals[level]
            inside += int(np.sum((actual >= lo) & (actual <= hi)))
            total += actual.size
        out[f"coverage_{level}"] = inside / total if total else float("nan")
    return out


def _describe(fit: SeriesFit) -> str:
    if len(fit.algorithms) == 1:
        return fit.algorithms[0]
    return " + ".join(f"{w:.2f} {a}" for a, w in zip(fit.algorithms, fit.weights, strict=True))


def _failure_notes(fits: dict[str, Fitted]) -> list[str]:
    failed = [(name, f) for name, (fit, _, _) in fits.items() for f in fit.failures]
    if not failed:
        return []
    first = "; ".join(f"{name}: {why}" for name, why in failed[:3])
    return [f"{len(failed)} fits failed and used the seasonal naive forecast instead ({first})."]
