"""Liveness: answered without a key so load balancers and ``make run`` can poll it."""

from __future__ import annotations

from fastapi import APIRouter

from vigil import __version__
from vigil.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> dict[str, str]:
    """Returns ok and the running version."""
    return {"status": "ok", "version": __version__}
