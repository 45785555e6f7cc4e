"""The forecasting algorithms: their typed parameters and the statsforecast models they build.

Each algorithm is one of Nixtla's statsforecast models (compiled code, fitted
per series); ``auto`` is Vigil's own choice among them per series (see
``auto.py``). A season length left at ``none`` is the one ``prepare_series``
inferred from the frequency (hourly: 24; MSTL takes all of them, e.g. 24 and
168). statsforecast is imported inside the builders so that importing this
module (the catalogue does) stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.algorithms.params import Param, resolve_params
from vigil.errors import UsageError

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
        return models.MSTL(season_length=list(seasons), trend_forecaster=trend)
    raise UsageError(f"Unknown forecast algorithm {algorithm!r}.")  # resolve() refused it


def member_params(algorithm: str, intervals: str) -> dict[str, Any]:
    """Returns the default parameters of ``algorithm`` as a member of ``auto``."""
    return resolve(algorithm, {"intervals": intervals})


@dataclass(frozen=True)
class ForecastPlan:
    """What a forecast catalogue entry builds: the algorithm and its resolved parameters.

    A forecaster is fitted per series by ``fit_forecaster(data, algorithm=...,
    params=...)``, so the catalogue hands back the checked request rather
    than a scikit-learn estimator.
    """

    algorithm: str
    params: dict[str, Any]
