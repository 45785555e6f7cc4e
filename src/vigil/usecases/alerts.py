"""Alerts as use cases: raise (posted once to the model's webhook), list, acknowledge, resolve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from vigil.jsonsafe import json_safe
from vigil.lifecycle.policy import parse_policy
from vigil.monitoring.alerts import Alert, AlertStore, NewAlert
from vigil.monitoring.webhook import AlertNotifier
from vigil.registry.policies import PolicyStore
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.usecases.audit import Audit


class Alerts:
    """What needs a person's attention, per model, with its webhook delivery."""

    def __init__(
        self,
        store: RegistryStore,
        alerts: AlertStore,
        policies: PolicyStore,
        notifier: AlertNotifier,
        audit: Audit,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.policies = policies
        self.notifier = notifier
        self.audit = audit

    def raise_alert(
        self,
        caller: Caller,
        name: str,
        *,
        kind: str,
        severity: str,
        message: str,
        version: int | None = None,
        dedup_key: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[Alert, bool]:
        """Returns the alert raised (or the open one for the same condition) and whether it is new.

        A new alert is posted to the policy's webhook, signed, off this thread.
        """
        wanted = NewAlert(kind, severity, message, details or {}, version, dedup_key)
        return self.raise_alerts(caller, name, [wanted])[0]

    def raise_alerts(
        self, caller: Caller, name: str, wanted: Sequence[NewAlert]
    ) -> list[tuple[Alert, bool]]:
        """Returns each alert raised (or the open one of its condition) and whether it is new.

        One policy read and one transaction for all of them (a stream batch's
        incident changes); each new one is posted to the webhook as
        :meth:`raise_alert` posts it, in order.
        """
        if not wanted:
            return []
        url = parse_policy(self.policies.get(caller.tenant, name).document).webhook_url
        raised = self.alerts.raise_alerts(
            caller.tenant,
            name,
            [replace(one, details=json_safe(one.details)) for one in wanted],
            deliver=url is not None,
        )
        if url is not None:
            for alert, created in raised:
                if created:
                    self.notifier.notify(alert, url)
        return raised

    def resolve_alert(self, caller: Caller, dedup_key: str) -> int:
        """Returns how many open alerts of the condition ``dedup_key`` were resolved (it ended)."""
        return self.alerts.resolve(caller.tenant, dedup_key)

    def resume_alert_deliveries(
        self, caller: Caller, name: str, url: str, *, before: datetime
    ) -> int:
        """Returns how many of the model's alerts raised before ``before`` and still not
        posted (their process ended first) were queued again for ``url``, its webhook."""
        return self.notifier.resume(url, tenant=caller.tenant, model=name, created_before=before)

    def list_alerts(
        self, caller: Caller, name: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Returns the model's alerts, newest first (only those with ``status`` if given)."""
        self.store.get_model(caller.tenant, name)
        found = self.alerts.list(caller.tenant, name, status=status, limit=limit)
        return [alert.to_json() for alert in found]

    def acknowledge_alert(self, caller: Caller, name: str, alert_id: str) -> dict[str, Any]:
        """Returns the alert acknowledged by the caller; acknowledging again changes nothing."""
        require_role(caller, "trainer")
        self.store.get_model(caller.tenant, name)
        alert = self.alerts.acknowledge(caller.tenant, name, alert_id, caller.actor)
        self.audit.record(caller, "alert.acknowledge", f"models/{name}/alerts/{alert_id}")
        return alert.to_json()
