"""Monitoring: ground truth for earlier predictions, live performance, input drift."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vigil.api.deps import PredictorDep, ServiceDep, SettingsDep, ViewerDep, check_batch
from vigil.api.problems import problem_responses
from vigil.api.schemas import Drift, FeedbackRequest, FeedbackResult, Performance
from vigil.errors import InvalidInput

router = APIRouter(
    prefix="/v1/models",
    tags=["monitoring"],
    responses=problem_responses(401, 403, 404, 422, 429),
)


@router.post("/{name}/feedback", response_model=FeedbackResult, responses=problem_responses(413))
def feedback(
    name: str,
    body: FeedbackRequest,
    caller: PredictorDep,
    service: ServiceDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Joins ground truth to earlier predictions by id; reports ids it does not know."""
    check_batch(len(body.items), settings, "items")
    items = [item.model_dump() for item in body.items]
    try:
        return service.monitoring.record_feedback(caller, name, items)
    except InvalidInput as error:
        # The use case names the item; over REST the items are in the body, as the
        # schema's own 422s (a wrong type) locate them.
        error.errors = [{**e, "loc": ["body", *e.get("loc", [])]} for e in error.errors]
        raise


@router.get("/{name}/performance", response_model=Performance)
def performance(name: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns live metrics per version over the last hour, day, week and since deploy."""
    return service.monitoring.performance(caller, name)


@router.get("/{name}/drift", response_model=Drift, responses=problem_responses(409))
def drift(
    name: str,
    caller: ViewerDep,
    service: ServiceDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    rows: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    """Returns drift of recent production inputs against the version's training sample."""
    return service.monitoring.drift(caller, name, version=version, rows=rows)
