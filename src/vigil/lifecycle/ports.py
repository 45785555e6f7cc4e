"""What the lifecycle controller needs from the use cases, as protocols.

The controller sits below the use cases and must not import them; the
composition root hands it objects with these methods (the use-case classes
in ``vigil.usecases``), so every automatic action goes through the same code
a person's does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from vigil.monitoring.alerts import Alert
from vigil.registry.entities import ModelRecord, VersionRecord
from vigil.registry.policies import PolicyRecord
from vigil.security import Caller


class ModelsPort(Protocol):
    """Reading the registry and moving deployment pointers."""

    def get_model(self, caller: Caller, name: str) -> ModelRecord: ...

    def get_version(self, caller: Caller, name: str, version: int) -> VersionRecord: ...

    def list_versions(self, caller: Caller, name: str) -> list[VersionRecord]: ...

    def previous_production(self, caller: Caller, name: str) -> int | None: ...

    def deployed_at(
        self, caller: Caller, name: str, version: int, *, action: str | None = None
    ) -> datetime: ...

    def deploy(
        self,
        caller: Caller,
        name: str,
        version: int,
        *,
        strategy: str = "replace",
        weight: float | None = None,
        reason: str = "",
    ) -> ModelRecord: ...

    def rollback(
        self,
        caller: Caller,
        name: str,
        *,
        to_version: int | None = None,
        from_version: int | None = None,
        reason: str = "",
    ) -> ModelRecord: ...

    def undeploy(
        self, caller: Caller, name: str, version: int, *, reason: str = ""
    ) -> ModelRecord: ...

    def delete_version(self, caller: Caller, name: str, version: int) -> VersionRecord: ...


class MonitoringPort(Protocol):
    """Live metrics, feedback counts and drift of a version."""

    def live_summary(
        self, caller: Caller, name: str, version: int, *, since: datetime
    ) -> dict[str, Any]: ...

    def feedback_count(self, caller: Caller, name: str, *, since: datetime | None) -> int: ...

    def drift(
        self, caller: Caller, name: str, *, version: int | None = None, rows: int = 1000
    ) -> dict[str, Any]: ...


class AlertsPort(Protocol):
    """Raising and resolving alerts, and posting the ones a process left unposted."""

    def raise_alert(
        self,
        caller: Caller,
        name: str,
        *,
        kind: str,
        severity: str,
        message: str,
        version: int | None = None,
        dedup_key: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[Alert, bool]: ...

    def resolve_alert(self, caller: Caller, dedup_key: str) -> int: ...

    def resume_alert_deliveries(
        self, caller: Caller, name: str, url: str, *, before: datetime
    ) -> int: ...


class PoliciesPort(Protocol):
    """Every model's policy and its schedule state."""

    def all_policies(self) -> list[PolicyRecord]: ...

    def policy_metric(self, task: str, policy: Any) -> str: ...

    def claim_scheduled_run(
        self, record: PolicyRecord, due: datetime, following: datetime | None, now: datetime
    ) -> bool: ...

    def mark_retrained(self, record: PolicyRecord, at: datetime) -> None: ...


class RetrainingPort(Protocol):
    """Queuing a retraining job."""

    def submit_retraining(
        self, caller: Caller, name: str, *, reason: str = "requested"
    ) -> dict[str, Any]: ...
