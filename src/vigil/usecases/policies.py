"""Policies as use cases: what each model's lifecycle does on its own, and its state.

A policy is a document (schedule, triggers, promotion margin, rollback,
canary steps, retention, webhook) parsed with errors that name the field;
the scheduler's tick reads every policy and acts through the other use cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from vigil.errors import InvalidInput
from vigil.lifecycle.policy import Policy, parse_policy
from vigil.registry.policies import PolicyRecord, PolicyStore
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.training.metric_names import PRIMARY_METRIC
from vigil.usecases.audit import Audit

# What a policy watches, compares and promotes on unless it names another metric.
# Anomaly models are served by their threshold (is_anomaly), which roc_auc does not
# see: a uniform shift that floods the alerts leaves the ranking, and roc_auc, intact.
POLICY_METRIC = {**PRIMARY_METRIC, "anomaly": "f1"}


def policy_json(record: PolicyRecord) -> dict[str, Any]:
    """Returns a stored policy as the API shows it: every field, and the schedule's state."""
    return {
        "model": record.model,
        "policy": parse_policy(record.document).to_json(),
        "paused": record.paused,
        "next_run_at": record.next_run_at.isoformat() if record.next_run_at else None,
        "last_run_at": record.last_run_at.isoformat() if record.last_run_at else None,
        "updated_by": record.updated_by or None,
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
    }


class Policies:
    """Each model's policy document, its pause switch and its schedule state."""

    def __init__(
        self,
        store: RegistryStore,
        policies: PolicyStore,
        audit: Audit,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.policies = policies
        self.audit = audit
        self.now = now

    def get_policy(self, caller: Caller, name: str) -> dict[str, Any]:
        """Returns the model's policy (every field, defaults filled in) and its schedule state."""
        return policy_json(self.policies.get(caller.tenant, name))

    def read_policy(self, caller: Caller, name: str) -> tuple[PolicyRecord, Policy]:
        """Returns the model's stored policy record and the policy it holds."""
        record = self.policies.get(caller.tenant, name)
        return record, parse_policy(record.document)

    def put_policy(self, caller: Caller, name: str, document: Any) -> dict[str, Any]:
        """Returns the policy after replacing it; a bad field is refused, naming it."""
        # Here, not at the top: the metrics module imports scikit-learn, which a
        # server's scheduler (it reads policies on every tick) should not pay for.
        from vigil.monitoring.performance import LIVE_METRICS

        require_role(caller, "trainer")
        policy = parse_policy(document)
        task = self.store.get_model(caller.tenant, name).task
        if policy.metric is not None and policy.metric not in LIVE_METRICS.get(task, ()):
            # A metric never measured live would silently switch rollback and promotion off.
            allowed = ", ".join(LIVE_METRICS.get(task, ())) or "none (no live metrics)"
            raise InvalidInput(
                f"Policy field metric {policy.metric!r} is not measured live for a {task} "
                f"model; use one of: {allowed}.",
                errors=[{"loc": ["metric"], "msg": "not a live metric of the task"}],
            )
        now = self.now()
        next_run = policy.schedule.next_after(None, now) if policy.schedule else None
        record = self.policies.put(
            caller.tenant, name, policy.to_json(), actor=caller.actor, next_run_at=next_run
        )
        self.audit.record(caller, "model.policy", f"models/{name}", policy=policy.to_json())
        return policy_json(record)

    def set_policy_paused(self, caller: Caller, name: str, paused: bool) -> dict[str, Any]:
        """Returns the policy after pausing (no automatic action) or resuming it."""
        require_role(caller, "trainer")
        record = self.policies.set_paused(caller.tenant, name, paused, actor=caller.actor)
        self.audit.record(caller, "model.pause" if paused else "model.resume", f"models/{name}")
        return policy_json(record)

    def policy_metric(self, task: str, policy: Policy) -> str:
        """Returns the metric a policy watches: its own choice, else the task's primary one."""
        return policy.metric or POLICY_METRIC.get(task, "f1")

    def all_policies(self) -> list[PolicyRecord]:
        """Returns every model's policy record, over all tenants (for the scheduler's tick)."""
        return self.policies.all()

    def claim_scheduled_run(
        self, record: PolicyRecord, due: datetime, following: datetime | None, now: datetime
    ) -> bool:
        """Returns whether this process claimed the scheduled run due at ``due`` (once overall)."""
        return self.policies.claim_run(record.model_id, due, following, now)

    def mark_retrained(self, record: PolicyRecord, at: datetime) -> None:
        """Records that the model was retrained at ``at``: feedback counts and cooldowns
        start again from there."""
        self.policies.update_state(record.model_id, {"last_retrain_at": at.isoformat()})
