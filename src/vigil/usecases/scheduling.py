"""The policy tick as a use case: one leader at a time applies every model's policy.

Every API process and every worker runs a scheduler, but only the holder of
the ``scheduler`` lease in the database acts, so however many replicas run,
each check and each scheduled run happens once.

A tick asked for by hand (``vigil scheduler run``, ``POST /v1/scheduler/run``)
runs here when this process leads or nobody does (it takes the lease). When
another process leads, the request is recorded on the lease row; the leader's
scheduler notices it within a second, ticks, and records its report with the
number of the requests it answered, which the asker waits for (bounded) and
returns, naming the leader that ran it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from vigil.errors import VigilError
from vigil.lifecycle.controller import LifecycleController
from vigil.lifecycle.scheduler import SCHEDULER_INTERVAL_SECONDS, PolicyScheduler
from vigil.registry.policies import LeaseStore
from vigil.security import Caller, require_role
from vigil.usecases.audit import Audit

SCHEDULER_LEASE = "scheduler"
# A leader that stops renewing (its process died) is replaced after this long.
SCHEDULER_LEASE_TTL = timedelta(seconds=max(30.0, 3 * SCHEDULER_INTERVAL_SECONDS))
# How long a tick asked for by hand waits for the leader to run it: two intervals, at least 10 s.
RUN_NOW_TIMEOUT_SECONDS = max(10.0, 2 * SCHEDULER_INTERVAL_SECONDS)
# How often the asker reads the lease row while it waits.
RUN_NOW_POLL_SECONDS = 0.1
# Who ran a tick asked for by hand, when it ran in the asking process.
THIS_PROCESS = "this process"


class LeaderDidNotAnswer(VigilError):
    """Another process leads the scheduler but did not run the tick asked of it in time."""

    status = 503
    title = "The scheduler's leader did not answer"


class Scheduling:
    """The lifecycle tick under the scheduler lease, on a timer or asked for by hand.

    ``wait`` and ``monotonic`` time the wait for a leader asked to tick (at
    most ``answer_timeout`` seconds); tests hand in a clock that moves when
    waited on.
    """

    def __init__(
        self,
        controller: LifecycleController,
        leases: LeaseStore,
        audit: Audit,
        instance_id: str,
        now: Callable[[], datetime],
        *,
        wait: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        answer_timeout: float = RUN_NOW_TIMEOUT_SECONDS,
    ) -> None:
        self.controller = controller
        self.leases = leases
        self.audit = audit
        self.instance_id = instance_id
        self.now = now
        self.wait = wait
        self.monotonic = monotonic
        self.answer_timeout = answer_timeout
        self.scheduler: PolicyScheduler | None = None
        # One tick at a time in this process, whether from the timer, a request or by hand.
        self._ticking = threading.Lock()
        # Whether this process held the lease at its last tick: only then does it poll
        # the lease row for requests to tick now.
        self._leading = False

    def lifecycle_tick(self) -> list[dict[str, Any]] | None:
        """Returns what every model's policy did now, or None when another process leads."""
        with self._ticking:
            if not self.leases.acquire(SCHEDULER_LEASE, self.instance_id, SCHEDULER_LEASE_TTL):
                self._leading = False
                return None
            self._leading = True
            # Every request made before this tick began is answered by it.
            answering = self.leases.requests_made(SCHEDULER_LEASE)
            reports = [report.to_json() for report in self.controller.tick(self.now())]
            self.leases.record_run(SCHEDULER_LEASE, self.instance_id, answering, reports)
            return reports

    def run_requested(self) -> bool:
        """Returns whether this process leads and another one asked it to tick now."""
        if not self._leading:
            return False
        return self.leases.run_requested(SCHEDULER_LEASE, self.instance_id) is not None

    def run_lifecycle_now(self, caller: Caller) -> dict[str, Any]:
        """Returns what the policies did on a tick asked for by hand (admin).

        The tick runs here if this process leads or can take the lease;
        otherwise the leader is asked to run it and its report is returned.
        ``by`` names who ran it; a leader that does not answer within
        ``answer_timeout`` raises ``LeaderDidNotAnswer``.
        """
        require_role(caller, "admin")
        reports = self.lifecycle_tick()
        by = THIS_PROCESS
        if reports is None:
            by, reports = self._ask_leader()
        self.audit.record(caller, "scheduler.run", "scheduler", by=by)
        holder = self.leases.holder(SCHEDULER_LEASE)
        return {
            "ran": True,
            "by": by,
            "leader": holder[0] if holder else None,
            # Another tenant's models are not named to this caller.
            "models": [
                {"model": r["model"], "actions": r["actions"]}
                for r in reports
                if r["tenant"] == caller.tenant
            ],
        }

    def _ask_leader(self) -> tuple[str, list[dict[str, Any]]]:
        """Returns who ran the tick asked of the leader and what it reported."""
        number = self.leases.request_run(SCHEDULER_LEASE)
        deadline = self.monotonic() + self.answer_timeout
        while True:
            state = self.leases.state(SCHEDULER_LEASE)
            if number is None:
                # The lease row appeared after this process found nobody leading: ask its holder.
                if state is not None:
                    number = self.leases.request_run(SCHEDULER_LEASE)
            elif (
                state is not None
                and state.runs_answered >= number
                and state.last_report is not None
            ):
                return state.last_run_by or state.holder, state.last_report
            if state is None or state.expires_at <= self.now():
                # The leader went away meanwhile: run the tick here if this process takes the lease.
                reports = self.lifecycle_tick()
                if reports is not None:
                    return THIS_PROCESS, reports
            if self.monotonic() >= deadline:
                leader = f"Process {state.holder}" if state is not None else "Another process"
                raise LeaderDidNotAnswer(
                    f"{leader} leads the scheduler but did not run the policies "
                    f"within {self.answer_timeout:g} s of being asked."
                )
            self.wait(RUN_NOW_POLL_SECONDS)

    def start_scheduler(self, interval: float | None = None, *, poll: float | None = None) -> None:
        """Starts the background scheduler of this process (it acts only while it leads).

        ``poll`` is how often, while it leads, it looks for a request to tick now.
        """
        if self.scheduler is None:
            self.scheduler = PolicyScheduler(
                self.lifecycle_tick, interval=interval, requested=self.run_requested, poll=poll
            )
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stops the scheduler and gives the lease up, so another process takes over at once."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
            self._leading = False
            self.leases.release(SCHEDULER_LEASE, self.instance_id)
