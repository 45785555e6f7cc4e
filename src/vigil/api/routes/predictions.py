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
from vigil.service import VigilService
from vigil.serving.model_cache import WouldBlock

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
    """Returns one prediction per instance, in order, each with its id and version."""
    # The app's parts are read directly rather than as dependencies: FastAPI's
    # resolution of each one costs about as much as a fast-path prediction.
    state = request.app.state
    service: VigilService = state.service
    settings: ApiSettings = state.api_settings
    metrics: ApiMetrics = state.metrics
    check_batch(len(body.instances), settings)

    def answer(block: bool) -> PredictResult:
        # The rows go as they came: a fast-path model reads them without a DataFrame.
        return service.predictions.predict(
            caller,
            name,
            body.instances,
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
