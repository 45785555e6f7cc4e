"""Liveness: answered without a key so load balancers and ``make run`` can poll it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil import __version__
from vigil.api.deps import ServiceDep
from vigil.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, response_model_exclude_none=True)
def health(service: ServiceDep) -> dict[str, Any]:
    """Returns ok and the running version, or degraded with the reason.

    Degraded still answers 200: the process serves predictions, and every
    replica shares the failing database, so pulling them all from the load
    balancer would turn a logging problem into an outage.
    """
    problem = service.prediction_log.problem
    if problem is not None:
        return {"status": "degraded", "version": __version__, "reason": problem}
    return {"status": "ok", "version": __version__}
