"""The traffic of the closing-the-loop scenario, shared by its in-process and multi-process runs.

Lives at the root of ``tests/`` (which the root ``conftest.py`` puts on the
import path) because both ``tests/service`` and ``tests/api`` use it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.simulate.logs import simulate_logs
from vigil.training.trainer import TrainSpec

LABELS = ["is_anomaly", "anomaly_type"]
LOG_SPEC = TrainSpec(
    target="is_anomaly",
    algorithm="isolation_forest",
    params={"n_estimators": 60},
    feature_kind="logs",
)
# The policy of the scenario: watch f1, retrain on a drop, roll back on a larger one.
LOG_POLICY = {
    "metric": "f1",
    "min_feedback": 100,
    "triggers": {"metric_drop": 0.05},
    "rollback": {"enabled": True, "metric_drop": 0.1},
    "degradation_drop": 0.05,
}


def shifted_logs(rows: int, seed: int, rate: float = 0.08) -> pd.DataFrame:
    """Returns traffic after a change: night-time, slower, more warnings, a new status mix."""
    frame = simulate_logs(rows, rate, seed)
    rng = np.random.default_rng(seed)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]) + pd.Timedelta(hours=11)
    frame["response_time"] = frame["response_time"] * 4 + rng.normal(300, 50, rows)
    frame.loc[rng.random(rows) < 0.5, "level"] = "WARN"
    frame.loc[rng.random(rows) < 0.4, "status_code"] = 503
    return frame
