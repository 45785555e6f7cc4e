"""API keys: stored hashed, bound to a tenant and a role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.errors import Unauthorized
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import ApiKeyRow
from vigil.security import NewKey, hash_secret, role_rank, secret_matches, split_key

# The row that holds the operator's VIGIL_ADMIN_KEY (generated ids are 12 hex digits).
ENVIRONMENT_ADMIN_ID = "environment"


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key as the registry knows it: never its secret."""

    id: str
    tenant: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class KeyStore(SqlStore):
    """Creates, finds and checks API keys."""

    def add(self, key: NewKey, *, tenant: str, role: str, created_by: str) -> ApiKeyRecord:
        """Returns the record of ``key`` stored for ``tenant`` with ``role``."""
        role_rank(role)
        with self.writing() as session:
            row = ApiKeyRow(
                id=key.id,
                tenant=tenant,
                role=role,
                secret_hash=key.secret_hash,
                created_at=self.now(),
                created_by=created_by,
                revoked_at=None,
            )
            session.add(row)
            session.flush()
            return _record(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """Returns the key with ``key_id``, or None."""
        with self.reading() as session:
            row = session.get(ApiKeyRow, key_id)
            return _record(row) if row is not None else None

    def authenticate(self, text: str) -> ApiKeyRecord:
        """Returns the key presented as ``text``; Unauthorized if unknown, wrong or revoked.

        Keys Vigil generated name their row; any other text can only be the
        operator's ``VIGIL_ADMIN_KEY``, stored whole under a fixed id.
        """
        try:
            candidates = [split_key(text), (ENVIRONMENT_ADMIN_ID, text)]
        except Unauthorized:
            candidates = [(ENVIRONMENT_ADMIN_ID, text)]
        with self.reading() as session:
            for key_id, secret in candidates:
                row = session.get(ApiKeyRow, key_id)
                if row is None or row.revoked_at is not None:
                    continue
                if secret_matches(secret, row.secret_hash):
                    return _record(row)
        raise Unauthorized("The API key is not valid.")

    def put_environment_admin(self, text: str) -> None:
        """Makes ``text`` (``VIGIL_ADMIN_KEY``) the admin key of tenant ``default``.

        Run at every start: a changed variable replaces the previous key.
        Replicas started together race to create the row; the one that loses
        finds it there on a second look and checks it like any later start.
        """
        try:
            self._put_environment_admin(text)
        except IntegrityError:
            self._put_environment_admin(text)

    def _put_environment_admin(self, text: str) -> None:
        with self.writing() as session:
            row = session.get(ApiKeyRow, ENVIRONMENT_ADMIN_ID)
            if row is None:
                session.add(
                    ApiKeyRow(
                        id=ENVIRONMENT_ADMIN_ID,
                        tenant="default",
                        role="admin",
                        secret_hash=hash_secret(text),
                        created_at=self.now(),
                        created_by="VIGIL_ADMIN_KEY",
                        revoked_at=None,
                    )
                )
            elif not secret_matches(text, row.secret_hash) or row.revoked_at is not None:
                row.secret_hash = hash_secret(text)
                row.revoked_at = None

    def count(self) -> int:
        """Returns how many keys exist (revoked included)."""
        with self.reading() as session:
            return len(session.scalars(select(ApiKeyRow.id)).all())

    def revoke(self, key_id: str) -> None:
        """Marks the key revoked (idempotent)."""
        with self.writing() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = self.now()


def _record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.id, row.tenant, row.role, row.created_at, row.created_by, row.revoked_at
    )
