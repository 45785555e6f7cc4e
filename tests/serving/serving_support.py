"""Helpers the serving tests import by name (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.security import Caller

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")
MODEL = "detector"


def readings(rows: int, seed: int = 0) -> pd.DataFrame:
    """Returns ``rows`` rows of numeric and categorical columns, a few values missing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "latency": rng.gamma(2.0, 40.0, rows),
            "bytes": rng.integers(100, 50_000, rows).astype(float),
            "method": rng.choice(["GET", "POST", "DELETE"], rows),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "latency"] = np.nan
    return frame
