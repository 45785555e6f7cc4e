"""The audit log: every change, who made it and when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vigil.api.deps import AdminDep, ServiceDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import AuditList

router = APIRouter(
    prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 422, 429)
)


@router.get("", response_model=AuditList)
def list_audit(
    caller: AdminDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    """Returns the tenant's audit events, newest first, a page at a time."""
    return {"events": service.audit.list_audit(caller, limit=limit, offset=offset)}
