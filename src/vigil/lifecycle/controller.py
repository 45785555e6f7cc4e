"""What a model's policy does at each scheduler tick.

Every automatic action goes through the same service use cases a person
would call (deploy, rollback, retrain, delete), under the actor ``policy``,
so it lands in the deployment history, the audit log and the alerts exactly
as a manual one does. The checks of one model, in order:

1. automatic rollback: production's live metric (after ``min_feedback``
   labels) fell more than ``rollback.metric_drop`` below its trained metric
   or below the previous production version's live metric — unless that
   previous version did no better on live traffic itself (a retrained
   version after the traffic changed): then the rollback is withheld and
   alerted, since going back cannot help;
2. degradation alert: the same drop beyond ``degradation_drop``;
3. drift: reported and alerted; a retraining trigger when the policy says so;
4. retraining triggers: labelled feedback since the last retraining, metric
   drop, drift, and the schedule (claimed compare-and-set in the database);
5. canary steps: a healthy canary moves to the next weight once it has
   answered ``min_predictions`` times at the current one; an unhealthy one
   (its live metric below production's, or for an anomaly model without
   enough labels, flagging more than twice production's share of the same
   traffic) is withdrawn;
6. retention.

Before them, alerts of the model whose webhook post a process left pending
when it ended (a restart, a crash) are queued for posting again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vigil.errors import Conflict, NotFound, VigilError
from vigil.lifecycle.policy import Policy, parse_policy
from vigil.lifecycle.ports import (
    AlertsPort,
    ModelsPort,
    MonitoringPort,
    PoliciesPort,
    RetrainingPort,
)
from vigil.registry.policies import PolicyRecord
from vigil.security import Caller
from vigil.training.metric_names import LOWER_IS_BETTER

log = logging.getLogger("vigil.lifecycle")

POLICY_ACTOR = "policy"
# A trigger that stays true (a drop the challenger could not fix) retrains at most this often.
RETRAIN_COOLDOWN = timedelta(hours=1)
# An alert not posted to the webhook this long after it was raised is posted again: longer
# than a post with all its retries takes, so only posts whose process ended are repeated.
UNDELIVERED_AFTER = timedelta(minutes=10)
# An anomaly canary without enough labels is withdrawn when it flags more than twice
# production's share of the same traffic, and at least this much more.
CANARY_ANOMALY_RATE_EXCESS = 0.05
# Drift is judged on at most this many recent production inputs.
DRIFT_ROWS = 1000


@dataclass
class Health:
    """Production's live metric against its references (all None before ``min_feedback``)."""

    # How far the live metric is below the highest reference, and a sentence saying so.
    drop: float | None = None
    why: str = ""
    # The version a rollback would go back to, and its live metric before this deployment.
    previous: int | None = None
    previous_live: float | None = None
    # The previous version did no better on live traffic: rolling back cannot help.
    previous_no_better: bool = False


