"""Jobs: the status, progress and result of long work such as training."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil.api.deps import ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import JobList, JobPublic

router = APIRouter(
    prefix="/v1/jobs", tags=["jobs"], responses=problem_responses(401, 403, 404, 429)
)


@router.get("", response_model=JobList)
def list_jobs(caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns the tenant's recent jobs, newest first."""
    return {"jobs": service.jobs.list_jobs(caller)}


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns one job: status, progress, and its result or error."""
    return service.jobs.get_job(caller, job_id)


@router.post("/{job_id}/cancel", response_model=JobPublic, responses=problem_responses(409))
def cancel_job(job_id: str, caller: TrainerDep, service: ServiceDep) -> dict[str, Any]:
    """Cancels a queued job, or asks a running one to stop; returns the job after."""
    return service.jobs.cancel_job(caller, job_id)
