"""Benchmarks Vigil's anomaly detectors on ADBench's eight classic tabular data sets.

ADBench's protocol (Han et al., NeurIPS 2022): each data set is split 70/30,
stratified by the label, for each of three seeds; the detector is trained on
the 70% part WITHOUT the label (that part still holds its anomalies) and the
ROC AUC of its scores on the 30% part is averaged over the seeds. Every run
goes through Vigil's own training path, ``train_model`` with
``TrainSpec(task="anomaly", target="label", test_size=0.3, seed=...)``: the
label column is never a feature, the split is scikit-learn's stratified
``train_test_split`` with ``random_state=seed``, the preprocessing is the
product's, and ``roc_auc`` is the one ``vigil train`` reports. So the table
measures what users get, beside ADBench's published isolation forest.

No setting is tuned to a data set: every detector runs with its catalogue
defaults on all eight. Results go to benchmarks/results/anomaly_tabular.json.

    .venv/bin/python benchmarks/anomaly/tabular.py            # every detector, 3 seeds
    .venv/bin/python benchmarks/anomaly/tabular.py --quick    # auto and a few detectors, 1 seed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from vigil.training.trainer import TrainSpec, train_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "tabular"
RESULTS = ROOT / "benchmarks" / "results" / "anomaly_tabular.json"
SEEDS = (0, 1, 2)
TEST_SIZE = 0.3
# ADBench (Han et al. 2022), IForest AUCROC x 100, 70/30 stratified split.
ADBENCH_IFOREST = {
    "cardio": 93.19,
    "thyroid": 98.30,
    "shuttle": 99.56,
    "satellite": 70.43,
    "pendigits": 94.76,
    "mammography": 86.39,
    "letter": 61.07,
    "vowels": 73.94,
}
ADBENCH_IFOREST_MEAN = 84.70
# The target for ``auto``: two points above ADBench's isolation forest mean.
TARGET_MEAN = ADBENCH_IFOREST_MEAN + 2.0


@dataclass(frozen=True)
class Detector:
    """One row of the table: a catalogue algorithm with (non-default) parameters."""

    label: str
    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)


DETECTORS = (
    Detector("isolation_forest", "isolation_forest"),
    Detector("lof", "lof"),
    Detector("ocsvm", "ocsvm"),
    Detector("knn", "knn"),
    Detector("subsampled_knn", "subsampled_knn"),
    Detector("ecod", "ecod"),
    Detector(
        "ensemble max(iforest, sub-knn)",
        "ensemble",
        {"members": "isolation_forest,subsampled_knn"},
    ),
    Detector(
        "ensemble max(iforest, sub-knn, ecod)",
        "ensemble",
        {"members": "isolation_forest,subsampled_knn,ecod"},
    ),
    Detector("ensemble mean(sub-knn, ecod)", "ensemble", {"combine": "mean"}),
    # auto is the ensemble's default: max(subsampled_knn, ecod).
    Detector("auto", "auto"),
)
QUICK = ("isolation_forest", "knn", "subsampled_knn", "ecod", "auto")


def load(name: str, data: Path) -> pd.DataFrame:
    """Returns one data set: features f0..fN and ``label`` (1 = anomaly)."""
    return pd.read_csv(data / f"{name}.csv")


def run_one(
    frame: pd.DataFrame, detector: Detector, seed: int, target: str = "label"
) -> dict[str, Any]:
    """Returns the test ROC AUC and timings of one training run through Vigil."""
    spec = TrainSpec(
        task="anomaly",
        target=target,
        algorithm=detector.algorithm,
        params=detector.params,
        test_size=TEST_SIZE,
        seed=seed,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = train_model(frame, spec)
    seconds = time.perf_counter() - started
    # The protocol's split: ceil(30%) test rows, the label's share the same on both sides.
    assert outcome.test_rows == int(np.ceil(len(frame) * TEST_SIZE))
    assert outcome.y_test is not None
    return {
        "seed": seed,
        "roc_auc": outcome.metrics["roc_auc"],
        "train_rows": outcome.train_rows,
        "test_rows": outcome.test_rows,
        "test_anomalies": int((outcome.y_test.astype(float) > 0).sum()),
        "fit_seconds": outcome.metrics["fit_seconds"],
        "total_seconds": round(seconds, 3),
    }


def run(detectors: list[Detector], seeds: tuple[int, ...], data: Path) -> dict[str, Any]:
    """Returns every run's result and the per-detector means as plain JSON."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {d.label: {} for d in detectors}
    for name in ADBENCH_IFOREST:
        frame = load(name, data)
        for detector in detectors:
            results = [run_one(frame, detector, seed) for seed in seeds]
            runs[detector.label][name] = results
            auc = 100 * np.mean([r["roc_auc"] for r in results])
            seconds = sum(r["total_seconds"] for r in results)
            print(
                f"  {name:<12} {detector.label:<34} {auc:6.2f}  {seconds:6.1f} s", file=sys.stderr
            )
    summary = {}
    for detector in detectors:
        per_dataset = {
            name: round(100 * float(np.mean([r["roc_auc"] for r in results])), 2)
            for name, results in runs[detector.label].items()
        }
        summary[detector.label] = {
            "algorithm": detector.algorithm,
            "params": detector.params,
            "roc_auc": per_dataset,
            "mean": round(float(np.mean(list(per_dataset.values()))), 2),
            "seconds": round(
                sum(r["total_seconds"] for rs in runs[detector.label].values() for r in rs), 1
            ),
        }
    auto = summary.get("auto")
    return {
        "protocol": (
            "ADBench: 70/30 split stratified by label per seed, trained on the 70% part "
            "without labels (anomalies included), ROC AUC x 100 on the 30% part, mean over "
            "seeds; through vigil.training.trainer.train_model with catalogue defaults"
        ),
        "seeds": list(seeds),
        "adbench_iforest": {"roc_auc": ADBENCH_IFOREST, "mean": ADBENCH_IFOREST_MEAN},
        "target": {
            "detector": "auto",
            "mean_at_least": TARGET_MEAN,
            "auto_mean": None if auto is None else auto["mean"],
            "met": None if auto is None else auto["mean"] >= TARGET_MEAN,
        },
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "summary": summary,
        "runs": runs,
    }


