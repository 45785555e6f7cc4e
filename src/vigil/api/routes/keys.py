"""API keys: created by admins, shown once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from vigil.api.deps import AdminDep, ServiceDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import KeyCreate, KeyCreated

router = APIRouter(
    prefix="/v1/keys", tags=["keys"], responses=problem_responses(401, 403, 413, 422, 429)
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(body: KeyCreate, caller: AdminDep, service: ServiceDep) -> dict[str, Any]:
    """Creates a key with a role for a tenant; the key text is in this answer only."""
    return service.access.create_key(caller, body.role, tenant=body.tenant)
