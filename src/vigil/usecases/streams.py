"""Streams as use cases: events judged with their history, incidents listed and acknowledged.

``ingest`` reads and checks a batch outside any lock, then, holding the
model's stream lock, scores it against the kept history
(:mod:`vigil.streams.scoring`), folds its anomalies into incidents
(:mod:`vigil.streams.incidents`) and writes the state back (with the
incidents, in one transaction when the state lives in the database). Once
the lock is released, each incident that opened, escalated or resolved is
posted once to the model's webhook through the alerts (signed, retried,
re-posted after a crash), never once per event.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from vigil.errors import InvalidInput
from vigil.ids import uuid7_many
from vigil.monitoring.alerts import NewAlert
from vigil.security import Caller, require_role
from vigil.serving.deployments import DeploymentView
from vigil.serving.model_cache import ModelCache
from vigil.serving.routing import choose_version
from vigil.streams.incidents import Change, IncidentStore, track
from vigil.streams.journal import LoggedBatch
from vigil.streams.replay import accepted_records, replay
from vigil.streams.scoring import (
    Rejected,
    Scored,
    StreamScorer,
    StreamSettings,
    parse_settings,
)
from vigil.streams.state import StreamState
from vigil.streams.store import StateStore
from vigil.usecases.alerts import Alerts
from vigil.usecases.models import Models

log = logging.getLogger("vigil.streams")

# How an incident's severity maps to an alert's.
_ALERT_SEVERITY = {
    "low": "warning",
    "medium": "warning",
    "high": "critical",
    "critical": "critical",
}


@dataclass
class EventsResult:
    """The answer to a batch of events."""

    model: str
    version: int
    accepted: int
    anomalies: list[dict[str, Any]]
    rejected: list[Rejected]
    changes: list[Change]
    predictions: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the JSON object of the events answer."""
        document: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "accepted": self.accepted,
            "anomalies": self.anomalies,
            "rejected": [r.to_json() for r in self.rejected],
            "incidents": [c.to_json() for c in self.changes if c.notifies],
        }
        if self.predictions is not None:
            document["predictions"] = self.predictions
        return document


