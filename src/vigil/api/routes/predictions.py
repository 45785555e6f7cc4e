"""Predictions from a model's deployed (or a named) version."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import APIRouter

from vigil.api.deps import MetricsDep, PredictorDep, ServiceDep, SettingsDep, check_batch
from vigil.api.problems import problem_responses
from vigil.api.schemas import PredictRequest, PredictResponse
from vigil.errors import InvalidInput

router = APIRouter(
    prefix="/v1/models",
    tags=["predictions"],
    responses=problem_responses(401, 403, 404, 413, 422, 429),
)


@router.post("/{name}/predict", response_model=PredictResponse, response_model_exclude_unset=True)
def predict(
    name: str,
    body: PredictRequest,
    caller: PredictorDep,
    service: ServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> dict[str, Any]:
    """Returns one prediction per instance, in order, each with its id and version."""
    check_batch(len(body.instances), settings)
    frame = pd.DataFrame.from_records(body.instances)
    try:
        result = service.predict(
            caller,
            name,
            frame,
            version=body.version,
            explain=body.explain,
            routing_key=body.routing_key,
        )
    except InvalidInput as exc:
        raise _located_in_instances(exc) from exc
    metrics.count_predictions(caller.tenant, name, result.predictions)
    return result.to_json()


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
