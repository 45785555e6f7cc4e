"""Models, their versions and deployments, and training a new version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import PlainValidator

from vigil.api.deps import ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import located_in_body, problem_responses
from vigil.api.schemas import (
    DeletedVersions,
    DeploymentHistory,
    DeployRequest,
    JobAccepted,
    ModelList,
    ModelPublic,
    RollbackRequest,
    VersionList,
    VersionPublic,
)
from vigil.training.request import TrainRequest, parse_train_request
from vigil.usecases.models import event_to_json, model_to_json, version_to_json

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses=problem_responses(401, 403, 404, 429)
)

VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Version number.")]
# The body is documented as TrainRequest but handed on as sent: the train request is
# validated in one place (vigil.training.request), so REST and CLI refuse it alike.
TrainBody = Annotated[
    Any, Body(), PlainValidator(lambda body: body, json_schema_input_type=TrainRequest)
]


@router.get("", response_model=ModelList)
def list_models(caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns the tenant's models with their deployment pointers."""
    return {"models": [model_to_json(m) for m in service.models.list_models(caller)]}


@router.get("/{name}", response_model=ModelPublic)
def get_model(name: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns one model and where its deployment pointers stand."""
    return model_to_json(service.models.get_model(caller, name))


@router.delete("/{name}", response_model=DeletedVersions, responses=problem_responses(409))
def delete_model(name: str, caller: TrainerDep, service: ServiceDep) -> dict[str, Any]:
    """Deletes the model with all its versions; returns the version numbers removed."""
    deleted = service.models.delete_model(caller, name)
    return {"model": name, "deleted_versions": [v.version for v in deleted]}


@router.get("/{name}/versions", response_model=VersionList)
def list_versions(name: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns the model's versions, oldest first."""
    versions = service.models.list_versions(caller, name)
    return {"model": name, "versions": [version_to_json(v) for v in versions]}


@router.get("/{name}/versions/{version}", response_model=VersionPublic)
def get_version(
    name: str, version: VersionPath, caller: ViewerDep, service: ServiceDep
) -> dict[str, Any]:
    """Returns one version: algorithm, params, metrics, schema, fingerprints, provenance."""
    return version_to_json(service.models.get_version(caller, name, version))


@router.delete(
    "/{name}/versions/{version}",
    response_model=DeletedVersions,
    responses=problem_responses(409),
)
def delete_version(
    name: str, version: VersionPath, caller: TrainerDep, service: ServiceDep
) -> dict[str, Any]:
    """Deletes one version (never a deployed one: that is a 409)."""
    deleted = service.models.delete_version(caller, name, version)
    return {"model": name, "deleted_versions": [deleted.version]}


@router.post(
    "/{name}/deploy", response_model=ModelPublic, responses=problem_responses(409, 413, 422)
)
def deploy(
    name: str, body: DeployRequest, caller: TrainerDep, service: ServiceDep
) -> dict[str, Any]:
    """Deploys a version as production, canary or shadow; returns the model after."""
    model = service.models.deploy(
        caller,
        name,
        body.version,
        strategy=body.strategy,
        weight=body.weight,
        reason=body.reason,
    )
    return model_to_json(model)


@router.post(
    "/{name}/rollback", response_model=ModelPublic, responses=problem_responses(409, 413, 422)
)
def rollback(
    name: str, caller: TrainerDep, service: ServiceDep, body: RollbackRequest | None = None
) -> dict[str, Any]:
    """Moves production back to the previous version, or to ``version``."""
    body = body or RollbackRequest()
    model = service.models.rollback(caller, name, to_version=body.version, reason=body.reason)
    return model_to_json(model)


@router.get("/{name}/deployments", response_model=DeploymentHistory)
def deployments(name: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns every deployment change of the model, oldest first."""
    return {
        "model": name,
        "history": [event_to_json(e) for e in service.models.history(caller, name)],
    }


@router.post(
    "/{name}/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=problem_responses(413, 422),
)
def train(
    name: str, body: TrainBody, response: Response, caller: TrainerDep, service: ServiceDep
) -> dict[str, Any]:
    """Queues a training job for a new version of the model; follow it at /v1/jobs/{id}."""
    with located_in_body():
        request = parse_train_request(body).model_dump(mode="json", exclude_unset=True)
        job = service.training.submit_training(caller, name, request)
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return {"job_id": job["id"], "status": job["status"]}