def render(results: dict[str, Any]) -> str:
    """Returns the summary as a plain-text table, ADBench's isolation forest first."""
    names = list(ADBENCH_IFOREST)
    width = max(28, *(len(label) for label in results["summary"]))
    header = f"{'ROC AUC x 100':<{width}} " + " ".join(f"{n[:11]:>11}" for n in names)
    lines = [header + f" {'mean':>7} {'seconds':>8}", "-" * (len(header) + 17)]
    reference = results["adbench_iforest"]
    lines.append(
        f"{'ADBench IForest (published)':<{width}} "
        + " ".join(f"{reference['roc_auc'][n]:>11.2f}" for n in names)
        + f" {reference['mean']:>7.2f} {'':>8}"
    )
    for label, row in results["summary"].items():
        lines.append(
            f"{label:<{width}} "
            + " ".join(f"{row['roc_auc'][n]:>11.2f}" for n in names)
            + f" {row['mean']:>7.2f} {row['seconds']:>8.1f}"
        )
    target = results["target"]
    if target["auto_mean"] is not None:
        verdict = "met" if target["met"] else "MISSED"
        lines += [
            "",
            f"Target: auto mean >= {target['mean_at_least']:.2f} (ADBench IForest + 2): "
            f"auto {target['auto_mean']:.2f}, {verdict} "
            f"({target['auto_mean'] - target['mean_at_least']:+.2f}).",
        ]
    lines.append(f"Seeds: {', '.join(map(str, results['seeds']))}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"one seed, only {', '.join(QUICK)}")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the eight CSV files")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"{args.data} does not exist; pass --data with the tabular CSV folder")

    detectors = [d for d in DETECTORS if not args.quick or d.label in QUICK]
    seeds = tuple(range(args.seeds or (1 if args.quick else len(SEEDS))))
    started = time.perf_counter()
    results = run(detectors, seeds, args.data)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(render(results))
    print(f"Wall time: {results['wall_seconds']:.0f} s.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
