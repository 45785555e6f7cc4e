"""Policies per model with the scheduler's state for each, and leases.

The scheduler's state lives beside the policy (next fire time, last run,
what the checks have already acted on) so that any replica that takes over
the scheduler lease carries on where the last one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import LeaseRow, ModelRow, PolicyRow


@dataclass(frozen=True)
class PolicyRecord:
    """A model's stored policy document and its schedule state."""

    model_id: int
    tenant: str
    model: str
    document: dict[str, Any]
    paused: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    state: dict[str, Any]
    updated_by: str
    updated_at: datetime | None


class PolicyStore(SqlStore):
    """Reads and writes policies; claims due schedule runs exactly once."""

    def get(self, tenant: str, name: str) -> PolicyRecord:
        """Returns the model's policy (an empty document when none was set)."""
        with self.reading() as session:
            model = _model(session, tenant, name)
            row = session.get(PolicyRow, model.id)
            return _record(model, row)

    def all(self) -> list[PolicyRecord]:
        """Returns every model's policy record, over all tenants (models without one included)."""
        with self.reading() as session:
            rows = session.execute(
                select(ModelRow, PolicyRow).outerjoin(PolicyRow, PolicyRow.model_id == ModelRow.id)
            ).all()
            return [_record(model, policy) for model, policy in rows]

    def put(
        self,
        tenant: str,
        name: str,
        document: dict[str, Any],
        *,
        actor: str,
        next_run_at: datetime | None,
    ) -> PolicyRecord:
        """Returns the policy after replacing its document (the schedule restarts from now)."""
        with self.writing() as session:
            model = _model(session, tenant, name)
            row = session.get(PolicyRow, model.id, with_for_update=True)
            if row is None:
                row = PolicyRow(model_id=model.id, paused=False, state={}, last_run_at=None)
                session.add(row)
            row.document = document
            row.next_run_at = next_run_at
            row.updated_by = actor
            row.updated_at = self.now()
            session.flush()
            return _record(model, row)

    def set_paused(self, tenant: str, name: str, paused: bool, *, actor: str) -> PolicyRecord:
        """Returns the policy after pausing or resuming its automatic actions."""
        with self.writing() as session:
            model = _model(session, tenant, name)
            row = session.get(PolicyRow, model.id, with_for_update=True)
            if row is None:
                row = PolicyRow(
                    model_id=model.id, document={}, state={}, next_run_at=None, last_run_at=None
                )
                session.add(row)
            row.paused = paused
            row.updated_by = actor
            row.updated_at = self.now()
            session.flush()
            return _record(model, row)

    def claim_run(
        self, model_id: int, expected: datetime, following: datetime | None, now: datetime
    ) -> bool:
        """Returns whether this caller moved the schedule from ``expected`` to ``following``.

        A compare-and-set: two schedulers that both saw the run due cannot
        both claim it, lease or no lease.
        """
        with self.writing() as session:
            moved = session.execute(
                update(PolicyRow)
                .where(PolicyRow.model_id == model_id, PolicyRow.next_run_at == expected)
                .values(next_run_at=following, last_run_at=now)
            )
            return bool(getattr(moved, "rowcount", 0) == 1)

    def update_state(self, model_id: int, changes: dict[str, Any]) -> None:
        """Merges ``changes`` into the policy's state (a key set to None is removed)."""
        with self.writing() as session:
            row = session.get(PolicyRow, model_id, with_for_update=True)
            if row is None:
                return
            state = dict(row.state or {})
            for key, value in changes.items():
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value
            row.state = state


@dataclass(frozen=True)
class LeaseState:
    """A lease row as the processes asking its holder for a run see it."""

    holder: str
    expires_at: datetime
    run_requests: int
    runs_answered: int
    last_run_by: str | None
    last_run_at: datetime | None
    last_report: list[dict[str, Any]] | None


