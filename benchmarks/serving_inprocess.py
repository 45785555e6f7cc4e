"""Benchmarks the compiled serving path against scikit-learn, in process (no HTTP).

Two bundles are trained with ``train_model`` on synthetic data with 78
numeric features: an ``isolation_forest`` anomaly model (100 trees) on
100,000 rows and a ``random_forest`` classifier (100 trees) on 20,000 rows.
For each it times:

- one row: scikit-learn's estimator on the already preprocessed row (the
  median of 2,000 calls; ``score_samples`` / ``predict_proba``), the whole
  ``ModelBundle.predict`` on a one-row DataFrame, and ``FastModel.predict_row``
  (a dict in, the output dict out: preprocessing and calibration included);
- a 100,000-row batch: scikit-learn's estimator on the preprocessed matrix,
  the flattened forest on the same matrix, ``FastModel.predict_batch`` on the
  DataFrame (preprocessing included, answers as arrays) and
  ``FastModel.predict_rows`` (answers as dicts), in rows per second (best of
  three runs).

Times are wall clock, except the ``_cpu`` rows: the CPU time of the calling
thread, which other processes on a shared machine disturb much less (the
scikit-learn estimators score in the calling thread too, so their ``_cpu``
row compares with the fast one-thread row). Results go to
benchmarks/results/serving_inprocess.json with the load average.

    .venv/bin/python benchmarks/serving_inprocess.py
    .venv/bin/python benchmarks/serving_inprocess.py --rows 20000 --calls 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
import sklearn

from vigil.data.schema import conform
from vigil.serving.fast_model import FastModel
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import TrainSpec, train_model

RESULTS = Path(__file__).parent / "results" / "serving_inprocess.json"
N_FEATURES = 78
RF_TRAIN_ROWS = 20_000
# The targets for the isolation forest on this 2-core machine.
TARGET_ROW_US = 20.0
TARGET_BATCH_ROWS_PER_S = 1_000_000.0


def synthetic(rows: int, seed: int) -> pd.DataFrame:
    """Returns ``rows`` rows of 78 correlated numeric features, 1% of them shifted outliers."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    X = rng.normal(size=(rows, N_FEATURES)) @ mixing
    outliers = rng.random(rows) < 0.01
    X[outliers] += rng.normal(4.0, 1.0, size=(int(outliers.sum()), N_FEATURES))
    frame = pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(N_FEATURES)])
    frame["label"] = np.where(X[:, 0] + X[:, 1] * X[:, 2] > 0, "up", "down")
    return frame


