"""Keys as use cases on an injected clock: expiry, rotation's grace, revocation, listing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clock_support import Clock
from vigil.config import Settings
from vigil.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from vigil.registry.audit import AuditLog
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.keys import KeyStore
from vigil.security import Caller
from vigil.usecases.access import Access
from vigil.usecases.audit import Audit

OPERATOR = Caller(tenant="default", actor="test", role="admin")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def access(database_url: str, tmp_path: Path, clock: Clock) -> Access:
    engine = create_engine_for(database_url)
    upgrade(engine)
    settings = Settings.from_env({"VIGIL_HOME": str(tmp_path), "VIGIL_DATABASE_URL": database_url})
    return Access(settings, KeyStore(engine, clock), Audit(AuditLog(engine, clock)))


def test_a_key_expires_on_the_clock_and_is_refused_with_a_reason(
    access: Access, clock: Clock
) -> None:
    created = access.create_key(OPERATOR, "predictor", expires_in_days=2)
    assert created["expires_at"] == "2026-01-03T00:00:00+00:00"
    clock.advance(days=1, hours=23)
    assert access.authenticate(created["key"]).role == "predictor"
    clock.advance(hours=1)
    with pytest.raises(Unauthorized, match="has expired"):
        access.authenticate(created["key"])
    [listed] = [k for k in access.list_keys(OPERATOR) if k["id"] == created["id"]]
    assert listed["state"] == "expired"


@pytest.mark.parametrize("days", [0, -1, 3651, float("inf"), float("nan"), True])
def test_an_expiry_out_of_range_is_refused_naming_the_field(access: Access, days: float) -> None:
    with pytest.raises(InvalidInput, match="expires_in_days"):
        access.create_key(OPERATOR, "viewer", expires_in_days=days)


def test_revocation_is_immediate_in_the_store_and_audited(access: Access) -> None:
    created = access.create_key(OPERATOR, "trainer", tenant="acme")
    access.revoke_key(OPERATOR, created["id"])
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate(created["key"])
    # Idempotent: a second revoke answers the same key.
    assert access.revoke_key(OPERATOR, created["id"])["state"] == "revoked"
    operator_actions = [e["action"] for e in access.audit.list_audit(OPERATOR)]
    assert operator_actions.count("key.revoke") == 2
    assert "key.create" in operator_actions


def test_rotation_gives_the_same_role_and_tenant_and_a_grace_period(
    access: Access, clock: Clock
) -> None:
    old = access.create_key(OPERATOR, "predictor", tenant="acme")
    new = access.rotate_key(OPERATOR, old["id"], grace_hours=2)
    assert (new["role"], new["tenant"], new["rotated_from"]) == ("predictor", "acme", old["id"])
    clock.advance(hours=1)
    assert access.authenticate(old["key"]).key_id == old["id"]
    clock.advance(hours=1)
    with pytest.raises(Unauthorized, match="has expired"):
        access.authenticate(old["key"])
    assert access.authenticate(new["key"]).key_id == new["id"]
    assert "key.rotate" in [e["action"] for e in access.audit.list_audit(OPERATOR)]
    with pytest.raises(Conflict, match="expired"):
        access.rotate_key(OPERATOR, old["id"])


def test_listing_shows_last_use_and_never_a_secret(access: Access, clock: Clock) -> None:
    created = access.create_key(OPERATOR, "viewer")
    access.authenticate(created["key"])
    [listed] = [k for k in access.list_keys(OPERATOR) if k["id"] == created["id"]]
    assert listed["last_used_at"] == clock.now.isoformat()
    assert "key" not in listed and "secret_hash" not in listed
    secret = created["key"].split("_", 2)[2]
    assert secret not in str(access.list_keys(OPERATOR))


def test_a_tenant_admin_sees_and_revokes_only_its_own_keys(access: Access) -> None:
    theirs = access.create_key(OPERATOR, "viewer", tenant="default")
    acme_admin_key = access.create_key(OPERATOR, "admin", tenant="acme")
    acme_admin = access.authenticate(acme_admin_key["key"])
    assert [k["tenant"] for k in access.list_keys(acme_admin)] == ["acme"]
    with pytest.raises(NotFound):
        access.revoke_key(acme_admin, theirs["id"])
    with pytest.raises(Forbidden):
        access.list_keys(acme_admin, "default")


def test_the_metrics_role_is_a_role_a_key_can_have(access: Access) -> None:
    created = access.create_key(OPERATOR, "metrics")
    assert access.authenticate(created["key"]).role == "metrics"
    with pytest.raises(InvalidInput, match="metrics"):
        access.create_key(OPERATOR, "owner")
