"""Benchmarks the speed of the log pipeline on one core: events per second, and training time.

Simulated application logs (``vigil.simulate``, seed 0) are written as JSON
Lines. A per-event model is trained on the first 50,000 events, from raw
lines, the way ``vigil train --features logs`` does, once with the isolation
forest and once with the catalogue's default anomaly detector (when it is
another one); then 200,000 events go through the whole prediction
pipeline from the file's bytes: split into lines, parse JSON, extract
features (templates, one-hots, rolling windows), score, and build one output
per event. The process is pinned to one CPU and every thread pool is set to
one thread before the libraries load. Each timing is the best of
``--repeats`` runs; the stages are timed separately as well.

    .venv/bin/python benchmarks/anomaly/log_speed.py
    .venv/bin/python benchmarks/anomaly/log_speed.py --events 50000 --repeats 1

Results go to benchmarks/results/log_speed.json.
"""

from __future__ import annotations

import os

for _variable in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "ARROW_NUM_THREADS",
):
    os.environ[_variable] = "1"

import argparse  # noqa: E402 - the thread settings above must come before the libraries load
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pyarrow as pa  # noqa: E402

from vigil.algorithms.catalogue import DEFAULT_ALGORITHM  # noqa: E402
from vigil.data.loading import read_lines  # noqa: E402
from vigil.simulate import simulate  # noqa: E402
from vigil.training.bundle import ModelBundle  # noqa: E402
from vigil.training.trainer import TrainSpec, train_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "log_speed.json"
TARGET_EVENTS_PER_SECOND = 100_000
TARGET_TRAIN_SECONDS = 5.0


def best_of(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Returns the shortest wall time of ``repeats`` runs of ``work`` and its last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(
    algorithm: str, train_payload: bytes, score_payload: bytes, events: int, repeats: int
) -> dict[str, Any]:
    """Returns training time, per-stage times and events/s of one detector."""
    spec = TrainSpec(task="anomaly", algorithm=algorithm, feature_kind="logs")
    train_seconds, outcome = best_of(repeats, lambda: train_model(read_lines(train_payload), spec))
    bundle = outcome.bundle
    extractor = bundle.extractor
    assert extractor is not None
    lines = read_lines(score_payload)
    stages: dict[str, float] = {}
    stages["split lines"], _ = best_of(repeats, lambda: read_lines(score_payload))
    stages["parse JSON"], (parsed, _) = best_of(repeats, lambda: extractor.read(lines))
    stages["features"], _ = best_of(repeats, lambda: extractor.transform(parsed))
    X = bundle.prepare(parsed)
    stages["score"], _ = best_of(repeats, lambda: bundle.anomaly_scores(X))
    total, batch = best_of(repeats, lambda: bundle.predict_with_report(read_lines(score_payload)))
    rate = events / total
    compiled = _compiled_pipeline(bundle, score_payload, repeats)
    return {
        "algorithm": algorithm,
        "features": len(bundle.feature_names),
        "events_per_second": round(rate),
        "pipeline_seconds": round(total, 3),
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
        "train_seconds": round(train_seconds, 3),
        "outputs": len(batch.outputs),
        "meets_targets": {
            "events_per_second": rate >= TARGET_EVENTS_PER_SECOND,
            "train_seconds": train_seconds <= TARGET_TRAIN_SECONDS,
        },
        "with_compiled_scorer": None
        if compiled is None
        else {
            "pipeline_seconds": round(compiled[0], 3),
            "score_seconds": round(compiled[1], 3),
            "events_per_second": round(events / compiled[0]),
        },
    }


def _compiled_pipeline(
    bundle: ModelBundle, score_payload: bytes, repeats: int
) -> tuple[float, float] | None:
    """Returns (whole pipeline, scoring) seconds with serving's compiled forest, if it applies.

    The serving layer compiles a bundle's preprocessing and isolation forest
    (``FastModel``); it leaves bundles with an extractor to the bundle, so
    here it is given the bundle's model part and the extractor's features.
    """
    try:
        from vigil.serving.fast_model import FastModel
    except ImportError:
        return None
    fast = FastModel.from_bundle(dataclasses.replace(bundle, extractor=None))
    extractor = bundle.extractor
    if fast is None or extractor is None:
        return None

    def pipeline() -> list[dict[str, Any]]:
        events, _ = extractor.read(read_lines(score_payload))
        extracted = extractor.transform(events)
        features = extracted.features.reindex(columns=bundle.feature_names)
        outputs = fast.predict_batch(features).outputs()
        lines = extracted.lines.tolist() if extracted.lines is not None else []
        return [{"line": n, **o} for n, o in zip(lines, outputs, strict=True)]

    events, _ = extractor.read(read_lines(score_payload))
    features = extractor.transform(events).features.reindex(columns=bundle.feature_names)
    score_seconds, _ = best_of(repeats, lambda: fast.predict_batch(features))
    total, _ = best_of(repeats, pipeline)
    return total, score_seconds


def main() -> None:
    """Runs the benchmark, prints a table per detector and writes the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--train-events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    frame = simulate("logs", max(args.events, args.train_events), anomaly_rate=0.05, seed=0)
    frame = frame.drop(columns=["is_anomaly", "anomaly_type"])
    rows = frame.to_json(orient="records", lines=True, date_format="iso").encode()
    split = rows.splitlines(keepends=True)
    train_payload = b"".join(split[: args.train_events])
    score_payload = b"".join(split[: args.events])

    algorithms = list(dict.fromkeys(["isolation_forest", DEFAULT_ALGORITHM["anomaly"]]))
    runs = [measure(a, train_payload, score_payload, args.events, args.repeats) for a in algorithms]
    for run in runs:
        print(
            f"\n{run['algorithm']}: log pipeline on one core "
            f"({args.events} events, {run['features']} features)"
        )
        print(f"{'step':<34}{'seconds':>10}{'events/s':>12}")
        for name, seconds in run["stage_seconds"].items():
            rate = f"{args.events / seconds:>12,.0f}" if seconds > 0 else f"{'-':>12}"
            print(f"{name:<34}{seconds:>10.3f}{rate}")
        print(
            f"{'whole pipeline (bytes -> outputs)':<34}{run['pipeline_seconds']:>10.3f}"
            f"{run['events_per_second']:>12,}"
        )
        compiled = run["with_compiled_scorer"]
        if compiled is not None:
            print(
                f"{'  with the compiled forest':<34}{compiled['pipeline_seconds']:>10.3f}"
                f"{compiled['events_per_second']:>12,}"
                f"   (scoring {compiled['score_seconds']:.3f} s)"
            )
        print(f"{f'training on {args.train_events} events':<34}{run['train_seconds']:>10.3f}")
        met = run["meets_targets"]
        print(
            f"targets: >= {TARGET_EVENTS_PER_SECOND:,} events/s "
            f"({'met' if met['events_per_second'] else 'NOT met'}), "
            f"training <= {TARGET_TRAIN_SECONDS:g} s "
            f"({'met' if met['train_seconds'] else 'NOT met'})"
        )
    document = {
        "benchmark": "log pipeline speed (one core)",
        "events": args.events,
        "train_events": args.train_events,
        "targets": {
            "events_per_second": TARGET_EVENTS_PER_SECOND,
            "train_seconds": TARGET_TRAIN_SECONDS,
        },
        "runs": runs,
        "repeats": args.repeats,
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
