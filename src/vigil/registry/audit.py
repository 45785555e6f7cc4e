"""The audit log: every change, who made it, in which tenant, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.registry.sessions import SqlStore
from vigil.registry.tables import AuditEventRow


@dataclass(frozen=True)
class AuditRecord:
    """One recorded change."""

    id: int
    tenant: str
    actor: str
    action: str
    resource: str
    detail: dict[str, Any]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Returns the record as JSON."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


class AuditLog(SqlStore):
    """Appends and lists audit events."""

    def record(
        self, *, tenant: str, actor: str, action: str, resource: str, detail: dict[str, Any]
    ) -> None:
        """Appends one event."""
        with self.writing() as session:
            session.add(
                AuditEventRow(
                    tenant=tenant,
                    actor=actor,
                    action=action,
                    resource=resource,
                    detail=detail,
                    created_at=self.now(),
                )
            )

    def list_for(self, tenant: str, *, limit: int = 100, offset: int = 0) -> list[AuditRecord]:
        """Returns the tenant's events, newest first."""
        with self.reading() as session:
            rows = session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.tenant == tenant)
                .order_by(AuditEventRow.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return [
                AuditRecord(r.id, r.tenant, r.actor, r.action, r.resource, r.detail, r.created_at)
                for r in rows
            ]
