"""What an online metric model has learned so far, per series, and its bytes.

An :class:`OnlineState` maps each series name (``""`` for a stream without a
series column) to a :class:`SeriesState`: the fixed-size arrays the compiled
loop (:mod:`vigil.online.kernel`) reads and updates. Their size depends only
on the detector's settings, never on how many points were seen, so a
state's bytes stay bounded (about 260 KB per series at the defaults).

``to_bytes`` / ``from_bytes`` give a versioned, self-describing encoding
(a short header, then the arrays as raw little-endian numbers): no pickle,
so a state read back from a database or Redis is data, never code.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

from vigil.errors import InvalidInput
from vigil.online import layout

FORMAT = b"VGOS"
VERSION = 4
# The arrays of a series' state, in their order in the bytes.
ARRAYS = (
    "value_ring",
    "value_sorted",
    "step_ring",
    "step_sorted",
    "cycle_ring",
    "cycle_sorted",
    "history",
    "recent",
    "level_ring",
    "level_sorted",
    "raw_ring",
    "point_ring",
    "mean_ring",
    "peak_scores",
    "peak_times",
    "season",
    "residual_ring",
    "residual_sorted",
    "counts",
    "scalars",
)


@dataclass
class SeriesState:
    """The state of one series: sliding windows, recent values and scores, counters, scalars.

    The windows (``*_ring`` in arrival order, ``*_sorted`` the same values
    sorted) hold the last ``window`` values, levels, steps and cycle
    residuals; ``history`` the last cycle of values, ``recent`` the last few;
    ``point_ring`` and ``mean_ring`` the raw scores and their short means
    over the last ``likelihood_window`` points;
    ``raw_ring`` the last ``short`` raw scores; ``peak_scores`` and
    ``peak_times`` the scores of the last ``refractory`` points that no later
    one has matched, with when they came (the running maximum's queue);
    ``season`` the forecaster's offset at each phase of the day and
    ``residual_*`` the window of its recent misses.
    """

    value_ring: np.ndarray
    value_sorted: np.ndarray
    step_ring: np.ndarray
    step_sorted: np.ndarray
    cycle_ring: np.ndarray
    cycle_sorted: np.ndarray
    history: np.ndarray
    recent: np.ndarray
    level_ring: np.ndarray
    level_sorted: np.ndarray
    raw_ring: np.ndarray
    point_ring: np.ndarray
    mean_ring: np.ndarray
    peak_scores: np.ndarray
    peak_times: np.ndarray
    season: np.ndarray
    residual_ring: np.ndarray
    residual_sorted: np.ndarray
    counts: np.ndarray
    scalars: np.ndarray

    @classmethod
    def empty(
        cls, window: int, short: int, refractory: int, cycle: int, likelihood_window: int
    ) -> SeriesState:
        """Returns the state of a series nothing is known about yet."""
        return cls(
            value_ring=np.zeros(window),
            value_sorted=np.zeros(window),
            step_ring=np.zeros(window),
            step_sorted=np.zeros(window),
            cycle_ring=np.zeros(window),
            cycle_sorted=np.zeros(window),
            history=np.zeros(cycle + 1),
            recent=np.zeros(layout.LEVEL_POINTS),
            level_ring=np.zeros(window),
            level_sorted=np.zeros(window),
            raw_ring=np.zeros(short),
            point_ring=np.zeros(likelihood_window),
            mean_ring=np.zeros(likelihood_window),
            peak_scores=np.zeros(refractory + 1),
            peak_times=np.zeros(refractory + 1, dtype=np.int64),
            season=np.zeros(max(cycle, 1)),
            residual_ring=np.zeros(window),
            residual_sorted=np.zeros(window),
            counts=np.zeros(layout.COUNTERS, dtype=np.int64),
            scalars=np.zeros(layout.SCALARS),
        )

    def copy(self) -> SeriesState:
        """Returns an independent copy (scoring updates a state in place)."""
        return SeriesState(*(getattr(self, name).copy() for name in ARRAYS))

    @property
    def points(self) -> int:
        """Returns how many points the value window holds."""
        return int(self.counts[layout.N_VALUES])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeriesState):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in ARRAYS)


@dataclass
class OnlineState:
    """Every series' state, and the settings it was built for (sizes of its arrays)."""

    window: int
    short: int
    refractory: int
    cycle: int
    likelihood_window: int
    series: dict[str, SeriesState] = field(default_factory=dict)

    @property
    def settings(self) -> tuple[int, int, int, int, int]:
        """Returns (window, short, refractory, cycle, likelihood window)."""
        return (self.window, self.short, self.refractory, self.cycle, self.likelihood_window)

    def copy(self) -> OnlineState:
        """Returns an independent copy."""
        return OnlineState(*self.settings, {name: s.copy() for name, s in self.series.items()})

    def of(self, name: str) -> SeriesState:
        """Returns the state of series ``name``, created empty the first time it is seen."""
        state = self.series.get(name)
        if state is None:
            state = SeriesState.empty(*self.settings)
            self.series[name] = state
        return state

    def to_bytes(self) -> bytes:
        """Returns the state encoded: header (format, version, settings, series), then arrays."""
        header = json.dumps(
            {
                "window": self.window,
                "short": self.short,
                "refractory": self.refractory,
                "cycle": self.cycle,
                "likelihood_window": self.likelihood_window,
                "series": list(self.series),
            }
        ).encode()
        parts = [FORMAT, struct.pack("<HI", VERSION, len(header)), header]
        for state in self.series.values():
            for name in ARRAYS:
                array = getattr(state, name)
                parts.append(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> OnlineState:
        """Returns the state ``to_bytes`` encoded; refuses other formats and versions by name."""
        if data[:4] != FORMAT or len(data) < 10:
            raise InvalidInput("These bytes are not an online model state.")
        version, length = struct.unpack("<HI", data[4:10])
        if version != VERSION:
            raise InvalidInput(
                f"Online state version {version} cannot be read; this Vigil reads {VERSION}."
            )
        header = json.loads(data[10 : 10 + length])
        state = cls(
            int(header["window"]),
            int(header["short"]),
            int(header["refractory"]),
            int(header["cycle"]),
            int(header["likelihood_window"]),
        )
        offset = 10 + length
        for name in header["series"]:
            template = SeriesState.empty(*state.settings)
            arrays = []
            for array_name in ARRAYS:
                like = getattr(template, array_name)
                size = like.nbytes
                chunk = data[offset : offset + size]
                if len(chunk) != size:
                    raise InvalidInput("The online state's bytes end early: it was cut short.")
                arrays.append(
                    np.frombuffer(chunk, dtype=like.dtype.newbyteorder("<")).astype(like.dtype)
                )
                offset += size
            state.series[name] = SeriesState(*arrays)
        if offset != len(data):
            raise InvalidInput("The online state's bytes run past its last series.")
        return state
