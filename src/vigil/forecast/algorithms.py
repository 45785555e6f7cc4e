"""The forecasting algorithms: the statsforecast models they build from their parameters.

Each algorithm is one of Nixtla's statsforecast models (compiled code, fitted
per series); ``auto`` is Vigil's own choice among them per series (see
``auto.py``). Their parameter schemas are catalogue data
(``vigil.algorithms.forecast_catalogue``). A season length left at ``none``
is the one ``prepare_series`` inferred from the frequency (hourly: 24; MSTL
takes all of them, e.g. 24 and 168). statsforecast is imported inside the
builders, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigil.algorithms.forecast_catalogue import (
    AUTO,
    DEFAULT_AUTO_MEMBERS,
    DESCRIPTIONS,
    PARAMS,
    ForecastPlan,
)
from vigil.algorithms.params import resolve_params
from vigil.errors import UsageError

__all__ = ["AUTO", "DEFAULT_AUTO_MEMBERS", "DESCRIPTIONS", "PARAMS", "ForecastPlan"]

ALGORITHMS: tuple[str, ...] = tuple(PARAMS)


def resolve(algorithm: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Returns ``params`` checked against ``algorithm``'s schema, defaults filled in."""
    if algorithm not in PARAMS:
        raise UsageError(
            f"Unknown forecast algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}.",
            errors=[{"loc": ["algorithm"], "msg": "unknown forecast algorithm"}],
        )
    resolved = resolve_params(PARAMS[algorithm], dict(params or {}), algorithm)
    if algorithm == "mstl" and resolved["season_lengths"] is not None:
        parse_int_list(resolved["season_lengths"], "season_lengths", algorithm)
    if algorithm == AUTO:
        members = parse_members(resolved["members"])
        resolved["members"] = ",".join(members)
    return resolved


def parse_members(text: str) -> list[str]:
    """Returns the member algorithms named in ``text``, or raises naming the unknown one."""
    members = [m.strip() for m in text.split(",") if m.strip()]
    allowed = [a for a in ALGORITHMS if a != AUTO]
    for member in members:
        if member not in allowed:
            raise UsageError(
                f"Parameter 'members' of auto names {member!r}; choose among {', '.join(allowed)}.",
                errors=[{"loc": ["params", "members"], "msg": f"unknown member {member}"}],
            )
    if not members:
        raise UsageError(
            "Parameter 'members' of auto names no algorithm.",
            errors=[{"loc": ["params", "members"], "msg": "empty"}],
        )
    return list(dict.fromkeys(members))


def parse_int_list(text: str, name: str, algorithm: str) -> list[int]:
    """Returns the positive integers of a comma-separated parameter, or raises naming it."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UsageError(
            f"Parameter {name!r} of {algorithm} must be comma-separated positive integers, "
            f"got {text!r}.",
            errors=[{"loc": ["params", name], "msg": "comma-separated positive integers"}],
        )
    return values


def seasons_of(algorithm: str, params: Mapping[str, Any], inferred: Sequence[int]) -> list[int]:
    """Returns the season lengths ``algorithm`` uses: its parameter or the inferred ones."""
    if algorithm == "mstl":
        given = params.get("season_lengths")
        seasons = parse_int_list(given, "season_lengths", algorithm) if given else list(inferred)
        return sorted(s for s in seasons if s > 1) or [1]
    given_one = params.get("season_length")
    if given_one is not None:
        return [int(given_one)]
    return [int(inferred[0])] if inferred else [1]


def takes_regressors(algorithm: str, params: Mapping[str, Any]) -> bool:
    """Returns whether ``algorithm`` learns from regressors (ARIMA's, or MSTL's ARIMA trend)."""
    if algorithm == "auto_arima":
        return True
    return algorithm == "mstl" and params.get("trend") == "auto_arima"


REGRESSOR_ALGORITHMS = "auto_arima, and mstl with trend auto_arima"


def min_train_length(algorithm: str, seasons: Sequence[int]) -> int:
    """Returns the fewest points a fit of ``algorithm`` needs with these season lengths."""
    longest = max(seasons) if seasons else 1
    if algorithm == "seasonal_naive":
        return max(longest, 1)
    # Two full cycles of the longest season, and enough points for a few parameters.
    return max(2 * longest, 8)


def build(algorithm: str, params: Mapping[str, Any], seasons: Sequence[int]) -> Any:
    """Returns an unfitted statsforecast model for one series."""
    from statsforecast import models

    season = int(seasons[0]) if seasons else 1
    if algorithm == "seasonal_naive":
        return models.SeasonalNaive(season_length=season)
    if algorithm == "auto_ets":
        return models.AutoETS(season_length=season, model=params["model"], damped=params["damped"])
    if algorithm == "auto_arima":
        return models.AutoARIMA(
            season_length=season,
            max_p=params["max_p"],
            max_q=params["max_q"],
            seasonal=params["seasonal"],
            stepwise=params["stepwise"],
            approximation=params["approximation"],
        )
    if algorithm == "auto_theta":
        return models.AutoTheta(
            season_length=season, decomposition_type=params["decomposition_type"]
        )
    if algorithm == "mstl":
        trend = {
            "auto_ets": lambda: models.AutoETS(model="ZZN"),
            "auto_theta": lambda: models.AutoTheta(season_length=1),
            "auto_arima": lambda: models.AutoARIMA(season_length=1),
        }[params["trend"]]()
        if list(seasons) == [1]:
            # No season to remove (the data is too short or has none): MSTL is its trend model.
            return trend
        from vigil.forecast.mstl import SteppedMSTL

        return SteppedMSTL(season_length=list(seasons), trend_forecaster=trend)
    raise UsageError(f"Unknown forecast algorithm {algorithm!r}.")  # resolve() refused it


def member_params(algorithm: str, intervals: str) -> dict[str, Any]:
    """Returns the default parameters of ``algorithm`` as a member of ``auto``."""
    return resolve(algorithm, {"intervals": intervals})
