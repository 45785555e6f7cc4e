"""Explanations never give a difference below a feature's resolution as a reason.

Issue 13: flagged lines were explained by ``window_error_rate`` at -1e-16
against a normal range of [5.2e-17, 0.48] — floating-point residue ranked as
the feature furthest from training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.training.trainer import TrainSpec, train_model


def test_rounding_residue_is_no_reason_and_a_real_difference_is() -> None:
    rng = np.random.default_rng(3)
    rows = 400
    # A rate that is 0 up to rounding on most rows (the old running sums' residue).
    residue = rng.choice([0.0, 5.2e-17, -2.2e-17, 1.1e-16], rows)
    frame = pd.DataFrame(
        {
            "window_error_rate": np.where(rng.random(rows) < 0.2, 0.25, residue),
            "latency": rng.normal(100.0, 10.0, rows),
        }
    )
    bundle = train_model(frame, TrainSpec(task="anomaly", algorithm="ecod", seed=1)).bundle
    row = pd.Series({"window_error_rate": -1e-16, "latency": 130.0})
    reasons = {item["feature"]: item["contribution"] for item in bundle.explain_row(row)}
    assert reasons.get("window_error_rate", 0.0) == 0.0
    assert reasons["latency"] == 1.0
    far = bundle.explain_row(pd.Series({"window_error_rate": 0.9, "latency": 100.0}))
    assert far[0]["feature"] == "window_error_rate"
