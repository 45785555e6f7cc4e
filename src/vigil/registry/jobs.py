"""Jobs in the database: the one queue every worker claims from.

A job moves queued → running → succeeded | failed | cancelled. Workers claim
a queued job inside a write transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` admits one writer at a time), so two
workers never run the same job. A running job whose heartbeat stopped (its
worker crashed or was killed) is put back in the queue once, then failed with
the reason, so nothing stays ``running`` forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from vigil.errors import Conflict, NotFound
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import JobRow

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobRecord:
    """A job's state."""

    id: str
    tenant: str
    kind: str
    status: str
    progress: float
    message: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    worker_id: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """Returns the job as the API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class JobStore(SqlStore):
    """Creates, claims, updates and recovers jobs."""

    def submit(
        self,
        job_id: str,
        *,
        tenant: str,
        kind: str,
        payload: dict[str, Any],
        created_by: str,
        max_attempts: int = 2,
    ) -> JobRecord:
        """Returns the new queued job."""
        with self.writing() as session:
            row = JobRow(
                id=job_id,
                tenant=tenant,
                kind=kind,
                status="queued",
                progress=0.0,
                message="",
                payload=payload,
                result=None,
                error=None,
                attempts=0,
                max_attempts=max_attempts,
                cancel_requested=False,
                worker_id=None,
                created_by=created_by,
                created_at=self.now(),
                started_at=None,
                heartbeat_at=None,
                finished_at=None,
            )
            session.add(row)
            session.flush()
            return _record(row)

    def get(self, tenant: str, job_id: str) -> JobRecord:
        """Returns the job; NotFound if it does not exist in ``tenant``."""
        with self.reading() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"Job {job_id} does not exist.")
            return _record(row)

    def list_for(self, tenant: str, *, limit: int = 100) -> list[JobRecord]:
        """Returns the tenant's jobs, newest first."""
        with self.reading() as session:
            rows = session.scalars(
                select(JobRow)
                .where(JobRow.tenant == tenant)
                .order_by(JobRow.created_at.desc(), JobRow.id.desc())
                .limit(limit)
            ).all()
            return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Returns the number of jobs in each status (every status listed, zeros included)."""
        with self.reading() as session:
            rows = session.execute(
                select(JobRow.status, func.count()).group_by(JobRow.status)
            ).all()
        found = {status: int(count) for status, count in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    def claim(self, worker_id: str) -> JobRecord | None:
        """Returns the oldest queued job, now running under ``worker_id``, or None."""
        with self.writing() as session:
            query = (
                select(JobRow)
                .where(JobRow.status == "queued")
                .order_by(JobRow.created_at, JobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = session.scalars(query).one_or_none()
            if row is None:
                return None
            now = self.now()
            row.status = "running"
            row.worker_id = worker_id
            row.attempts += 1
            row.started_at = now
            row.heartbeat_at = now
            row.message = "started"
            session.flush()
            return _record(row)

    def heartbeat(
        self,
        job_id: str,
        worker_id: str,
        *,
        progress: float | None = None,
        message: str | None = None,
    ) -> bool:
        """Records that the worker is alive (and its progress); returns whether cancel was asked."""
        with self.writing() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.worker_id != worker_id or row.status != "running":
                # The job was taken away (recovered as stale): the worker must stop.
                return True
            row.heartbeat_at = self.now()
            if progress is not None:
                row.progress = max(0.0, min(1.0, progress))
            if message is not None:
                row.message = message[:1000]
            return row.cancel_requested

    def finish(
        self,
        job_id: str,
        worker_id: str,
        *,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobRecord:
        """Returns the job after its worker recorded how it ended."""
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status}")
        with self.writing() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"Job {job_id} does not exist.")
            if row.worker_id == worker_id and row.status == "running":
                row.status = status
                row.result = result
                row.error = error
                row.finished_at = self.now()
                row.message = status
                if status == "succeeded":
                    row.progress = 1.0
            return _record(row)

    def cancel(self, tenant: str, job_id: str) -> JobRecord:
        """Returns the job after cancelling it (queued) or asking its worker to stop (running)."""
        with self.writing() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"Job {job_id} does not exist.")
            if row.status in FINISHED:
                raise Conflict(
                    f"Job {job_id} has already {row.status}; there is nothing to cancel."
                )
            if row.status == "queued":
                row.status = "cancelled"
                row.finished_at = self.now()
                row.message = "cancelled before it started"
            else:
                row.cancel_requested = True
                row.message = "cancellation requested"
            session.flush()
            return _record(row)

    def recover_stale(
        self, stale_after: timedelta, is_dead: Callable[[str], bool] | None = None
    ) -> list[JobRecord]:
        """Returns the running jobs whose worker is gone, requeued once or failed.

        A worker is gone when its heartbeat is older than ``stale_after``, or
        at once when ``is_dead(worker_id)`` says so (a process on this host
        that no longer exists, seen right after a restart).
        """
        cutoff = self.now() - stale_after
        with self.writing() as session:
            running = session.scalars(
                select(JobRow).where(JobRow.status == "running").with_for_update(skip_locked=True)
            ).all()
            rows = [
                row
                for row in running
                if (row.heartbeat_at is not None and row.heartbeat_at < cutoff)
                or (is_dead is not None and row.worker_id is not None and is_dead(row.worker_id))
            ]
            for row in rows:
                lost = (
                    f"its worker {row.worker_id} stopped (crash or restart) "
                    f"during attempt {row.attempts}"
                )
                if row.cancel_requested:
                    row.status = "cancelled"
                    row.finished_at = self.now()
                    row.message = f"cancelled: {lost}"
                elif row.attempts < row.max_attempts:
                    row.status = "queued"
                    row.worker_id = None
                    row.message = f"retrying: {lost}"
                else:
                    row.status = "failed"
                    row.error = f"The job failed because {lost}, and no retries are left."
                    row.finished_at = self.now()
                    row.message = "failed"
            session.flush()
            return [_record(r) for r in rows]


def _record(row: JobRow) -> JobRecord:
    return JobRecord(
        row.id,
        row.tenant,
        row.kind,
        row.status,
        row.progress,
        row.message,
        row.payload,
        row.result,
        row.error,
        row.attempts,
        row.max_attempts,
        row.cancel_requested,
        row.worker_id,
        row.created_by,
        row.created_at,
        row.started_at,
        row.heartbeat_at,
        row.finished_at,
    )
