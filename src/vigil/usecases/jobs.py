"""Jobs as use cases: queue, read, cancel, and run long work to its end.

Each kind of job (``train``, ``retrain``) has a handler, registered by the
composition root, so this module runs any job without knowing what it does.
Jobs are claimed from the database, so threads here and any ``vigil worker``
share one queue and never run the same job twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vigil.errors import InvalidInput, NotFound, VigilError
from vigil.ids import uuid7
from vigil.jobs.interrupt import CancelledNow, JobInterrupter, TimeLimitReached
from vigil.jobs.runner import STALE_AFTER, Heartbeat, JobRunner, worker_is_dead
from vigil.jsonsafe import json_safe
from vigil.registry.jobs import JobRecord, JobStore
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.usecases.alerts import Alerts
from vigil.usecases.audit import Audit

log = logging.getLogger("vigil.jobs")

# Reports progress (a fraction, a message); raises JobCancelled when a cancel was asked.
Beat = Callable[..., None]
JobHandler = Callable[[JobRecord, Beat], dict[str, Any]]


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested."""


class Jobs:
    """The job queue, and the workers of this process that run it."""

    def __init__(
        self,
        jobs: JobStore,
        store: RegistryStore,
        alerts: Alerts,
        audit: Audit,
        *,
        time_limit: float | None = None,
    ) -> None:
        self.jobs = jobs
        # Seconds a job may run before it is stopped (VIGIL_MAX_TRAINING_SECONDS).
        self.time_limit = time_limit
        self.store = store
        self.alerts = alerts
        self.audit = audit
        self.runner: JobRunner | None = None
        self._handlers: dict[str, JobHandler] = {}

    def register(self, kind: str, handler: JobHandler) -> None:
        """Makes ``handler`` the one that runs jobs of ``kind``."""
        self._handlers[kind] = handler

    def submit(
        self, caller: Caller, kind: str, payload: dict[str, Any], **audit_detail: Any
    ) -> dict[str, Any]:
        """Returns the job queued for ``payload`` (workers are woken at once)."""
        job = self.jobs.submit(
            uuid7(), tenant=caller.tenant, kind=kind, created_by=caller.actor, payload=payload
        )
        self.audit.record(caller, "job.submit", f"jobs/{job.id}", kind=kind, **audit_detail)
        if self.runner is not None:
            self.runner.wake()
        return job.to_json()

    def find_waiting(self, caller: Caller, kind: str, model: str) -> dict[str, Any] | None:
        """Returns the job of ``kind`` for ``model`` still queued or running, if there is one."""
        for job in self.jobs.list_for(caller.tenant):
            if (
                job.kind == kind
                and job.payload.get("model") == model
                and job.status in ("queued", "running")
            ):
                return job.to_json()
        return None

    def job_counts(self) -> dict[str, int]:
        """Returns how many jobs are in each state, over all tenants (for /metrics)."""
        return self.jobs.counts()

    def get_job(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """Returns a job of the caller's tenant."""
        return self.jobs.get(caller.tenant, job_id).to_json()

    def list_jobs(self, caller: Caller) -> list[dict[str, Any]]:
        """Returns the tenant's recent jobs, newest first."""
        return [job.to_json() for job in self.jobs.list_for(caller.tenant)]

    def cancel_job(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """Returns the job after cancelling it or asking its worker to stop."""
        require_role(caller, "trainer")
        job = self.jobs.cancel(caller.tenant, job_id)
        self.audit.record(caller, "job.cancel", f"jobs/{job_id}")
        return job.to_json()

    def execute_job(self, job: JobRecord, worker_id: str) -> None:
        """Runs a claimed job to its end and records how it ended (never raises for job errors)."""

        def beat(progress: float | None = None, message: str | None = None) -> None:
            if self.jobs.heartbeat(job.id, worker_id, progress=progress, message=message):
                raise JobCancelled()

        try:
            handler = self._handlers.get(job.kind)
            if handler is None:
                raise InvalidInput(f"Unknown job kind {job.kind!r}.")
            # Cancellation is also watched from outside: a long fit stops within a second.
            interrupter = JobInterrupter(
                lambda: self.jobs.get(job.tenant, job.id).cancel_requested,
                limit_seconds=self.time_limit,
                cancelled_error=CancelledNow,
                timeout_error=TimeLimitReached,
            )
            with Heartbeat(lambda: self.jobs.heartbeat(job.id, worker_id)), interrupter:
                result = handler(job, beat)
        except (JobCancelled, CancelledNow):
            self.jobs.finish(job.id, worker_id, status="cancelled", error="Cancelled on request.")
            return
        except TimeLimitReached:
            self._failed(
                job,
                worker_id,
                f"The job ran past its time limit of {self.time_limit:g} s and was stopped "
                "(VIGIL_MAX_TRAINING_SECONDS).",
            )
            return
        except VigilError as exc:
            self._failed(job, worker_id, exc.message)
            return
        except Exception as exc:  # the job failed; the worker goes on with the next one
            log.exception("job %s failed", job.id)
            self._failed(job, worker_id, f"{type(exc).__name__}: {exc}")
            return
        self.jobs.finish(job.id, worker_id, status="succeeded", result=json_safe(result))

    def _failed(self, job: JobRecord, worker_id: str, error: str) -> None:
        """Records a failed job and raises an alert on its model."""
        self.jobs.finish(job.id, worker_id, status="failed", error=error)
        model = job.payload.get("model")
        if not isinstance(model, str):
            return
        try:
            self.store.get_model(job.tenant, model)
        except NotFound:
            return  # a first training that failed: there is no model to hang the alert on
        caller = Caller(tenant=job.tenant, actor=job.created_by, role="admin")
        self.alerts.raise_alert(
            caller,
            model,
            kind="job_failed",
            severity="warning",
            message=f"{job.kind} job {job.id} failed: {error}",
            details={"job_id": job.id, "kind": job.kind},
            # A job that keeps failing is one open alert until someone acknowledges it.
            dedup_key=f"job_failed:{model}:{job.kind}",
        )

    def recover_jobs(self) -> list[JobRecord]:
        """Returns the jobs whose worker died, now requeued or failed with the reason."""
        return self.jobs.recover_stale(STALE_AFTER, worker_is_dead)

    def run_pending_jobs(self, worker_id: str = "inline") -> int:
        """Returns how many queued jobs ran to their end in this thread (`vigil worker --once`)."""
        runner = JobRunner(
            self.jobs.claim, self.execute_job, self.recover_jobs, worker_id=worker_id
        )
        count = 0
        while runner.run_one() is not None:
            count += 1
        return count

    def start_workers(self, threads: int = 2) -> None:
        """Starts background worker threads in this process."""
        if self.runner is None:
            self.recover_jobs()
            self.runner = JobRunner(
                self.jobs.claim, self.execute_job, self.recover_jobs, threads=threads
            )
            self.runner.start()

    def stop_workers(self) -> None:
        """Stops the background workers after their current job."""
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