class LeaseStore(SqlStore):
    """Named leases in the database: one holder at a time, until it stops renewing.

    A lease row also carries requests that its holder do its work now: another
    process counts a request up (``request_run``), the holder notices it with a
    cheap read (``run_requested``), notes the count before it runs and records
    its report with that count when it has run (``record_run``), so the asker
    knows its request was answered by a run that began after it.
    """

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Returns whether ``holder`` holds the lease now (taking it if free or expired).

        The row is read under a write lock (``FOR UPDATE`` on PostgreSQL,
        ``BEGIN IMMEDIATE`` on SQLite), so two processes asking at once cannot
        both win.
        """
        now = self.now()
        try:
            with self.writing() as session:
                row = session.get(LeaseRow, name, with_for_update=True)
                if row is None:
                    session.add(
                        LeaseRow(
                            name=name,
                            holder=holder,
                            acquired_at=now,
                            expires_at=now + ttl,
                            run_requests=0,
                            runs_answered=0,
                        )
                    )
                    return True
                if row.holder != holder and row.expires_at > now:
                    return False
                if row.holder != holder or row.expires_at <= now:
                    row.holder = holder
                    row.acquired_at = now
                row.expires_at = now + ttl
                return True
        except IntegrityError:
            # Another process created the lease row between our read and our insert.
            return False

    def release(self, name: str, holder: str) -> None:
        """Gives the lease up at once if ``holder`` has it (a clean shutdown).

        The row stays, expired, so that requests to run and the last report
        carry over to the next holder.
        """
        with self.writing() as session:
            row = session.get(LeaseRow, name, with_for_update=True)
            if row is not None and row.holder == holder:
                row.expires_at = min(row.expires_at, self.now())

    def holder(self, name: str) -> tuple[str, datetime] | None:
        """Returns who holds the lease and until when, or None when nobody does."""
        with self.reading() as session:
            row = session.get(LeaseRow, name)
            if row is None or row.expires_at <= self.now():
                return None
            return row.holder, row.expires_at

    def state(self, name: str) -> LeaseState | None:
        """Returns the lease row (held or expired), or None when it was never taken."""
        with self.reading() as session:
            row = session.get(LeaseRow, name)
            if row is None:
                return None
            return LeaseState(
                holder=row.holder,
                expires_at=row.expires_at,
                run_requests=row.run_requests,
                runs_answered=row.runs_answered,
                last_run_by=row.last_run_by,
                last_run_at=row.last_run_at,
                last_report=list(row.last_report) if row.last_report is not None else None,
            )

    def request_run(self, name: str) -> int | None:
        """Returns the number of the request to run now just made, or None without a lease row."""
        with self.writing() as session:
            row = session.get(LeaseRow, name, with_for_update=True)
            if row is None:
                return None
            row.run_requests += 1
            return row.run_requests

    def run_requested(self, name: str, holder: str) -> int | None:
        """Returns the count of requests when ``holder`` has one to answer, else None.

        One primary-key read: the holder's scheduler asks it often.
        """
        with self.reading() as session:
            counts = session.execute(
                select(LeaseRow.run_requests, LeaseRow.runs_answered).where(
                    LeaseRow.name == name, LeaseRow.holder == holder
                )
            ).one_or_none()
            if counts is None or counts.run_requests <= counts.runs_answered:
                return None
            return int(counts.run_requests)

    def requests_made(self, name: str) -> int:
        """Returns how many requests to run were made on the lease so far."""
        with self.reading() as session:
            count = session.scalar(select(LeaseRow.run_requests).where(LeaseRow.name == name))
            return int(count or 0)

    def record_run(self, name: str, by: str, answered: int, report: list[dict[str, Any]]) -> None:
        """Records a finished run by ``by`` that began when ``answered`` requests had been made."""
        with self.writing() as session:
            row = session.get(LeaseRow, name, with_for_update=True)
            if row is None:
                return
            row.runs_answered = max(row.runs_answered, answered)
            row.last_run_by = by
            row.last_run_at = self.now()
            row.last_report = report


def _model(session: Session, tenant: str, name: str) -> ModelRow:
    model = session.scalars(
        select(ModelRow).where(ModelRow.tenant == tenant, ModelRow.name == name)
    ).one_or_none()
    if model is None:
        raise NotFound(f"Model {name} does not exist.")
    return model


def _record(model: ModelRow, row: PolicyRow | None) -> PolicyRecord:
    return PolicyRecord(
        model_id=model.id,
        tenant=model.tenant,
        model=model.name,
        document=dict(row.document) if row is not None else {},
        paused=bool(row.paused) if row is not None else False,
        next_run_at=row.next_run_at if row is not None else None,
        last_run_at=row.last_run_at if row is not None else None,
        state=dict(row.state or {}) if row is not None else {},
        updated_by=row.updated_by if row is not None else "",
        updated_at=row.updated_at if row is not None else None,
    )
