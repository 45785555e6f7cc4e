"""Alerts: what a person should look at, stored per tenant, acknowledged, optionally posted.

Monitoring raises an alert for drift, degradation, a failed job or an
automatic action (rollback, retraining, promotion, a canary step). A condition
that lasts is raised once: an alert carries a ``dedup_key`` (say
``drift:churn:3``) and raising the same key again while an alert with it is
still ``open`` returns that alert instead of a new one. When the condition
clears, :meth:`AlertStore.resolve` closes the alerts of the key, so it can be
raised again if it comes back.

An alert moves open → acknowledged → resolved (or open → resolved). Its
``delivery`` says where the webhook post stands: ``none`` (not asked for),
``pending``, ``delivered`` or ``failed``. The store is the durable record of
pending posts: :meth:`AlertStore.pending_deliveries` finds those a stopped
process did not get to.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from vigil.errors import InvalidInput, NotFound
from vigil.ids import uuid7
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import AlertRow

__all__ = [
    "ALERT_KINDS",
    "DELIVERY_STATES",
    "SEVERITIES",
    "STATUSES",
    "Alert",
    "AlertStore",
    "NewAlert",
]

ALERT_KINDS = (
    "drift",
    "degradation",
    "job_failed",
    "rollback",
    "retrained",
    "promoted",
    "canary",
    "incident",
)
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("open", "acknowledged", "resolved")
DELIVERY_STATES = ("none", "pending", "delivered", "failed")

# The widths of the alerts table's string columns (migration 0004).
_MAX_DEDUP_KEY = 256
_MAX_ACTOR = 256
_MAX_MODEL = 128


@dataclass(frozen=True)
class Alert:
    """One stored alert and where its webhook delivery stands."""

    id: str
    tenant: str
    model: str
    version: int | None
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    dedup_key: str | None
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    delivery: str
    delivery_attempts: int
    delivery_error: str | None

    def to_json(self) -> dict[str, Any]:
        """Returns the alert as JSON (times in ISO 8601), as the API and the webhook send it."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "details": self.details,
            "dedup_key": self.dedup_key,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "delivery": self.delivery,
            "delivery_attempts": self.delivery_attempts,
            "delivery_error": self.delivery_error,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        tenant=row.tenant,
        model=row.model,
        version=row.version,
        kind=row.kind,
        severity=row.severity,
        message=row.message,
        details=dict(row.details or {}),
        dedup_key=row.dedup_key,
        status=row.status,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        delivery=row.delivery,
        delivery_attempts=row.delivery_attempts,
        delivery_error=row.delivery_error,
    )


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    """Returns ``value`` if it is one of ``allowed``, else raises naming the allowed values."""
    if value not in allowed:
        raise InvalidInput(
            f"Alert {field} {value!r} is not one of {', '.join(allowed)}.",
            errors=[{"loc": [field], "msg": f"must be one of {', '.join(allowed)}"}],
        )
    return value


def _check(model: str, wanted: NewAlert) -> None:
    """Raises InvalidInput naming the first field of the alert that cannot be stored."""
    _choice(wanted.kind, ALERT_KINDS, "kind")
    _choice(wanted.severity, SEVERITIES, "severity")
    if not model or len(model) > _MAX_MODEL:
        raise InvalidInput(f"An alert needs a model name of 1 to {_MAX_MODEL} characters.")
    if wanted.dedup_key is not None and not 0 < len(wanted.dedup_key) <= _MAX_DEDUP_KEY:
        raise InvalidInput(
            f"An alert's dedup_key must have 1 to {_MAX_DEDUP_KEY} characters.",
            errors=[{"loc": ["dedup_key"], "msg": "wrong length"}],
        )


