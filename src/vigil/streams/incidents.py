"""Incidents: consecutive anomalies of one stream, opened, escalated and resolved in event time.

:func:`track` folds a batch's answers into the state's open incidents: an
anomaly within ``incident_gap`` of its stream's open incident joins it
(escalating it when its severity is higher), else opens one; after the
batch, an open incident whose stream's model clock has moved
``incident_quiet`` past its last anomaly is resolved. Event time, not the
server's clock, decides, so replaying a file gives the same incidents.

:class:`IncidentStore` keeps them in the ``incidents`` table, written in the
stream state's transaction when the state lives in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.errors import InvalidInput, NotFound
from vigil.ids import uuid7
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import IncidentRow
from vigil.streams.scoring import NS, Scored, StreamSettings
from vigil.streams.state import OpenIncident, StreamState

# Severity bands of anomaly scores, lowest first (as the calibrated detectors give them).
SEVERITY_ORDER = ("normal", "low", "medium", "high", "critical")
STATUSES = ("open", "resolved")
# Incident ids looked up per query: far below every database's bound-parameter limit.
_IDS_PER_QUERY = 500


@dataclass
class Change:
    """What happened to an incident in a batch: ``opened``, ``escalated``, ``resolved``,
    or ``updated`` (more events, nothing to tell anyone about)."""

    kind: str
    incident: OpenIncident
    status: str

    @property
    def notifies(self) -> bool:
        """Returns whether the change is posted to the model's webhook."""
        return self.kind in ("opened", "escalated", "resolved")

    def to_json(self) -> dict[str, Any]:
        """Returns the change as the answer and the webhook carry it."""
        return {"change": self.kind, **incident_json(self.incident, self.status)}


def incident_json(
    incident: OpenIncident, status: str, acknowledged: tuple[datetime, str] | None = None
) -> dict[str, Any]:
    """Returns an incident as DESIGN.md shapes it."""
    document: dict[str, Any] = {
        "id": incident.id,
        "stream": incident.stream,
        "status": status,
        "severity": incident.severity,
        "started_at": _time(incident.started_ns).isoformat(),
        "ended_at": _time(incident.last_ns).isoformat(),
        "events": incident.events,
        "peak_score": incident.peak_score,
        "explanation": incident.explanation,
        "version": incident.version,
    }
    if acknowledged is not None:
        document["acknowledged_at"] = acknowledged[0].isoformat()
        document["acknowledged_by"] = acknowledged[1]
    return document


def track(
    state: StreamState,
    answers: Iterable[Scored],
    *,
    version: int,
    settings: StreamSettings,
    explain: Callable[[Scored], list[dict[str, Any]]],
    stream_of: Callable[[Scored], str],
) -> list[Change]:
    """Returns the incident changes the answers cause, updating ``state.incidents``.

    Flagged answers get their incident's id as ``"incident"``.
    """
    changes: list[Change] = []
    touched: set[str] = set()

    def record(kind: str, incident: OpenIncident, status: str) -> None:
        # More events on an incident already in the list need no entry of their own.
        if kind != "updated" or incident.id not in touched:
            changes.append(Change(kind, incident, status))
            touched.add(incident.id)

    for answer in sorted(answers, key=lambda a: a.time_ns):
        if not answer.output.get("is_anomaly"):
            continue
        stream = stream_of(answer)
        score = float(answer.output["score"])
        severity = str(answer.output.get("severity", "low"))
        current = state.incidents.get(stream)
        if current is not None and answer.time_ns - current.last_ns > settings.incident_gap_ns:
            record("resolved", current, "resolved")
            del state.incidents[stream]
            current = None
        if current is None:
            current = OpenIncident(
                id=uuid7(),
                stream=stream,
                severity=severity,
                started_ns=answer.time_ns,
                last_ns=answer.time_ns,
                events=1,
                peak_score=score,
                explanation=explain(answer),
                version=version,
            )
            state.incidents[stream] = current
            record("opened", current, "open")
        else:
            current.events += 1
            current.last_ns = max(current.last_ns, answer.time_ns)
            if score > current.peak_score:
                current.peak_score = score
                current.explanation = explain(answer)
                current.version = version
            if _severity_rank(severity) > _severity_rank(current.severity):
                current.severity = severity
                record("escalated", current, "open")
            else:
                record("updated", current, "open")
        answer.output["incident"] = current.id
    clock = state.clock_ns
    if clock is not None:
        for stream, incident in list(state.incidents.items()):
            if clock - incident.last_ns > settings.incident_quiet_ns:
                record("resolved", incident, "resolved")
                del state.incidents[stream]
    return changes


