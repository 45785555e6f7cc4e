"""The forecasting algorithms as catalogue entries (task ``forecast``): their parameters.

Their models are built by ``vigil.forecast.algorithms``; here their typed
parameters become ``AlgorithmSpec`` entries so that ``vigil algorithms`` and
``GET /v1/algorithms`` list them and a train request can name them. An
entry's factory returns a ``ForecastPlan`` (algorithm and checked
parameters), not a scikit-learn estimator: forecasters are fitted per series
by ``vigil.forecast.fit_forecaster``, so the estimator contract test skips
them for the reason each entry records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.algorithms.params import Param
from vigil.algorithms.spec import AlgorithmSpec

AUTO = "auto"
# Members ``auto`` backtests and weighs per series, chosen on the training part of M4
# hourly (benchmarks/forecast.py --design); auto_ets and auto_arima fit
# 3-30x slower and did not win enough series to pay for it.
DEFAULT_AUTO_MEMBERS = ("mstl", "auto_theta", "seasonal_naive")


def _season(
    help_text: str = "seasonal period in steps; none = inferred from the frequency",
) -> Param:
    return Param("season_length", "int", None, help_text, 1, 10_000, nullable=True)


_INTERVALS = Param(
    "intervals",
    "choice",
    "conformal",
    "prediction intervals: conformal (from the backtest errors) or the model's own",
    choices=("conformal", "native"),
)

PARAMS: dict[str, tuple[Param, ...]] = {
    "seasonal_naive": (_season(), _INTERVALS),
    "auto_ets": (
        _season(),
        Param(
            "model",
            "str",
            "ZZZ",
            "error, trend and season types (A additive, M multiplicative, N none, Z chosen)",
        ),
        Param("damped", "bool", None, "damped trend; none = chosen", nullable=True),
        _INTERVALS,
    ),
    "auto_arima": (
        _season(),
        Param("max_p", "int", 5, "largest non-seasonal AR order", 0, 10),
        Param("max_q", "int", 5, "largest non-seasonal MA order", 0, 10),
        Param("seasonal", "bool", True, "fit seasonal terms"),
        Param("stepwise", "bool", True, "stepwise search (faster) instead of a full grid"),
        Param(
            "approximation",
            "bool",
            None,
            "approximate likelihood during the order search; none = as R's auto.arima "
            "(more than 150 points or a season over 12)",
            nullable=True,
        ),
        _INTERVALS,
    ),
    "auto_theta": (
        _season(),
        Param(
            "decomposition_type",
            "choice",
            "multiplicative",
            "seasonal decomposition before the theta lines",
            choices=("multiplicative", "additive"),
        ),
        _INTERVALS,
    ),
    "mstl": (
        Param(
            "season_lengths",
            "str",
            None,
            "comma-separated seasonal periods, e.g. 24,168; none = inferred",
            nullable=True,
        ),
        Param(
            "trend",
            "choice",
            "auto_ets",
            "model of the deseasonalised series",
            choices=("auto_ets", "auto_theta", "auto_arima"),
        ),
        _INTERVALS,
    ),
    AUTO: (
        Param(
            "members",
            "str",
            ",".join(DEFAULT_AUTO_MEMBERS),
            "comma-separated algorithms to choose among per series",
        ),
        Param(
            "combine",
            "choice",
            "select",
            "select the member with the lowest backtest MASE per series, or weight "
            "members by inverse backtest MASE",
            choices=("select", "weighted"),
        ),
        _INTERVALS,
    ),
}

DESCRIPTIONS = {
    "seasonal_naive": "Seasonal naive: each step repeats the value one season earlier.",
    "auto_ets": "Exponential smoothing (ETS) with error, trend and season chosen by AICc.",
    "auto_arima": "Seasonal ARIMA with orders chosen by a stepwise AICc search.",
    "auto_theta": "Theta method (standard, optimised, dynamic) chosen by in-sample MSE.",
    "mstl": "MSTL: several seasonalities removed by LOESS, the rest forecast by ETS.",
    AUTO: "Chooses (or weighs) per series among several forecasters by rolling-origin backtest.",
}


@dataclass(frozen=True)
class ForecastPlan:
    """What a forecast catalogue entry builds: the algorithm and its resolved parameters.

    A forecaster is fitted per series by ``fit_forecaster(data, algorithm=...,
    params=...)``, so the catalogue hands back the checked request rather
    than a scikit-learn estimator.
    """

    algorithm: str
    params: dict[str, Any]


TASK = "forecast"
NOT_AN_ESTIMATOR = (
    "a forecaster is fitted per series on a horizon by vigil.forecast, not on an X matrix: "
    "it is no scikit-learn estimator"
)


def _plan(algorithm: str) -> Any:
    def factory(task: str, params: dict[str, Any]) -> ForecastPlan:
        return ForecastPlan(algorithm, dict(params))

    return factory


FORECAST_ENTRIES: tuple[AlgorithmSpec, ...] = tuple(
    AlgorithmSpec(
        name,
        (TASK,),
        PARAMS[name],
        _plan(name),
        DESCRIPTIONS[name],
        not_estimators={TASK: NOT_AN_ESTIMATOR},
    )
    for name in PARAMS
    if name != AUTO
)

# ``auto`` shares its name with the anomaly ``auto``: the catalogue merges the two.
FORECAST_AUTO = AlgorithmSpec(
    AUTO,
    (TASK,),
    PARAMS[AUTO],
    _plan(AUTO),
    DESCRIPTIONS[AUTO],
    not_estimators={TASK: NOT_AN_ESTIMATOR},
)


def with_forecast_auto(anomaly_auto: AlgorithmSpec) -> AlgorithmSpec:
    """Returns the anomaly ``auto`` entry extended with the forecast task and its parameters."""
    from dataclasses import replace

    anomaly_factory = anomaly_auto.factory

    def factory(task: str, params: dict[str, Any]) -> Any:
        if task == TASK:
            return FORECAST_AUTO.factory(task, params)
        return anomaly_factory(task, params)

    return replace(
        anomaly_auto,
        tasks=(*anomaly_auto.tasks, TASK),
        factory=factory,
        description=f"{anomaly_auto.description} Forecast: {FORECAST_AUTO.description}",
        not_estimators={**anomaly_auto.not_estimators, TASK: NOT_AN_ESTIMATOR},
        task_params={**anomaly_auto.task_params, TASK: FORECAST_AUTO.params},
    )