def _dedup_lock_key(tenant: str, dedup_key: str) -> int:
    """Returns a signed 64-bit advisory lock key for one (tenant, dedup_key)."""
    digest = hashlib.sha256(f"vigil-alert\0{tenant}\0{dedup_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class NewAlert:
    """One alert to raise, as :meth:`AlertStore.raise_alerts` takes many at once."""

    kind: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    dedup_key: str | None = None


# Dedup keys looked up per query: far below every database's bound-parameter limit.
_KEYS_PER_QUERY = 500


class AlertStore(SqlStore):
    """Raises (deduplicated), lists, acknowledges and resolves alerts; tracks webhook delivery."""

    def raise_alert(
        self,
        tenant: str,
        model: str,
        *,
        kind: str,
        severity: str,
        message: str,
        details: dict[str, Any] | None = None,
        version: int | None = None,
        dedup_key: str | None = None,
        deliver: bool = False,
    ) -> tuple[Alert, bool]:
        """Returns the alert and whether it is new.

        With a ``dedup_key`` that an ``open`` alert of the tenant already has,
        that alert is returned with False and nothing is written: an ongoing
        condition is one alert, however often it is checked. An acknowledged
        or resolved alert does not block a new one.
        """
        wanted = NewAlert(kind, severity, message, dict(details or {}), version, dedup_key)
        return self.raise_alerts(tenant, model, [wanted], deliver=deliver)[0]

    def raise_alerts(
        self, tenant: str, model: str, wanted: Sequence[NewAlert], *, deliver: bool = False
    ) -> builtins.list[tuple[Alert, bool]]:
        """Returns each alert of ``wanted`` (in order) and whether it is new, in one transaction.

        Deduplicated as :meth:`raise_alert` does, also within ``wanted``: a
        key raised earlier in the list returns that alert. Every alert is
        checked before anything is written, so a bad one raises nothing.
        """
        for one in wanted:
            _check(model, one)
        if not wanted:
            return []
        keys = sorted({one.dedup_key for one in wanted if one.dedup_key is not None})
        with self.writing() as session:
            # In one order, so two replicas raising overlapping keys cannot deadlock.
            for key in sorted(keys, key=lambda k: _dedup_lock_key(tenant, k)):
                self._lock_dedup_key(session, tenant, key)
            open_by_key = self._open_alerts(session, tenant, keys)
            raised: builtins.list[tuple[Alert, bool]] = []
            for one in wanted:
                existing = open_by_key.get(one.dedup_key) if one.dedup_key is not None else None
                if existing is not None:
                    raised.append((existing, False))
                    continue
                row = AlertRow(
                    id=uuid7(),
                    tenant=tenant,
                    model=model,
                    version=one.version,
                    kind=one.kind,
                    severity=one.severity,
                    message=one.message,
                    details=dict(one.details),
                    dedup_key=one.dedup_key,
                    status="open",
                    created_at=self.now(),
                    acknowledged_at=None,
                    acknowledged_by=None,
                    delivery="pending" if deliver else "none",
                    delivery_attempts=0,
                    delivery_error=None,
                )
                session.add(row)
                alert = _record(row)
                if one.dedup_key is not None:
                    open_by_key[one.dedup_key] = alert
                raised.append((alert, True))
            session.flush()
            return raised

    def _open_alerts(
        self, session: Session, tenant: str, keys: builtins.list[str]
    ) -> dict[str, Alert]:
        """Returns the newest open alert of each of ``keys`` that has one."""
        found: dict[str, Alert] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            rows = session.scalars(
                select(AlertRow)
                .where(
                    AlertRow.tenant == tenant,
                    AlertRow.dedup_key.in_(keys[start : start + _KEYS_PER_QUERY]),
                    AlertRow.status == "open",
                )
                # Oldest first, so the newest of a key is the one kept.
                .order_by(AlertRow.created_at, AlertRow.id)
            )
            for row in rows:
                if row.dedup_key is not None:
                    found[row.dedup_key] = _record(row)
        return found

    def _lock_dedup_key(self, session: Session, tenant: str, dedup_key: str) -> None:
        """Serialises raises of one dedup key until the transaction ends.

        SQLite needs nothing: its write transactions begin IMMEDIATE, one at a
        time. On PostgreSQL two replicas could otherwise both see no open alert
        and both insert one; the table has no unique index to stop them, so a
        transaction-scoped advisory lock on the key does.
        """
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": _dedup_lock_key(tenant, dedup_key)},
            )

    def get(self, tenant: str, alert_id: str) -> Alert:
        """Returns the tenant's alert ``alert_id``; NotFound if absent or another tenant's."""
        with self.reading() as session:
            row = session.get(AlertRow, alert_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"Alert {alert_id} does not exist.")
            return _record(row)

    def acknowledge(self, tenant: str, model: str, alert_id: str, actor: str) -> Alert:
        """Returns the alert acknowledged by ``actor``.

        Acknowledging again changes nothing: the first time and actor are kept.
        A resolved alert stays resolved (it records who acknowledged it).
        """
        with self.writing() as session:
            row = session.get(AlertRow, alert_id)
            if row is None or row.tenant != tenant or row.model != model:
                raise NotFound(f"Alert {alert_id} of model {model} does not exist.")
            if row.acknowledged_at is None:
                row.acknowledged_at = self.now()
                row.acknowledged_by = actor[:_MAX_ACTOR]
                if row.status == "open":
                    row.status = "acknowledged"
            session.flush()
            return _record(row)

    def resolve(self, tenant: str, dedup_key: str) -> int:
        """Returns how many alerts of ``dedup_key`` were resolved (its condition cleared).

        Open and acknowledged alerts of the key both become ``resolved``: the
        condition is over either way, and the next raise of the key is a new alert.
        """
        with self.writing() as session:
            self._lock_dedup_key(session, tenant, dedup_key)
            result = session.execute(
                update(AlertRow)
                .where(
                    AlertRow.tenant == tenant,
                    AlertRow.dedup_key == dedup_key,
                    AlertRow.status.in_(("open", "acknowledged")),
                )
                .values(status="resolved")
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def pending_deliveries(
        self,
        limit: int = 50,
        *,
        tenant: str | None = None,
        model: str | None = None,
        created_before: datetime | None = None,
    ) -> builtins.list[Alert]:
        """Returns alerts whose webhook post is still pending, oldest first.

        Of every tenant and model unless ``tenant`` / ``model`` narrow it, and
        only those raised before ``created_before`` when it is given.
        """
        query = select(AlertRow).where(AlertRow.delivery == "pending")
        if tenant is not None:
            query = query.where(AlertRow.tenant == tenant)
        if model is not None:
            query = query.where(AlertRow.model == model)
        if created_before is not None:
            query = query.where(AlertRow.created_at < created_before)
        with self.reading() as session:
            rows = session.scalars(
                query.order_by(AlertRow.created_at, AlertRow.id).limit(limit)
            ).all()
            return [_record(r) for r in rows]

    def mark_delivery(
        self, alert_id: str, *, delivered: bool, attempts: int, error: str | None
    ) -> Alert:
        """Returns the alert with the outcome of its webhook post recorded.

        ``attempts`` is the number of requests that post made; ``error`` is
        kept only for a failure.
        """
        with self.writing() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"Alert {alert_id} does not exist.")
            row.delivery = "delivered" if delivered else "failed"
            row.delivery_attempts = attempts
            row.delivery_error = None if delivered else error
            session.flush()
            return _record(row)

    def list(
        self,
        tenant: str,
        model: str | None = None,
        *,
        status: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Alert]:
        """Returns the tenant's alerts (of ``model`` and ``status`` if given), newest first."""
        if status is not None:
            _choice(status, STATUSES, "status")
        if limit < 1:
            raise InvalidInput(f"The alert limit must be at least 1, not {limit}.")
        query = select(AlertRow).where(AlertRow.tenant == tenant)
        if model is not None:
            query = query.where(AlertRow.model == model)
        if status is not None:
            query = query.where(AlertRow.status == status)
        # UUIDv7 ids grow with time, so they order alerts raised within one clock tick.
        query = query.order_by(AlertRow.created_at.desc(), AlertRow.id.desc()).limit(limit)
        with self.reading() as session:
            return [_record(r) for r in session.scalars(query)]
