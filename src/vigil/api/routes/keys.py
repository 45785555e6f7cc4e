"""API keys: created, listed, rotated and revoked by admins; a key's text is shown once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status

from vigil.api.deps import AdminDep, ServiceDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import KeyCreate, KeyCreated, KeyInfo, KeyRotate

router = APIRouter(
    prefix="/v1/keys", tags=["keys"], responses=problem_responses(401, 403, 413, 422, 429)
)

KeyIdPath = Annotated[str, Path(min_length=1, max_length=32, description="The key's id.")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(body: KeyCreate, caller: AdminDep, service: ServiceDep) -> dict[str, Any]:
    """Creates a key with a role for a tenant; the key text is in this answer only."""
    return service.access.create_key(
        caller, body.role, tenant=body.tenant, expires_in_days=body.expires_in_days
    )


@router.get("", response_model=list[KeyInfo])
def list_keys(
    caller: AdminDep,
    service: ServiceDep,
    tenant: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="Another tenant (operator admins only)."),
    ] = None,
) -> list[dict[str, Any]]:
    """Lists the tenant's keys: ids, roles, states, creation and last use; never a secret."""
    return service.access.list_keys(caller, tenant)


@router.delete("/{key_id}", response_model=KeyInfo, responses=problem_responses(404, 409))
def revoke_key(key_id: KeyIdPath, caller: AdminDep, service: ServiceDep) -> dict[str, Any]:
    """Revokes a key; every replica refuses it within the key cache's 2 seconds."""
    return service.access.revoke_key(caller, key_id)


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=problem_responses(404, 409),
)
def rotate_key(
    key_id: KeyIdPath,
    caller: AdminDep,
    service: ServiceDep,
    body: Annotated[KeyRotate | None, Body()] = None,
) -> dict[str, Any]:
    """Creates a key with the same role and tenant; the old one works for ``grace_hours`` more."""
    grace = body.grace_hours if body is not None else None
    return service.access.rotate_key(caller, key_id, grace_hours=grace)
