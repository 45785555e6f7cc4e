"""Predictions from a model's deployed (or a named) version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import PredictorDep, check_batch
from vigil.api.metrics import ApiMetrics
from vigil.api.problems import problem_responses
from vigil.api.responses import OrjsonResponse
from vigil.api.schemas import PredictRequest, PredictResponse
from vigil.api.settings import ApiSettings
from vigil.errors import InvalidInput
from vigil.security import Caller
from vigil.service import VigilService
from vigil.serving.model_cache import WouldBlock
from vigil.training.request import Row

if TYPE_CHECKING:  # the use case imports pandas and the serving stack: on first use
    from vigil.usecases.predictions import PredictResult

router = APIRouter(
    prefix="/v1/models",
    tags=["predictions"],
    responses=problem_responses(401, 403, 404, 413, 422, 429),
)


@router.post("/{name}/predict", response_model=PredictResponse, response_model_exclude_unset=True)
async def predict(
    name: str, body: PredictRequest, caller: PredictorDep, request: Request
) -> Response | dict[str, Any]:
    """Returns one prediction per instance, in order, each with its id and version.

    A forecast model is asked for a horizon instead (``horizon``, optional
    ``series``, ``history``, ``level``, and ``exog`` for a model with
    regressors) and answers one point per series and
    future time: forecast and intervals.
    """
    # The app's parts are read directly rather than as dependencies: FastAPI's
    # resolution of each one costs about as much as a fast-path prediction.
    state = request.app.state
    service: VigilService = state.service
    settings: ApiSettings = state.api_settings
    metrics: ApiMetrics = state.metrics
    instances = _instances_or_forecast(body)
    if instances is None:
        forecast = await run_in_threadpool(_forecast, service, caller, name, body, settings)
        metrics.count_predictions(caller.tenant, name, forecast.predictions)
        return OrjsonResponse(forecast.to_json())
    check_batch(len(instances), settings)

    def answer(block: bool) -> PredictResult:
        # The rows go as they came: a fast-path model reads them without a DataFrame.
        return service.predictions.predict(
            caller,
            name,
            instances,
            version=body.version,
            explain=body.explain,
            routing_key=body.routing_key,
            block=block,
        )

    try:
        try:
            # A few rows on a loaded compiled model take microseconds: answered here, on
            # the event loop, they skip the thread pool's hand-off, which costs more.
            result = answer(False)
        except WouldBlock:
            # A database read, a load or a big batch: in a worker thread, as any sync route.
            result = await run_in_threadpool(answer, True)
    except InvalidInput as exc:
        raise _located_in_instances(exc) from exc
    metrics.count_predictions(caller.tenant, name, result.predictions)
    document = result.to_json()
    try:
        # Rendered here, the answer skips FastAPI's validation against PredictResponse
        # (which costs more than the model on one row); the model still documents it.
        return OrjsonResponse(document)
    except TypeError:
        # A value orjson cannot write (from a custom model): let the response model convert it.
        return document


_FORECAST_FIELDS = ("horizon", "series", "history", "level", "exog")


def _instances_or_forecast(body: PredictRequest) -> list[Row] | None:
    """Returns the rows to score, or None when the body asks for a forecast.

    Raises InvalidInput naming the field when the body asks for both or neither.
    """
    asked = [f for f in _FORECAST_FIELDS if getattr(body, f) is not None]
    if body.instances is not None and asked:
        raise InvalidInput(
            f"Send instances (rows to score) or a forecast's {', '.join(asked)}, not both.",
            errors=[{"loc": ["body", asked[0]], "msg": "not with instances"}],
        )
    if body.instances is not None:
        return body.instances
    if not asked:
        raise InvalidInput(
            "instances is required (or horizon, for a forecast model).",
            errors=[{"loc": ["body", "instances"], "msg": "Field required"}],
        )
    if body.horizon is None:
        raise InvalidInput(
            "horizon is required for a forecast (how many steps ahead).",
            errors=[{"loc": ["body", "horizon"], "msg": "Field required"}],
        )
    if body.explain:
        raise InvalidInput(
            "explain applies to anomaly models, not to forecasts.",
            errors=[{"loc": ["body", "explain"], "msg": "not for a forecast"}],
        )
    return None


def _forecast(
    service: VigilService, caller: Caller, name: str, body: PredictRequest, settings: ApiSettings
) -> PredictResult:
    """Returns the forecast the body asks for, its errors located in the body's fields."""
    from vigil.serving.forecasts import ForecastRequest
    from vigil.training.forecasting import DEFAULT_LEVELS

    if body.history is not None:
        check_batch(len(body.history), settings, "history")
    if body.exog is not None:
        check_batch(len(body.exog), settings, "exog")
    assert body.horizon is not None
    asked = ForecastRequest(
        horizon=body.horizon,
        series=tuple(body.series) if body.series is not None else None,
        history=body.history,
        levels=tuple(body.level) if body.level is not None else DEFAULT_LEVELS,
        exog=body.exog,
    )
    try:
        return service.predictions.forecast(
            caller, name, asked, version=body.version, routing_key=body.routing_key
        )
    except InvalidInput as exc:
        errors = [{**e, "loc": ["body", *e.get("loc", [])]} for e in exc.errors]
        raise InvalidInput(exc.message, errors=errors) from exc


def _located_in_instances(exc: InvalidInput) -> InvalidInput:
    """Returns the error with the service's ``data`` locations renamed to the request's fields.

    The service names a bad cell ``["data", row, column]``; the client sent it
    as ``body.instances[row].column``.
    """
    errors = [
        {**error, "loc": ["body", "instances", *error["loc"][1:]]}
        if list(error.get("loc", []))[:1] == ["data"]
        else error
        for error in exc.errors
    ]
    return InvalidInput(exc.message, errors=errors)
