"""The policy tick as a use case: one leader at a time applies every model's policy.

Every API process and every worker runs a scheduler, but only the holder of
the ``scheduler`` lease in the database acts, so however many replicas run,
each check and each scheduled run happens once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from vigil.lifecycle.controller import LifecycleController
from vigil.lifecycle.scheduler import SCHEDULER_INTERVAL_SECONDS, PolicyScheduler
from vigil.registry.policies import LeaseStore
from vigil.security import Caller, require_role
from vigil.usecases.audit import Audit

SCHEDULER_LEASE = "scheduler"
# A leader that stops renewing (its process died) is replaced after this long.
SCHEDULER_LEASE_TTL = timedelta(seconds=max(30.0, 3 * SCHEDULER_INTERVAL_SECONDS))


class Scheduling:
    """The lifecycle tick under the scheduler lease, on a timer or asked for by hand."""

    def __init__(
        self,
        controller: LifecycleController,
        leases: LeaseStore,
        audit: Audit,
        instance_id: str,
        now: Callable[[], datetime],
    ) -> None:
        self.controller = controller
        self.leases = leases
        self.audit = audit
        self.instance_id = instance_id
        self.now = now
        self.scheduler: PolicyScheduler | None = None

    def lifecycle_tick(self) -> list[dict[str, Any]] | None:
        """Returns what every model's policy did now, or None when another process leads."""
        if not self.leases.acquire(SCHEDULER_LEASE, self.instance_id, SCHEDULER_LEASE_TTL):
            return None
        return [report.to_json() for report in self.controller.tick(self.now())]

    def run_lifecycle_now(self, caller: Caller) -> dict[str, Any]:
        """Returns what the policies did on a tick asked for by hand (admin)."""
        require_role(caller, "admin")
        reports = self.lifecycle_tick()
        self.audit.record(caller, "scheduler.run", "scheduler")
        holder = self.leases.holder(SCHEDULER_LEASE)
        return {
            "ran": reports is not None,
            "leader": holder[0] if holder else None,
            # Another tenant's models are not named to this caller.
            "models": [
                {"model": r["model"], "actions": r["actions"]}
                for r in reports or []
                if r["tenant"] == caller.tenant
            ],
        }

    def start_scheduler(self, interval: float | None = None) -> None:
        """Starts the background scheduler of this process (it acts only while it leads)."""
        if self.scheduler is None:
            self.scheduler = PolicyScheduler(self.lifecycle_tick, interval=interval)
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stops the scheduler and gives the lease up, so another process takes over at once."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
            self.leases.release(SCHEDULER_LEASE, self.instance_id)