@dataclass
class TickReport:
    """What one tick did to one model (for logs, tests and the run-now answer)."""

    tenant: str
    model: str
    actions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Returns the report as JSON."""
        return {"tenant": self.tenant, "model": self.model, "actions": self.actions}


class LifecycleController:
    """Applies each model's policy through the use cases it is handed."""

    def __init__(
        self,
        *,
        models: ModelsPort,
        monitoring: MonitoringPort,
        alerts: AlertsPort,
        policies: PoliciesPort,
        retraining: RetrainingPort,
    ) -> None:
        self.models = models
        self.monitoring = monitoring
        self.alerts = alerts
        self.policies = policies
        self.retraining = retraining

    def tick(self, now: datetime) -> list[TickReport]:
        """Returns what every model's policy did at ``now`` (errors of one model are logged)."""
        reports = []
        for record in self.policies.all_policies():
            try:
                reports.append(self.check(record, now))
            except Exception:  # one broken model must not stop the others' policies
                if self._deleted(record):
                    # Deleted while its check ran: nothing is wrong, and nothing to check.
                    log.info("%s/%s was deleted during its policy check", *_names(record))
                    continue
                log.exception("policy check of %s/%s failed", record.tenant, record.model)
        return reports

    def _deleted(self, record: PolicyRecord) -> bool:
        """Returns whether the model of ``record`` no longer exists."""
        caller = Caller(tenant=record.tenant, actor=POLICY_ACTOR, role="admin")
        try:
            self.models.get_model(caller, record.model)
        except NotFound:
            return True
        except Exception:  # the database itself fails: the original error is the news
            return False
        return False

    def check(self, record: PolicyRecord, now: datetime) -> TickReport:
        """Returns what the policy of one model did at ``now``."""
        report = TickReport(record.tenant, record.model)
        policy = parse_policy(record.document)
        caller = Caller(tenant=record.tenant, actor=POLICY_ACTOR, role="admin")
        # An alert still unposted this long after it was raised lost its process (a
        # restart, a crash) before the post; the one leader posts it again.
        if policy.webhook_url is not None:
            resumed = self.alerts.resume_alert_deliveries(
                caller, record.model, policy.webhook_url, before=now - UNDELIVERED_AFTER
            )
            if resumed:
                report.actions.append(f"webhook: {resumed} unposted alert(s) queued again")
        model = self.models.get_model(caller, record.model)
        if model.production_version is None:
            return report
        metric = self.policies.policy_metric(model.task, policy)
        production = model.production_version
        health = self._production_health(caller, record, policy, metric, production)
        if health.previous == production or (
            health.drop is not None
            and self.models.get_model(caller, record.model).production_version != production
        ):
            # Production moved on while this tick judged it (a retraining on a worker, a
            # person): what was read belongs to two deployments. Judge afresh next tick.
            return report
        drop, why = health.drop, health.why
        rollback = policy.rollback
        if (
            drop is not None
            and not record.paused
            and rollback.enabled
            and drop > rollback.metric_drop
        ):
            if health.previous_no_better:
                # Going back would serve a version already seen doing worse on live traffic
                # (typically: the traffic changed and the retrained version is the best there
                # is). Keep it, say so, and let the retraining triggers act.
                self._rollback_withheld(caller, record, production, health, report)
            elif self._roll_back(caller, record, production, why, report):
                return report
        self._degradation_alert(caller, record, policy, production, drop, why, report)
        drifted = self._drift(caller, record, production, report)
        if record.paused:
            return report
        reasons = self._triggers(caller, record, policy, drop, why, drifted, now)
        if reasons and self.models.get_model(caller, record.model).canary_version is not None:
            # A rollout in progress finishes (or is withdrawn) before a new challenger comes.
            reasons = []
        if reasons:
            self._retrain(caller, record, "; ".join(reasons), now, report)
        self._step_canary(caller, record, policy, metric, report)
        self._retention(caller, record, policy, now, report)
        return report

    # --- production health ----------------------------------------------------------

    def _production_health(
        self, caller: Caller, record: PolicyRecord, policy: Policy, metric: str, version: int
    ) -> Health:
        """Returns how far production's live metric is below its references, and why."""
        deployed_at = self.models.deployed_at(caller, record.model, version)
        live = self.monitoring.live_summary(caller, record.model, version, since=deployed_at)
        value = live.get("metrics", {}).get(metric)
        if live.get("feedback", 0) < policy.min_feedback or value is None:
            return Health()
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        references: list[tuple[float, str]] = []
        trained = self.models.get_version(caller, record.model, version).metrics.get(metric)
        if isinstance(trained, int | float):
            references.append((float(trained), f"its trained {metric} {float(trained):.4f}"))
        previous = self.models.previous_production(caller, record.model)
        previous_live: float | None = None
        if previous is not None:
            before = self.monitoring.live_summary(
                caller, record.model, previous, since=deployed_at - timedelta(days=7)
            )
            earlier = before.get("metrics", {}).get(metric)
            if before.get("feedback", 0) >= policy.min_feedback and earlier is not None:
                previous_live = float(earlier)
                references.append(
                    (previous_live, f"v{previous}'s live {metric} {previous_live:.4f}")
                )
        if not references:
            return Health()
        drops = [(sign * (ref - float(value)), text) for ref, text in references]
        drop, against = max(drops)
        return Health(
            drop=drop,
            why=(
                f"live {metric} {float(value):.4f} of v{version} over {live['feedback']} "
                f"labelled predictions is {drop:.4f} below {against}"
            ),
            previous=previous,
            previous_no_better=previous_live is not None
            and sign * (previous_live - float(value)) <= 0,
            previous_live=previous_live,
        )

    def _rollback_withheld(
        self, caller: Caller, record: PolicyRecord, version: int, health: Health, report: TickReport
    ) -> None:
        _, created = self.alerts.raise_alert(
            caller,
            record.model,
            kind="degradation",
            severity="critical",
            message=(
                f"v{version} degraded but was not rolled back: {health.why}; v{health.previous}"
                f" did worse on live traffic ({health.previous_live:.4f})"
            ),
            version=version,
            dedup_key=f"rollback-withheld:{record.model}:{version}",
            details={"drop": health.drop, "previous": health.previous},
        )
        if created:
            report.actions.append(f"rollback of v{version} withheld: v{health.previous} did worse")

    def _roll_back(
        self, caller: Caller, record: PolicyRecord, version: int, why: str, report: TickReport
    ) -> bool:
        try:
            # Compare-and-set on the judged version: a version deployed since (by a
            # retraining on a worker, or a person) is not undone for its predecessor's faults.
            model = self.models.rollback(
                caller, record.model, from_version=version, reason=f"automatic rollback: {why}"
            )
        except Conflict as exc:
            if self.models.get_model(caller, record.model).production_version != version:
                return True  # production moved on while this tick judged it: judge it next time
            # Nothing earlier to go back to: say so once, and keep watching.
            self.alerts.raise_alert(
                caller,
                record.model,
                kind="degradation",
                severity="critical",
                message=f"v{version} degraded and cannot be rolled back: {exc.message}",
                version=version,
                dedup_key=f"rollback-impossible:{record.model}:{version}",
            )
            return False
        self.alerts.raise_alert(
            caller,
            record.model,
            kind="rollback",
            severity="critical",
            message=f"Rolled back from v{version} to v{model.production_version}: {why}",
            version=version,
            details={"from": version, "to": model.production_version},
        )
        report.actions.append(f"rolled back v{version} -> v{model.production_version}")
        return True

    def _degradation_alert(
        self,
        caller: Caller,
        record: PolicyRecord,
        policy: Policy,
        version: int,
        drop: float | None,
        why: str,
        report: TickReport,
    ) -> None:
        key = f"degradation:{record.model}:{version}"
        if drop is not None and drop > policy.degradation_drop:
            _, created = self.alerts.raise_alert(
                caller,
                record.model,
                kind="degradation",
                severity="warning",
                message=f"v{version} degraded: {why}",
                version=version,
                dedup_key=key,
                details={"drop": drop},
            )
            if created:
                report.actions.append(f"alert degradation v{version}")
        elif drop is not None:
            self.alerts.resolve_alert(caller, key)

    def _drift(
        self, caller: Caller, record: PolicyRecord, version: int, report: TickReport
    ) -> bool:
        try:
            drift = self.monitoring.drift(caller, record.model, version=version, rows=DRIFT_ROWS)
        except VigilError:
            return False  # no reference sample or no traffic yet: nothing to judge
        key = f"drift:{record.model}:{version}"
        if "reason" in drift:
            return False  # too few production rows to judge yet
        if drift.get("drifted"):
            drifted = list(drift.get("drifted_features", []))
            _, created = self.alerts.raise_alert(
                caller,
                record.model,
                kind="drift",
                severity="warning",
                message=(
                    f"Inputs of v{version} drifted: {len(drifted)} features "
                    f"({', '.join(drifted[:5])}{'…' if len(drifted) > 5 else ''})"
                ),
                version=version,
                dedup_key=key,
                details={"share": drift.get("share_drifted"), "features": drifted},
            )
            if created:
                report.actions.append(f"alert drift v{version}")
            return True
        self.alerts.resolve_alert(caller, key)
        return False

    # --- retraining ------------------------------------------------------------------

    def _triggers(
        self,
        caller: Caller,
        record: PolicyRecord,
        policy: Policy,
        drop: float | None,
        why: str,
        drifted: bool,
        now: datetime,
    ) -> list[str]:
        reasons = []
        last = _parse_time(record.state.get("last_retrain_at"))
        cooled = last is None or now - last >= RETRAIN_COOLDOWN
        triggers = policy.triggers
        limit = triggers.metric_drop
        if cooled and limit is not None and drop is not None and drop > limit:
            reasons.append(f"metric drop: {why}")
        if cooled and triggers.drift and drifted:
            reasons.append("input drift")
        if cooled and triggers.feedback_count is not None:
            count = self.monitoring.feedback_count(caller, record.model, since=last)
            if count >= triggers.feedback_count:
                reasons.append(f"{count} labelled predictions since the last retraining")
        due = record.next_run_at
        if policy.schedule is not None and due is not None and due <= now:
            following = policy.schedule.next_after(due, now)
            if self.policies.claim_scheduled_run(record, due, following, now):
                reasons.append("schedule")
        return reasons

    def _retrain(
        self, caller: Caller, record: PolicyRecord, reason: str, now: datetime, report: TickReport
    ) -> None:
        job = self.retraining.submit_retraining(caller, record.model, reason=reason)
        self.policies.mark_retrained(record, now)
        report.actions.append(f"retrain ({reason}) job {job['id']}")

    # --- canary steps ----------------------------------------------------------------

    def _step_canary(
        self, caller: Caller, record: PolicyRecord, policy: Policy, metric: str, report: TickReport
    ) -> None:
        model = self.models.get_model(caller, record.model)
        canary = model.canary_version
        steps = policy.canary.steps
        if canary is None or not steps or model.production_version is None:
            return
        # Every step (and a canary deployed again by hand) is a canary event: its answers
        # are counted from the latest one, so each step is observed afresh.
        since = self.models.deployed_at(caller, record.model, canary, action="canary")
        live = self.monitoring.live_summary(caller, record.model, canary, since=since)
        if live.get("predictions", 0) < policy.canary.min_predictions:
            return
        value = live.get("metrics", {}).get(metric)
        production = self.monitoring.live_summary(
            caller, record.model, model.production_version, since=since
        )
        champion = production.get("metrics", {}).get(metric)
        unhealthy = None
        if (
            live.get("feedback", 0) >= policy.min_feedback
            and value is not None
            and champion is not None
        ):
            sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
            if sign * (float(champion) - float(value)) > policy.rollback.metric_drop:
                unhealthy = f"live {metric} {value:.4f} vs production {champion:.4f}"
        elif model.task == "anomaly" and production.get("predictions", 0):
            # Without enough labels an anomaly model still shows its health: flagging far
            # more of the same traffic than production does pages people for nothing.
            rate, usual = live.get("anomaly_rate", 0.0), production.get("anomaly_rate", 0.0)
            if rate > usual + max(CANARY_ANOMALY_RATE_EXCESS, usual):
                unhealthy = f"anomaly rate {rate:.4f} vs production {usual:.4f} (unlabelled)"
        if unhealthy is not None:
            self.models.undeploy(
                caller, record.model, canary, reason=f"canary withdrawn: {unhealthy}"
            )
            self.alerts.raise_alert(
                caller,
                record.model,
                kind="canary",
                severity="warning",
                message=f"Canary v{canary} withdrawn: {unhealthy}",
                version=canary,
            )
            report.actions.append(f"canary v{canary} withdrawn")
            return
        following = next((s for s in steps if s > model.canary_weight), 100.0)
        if following >= 100.0:
            self.models.deploy(
                caller, record.model, canary, reason="canary healthy at every step: promoted"
            )
            self.alerts.raise_alert(
                caller,
                record.model,
                kind="promoted",
                severity="info",
                message=f"v{canary} promoted to production after its canary steps",
                version=canary,
            )
            report.actions.append(f"canary v{canary} promoted")
            return
        self.models.deploy(
            caller,
            record.model,
            canary,
            strategy="canary",
            weight=following,
            reason=f"canary healthy over {live['predictions']} predictions: next step",
        )
        report.actions.append(f"canary v{canary} -> {following:g}%")

    # --- retention -------------------------------------------------------------------

    def _retention(
        self,
        caller: Caller,
        record: PolicyRecord,
        policy: Policy,
        now: datetime,
        report: TickReport,
    ) -> None:
        keep_last, keep_days = policy.retention.keep_last, policy.retention.keep_days
        if keep_last is None and keep_days is None:
            return
        model = self.models.get_model(caller, record.model)
        deployed = {model.production_version, model.canary_version, *model.shadow_versions}
        versions = sorted(self.models.list_versions(caller, record.model), key=lambda v: -v.version)
        for index, version in enumerate(versions):
            if version.version in deployed:
                continue
            if keep_last is not None and index < keep_last:
                continue
            if keep_days is not None and now - version.created_at < timedelta(days=keep_days):
                continue
            self.models.delete_version(caller, record.model, version.version)
            report.actions.append(f"deleted v{version.version} (retention)")


def _parse_time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _names(record: PolicyRecord) -> tuple[str, str]:
    return record.tenant, record.model
