"""Alerts: what monitoring raised about a model (drift, degradation, failures, automatic acts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from vigil.api.deps import ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import PublicModel
from vigil.monitoring.alerts import ALERT_KINDS, DELIVERY_STATES, SEVERITIES

router = APIRouter(
    prefix="/v1/models",
    tags=["alerts"],
    responses=problem_responses(401, 403, 404, 422, 429),
)

AlertStatus = Literal["open", "acknowledged", "resolved"]


class AlertPublic(PublicModel):
    """One alert: what happened, how bad, whether someone has seen it, and its webhook post."""

    id: str
    model: str
    version: int | None
    # Plain strings, described rather than enumerated: a kind added later must
    # not turn listing older clients' alerts into a validation error.
    kind: str = Field(description=f"One of {', '.join(ALERT_KINDS)}.")
    severity: str = Field(description=f"One of {', '.join(SEVERITIES)}.")
    message: str
    details: dict[str, Any]
    dedup_key: str | None
    status: AlertStatus
    created_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    delivery: str = Field(description=f"The webhook post: {', '.join(DELIVERY_STATES)}.")
    delivery_attempts: int
    delivery_error: str | None


class AlertList(PublicModel):
    """A model's alerts, newest first."""

    model: str
    alerts: list[AlertPublic]


@router.get("/{name}/alerts", response_model=AlertList)
def list_alerts(
    name: str,
    caller: ViewerDep,
    service: ServiceDep,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Returns the model's alerts, newest first, only those with ``status`` if given."""
    return {
        "model": name,
        "alerts": service.alerts.list_alerts(caller, name, status=status, limit=limit),
    }


@router.post("/{name}/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge_alert(
    name: str, alert_id: str, caller: TrainerDep, service: ServiceDep
) -> dict[str, Any]:
    """Marks the alert as seen by the caller and returns it; acknowledging again changes nothing."""
    return service.alerts.acknowledge_alert(caller, name, alert_id)
