"""API keys: stored hashed, bound to a tenant and a role, revocable, optionally expiring."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from vigil.errors import Unauthorized
from vigil.registry.sessions import SqlStore, utc_now
from vigil.registry.tables import ApiKeyRow
from vigil.security import NewKey, check_key_role, hash_secret, secret_matches, split_key

# The row that holds the operator's VIGIL_ADMIN_KEY (generated ids are 12 hex digits).
ENVIRONMENT_ADMIN_ID = "environment"
# A key's last use is written at most this often per process: authenticating
# must not turn every request into a database write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key as the registry knows it: never its secret."""

    id: str
    tenant: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    rotated_from: str | None = None

    def state(self, now: datetime) -> str:
        """Returns ``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class KeyStore(SqlStore):
    """Creates, lists, revokes and checks API keys."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] = utc_now) -> None:
        super().__init__(engine, now)
        self._last_touch: dict[str, datetime] = {}
        self._touch_lock = threading.Lock()

    def add(
        self,
        key: NewKey,
        *,
        tenant: str,
        role: str,
        created_by: str,
        expires_at: datetime | None = None,
        rotated_from: str | None = None,
    ) -> ApiKeyRecord:
        """Returns the record of ``key`` stored for ``tenant`` with ``role``."""
        check_key_role(role)
        with self.writing() as session:
            row = ApiKeyRow(
                id=key.id,
                tenant=tenant,
                role=role,
                secret_hash=key.secret_hash,
                created_at=self.now(),
                created_by=created_by,
                revoked_at=None,
                expires_at=expires_at,
                last_used_at=None,
                rotated_from=rotated_from,
            )
            session.add(row)
            session.flush()
            return _record(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """Returns the key with ``key_id``, or None."""
        with self.reading() as session:
            row = session.get(ApiKeyRow, key_id)
            return _record(row) if row is not None else None

    def list(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        """Returns the keys of ``tenant`` (every tenant's with None), oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if tenant is not None:
            query = query.where(ApiKeyRow.tenant == tenant)
        with self.reading() as session:
            return [_record(row) for row in session.scalars(query)]

    def authenticate(self, text: str) -> ApiKeyRecord:
        """Returns the key presented as ``text``; Unauthorized if unknown, revoked or expired.

        Keys Vigil generated name their row; any other text can only be the
        operator's ``VIGIL_ADMIN_KEY``, stored whole under a fixed id.
        """
        try:
            candidates = [split_key(text), (ENVIRONMENT_ADMIN_ID, text)]
        except Unauthorized:
            candidates = [(ENVIRONMENT_ADMIN_ID, text)]
        now = self.now()
        with self.reading() as session:
            for key_id, secret in candidates:
                row = session.get(ApiKeyRow, key_id)
                if row is None or not secret_matches(secret, row.secret_hash):
                    continue
                record = _record(row)
                state = record.state(now)
                if state == "revoked":
                    raise Unauthorized(f"The API key {record.id} was revoked.")
                if state == "expired":
                    raise Unauthorized(f"The API key {record.id} has expired.")
                return record
        raise Unauthorized("The API key is not valid.")

    def touch(self, key_id: str) -> None:
        """Records that the key was used now (at most once a minute per key and process)."""
        now = self.now()
        with self._touch_lock:
            last = self._last_touch.get(key_id)
            if last is not None and now - last < LAST_USED_RESOLUTION:
                return
            self._last_touch[key_id] = now
        with self.writing() as session:
            session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=now)
            )

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
                        expires_at=None,
                        last_used_at=None,
                        rotated_from=None,
                    )
                )
            elif not secret_matches(text, row.secret_hash) or row.revoked_at is not None:
                row.secret_hash = hash_secret(text)
                row.revoked_at = None
                row.expires_at = None

    def count(self) -> int:
        """Returns how many keys exist (revoked included)."""
        with self.reading() as session:
            return len(session.scalars(select(ApiKeyRow.id)).all())

    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Marks the key revoked (idempotent); returns it, or None if there is no such key."""
        with self.writing() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = self.now()
            return _record(row)

    def expire(self, key_id: str, at: datetime) -> None:
        """Makes the key expire at ``at`` unless it already expires sooner (a rotation's grace)."""
        with self.writing() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is not None and (row.expires_at is None or row.expires_at > at):
                row.expires_at = at


def _record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.id,
        row.tenant,
        row.role,
        row.created_at,
        row.created_by,
        row.revoked_at,
        row.expires_at,
        row.last_used_at,
        row.rotated_from,
    )
