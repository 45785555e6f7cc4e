"""A model's stream state: recent raw events and what streaming remembers between batches.

The history is kept as raw events (the fields as sent, or as parsed from raw
lines), never as features, so every version of the model — a retrained one,
a canary, a rollback — scores from the same history. ``model_states`` holds
an opaque blob per version for models that learn online; the history is
scored again by any version that has none.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

# Bumped when the layout changes; a state of another format is started afresh.
FORMAT = 1


@dataclass
class OpenIncident:
    """The incident a stream's recent anomalies belong to, while it is open."""

    id: str
    stream: str
    severity: str
    started_ns: int
    last_ns: int
    events: int
    peak_score: float
    explanation: list[dict[str, Any]]
    version: int

    def to_json(self) -> dict[str, Any]:
        """Returns the incident as stored in the state."""
        return dict(vars(self))


@dataclass
class StreamState:
    """What a model's stream keeps between batches (see the module docstring).

    ``events`` are the recent raw events in time order (ties in arrival
    order), each a JSON object; ``latest_ns`` the newest event time seen per
    stream (service, series or session group); ``sequence`` counts the
    events accepted, the clock of streams without timestamps.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    # Each kept event's time (ns), read once when it arrived.
    times: list[int] = field(default_factory=list)
    latest_ns: dict[str, int] = field(default_factory=dict)
    sequence: int = 0
    incidents: dict[str, OpenIncident] = field(default_factory=dict)
    model_states: dict[str, bytes] = field(default_factory=dict)
    # The model's own stream settings (StreamSettings field -> nanoseconds), set by a client.
    settings: dict[str, int] = field(default_factory=dict)
    # Which model the state belongs to (registry id and creation time; SQLite reuses
    # ids): a model deleted and created again under the same name starts its own stream.
    model_id: str | None = None
    # What a scorer derived from ``events`` to skip re-reading them (the window inputs of
    # log events, vigil.features.incremental), with whom it belongs to. Never stored: a
    # state read back from its bytes derives it again from the events.
    derived: Any = field(default=None, compare=False, repr=False)

    @property
    def clock_ns(self) -> int | None:
        """Returns the newest event time seen on any stream of the model, if any."""
        return max(self.latest_ns.values()) if self.latest_ns else None

    def to_bytes(self) -> bytes:
        """Returns the state as JSON bytes."""
        document = {
            "format": FORMAT,
            "events": self.events,
            "times": self.times,
            "latest_ns": self.latest_ns,
            "sequence": self.sequence,
            "incidents": [i.to_json() for i in self.incidents.values()],
            "model_states": {
                k: base64.b64encode(v).decode("ascii") for k, v in self.model_states.items()
            },
            "settings": self.settings,
            "model_id": self.model_id,
        }
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY, default=plain)

    @classmethod
    def from_bytes(cls, payload: bytes | None) -> StreamState:
        """Returns the state stored as ``payload`` (a fresh one for none or another format)."""
        if not payload:
            return cls()
        document = orjson.loads(payload)
        if document.get("format") != FORMAT:
            return cls()
        incidents = [OpenIncident(**i) for i in document.get("incidents", [])]
        return cls(
            events=document["events"],
            times=[int(t) for t in document.get("times", [])],
            latest_ns={k: int(v) for k, v in document["latest_ns"].items()},
            sequence=int(document.get("sequence", 0)),
            incidents={i.stream: i for i in incidents},
            model_states={
                k: base64.b64decode(v) for k, v in document.get("model_states", {}).items()
            },
            settings={k: int(v) for k, v in document.get("settings", {}).items()},
            model_id=document.get("model_id"),
        )


def plain(value: Any) -> Any:
    """Returns a value orjson cannot write as one it can (an event sent from Python)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
