"""The forecasting algorithms as catalogue entries (task ``forecast``).

Their parameter schemas and models live in ``vigil.forecast.algorithms``;
here they become ``AlgorithmSpec`` entries so that ``vigil algorithms`` and
``GET /v1/algorithms`` list them and a train request can name them. An
entry's factory returns a ``ForecastPlan`` (algorithm and checked
parameters), not a scikit-learn estimator: forecasters are fitted per series
by ``vigil.forecast.fit_forecaster``, so the estimator contract test skips
them for the reason each entry records.
"""

from __future__ import annotations

from typing import Any

from vigil.algorithms.spec import AlgorithmSpec
from vigil.forecast.algorithms import AUTO, DESCRIPTIONS, PARAMS, ForecastPlan

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
