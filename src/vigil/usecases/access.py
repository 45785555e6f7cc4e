"""API keys as use cases: authenticate a key, create keys, the operator's admin key."""

from __future__ import annotations

import os
from typing import Any

from vigil.config import Settings
from vigil.errors import Forbidden
from vigil.registry.keys import KeyStore
from vigil.security import (
    OPERATOR_TENANT,
    Caller,
    check_tenant,
    generate_key,
    require_role,
    role_rank,
)
from vigil.usecases.audit import Audit


class Access:
    """Who may do what: keys bound to a tenant and a role."""

    def __init__(self, settings: Settings, keys: KeyStore, audit: Audit) -> None:
        self.settings = settings
        self.keys = keys
        self.audit = audit

    def authenticate(self, key_text: str) -> Caller:
        """Returns the caller a presented API key stands for; Unauthorized otherwise."""
        record = self.keys.authenticate(key_text)
        return Caller(
            tenant=record.tenant, actor=f"key:{record.id}", role=record.role, key_id=record.id
        )

    def create_key(self, caller: Caller, role: str, tenant: str | None = None) -> dict[str, Any]:
        """Returns a new key (its text shown this once) for ``tenant`` (default the caller's)."""
        require_role(caller, "admin")
        role_rank(role)
        target = check_tenant(tenant or caller.tenant)
        if target != caller.tenant and caller.tenant != OPERATOR_TENANT:
            # Only the operator's tenant administers others; a tenant admin minting
            # keys elsewhere would break the isolation between tenants.
            raise Forbidden(
                f"Only an admin of tenant {OPERATOR_TENANT!r} can create keys for another tenant."
            )
        key = generate_key()
        record = self.keys.add(key, tenant=target, role=role, created_by=caller.actor)
        self.audit.record(caller, "key.create", f"keys/{record.id}", role=role, tenant=target)
        return {
            "id": record.id,
            "key": key.text,
            "role": record.role,
            "tenant": record.tenant,
            "created_at": record.created_at.isoformat(),
        }

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