@dataclass
class StreamCounters:
    """What this process's streams did, for ``/metrics``."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    anomalies: Counter[tuple[str, str]] = field(default_factory=Counter)
    incidents: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Streams:
    """Events pushed to deployed anomaly models, and the incidents they form."""

    def __init__(
        self,
        models: Models,
        deployments: DeploymentView,
        cache: ModelCache,
        state: StateStore,
        incidents: IncidentStore,
        alerts: Alerts,
        now: Callable[[], datetime],
        settings: StreamSettings | None = None,
    ) -> None:
        self.models = models
        self.deployments = deployments
        self.cache = cache
        self.state = state
        self.incidents = incidents
        self.alerts = alerts
        self.now = now
        self.settings = settings or StreamSettings()
        self.counters = StreamCounters()
        self._scorers: dict[tuple[str, str, int], StreamScorer] = {}
        log.info(
            "stream state in %s, written at the end of every batch: a process killed "
            "mid-stream loses no answered batch, and the batch it was answering failed "
            "for its client",
            type(state).__name__,
        )

    def _scorer(self, tenant: str, name: str) -> tuple[str, int, StreamScorer]:
        """Returns the model's identity, the version answering and its scorer."""
        model = self.deployments.get(tenant, name)
        version, loaded = self.cache.serve(tenant, name, choose_version(model))
        key = (tenant, name, version)
        scorer = self._scorers.get(key)
        if scorer is None or scorer.bundle is not loaded.bundle:
            scorer = self._scorers[key] = StreamScorer(loaded.bundle, self.settings, version)
        return f"{model.id}@{model.created_at.isoformat()}", version, scorer

    def ingest(
        self,
        caller: Caller,
        name: str,
        events: list[Any],
        *,
        flush: bool = False,
        return_all: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> EventsResult:
        """Returns the answers to a batch of events, each scored with its stream's history.

        Unreadable events and events older than their stream's tolerance are
        listed in ``rejected`` (position, reason, field); the others are
        scored. A batch whose every event is refused raises ``InvalidInput``
        naming each. ``flush`` closes and scores every open session.
        ``settings`` (durations by name: ``tolerance``, ``session_timeout``,
        ``incident_gap``, ``incident_quiet``) become the model's own, kept
        with its stream state, for this batch and the next ones.
        """
        require_role(caller, "predictor")
        changed = parse_settings(dict(settings)) if settings is not None else {}
        model_id, version, scorer = self._scorer(caller.tenant, name)
        batch = scorer.read(events)

        def catch_up(state: StreamState, logged: list[LoggedBatch]) -> StreamState:
            # Batches another replica (or a process before a restart) answered, scored again.
            scorers = self._scorers
            return replay(
                state,
                logged,
                lambda v: scorers.get((caller.tenant, name, v), scorer),
                self.settings,
            )

        with self.state.locked(caller.tenant, name, catch_up) as held:
            if held.state.model_id != model_id:
                # A first batch, or a model deleted and created again under this name:
                # nothing of another model's stream carries over.
                held.state = StreamState(model_id=model_id)
            held.state.settings.update(changed)
            own = replace(self.settings, **held.state.settings)
            arrival = int(self.now().timestamp() * 1_000_000) * 1000
            answers = scorer.score(held.state, batch, flush=flush, settings=own, now_ns=arrival)
            explanations: dict[int, list[dict[str, Any]]] = {}

            def explain(answer: Scored) -> list[dict[str, Any]]:
                key = id(answer)
                if key not in explanations and answer.features is not None:
                    explanations[key] = scorer.bundle.explain_row(answer.features)
                return explanations.get(key, [])

            changes = track(
                held.state,
                answers,
                version=version,
                settings=own,
                explain=explain,
                stream_of=lambda a: "sessions" if scorer.kind == "sessions" else a.stream,
            )
            logged = LoggedBatch.after(
                held.state, accepted_records(batch), version=version, flush=flush, now_ns=arrival
            )
            # Only what is new is written: the batch's log entry (or, once a second, a snapshot).
            self.state.save(caller.tenant, name, held, logged, release=not changes)
            self.incidents.write(caller.tenant, name, changes, held.session)
        if events and not answers and batch.rejected and not batch.records:
            raise _all_refused(batch.rejected)
        self._post(caller, name, [change for change in changes if change.notifies])
        predictions = []
        for answer, identifier in zip(answers, uuid7_many(len(answers)), strict=True):
            entry = {"id": identifier, "version": version, **answer.output}
            entry["stream"] = answer.stream
            if answer.event >= 0:
                entry["event"] = answer.event
            if answer.features is not None:
                entry["explanation"] = explain(answer)
            predictions.append(entry)
        self._count(caller.tenant, name, batch, predictions, changes)
        return EventsResult(
            name,
            version,
            len(batch.records) - _late(batch),
            [p for p in predictions if p.get("is_anomaly")],
            batch.rejected,
            changes,
            predictions if return_all else None,
        )

    def _post(self, caller: Caller, name: str, changes: list[Change]) -> None:
        # One policy read and one transaction for the batch's changes: one each per change
        # was most of a batch's time on a stream with many incidents.
        self.alerts.raise_alerts(caller, name, [_alert_of(change) for change in changes])

    def _count(
        self,
        tenant: str,
        name: str,
        batch: Any,
        predictions: list[dict[str, Any]],
        changes: list[Change],
    ) -> None:
        counters = self.counters
        with counters.lock:
            counters.events[(tenant, name)] += len(predictions)
            counters.rejected[(tenant, name)] += len(batch.rejected)
            counters.anomalies[(tenant, name)] += sum(1 for p in predictions if p.get("is_anomaly"))
            for change in changes:
                if change.notifies:
                    counters.incidents[(tenant, name, change.kind)] += 1

    def list_incidents(
        self, caller: Caller, name: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Returns the model's incidents, newest first (only those with ``status`` if given)."""
        self.models.get_model(caller, name)
        return self.incidents.list(caller.tenant, name, status=status, limit=limit)

    def acknowledge_incident(self, caller: Caller, name: str, incident_id: str) -> dict[str, Any]:
        """Returns the incident acknowledged by the caller; acknowledging again changes nothing."""
        require_role(caller, "trainer")
        self.models.get_model(caller, name)
        return self.incidents.acknowledge(caller.tenant, name, incident_id, caller.actor)


def _late(batch: Any) -> int:
    """Returns how many records were read but refused as too old."""
    return sum(1 for r in batch.rejected if r.reason.startswith("Event time"))


def _all_refused(rejected: list[Rejected]) -> InvalidInput:
    first = rejected[0]
    return InvalidInput(
        f"No event of the batch could be scored; event {first.event}: {first.reason}",
        errors=[
            {"loc": ["body", "events", r.event, *([r.field] if r.field else [])], "msg": r.reason}
            for r in rejected
        ],
    )


def _alert_of(change: Change) -> NewAlert:
    """Returns the alert posting an incident change; its key makes each change post once."""
    incident = change.incident
    severity = (
        "info" if change.kind == "resolved" else _ALERT_SEVERITY.get(incident.severity, "warning")
    )
    return NewAlert(
        kind="incident",
        severity=severity,
        message=f"Incident on stream {incident.stream!r} {change.kind} "
        f"({incident.severity}, {incident.events} anomalous events, "
        f"peak score {incident.peak_score:.3f}).",
        version=incident.version,
        dedup_key=f"incident:{incident.id}:{change.kind}:{incident.severity}",
        details=change.to_json(),
    )
