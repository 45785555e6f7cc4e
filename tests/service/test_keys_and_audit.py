"""API keys (hashed, role- and tenant-bound) and the audit log."""

from __future__ import annotations

from dataclasses import replace

import pytest
from service_support import ADMIN

from vigil.errors import Forbidden, InvalidInput, Unauthorized
from vigil.security import Caller
from vigil.service import VigilService


def test_created_key_authenticates_as_its_tenant_and_role(service: VigilService) -> None:
    created = service.access.create_key(ADMIN, "predictor", tenant="acme")
    caller = service.access.authenticate(created["key"])
    assert (caller.tenant, caller.role, caller.key_id) == ("acme", "predictor", created["id"])
    assert caller.actor == f"key:{created['id']}"


def test_keys_are_stored_hashed(service: VigilService) -> None:
    created = service.access.create_key(ADMIN, "viewer")
    secret = created["key"].split("_", 2)[2]
    with service.stores.keys.engine.connect() as connection:
        stored = connection.exec_driver_sql("select secret_hash from api_keys").scalar_one()
    assert secret not in stored and created["key"] not in stored


@pytest.mark.parametrize("text", ["", "nonsense", "vk_abc_def", "vk__x"])
def test_unknown_or_malformed_keys_are_refused(service: VigilService, text: str) -> None:
    with pytest.raises(Unauthorized):
        service.access.authenticate(text)


def test_a_wrong_secret_for_a_real_id_is_refused(service: VigilService) -> None:
    created = service.access.create_key(ADMIN, "admin")
    prefix = created["key"].rsplit("_", 1)[0]
    with pytest.raises(Unauthorized):
        service.access.authenticate(prefix + "_wrong")


def test_only_admins_create_keys(service: VigilService) -> None:
    trainer = Caller(tenant="default", actor="key:t", role="trainer")
    with pytest.raises(Forbidden, match="admin role"):
        service.access.create_key(trainer, "viewer")


def test_unknown_role_is_refused(service: VigilService) -> None:
    with pytest.raises(InvalidInput, match="Unknown role 'root'"):
        service.access.create_key(ADMIN, "root")


def test_first_start_creates_one_admin_key_written_0600(service: VigilService) -> None:
    text = service.access.ensure_admin_key()
    assert text is not None
    path = service.settings.home / "admin.key"
    assert path.read_text().strip() == text
    assert path.stat().st_mode & 0o777 == 0o600
    assert service.access.authenticate(text).role == "admin"
    assert service.access.ensure_admin_key() is None


def test_environment_admin_key_is_honoured_and_replaced_when_changed(service: VigilService) -> None:
    service.access.settings = replace(service.settings, admin_key="operator-chosen")
    assert service.access.ensure_admin_key() is None
    assert service.access.authenticate("operator-chosen").tenant == "default"
    service.access.settings = replace(service.settings, admin_key="rotated")
    service.access.ensure_admin_key()
    assert service.access.authenticate("rotated").role == "admin"
    with pytest.raises(Unauthorized):
        service.access.authenticate("operator-chosen")


def test_changes_are_audited_per_tenant(service: VigilService) -> None:
    created = service.access.create_key(ADMIN, "trainer", tenant="acme")
    acme = service.access.authenticate(created["key"])
    service.datasets.create_dataset_from_rows(acme, name="tiny", rows=[{"a": 1}, {"a": 2}])
    acme_admin = Caller(tenant="acme", actor="test", role="admin")
    events = service.audit.list_audit(acme_admin)
    assert [e["action"] for e in events] == ["dataset.create"]
    assert events[0]["actor"] == f"key:{created['id']}"
    assert [e["action"] for e in service.audit.list_audit(ADMIN)] == ["key.create"]
    with pytest.raises(Forbidden):
        service.audit.list_audit(acme)


def test_training_deploy_rollback_and_delete_are_audited(service: VigilService) -> None:
    from pathlib import Path

    from vigil.data.loading import load_dataset
    from vigil.training.trainer import TrainSpec

    data = load_dataset(Path(__file__).resolve().parents[2] / "examples" / "churn.csv")
    spec = TrainSpec(target="churned", params={"n_estimators": 5})
    service.training.train(ADMIN, "churn", data, spec)
    service.training.train(ADMIN, "churn", data, spec)
    service.models.deploy(ADMIN, "churn", 2, reason="better")
    service.models.rollback(ADMIN, "churn", reason="worse in production")
    service.models.delete_version(ADMIN, "churn", 2)
    service.models.delete_model(ADMIN, "churn")
    actions = [e["action"] for e in reversed(service.audit.list_audit(ADMIN))]
    # The training rows are kept once (for retraining), however often they are trained on.
    assert actions == [
        "dataset.create",
        "model.train",
        "model.train",
        "model.deploy",
        "model.rollback",
        "model.delete_version",
        "model.delete",
    ]
    deploy = next(e for e in service.audit.list_audit(ADMIN) if e["action"] == "model.deploy")
    assert deploy["detail"]["version"] == 2 and deploy["detail"]["reason"] == "better"
    assert deploy["actor"] == ADMIN.actor
