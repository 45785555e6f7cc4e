"""Logged batches replayed through the scorer, so a stale copy of a stream catches up.

A process whose kept state is older than the stored revision (another
replica answered batches since, or this process just started after a
restart or a ``kill -9``) reads the snapshot and the batches logged after it
(:mod:`vigil.streams.journal`) and scores them again, in order, discarding
the answers: scoring is deterministic, so the history, the clocks and the
online models' states come out as the writer left them. The open incidents
are copied from each entry (their ids were drawn when they opened).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from vigil.streams.journal import LoggedBatch
from vigil.streams.scoring import Batch, StreamScorer, StreamSettings
from vigil.streams.state import StreamState

log = logging.getLogger("vigil.streams")


def accepted_records(batch: Batch) -> list[dict[str, Any]]:
    """Returns the records of a scored batch that were accepted, in request order.

    Scoring moves events older than their stream's tolerance to
    ``batch.rejected``; the others are what the state took in.
    """
    refused = {r.event for r in batch.rejected}
    return [r for r, p in zip(batch.records, batch.positions, strict=True) if p not in refused]


def replay(
    state: StreamState,
    entries: Iterable[LoggedBatch],
    scorer_for: Callable[[int], StreamScorer],
    defaults: StreamSettings,
) -> StreamState:
    """Returns ``state`` after the logged batches, each scored again by its version's scorer.

    ``scorer_for(version)`` gives the scorer of the version that answered the
    entry, or another one when that version is not loaded here: then the
    history and clocks still follow (they do not depend on the version),
    the answering version's online state is left as it was and the entry's
    version's is dropped, to be warmed again from the history if it answers
    again.
    """
    for entry in entries:
        if state.model_id != entry.model_id:
            # The batch found another model's stream (or none) and started afresh.
            state = StreamState(model_id=entry.model_id)
        state.settings = dict(entry.settings)
        scorer = scorer_for(entry.version)
        own = replace(defaults, **state.settings)
        batch = Batch(list(entry.records), list(range(len(entry.records))))
        other = scorer.version != entry.version
        kept = state.model_states.get(str(scorer.version)) if other else None
        scorer.score(state, batch, flush=entry.flush, settings=own, now_ns=entry.now_ns)
        if batch.rejected:
            # The writer accepted them from the same state: replay is not deterministic.
            log.error(
                "replaying a logged batch refused %d of its %d events (%s); the state "
                "went on without them",
                len(batch.rejected),
                len(entry.records),
                batch.rejected[0].reason,
            )
        if other:
            if kept is None:
                state.model_states.pop(str(scorer.version), None)
            else:
                state.model_states[str(scorer.version)] = kept
            state.model_states.pop(str(entry.version), None)
        state.incidents = entry.open_incidents()
    return state
