"""Benchmarks the anomaly detectors on Vigil's own simulated data, the product's headline use.

The tabular benchmark (tabular.py) holds numeric tables only. Users bring
transactions, user behaviour, HTTP requests and log events: identifiers,
categories, free text and timestamps, which the product's preprocessing turns
into one-hot, TF-IDF and cyclic features. This runs the same detectors on
``vigil simulate`` data of four kinds (6,000 rows, 5% anomalies, generator
seed 0) with the same protocol as tabular.py: 70/30 split stratified by
``is_anomaly`` per seed, trained without the label, ROC AUC on the test part.
``anomaly_type`` (which names the anomalies) is dropped. Together with the
tabular benchmark it is the evidence for what ``auto`` is made of.
Results go to benchmarks/results/anomaly_simulated.json.

    .venv/bin/python benchmarks/anomaly/simulated.py
    .venv/bin/python benchmarks/anomaly/simulated.py --quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# The script's own folder is on sys.path when it runs: tabular.py is its sibling.
from tabular import DETECTORS, QUICK, RESULTS, Detector, run_one  # type: ignore[import-not-found]

from vigil.simulate import simulate

KINDS = ("transactions", "users", "requests", "logs")
ROWS = 6000
ANOMALY_RATE = 0.05


def run(detectors: list[Detector], seeds: tuple[int, ...]) -> dict[str, Any]:
    """Returns every run's result and the per-detector means as plain JSON."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {d.label: {} for d in detectors}
    for kind in KINDS:
        frame = simulate(kind, ROWS, ANOMALY_RATE, 0).drop(columns=["anomaly_type"])
        for detector in detectors:
            results = [run_one(frame, detector, seed, target="is_anomaly") for seed in seeds]
            runs[detector.label][kind] = results
            auc = 100 * np.mean([r["roc_auc"] for r in results])
            print(f"  {kind:<12} {detector.label:<38} {auc:6.2f}", file=sys.stderr)
    summary = {}
    for detector in detectors:
        per_kind = {
            kind: round(100 * float(np.mean([r["roc_auc"] for r in results])), 2)
            for kind, results in runs[detector.label].items()
        }
        summary[detector.label] = {
            "algorithm": detector.algorithm,
            "params": detector.params,
            "roc_auc": per_kind,
            "mean": round(float(np.mean(list(per_kind.values()))), 2),
        }
    return {
        "protocol": (
            f"vigil simulate KIND --rows {ROWS} --anomaly-rate {ANOMALY_RATE} --seed 0, "
            "anomaly_type dropped; 70/30 split stratified by is_anomaly per seed, trained "
            "without labels, ROC AUC x 100 on the 30% part, mean over seeds"
        ),
        "seeds": list(seeds),
        "summary": summary,
        "runs": runs,
    }


def render(results: dict[str, Any]) -> str:
    """Returns the summary as a plain-text table."""
    width = max(len(label) for label in results["summary"])
    header = f"{'ROC AUC x 100':<{width}} " + " ".join(f"{k:>12}" for k in KINDS)
    lines = [header + f" {'mean':>7}", "-" * (len(header) + 8)]
    for label, row in results["summary"].items():
        lines.append(
            f"{label:<{width}} "
            + " ".join(f"{row['roc_auc'][k]:>12.2f}" for k in KINDS)
            + f" {row['mean']:>7.2f}"
        )
    lines.append(f"Seeds: {', '.join(map(str, results['seeds']))}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"one seed, only {', '.join(QUICK)}")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS.with_name("anomaly_simulated.json"),
        help="where to write the JSON",
    )
    args = parser.parse_args()
    detectors = [d for d in DETECTORS if not args.quick or d.label in QUICK]
    seeds = tuple(range(args.seeds or (1 if args.quick else 3)))
    started = time.perf_counter()
    results = run(detectors, seeds)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(render(results))
    print(f"Wall time: {results['wall_seconds']:.0f} s.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
