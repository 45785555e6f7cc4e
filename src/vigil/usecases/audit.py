"""The audit log as use cases: record a change, list the tenant's changes."""

from __future__ import annotations

from typing import Any

from vigil.jsonsafe import json_safe
from vigil.registry.audit import AuditLog
from vigil.security import Caller, require_role


class Audit:
    """Records who changed what, and shows it to the tenant's admins."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def record(self, caller: Caller, action: str, resource: str, **detail: Any) -> None:
        """Records a change in the audit log."""
        self.log.record(
            tenant=caller.tenant,
            actor=caller.actor,
            action=action,
            resource=resource,
            detail=json_safe(detail),
        )

    def list_audit(
        self, caller: Caller, *, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Returns the tenant's audit events, newest first (admins only)."""
        require_role(caller, "admin")
        found = self.log.list_for(caller.tenant, limit=limit, offset=offset)
        return [r.to_json() for r in found]
