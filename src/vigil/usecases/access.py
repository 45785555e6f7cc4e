"""API keys as use cases: authenticate, create, list, revoke, rotate; the operator's admin key."""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from typing import Any

from vigil.config import Settings
from vigil.errors import Conflict, Forbidden, InvalidInput, NotFound
from vigil.registry.keys import ENVIRONMENT_ADMIN_ID, ApiKeyRecord, KeyStore
from vigil.security import (
    OPERATOR_TENANT,
    Caller,
    check_key_role,
    check_tenant,
    generate_key,
    require_role,
)
from vigil.usecases.audit import Audit

# Expiry is bounded so a typo (days as seconds, say) is refused rather than stored.
MAX_EXPIRY_DAYS = 3650
# How long the old key of a rotation keeps working unless told otherwise.
DEFAULT_GRACE_HOURS = 24.0
MAX_GRACE_HOURS = 24.0 * 90


class Access:
    """Who may do what: keys bound to a tenant and a role."""

    def __init__(self, settings: Settings, keys: KeyStore, audit: Audit) -> None:
        self.settings = settings
        self.keys = keys
        self.audit = audit

    def authenticate(self, key_text: str) -> Caller:
        """Returns the caller a presented API key stands for; Unauthorized otherwise."""
        record = self.keys.authenticate(key_text)
        self.keys.touch(record.id)
        return Caller(
            tenant=record.tenant, actor=f"key:{record.id}", role=record.role, key_id=record.id
        )

    def create_key(
        self,
        caller: Caller,
        role: str,
        tenant: str | None = None,
        *,
        expires_in_days: float | None = None,
    ) -> dict[str, Any]:
        """Returns a new key (its text shown this once) for ``tenant`` (default the caller's)."""
        require_role(caller, "admin")
        check_key_role(role)
        target = self._administered_tenant(caller, tenant)
        expires_at = self._expiry(expires_in_days)
        key = generate_key()
        record = self.keys.add(
            key, tenant=target, role=role, created_by=caller.actor, expires_at=expires_at
        )
        self.audit.record(
            caller,
            "key.create",
            f"keys/{record.id}",
            role=role,
            tenant=target,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        return {**describe_key(record, self.keys.now()), "key": key.text}

    def list_keys(self, caller: Caller, tenant: str | None = None) -> list[dict[str, Any]]:
        """Returns the keys of ``tenant`` (default the caller's), never their secrets."""
        require_role(caller, "admin")
        target = self._administered_tenant(caller, tenant)
        now = self.keys.now()
        return [describe_key(record, now) for record in self.keys.list(target)]

    def revoke_key(self, caller: Caller, key_id: str) -> dict[str, Any]:
        """Revokes a key of the caller's tenant (any tenant's for the operator); idempotent."""
        record = self._administered_key(caller, key_id)
        if record.id == ENVIRONMENT_ADMIN_ID:
            # The next start would bring it back from the variable: refuse instead of pretending.
            raise Conflict(
                "The VIGIL_ADMIN_KEY key cannot be revoked here; change or unset the "
                "variable and restart the servers."
            )
        revoked = self.keys.revoke(record.id)
        assert revoked is not None  # found just above; keys are never deleted
        self.audit.record(caller, "key.revoke", f"keys/{record.id}", tenant=record.tenant)
        return describe_key(revoked, self.keys.now())

    def rotate_key(
        self, caller: Caller, key_id: str, *, grace_hours: float | None = None
    ) -> dict[str, Any]:
        """Returns a new key of the old one's role and tenant; the old one ends after the grace.

        The grace lets clients switch over without a moment where neither key works.
        """
        record = self._administered_key(caller, key_id)
        if record.id == ENVIRONMENT_ADMIN_ID:
            raise Conflict(
                "The VIGIL_ADMIN_KEY key cannot be rotated here; set a new value and restart."
            )
        state = record.state(self.keys.now())
        if state != "active":
            raise Conflict(f"Key {record.id} is {state}; only an active key can be rotated.")
        hours = DEFAULT_GRACE_HOURS if grace_hours is None else grace_hours
        if not (isinstance(hours, int | float) and math.isfinite(hours)) or not (
            0 <= hours <= MAX_GRACE_HOURS
        ):
            raise InvalidInput(
                f"grace_hours must be a number from 0 to {MAX_GRACE_HOURS:g}, got {hours!r}.",
                errors=[{"loc": ["body", "grace_hours"], "msg": "out of range"}],
            )
        key = generate_key()
        new = self.keys.add(
            key,
            tenant=record.tenant,
            role=record.role,
            created_by=caller.actor,
            expires_at=record.expires_at,
            rotated_from=record.id,
        )
        grace_end = self.keys.now() + timedelta(hours=hours)
        self.keys.expire(record.id, grace_end)
        self.audit.record(
            caller,
            "key.rotate",
            f"keys/{record.id}",
            new_key=new.id,
            tenant=record.tenant,
            old_expires_at=grace_end.isoformat(),
        )
        return {**describe_key(new, self.keys.now()), "key": key.text}

    def ensure_admin_key(self) -> str | None:
        """Returns an admin key's text to print once at start, or None when there is nothing new.

        ``VIGIL_ADMIN_KEY`` becomes an admin key of tenant ``default`` (any text
        works; it is stored hashed under a fixed id). Otherwise, on a first start
        with no key at all, one admin key is created and written to
        ``$VIGIL_HOME/admin.key`` (mode 0600).
        """
        if self.settings.admin_key:
            self.keys.put_environment_admin(self.settings.admin_key)
            return None
        if self.keys.count() > 0:
            return None
        key = generate_key()
        self.keys.add(key, tenant=OPERATOR_TENANT, role="admin", created_by="first start")
        path = self.settings.home / "admin.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.text + "\n")
        return key.text

    def _administered_tenant(self, caller: Caller, tenant: str | None) -> str:
        require_role(caller, "admin")
        target = check_tenant(tenant or caller.tenant)
        if target != caller.tenant and caller.tenant != OPERATOR_TENANT:
            # Only the operator's tenant administers others; a tenant admin reaching
            # keys elsewhere would break the isolation between tenants.
            raise Forbidden(
                f"Only an admin of tenant {OPERATOR_TENANT!r} can manage keys of another tenant."
            )
        return target

    def _administered_key(self, caller: Caller, key_id: str) -> ApiKeyRecord:
        require_role(caller, "admin")
        record = self.keys.get(key_id) if len(key_id) <= 32 else None
        # Another tenant's key is a 404, as any other resource of another tenant.
        if record is None or (record.tenant != caller.tenant and caller.tenant != OPERATOR_TENANT):
            raise NotFound(f"There is no key {key_id!r} in tenant {caller.tenant!r}.")
        return record

    def _expiry(self, days: float | None) -> datetime | None:
        if days is None:
            return None
        if (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not math.isfinite(days)
            or not 0 < days <= MAX_EXPIRY_DAYS
        ):
            raise InvalidInput(
                f"expires_in_days must be a number of days above 0 and at most "
                f"{MAX_EXPIRY_DAYS}, got {days!r}.",
                errors=[{"loc": ["body", "expires_in_days"], "msg": "out of range"}],
            )
        return self.keys.now() + timedelta(days=days)


def describe_key(record: ApiKeyRecord, now: datetime) -> dict[str, Any]:
    """Returns what may be shown of a key: everything but its secret."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": record.id,
        "role": record.role,
        "tenant": record.tenant,
        "state": record.state(now),
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
        "expires_at": iso(record.expires_at),
        "last_used_at": iso(record.last_used_at),
        "revoked_at": iso(record.revoked_at),
        "rotated_from": record.rotated_from,
    }