def median_us(
    call: Callable[[], Any], calls: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Returns the median time of ``calls`` calls on ``clock``, in microseconds."""
    times = []
    for _ in range(calls):
        started = clock()
        call()
        times.append(clock() - started)
    return statistics.median(times) * 1e6


def rows_per_second(
    call: Callable[[], Any],
    rows: int,
    repeats: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Returns the best throughput of ``repeats`` runs of ``call`` over ``rows`` rows."""
    best = min(_timed(call, clock) for _ in range(repeats))
    return rows / best


def _timed(call: Callable[[], Any], clock: Callable[[], float]) -> float:
    started = clock()
    call()
    return clock() - started


def measure(
    name: str, bundle: ModelBundle, frame: pd.DataFrame, calls: int, reference_calls: int
) -> dict[str, Any]:
    """Returns the timings of one bundle: single rows and a batch, scikit-learn and fast."""
    started = time.perf_counter()
    fast = FastModel.from_bundle(bundle)
    load_seconds = time.perf_counter() - started
    if fast is None:
        raise SystemExit(f"{name}: FastModel does not accelerate this bundle.")
    features = frame[bundle.feature_names]
    X = bundle.pipeline[:-1].transform(conform(features, bundle.schema))
    estimator = bundle.pipeline[-1]
    if bundle.task == "anomaly":
        forest = estimator.detector_

        def sklearn_rows(rows: np.ndarray) -> Any:
            return forest.score_samples(rows)

        def fast_matrix() -> Any:
            return fast.forest.score_samples(X)
    else:
        forest = estimator

        def sklearn_rows(rows: np.ndarray) -> Any:
            return forest.predict_proba(rows)

        def fast_matrix() -> Any:
            return fast.forest.predict_proba(X)

    one_row = X[5:6]
    row = features.iloc[5].to_dict()
    one_frame = features.iloc[5:6]
    assert fast.predict_row(row)["prediction"] == bundle.predict(one_frame)[0]["prediction"]

    result: dict[str, Any] = {
        "model": name,
        "trees": len(forest.estimators_),
        "features": int(X.shape[1]),
        "batch_rows": len(frame),
        "fast_load_seconds": round(load_seconds, 3),
        "fast_memory_bytes": fast.nbytes,
        "single_row_us": {
            "sklearn_estimator": median_us(lambda: sklearn_rows(one_row), calls),
            "bundle_predict": median_us(lambda: bundle.predict(one_frame), reference_calls),
            "fast_forest_only": median_us(lambda: _forest_row(fast, X[5]), calls),
            "fast_predict_row": median_us(lambda: fast.predict_row(row), calls),
            "fast_predict_row_cpu": median_us(
                lambda: fast.predict_row(row), calls, time.thread_time
            ),
        },
        "batch_rows_per_s": {
            "sklearn_estimator": rows_per_second(lambda: sklearn_rows(X), len(X)),
            "sklearn_estimator_cpu": _one_thread(
                forest,
                lambda: rows_per_second(lambda: sklearn_rows(X), len(X), clock=time.thread_time),
            ),
            "fast_forest_only": rows_per_second(fast_matrix, len(X)),
            "fast_forest_one_thread_cpu": rows_per_second(
                lambda: fast.forest.leaf_sums(X, n_threads=1), len(X), clock=time.thread_time
            ),
            "fast_predict_batch": rows_per_second(lambda: fast.predict_batch(features), len(X)),
            "fast_predict_rows": rows_per_second(lambda: fast.predict_rows(features), len(X), 1),
        },
    }
    return result


def _one_thread(forest: Any, measure: Callable[[], float]) -> float:
    """Returns ``measure()`` with the forest scoring in the calling thread only."""
    saved = forest.n_jobs
    forest.n_jobs = 1
    try:
        return measure()
    finally:
        forest.n_jobs = saved


def _forest_row(fast: FastModel, row: np.ndarray) -> Any:
    if fast.forest.kind == "isolation":
        return fast.forest.score_sample(row)
    return fast.forest.predict_row(row)


def print_table(results: list[dict[str, Any]]) -> None:
    """Prints the timings as a table."""
    print(f"{'model':<28} {'measure':<34} {'value':>14}")
    for result in results:
        for key, value in result["single_row_us"].items():
            print(f"{result['model']:<28} {'one row, ' + key:<34} {value:>11,.1f} µs")
        for key, value in result["batch_rows_per_s"].items():
            print(f"{result['model']:<28} {'batch, ' + key:<34} {value:>9,.0f} rows/s")
        print(
            f"{result['model']:<28} {'load (flatten + warm-up)':<34} "
            f"{result['fast_load_seconds']:>12.3f} s"
        )
        print(
            f"{result['model']:<28} {'forest arrays':<34} "
            f"{result['fast_memory_bytes'] / 1e6:>11.2f} MB"
        )


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the batch")
    parser.add_argument("--calls", type=int, default=2_000, help="single-row calls timed")
    parser.add_argument("--reference-calls", type=int, default=200, help="bundle.predict calls")
    args = parser.parse_args()

    frame = synthetic(args.rows, seed=0)
    anomaly = train_model(
        frame.drop(columns="label"),
        TrainSpec(task="anomaly", algorithm="isolation_forest", params={"n_estimators": 100}),
    ).bundle
    classifier = train_model(
        frame.head(min(RF_TRAIN_ROWS, args.rows)),
        TrainSpec(
            task="classification",
            algorithm="random_forest",
            target="label",
            params={"n_estimators": 100},
        ),
    ).bundle
    load = os.getloadavg()
    results = [
        measure("isolation_forest (anomaly)", anomaly, frame, args.calls, args.reference_calls),
        measure("random_forest (classif.)", classifier, frame, args.calls, args.reference_calls),
    ]
    iforest = results[0]
    verdict = {
        "single_row_us_target": TARGET_ROW_US,
        "single_row_met": iforest["single_row_us"]["fast_predict_row"] <= TARGET_ROW_US,
        "batch_rows_per_s_target": TARGET_BATCH_ROWS_PER_S,
        "batch_met": iforest["batch_rows_per_s"]["fast_forest_only"] >= TARGET_BATCH_ROWS_PER_S,
    }
    print_table(results)
    print(json.dumps(verdict))
    report = {
        "benchmark": "serving_inprocess",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "versions": {
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "numba": numba.__version__,
            "pandas": pd.__version__,
        },
        "results": results,
        "targets": verdict,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
