"""Hand-made sessions for the session-model tests: open, reads, close; failures on request."""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = r"req-\d+"


def _session(rng: np.random.Generator, key: str, kind: str) -> list[str]:
    """Returns the messages of one session: normal, or missing its close, or with a failure."""
    lines = [f"{key} open file /data/{rng.integers(1000)}"]
    lines += [f"{key} read {rng.integers(10, 900)} bytes" for _ in range(rng.integers(1, 6))]
    if kind == "failure":
        lines.append(f"{key} disk failure on sector {rng.integers(99)}")
    if kind != "unclosed":
        lines.append(f"{key} close after {rng.integers(1, 50)} ms")
    return lines


def events(sessions: int, anomalous: int, seed: int, start: int = 0) -> pd.DataFrame:
    """Returns labelled events of ``sessions`` sessions, the first ``anomalous`` ones abnormal."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(sessions):
        kind = ("unclosed", "failure")[i % 2] if i < anomalous else "normal"
        key = f"req-{start + i}"
        rows += [(m, int(kind != "normal")) for m in _session(rng, key, kind)]
    order = rng.permutation(len(rows))  # sessions interleave, as in a real log
    return pd.DataFrame([rows[j] for j in order], columns=["message", "label"])
