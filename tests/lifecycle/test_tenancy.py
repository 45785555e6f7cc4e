"""The lifecycle across tenants: a tick acts on every tenant's models, but reports and
policies are shown only to their own tenant."""

from __future__ import annotations

import pytest
from lifecycle_support import ADMIN, actions, frame, retrain_jobs, traffic, train

from clock_support import Clock
from vigil.errors import Forbidden, NotFound
from vigil.lifecycle.policy import Policy, parse_policy
from vigil.security import Caller
from vigil.service import VigilService

ACME = Caller(tenant="acme", actor="test:acme", role="admin")


def test_run_now_reports_only_the_callers_models(service: VigilService, clock: Clock) -> None:
    train(service, "churn", frame(150, seed=1))
    train(service, "churn", frame(150, seed=2), caller=ACME)  # the same name, another tenant
    train(service, "fraud", frame(150, seed=3), caller=ACME)
    service.policies.put_policy(ADMIN, "churn", {"triggers": {"feedback_count": 10}})
    clock.advance(minutes=1)
    traffic(service, "churn", frame(20, seed=4))
    clock.advance(minutes=1)

    report = service.scheduling.run_lifecycle_now(ACME)
    assert report["ran"] is True and report["leader"] == service.instance_id
    assert sorted(m["model"] for m in report["models"]) == ["churn", "fraud"]
    # acme's churn has no policy: it did nothing; default's churn retrained, unseen by acme.
    assert all(m["actions"] == [] for m in report["models"])
    assert all(set(m) == {"model", "actions"} for m in report["models"])
    assert retrain_jobs(service, ACME) == []
    assert len(retrain_jobs(service, ADMIN)) == 1

    # The default tenant sees its own model only (and the tick that already ran).
    clock.advance(minutes=1)
    own = service.scheduling.run_lifecycle_now(ADMIN)
    assert [m["model"] for m in own["models"]] == ["churn"]
    assert actions(service.scheduling.lifecycle_tick(), "fraud") == []


def test_run_now_is_for_admins(service: VigilService) -> None:
    with pytest.raises(Forbidden):
        service.scheduling.run_lifecycle_now(
            Caller(tenant="acme", actor="test:trainer", role="trainer")
        )


def test_a_policy_of_another_tenant_is_not_found(service: VigilService) -> None:
    train(service, "churn", frame(150, seed=1))
    service.policies.put_policy(ADMIN, "churn", {"retention": {"keep_last": 3}})
    with pytest.raises(NotFound):
        service.policies.get_policy(ACME, "churn")
    with pytest.raises(NotFound):
        service.policies.put_policy(ACME, "churn", {})
    with pytest.raises(NotFound):
        service.policies.set_policy_paused(ACME, "churn", True)
    with pytest.raises(NotFound):
        service.retraining.submit_retraining(ACME, "churn")
    assert service.policies.get_policy(ADMIN, "churn")["policy"]["retention"]["keep_last"] == 3


def test_pausing_a_model_without_a_policy_stores_the_default_policy_paused(
    service: VigilService,
) -> None:
    train(service, "churn", frame(150, seed=1))
    shown = service.policies.set_policy_paused(ADMIN, "churn", True)
    assert shown["paused"] is True and shown["next_run_at"] is None
    assert parse_policy(service.policies.get_policy(ADMIN, "churn")["policy"]) == Policy()
    with pytest.raises(Forbidden):
        service.policies.set_policy_paused(
            Caller(actor="test:viewer", role="viewer"), "churn", False
        )
    with pytest.raises(Forbidden):
        service.policies.put_policy(Caller(actor="test:predictor", role="predictor"), "churn", {})