def _severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else 0


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // NS, tz=UTC).replace(microsecond=(ns % NS) // 1000)


class IncidentStore(SqlStore):
    """Incidents per model in the ``incidents`` table."""

    def write(
        self, tenant: str, model: str, changes: list[Change], session: Session | None = None
    ) -> None:
        """Writes each changed incident (inserted or updated), in ``session`` when given."""
        if not changes:
            return
        if session is not None:
            self._write(session, tenant, model, changes)
            return
        with self.writing() as own:
            self._write(own, tenant, model, changes)

    def _write(self, session: Session, tenant: str, model: str, changes: list[Change]) -> None:
        now = self.now()
        # The last change of an incident in the batch holds its final status.
        final = {change.incident.id: change for change in changes}
        # One query for the rows to update, not one per incident; an incident opened
        # in this batch has no row yet.
        known = [i for i, change in final.items() if change.kind != "opened"]
        rows = {
            row.id: row
            for start in range(0, len(known), _IDS_PER_QUERY)
            for row in session.scalars(
                select(IncidentRow).where(IncidentRow.id.in_(known[start : start + _IDS_PER_QUERY]))
            )
        }
        for change in final.values():
            incident = change.incident
            row = rows.get(incident.id)
            if row is None:
                row = IncidentRow(
                    id=incident.id, tenant=tenant, model=model, stream=incident.stream
                )
                session.add(row)
            row.version = incident.version
            row.status = change.status
            row.severity = incident.severity
            row.started_at = _time(incident.started_ns)
            row.ended_at = _time(incident.last_ns)
            row.events = incident.events
            row.peak_score = incident.peak_score
            row.explanation = incident.explanation
            row.updated_at = now

    def list(
        self, tenant: str, model: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Returns the model's incidents, newest first (only those with ``status`` if given)."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(STATUSES)}; got {status!r}.",
                errors=[{"loc": ["query", "status"], "msg": "open or resolved"}],
            )
        query = select(IncidentRow).where(IncidentRow.tenant == tenant, IncidentRow.model == model)
        if status is not None:
            query = query.where(IncidentRow.status == status)
        query = query.order_by(IncidentRow.started_at.desc(), IncidentRow.id.desc()).limit(limit)
        with self.reading() as session:
            return [_row_json(row) for row in session.scalars(query)]

    def acknowledge(self, tenant: str, model: str, incident_id: str, actor: str) -> dict[str, Any]:
        """Returns the incident acknowledged by ``actor`` (acknowledging again changes nothing)."""
        with self.writing() as session:
            row = session.get(IncidentRow, incident_id)
            if row is None or row.tenant != tenant or row.model != model:
                raise NotFound(f"Incident {incident_id!r} of model {model!r} does not exist.")
            if row.acknowledged_at is None:
                row.acknowledged_at = self.now()
                row.acknowledged_by = actor
            return _row_json(row)

    def delete_model(self, tenant: str, model: str) -> None:
        """Deletes the model's incidents."""
        with self.writing() as session:
            for row in session.scalars(
                select(IncidentRow).where(IncidentRow.tenant == tenant, IncidentRow.model == model)
            ):
                session.delete(row)


def _row_json(row: IncidentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream": row.stream,
        "status": row.status,
        "severity": row.severity,
        "started_at": row.started_at.isoformat(),
        "ended_at": row.ended_at.isoformat(),
        "events": row.events,
        "peak_score": row.peak_score,
        "explanation": row.explanation,
        "version": row.version,
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by,
    }
