"""Benchmarks the anomaly detectors on simulated metric streams, as a stream is watched.

NAB (nab.py) is the real-data evidence for metric streams; this is the
second kind of evidence ``auto``'s members for metric streams rest on:
``vigil simulate metrics`` (five metrics of one service every five minutes,
20,000 points, 2% of them in faults: spikes, level shifts, drops to zero and
variance changes; generator seeds 0, 1, 2), one model over all five series
trained without labels on the first 30% of the points in time order, as a
user would train on the history at hand, then scoring the rest with
``--features metrics`` (causal window features, so each point sees only
earlier ones). Three figures, each a ROC AUC x 100 on the scored 70%:

- ``point``: every faulty point against every normal one. A level shift
  labels up to twelve hours of points, so this rewards a detector that keeps
  flagging every point of a lasting fault.
- ``incident``: each fault's highest score against the normal points: is
  the fault seen at all.
- ``onset``: the highest score among each fault's first three points
  against the normal points: is it seen where it starts, which is what an
  alert is for (NAB scores the same way: the earliest detection in a window
  counts, later ones earn nothing).

Results go to benchmarks/results/metric_streams.json.

    .venv/bin/python benchmarks/anomaly/metric_streams.py
    .venv/bin/python benchmarks/anomaly/metric_streams.py --algorithms auto,ensemble
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import roc_auc_score

from vigil.simulate import simulate
from vigil.training.trainer import TrainSpec, train_model

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "metric_streams.json"
ROWS = 20_000
ANOMALY_RATE = 0.02
TRAIN_SHARE = 0.3
ONSET_POINTS = 3
SEEDS = (0, 1, 2)
# ``ensemble`` at its defaults is ``auto`` for tables and events (subsampled k-NN + ECOD).
ALGORITHMS = ("auto", "ensemble", "ecod", "isolation_forest", "subsampled_knn")


def incidents(series: pd.Series, faulty: np.ndarray) -> list[np.ndarray]:
    """Returns the positions of each fault: a run of consecutive faulty points of one series."""
    runs: list[np.ndarray] = []
    for positions in series.groupby(series, sort=False).indices.values():
        flags = faulty[positions]
        starts = np.flatnonzero(flags & ~np.r_[False, flags[:-1]])
        ends = np.flatnonzero(flags & ~np.r_[flags[1:], False])
        runs.extend(positions[a : b + 1] for a, b in zip(starts, ends, strict=True))
    return runs


def rank_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Returns the ROC AUC of ``positives`` against ``negatives`` (ties count half)."""
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    return float(roc_auc_score(labels, np.r_[positives, negatives]))


def run_one(algorithm: str, seed: int) -> dict[str, Any]:
    """Returns the three ROC AUCs of one detector on the stream of one generator seed."""
    frame = simulate("metrics", ROWS, ANOMALY_RATE, seed)
    faulty = frame["is_anomaly"].to_numpy() == 1
    points = frame.drop(columns=["is_anomaly", "anomaly_type"])
    cut = int(TRAIN_SHARE * len(points))
    spec = TrainSpec(task="anomaly", algorithm=algorithm, feature_kind="metrics", seed=0)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = train_model(points.iloc[:cut], spec).bundle
    fit_seconds = time.perf_counter() - started
    # Features read only earlier points, so scoring everything at once gives each point
    # its streaming features; the training part is then dropped.
    X = bundle.pipeline[:-1].transform(bundle.prepare(points))
    scores = np.asarray(bundle.pipeline[-1].surprisal(X), dtype=float)[cut:]
    scored = faulty[cut:]
    runs = incidents(points["series"].iloc[cut:].reset_index(drop=True), scored)
    normal = scores[~scored]
    return {
        "seed": seed,
        "point": rank_auc(scores[scored], normal),
        "incident": rank_auc(np.array([scores[r].max() for r in runs]), normal),
        "onset": rank_auc(np.array([scores[r[:ONSET_POINTS]].max() for r in runs]), normal),
        "incidents": len(runs),
        "fit_seconds": round(fit_seconds, 3),
        "members": bundle.params.get("members"),
    }


def run(algorithms: list[str]) -> dict[str, Any]:
    """Returns every run and the per-detector means as plain JSON."""
    summary: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    for algorithm in algorithms:
        runs[algorithm] = [run_one(algorithm, seed) for seed in SEEDS]
        summary[algorithm] = {
            key: round(100 * float(np.mean([r[key] for r in runs[algorithm]])), 2)
            for key in ("point", "incident", "onset")
        }
        summary[algorithm]["members"] = runs[algorithm][0]["members"]
        print(f"  {algorithm:<18} {summary[algorithm]}", flush=True)
    return {
        "benchmark": "simulated metric streams",
        "protocol": (
            f"vigil simulate metrics --rows {ROWS} --anomaly-rate {ANOMALY_RATE} per seed; "
            f"one model, --features metrics, trained unlabelled on the first "
            f"{TRAIN_SHARE:.0%} in time order, scoring the rest; ROC AUC x 100 of points, "
            f"of each fault's highest score and of its first {ONSET_POINTS} points' highest "
            "score, against the normal points; mean over seeds"
        ),
        "seeds": list(SEEDS),
        "summary": summary,
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
        },
    }


def render(results: dict[str, Any]) -> str:
    """Returns the summary as a plain-text table."""
    lines = [f"{'ROC AUC x 100':<20}{'point':>8}{'incident':>10}{'onset':>8}  members", "-" * 70]
    for algorithm, row in results["summary"].items():
        lines.append(
            f"{algorithm:<20}{row['point']:>8.2f}{row['incident']:>10.2f}{row['onset']:>8.2f}"
            f"  {row['members'] or ''}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithms", default=",".join(ALGORITHMS), help="comma-separated catalogue names"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run([a.strip() for a in args.algorithms.split(",") if a.strip()])
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
