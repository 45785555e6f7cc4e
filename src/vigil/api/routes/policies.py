"""Policies and the scheduler: what a model does on its own, pausing it, running it now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response, status
from pydantic import Field

from vigil.api.deps import AdminDep, ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import JobAccepted, PublicModel, RequestModel

router = APIRouter(tags=["policies"], responses=problem_responses(401, 403, 404, 422, 429))


class PolicyPublic(PublicModel):
    """A model's policy with every field filled in, and its schedule's state."""

    model: str
    policy: dict[str, Any]
    paused: bool
    next_run_at: str | None
    last_run_at: str | None
    updated_by: str | None
    updated_at: str | None


class RetrainRequest(RequestModel):
    """Why a retraining is asked for (kept with the job and its alert)."""

    reason: str = Field(default="requested", max_length=500)


class SchedulerRun(PublicModel):
    """What a tick asked for by hand did, and which process ran it.

    ``by`` is ``"this process"`` when the process that answered ran the tick
    (it led or took the lease), else the id of the leader that ran it when asked.
    """

    ran: bool
    by: str
    leader: str | None
    models: list[dict[str, Any]]


@router.get("/v1/models/{name}/policy", response_model=PolicyPublic)
def get_policy(name: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns the model's policy (defaults filled in) and when its schedule fires next."""
    return service.policies.get_policy(caller, name)


@router.put(
    "/v1/models/{name}/policy", response_model=PolicyPublic, responses=problem_responses(413)
)
def put_policy(
    name: str,
    caller: TrainerDep,
    service: ServiceDep,
    document: dict[str, Any] = Body(  # noqa: B008 - FastAPI's way to take a free-form body
        ...,
        examples=[
            {
                "schedule": {"cron": "0 3 * * *"},
                "triggers": {"feedback_count": 500, "metric_drop": 0.05, "drift": True},
                "promotion": {"margin": 0.01},
                "rollback": {"enabled": True, "metric_drop": 0.1},
                "canary": {"steps": [10, 50, 100], "min_predictions": 200},
                "retention": {"keep_last": 10, "keep_days": 30},
            }
        ],
    ),
) -> dict[str, Any]:
    """Replaces the model's policy; every field is checked and a wrong one is named."""
    return service.policies.put_policy(caller, name, document)


@router.post("/v1/models/{name}/policy/pause", response_model=PolicyPublic)
def pause(name: str, caller: TrainerDep, service: ServiceDep) -> dict[str, Any]:
    """Pauses the model's automatic actions (schedule, triggers, rollback, canary steps)."""
    return service.policies.set_policy_paused(caller, name, True)


@router.post("/v1/models/{name}/policy/resume", response_model=PolicyPublic)
def resume(name: str, caller: TrainerDep, service: ServiceDep) -> dict[str, Any]:
    """Resumes the model's automatic actions."""
    return service.policies.set_policy_paused(caller, name, False)


@router.post(
    "/v1/models/{name}/retrain",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=problem_responses(409, 413),
)
def retrain(
    name: str,
    response: Response,
    caller: TrainerDep,
    service: ServiceDep,
    body: RetrainRequest | None = None,
) -> dict[str, Any]:
    """Queues a retraining now (the waiting one if there is one); follow it at /v1/jobs/{id}."""
    reason = body.reason if body is not None else "requested"
    job = service.retraining.submit_retraining(caller, name, reason=reason)
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return {"job_id": job["id"], "status": job["status"]}


@router.post("/v1/scheduler/run", response_model=SchedulerRun, responses=problem_responses(503))
def run_scheduler(caller: AdminDep, service: ServiceDep) -> dict[str, Any]:
    """Runs every policy's checks now (admin): here if this process leads or nobody does,
    else by the leader, asked and waited for (503 when it does not answer in time)."""
    return service.scheduling.run_lifecycle_now(caller)
