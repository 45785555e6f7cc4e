"""The fault bookkeeping of benchmarks/anomaly/metric_streams.py, and one real run of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from benchmark_support import load_benchmark

streams = load_benchmark("metric_streams.py")


def test_a_fault_is_a_run_of_faulty_points_of_one_series() -> None:
    # Two series interleaved: a's faults at its 2nd-3rd and last point, b's at its 1st.
    series = pd.Series(["a", "b", "a", "b", "a", "b", "a"])
    faulty = np.array([False, True, True, False, True, False, True])
    runs = sorted(r.tolist() for r in streams.incidents(series, faulty))
    assert runs == [[1], [2, 4, 6]]
    faulty[4] = False
    runs = sorted(r.tolist() for r in streams.incidents(series, faulty))
    assert runs == [[1], [2], [6]]


def test_rank_auc_counts_ties_half() -> None:
    assert streams.rank_auc(np.array([3.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx(0.875)


def test_one_run_scores_faults_above_normal_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "ROWS", 4000)
    result = streams.run_one("auto", seed=0)
    assert result["members"] == "ecod"
    assert result["incidents"] > 5
    assert result["incident"] > 0.9
    assert result["onset"] > 0.9
