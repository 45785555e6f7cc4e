"""A batch as the stream log keeps it: what replaying it needs, nothing derived.

Between two snapshots of a model's stream state (:mod:`vigil.streams.store`)
each answered batch is appended to the model's log as a ``LoggedBatch``: the
events it accepted (as sent, in request order), how it was asked (``flush``,
the arrival time that stamps events without a time field), the version that
answered, the model's stream settings and identity after it, and the open
incidents after it. A process whose copy of the state is stale replays the
logged batches through the scorer (:mod:`vigil.streams.replay`): scoring is
deterministic, so the history, clocks and online model states come out as the
writer's did. Incidents are copied rather than folded again, since their ids
are drawn at random when they open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.streams.state import OpenIncident, StreamState, plain

# Bumped when the layout changes; an entry of another format cannot be replayed.
FORMAT = 1


@dataclass
class LoggedBatch:
    """One answered batch of a model's stream, as the log keeps it (see the module docstring)."""

    version: int
    records: list[dict[str, Any]]
    flush: bool
    now_ns: int
    settings: dict[str, int] = field(default_factory=dict)
    model_id: str | None = None
    incidents: list[dict[str, Any]] = field(default_factory=list)
    # Which process wrote it (a random token per store), so a recovery can say whose it was.
    writer: str = ""

    @classmethod
    def after(
        cls,
        state: StreamState,
        records: list[dict[str, Any]],
        *,
        version: int,
        flush: bool,
        now_ns: int,
    ) -> LoggedBatch:
        """Returns the entry of a batch that accepted ``records`` and left ``state``."""
        return cls(
            version=version,
            records=records,
            flush=flush,
            now_ns=now_ns,
            settings=dict(state.settings),
            model_id=state.model_id,
            incidents=[i.to_json() for i in state.incidents.values()],
        )

    def open_incidents(self) -> dict[str, OpenIncident]:
        """Returns the open incidents after the batch, by stream."""
        return {i["stream"]: OpenIncident(**i) for i in self.incidents}

    def to_bytes(self) -> bytes:
        """Returns the entry as JSON bytes."""
        document = {"format": FORMAT, **vars(self)}
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY, default=plain)

    @classmethod
    def from_bytes(cls, payload: bytes) -> LoggedBatch:
        """Returns the entry stored as ``payload``; raises ``ValueError`` for another format."""
        document = orjson.loads(payload)
        if not isinstance(document, dict) or document.pop("format", None) != FORMAT:
            raise ValueError("a stream log entry of an unknown format")
        return cls(**document)
