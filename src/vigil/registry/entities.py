"""Plain records the registry returns; nothing outside ``registry`` sees ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelRecord:
    """A named model in a tenant and where its deployment pointers stand."""

    id: int
    tenant: str
    name: str
    task: str
    created_at: datetime
    created_by: str
    production_version: int | None
    canary_version: int | None = None
    canary_weight: float = 0.0
    shadow_versions: tuple[int, ...] = ()
    latest_version: int | None = None


@dataclass(frozen=True)
class NewVersion:
    """What training hands the registry to record as the next version of a model."""

    task: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    feature_schema: list[dict[str, Any]]
    data_fingerprint: str
    artifact_key: str
    artifact_sha256: str
    artifact_hmac: str
    artifact_size: int
    library_versions: dict[str, str]
    created_by: str
    job_id: str | None = None
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRecord:
    """One immutable trained version of a model."""

    model_name: str
    tenant: str
    version: int
    task: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    feature_schema: list[dict[str, Any]]
    data_fingerprint: str
    artifact_key: str
    artifact_sha256: str
    artifact_hmac: str
    artifact_size: int
    library_versions: dict[str, str]
    created_by: str
    created_at: datetime
    job_id: str | None
    target: str | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class DeploymentEvent:
    """One change of a model's deployment pointers: who, when, what and why."""

    id: int
    model_name: str
    action: str  # "deploy" | "canary" | "shadow" | "rollback" | "undeploy" | "delete_version"
    version: int | None
    previous_version: int | None
    weight: float | None
    actor: str
    reason: str
    created_at: datetime


def model_to_json(record: ModelRecord) -> dict[str, Any]:
    """Returns a model and its deployment pointers as JSON."""
    return {
        "name": record.name,
        "task": record.task,
        "production_version": record.production_version,
        "canary_version": record.canary_version,
        "canary_weight": record.canary_weight,
        "shadow_versions": list(record.shadow_versions),
        "latest_version": record.latest_version,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
    }
