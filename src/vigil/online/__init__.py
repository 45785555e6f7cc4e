"""Online metric models: score points in time order and keep learning from them.

A metrics anomaly model (``vigil train … --features metrics --task anomaly``)
carries an :class:`OnlineModel` unless trained with ``--param online=false``
(then it also has one, with learning off: a frozen model whose references
stay as training left them). The detector (:mod:`vigil.online.kernel`)
judges each point against sliding windows of the series' recent values and
changes, turns that into an anomaly likelihood against the recent
distribution of its own raw scores, and only then lets the point join the
windows: it learns from every point it has scored, never from one it has
yet to score. ``--param half_life=N`` sets how fast it adapts (points; the
default, 700, is about two and a half days of 5-minute points).

The API (what the streams use case calls; nothing here needs metrics
internals)::

    bundle = loaded.bundle                       # a ModelBundle
    if bundle.online is not None:                # the model has online state
        state = bundle.initial_state()           # the state right after training
        answers, state = bundle.score_in_order(rows, state)
        blob = state.to_bytes()                  # versioned bytes, kept per stream
        state = OnlineState.from_bytes(blob)     # and back, after a restart

- ``rows`` are raw input rows, as ``vigil predict`` reads them (a DataFrame,
  or a list of mappings): a time, a value, optionally a series. They are
  checked as a prediction's are (a missing or non-numeric field is refused
  naming row and field), put in time order per series, and scored.
- ``answers`` is one object per row in input order, as ``predict`` answers:
  ``prediction`` / ``is_anomaly``, ``score`` in [0, 1), ``severity``.
- ``state`` is never changed in place: each call returns the next one. Its
  size is fixed by the settings (about 260 KB per series at the defaults;
  several series in one stream share one state), never by the points seen.
- ``vigil predict FILE`` on an online model is
  ``score_in_order(FILE, initial_state())``; so is a batch file scored in
  chunks, the state carried from chunk to chunk.

Scoring points in one call, in pieces or one by one gives the same answers,
bit for bit. The state carries everything the detector needs from the
past (its windows hold the recent values themselves), so a stream needs no
raw history of its own for this model; the window features of
:mod:`vigil.features.metrics` (used for explanations) are not part of it.
"""

from vigil.online.detector import OnlineDetector
from vigil.online.model import ONLINE_PARAMS, OnlineModel, fit_online_model, split_online_params
from vigil.online.state import OnlineState, SeriesState

__all__ = [
    "ONLINE_PARAMS",
    "OnlineDetector",
    "OnlineModel",
    "OnlineState",
    "SeriesState",
    "fit_online_model",
    "split_online_params",
]
