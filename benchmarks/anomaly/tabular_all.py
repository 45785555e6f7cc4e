"""Benchmarks Vigil's anomaly detectors on all 26 ADBench tabular sets against scikit-learn.

The measured baseline of issue 13. ADBench's protocol (Han et al., NeurIPS 2022):
each data set is split 70/30, stratified by the label, for each seed; the
detector is trained on the 70% part WITHOUT the label (anomalies included) and
the ROC AUC x 100 of its scores on the 30% part is averaged over the seeds.

Vigil's detectors go through Vigil's own training path (``run_one`` of
``tabular.py``: ``train_model`` with ``TrainSpec(task="anomaly", ...)``). The
reference is scikit-learn's ``IsolationForest`` with ADBench's defaults
(n_estimators=100, max_samples="auto", default contamination,
random_state=seed), fitted on the raw features of exactly the same training
rows (the same ``train_test_split`` call as Vigil's ``split_indices``) and
scored on the same test rows. Isolation forests are invariant to per-feature
monotone scaling, so ADBench's min-max scaling does not change its result.

``--cap N`` subsamples every set larger than N rows to N rows (stratified by
the label, fixed random_state=0) BEFORE the split, identically for every
detector; capped sets are marked in the table and the JSON. By default nothing
is capped. Results go to benchmarks/results/anomaly_tabular_all.json.

    .venv/bin/python benchmarks/anomaly/tabular_all.py
    .venv/bin/python benchmarks/anomaly/tabular_all.py --datasets wdbc,yeast --seeds 0
    .venv/bin/python benchmarks/anomaly/tabular_all.py --detectors auto,ecod,knn,lof
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular import ADBENCH_IFOREST, TEST_SIZE, Detector, run_one

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "tabular"
RESULTS = ROOT / "benchmarks" / "results" / "anomaly_tabular_all.json"
SEEDS = (0, 1, 2)
REFERENCE = "sklearn IForest (ADBench)"
VIGIL = {
    "auto": Detector("auto", "auto"),
    "isolation_forest": Detector("isolation_forest", "isolation_forest"),
    "ecod": Detector("ecod", "ecod"),
    "knn": Detector("knn", "knn"),
    "lof": Detector("lof", "lof"),
}
DEFAULT_DETECTORS = ("auto", "isolation_forest")


def datasets(data: Path) -> list[str]:
    """Returns every data set in ``data``, smallest file first."""
    return [p.stem for p in sorted(data.glob("*.csv"), key=lambda p: p.stat().st_size)]


def load(name: str, data: Path, cap: int | None) -> tuple[pd.DataFrame, int]:
    """Returns a data set (capped to ``cap`` rows, stratified) and its original row count."""
    frame = pd.read_csv(data / f"{name}.csv")
    rows = len(frame)
    if cap is not None and rows > cap:
        keep, _ = train_test_split(
            np.arange(rows), train_size=cap, random_state=0, stratify=frame["label"]
        )
        frame = frame.iloc[np.sort(keep)].reset_index(drop=True)
    return frame, rows


def run_reference(frame: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Returns the test ROC AUC of scikit-learn's IsolationForest with ADBench's defaults."""
    y = frame["label"].to_numpy()
    X = frame.drop(columns="label").to_numpy(dtype=float)
    # The same call as vigil.training.trainer.split_indices, so the same rows.
    train, test = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, random_state=seed, stratify=y
    )
    started = time.perf_counter()
    model = IsolationForest(n_estimators=100, max_samples="auto", random_state=seed)
    model.fit(X[train])
    scores = -model.score_samples(X[test])
    seconds = time.perf_counter() - started
    return {
        "seed": seed,
        "roc_auc": float(roc_auc_score(y[test], scores)),
        "train_rows": len(train),
        "test_rows": len(test),
        "test_anomalies": int(y[test].sum()),
        "total_seconds": round(seconds, 3),
    }


def mean_auc(results: list[dict[str, Any]]) -> float:
    return round(100 * float(np.mean([r["roc_auc"] for r in results])), 2)


def run(
    names: list[str],
    detectors: list[str],
    seeds: tuple[int, ...],
    data: Path,
    cap: int | None,
    output: Path,
) -> dict[str, Any]:
    """Runs every (data set, detector, seed), writing the JSON after each data set."""
    labels = [REFERENCE, *detectors]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    info: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {}
    for name in names:
        frame, rows = load(name, data, cap)
        info[name] = {
            "rows": rows,
            "rows_used": len(frame),
            "capped": len(frame) < rows,
            "features": frame.shape[1] - 1,
            "anomaly_share": round(float(frame["label"].mean()), 4),
        }
        runs[name] = {}
        for label in labels:
            if label == REFERENCE:
                outcome = [run_reference(frame, seed) for seed in seeds]
            else:
                outcome = [run_one(frame, VIGIL[label], seed) for seed in seeds]
            runs[name][label] = outcome
            seconds = sum(r["total_seconds"] for r in outcome)
            print(
                f"  {name:<17} {label:<26} {mean_auc(outcome):6.2f}  {seconds:7.1f} s",
                file=sys.stderr,
                flush=True,
            )
        results = summarise(runs, info, labels, seeds, cap)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def summarise(
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    info: dict[str, dict[str, Any]],
    labels: list[str],
    seeds: tuple[int, ...],
    cap: int | None,
) -> dict[str, Any]:
    """Returns the per-data-set means, the overall means and auto's wins as plain JSON."""
    means = {name: {label: mean_auc(rs) for label, rs in by.items()} for name, by in runs.items()}
    overall = {
        label: round(float(np.mean([means[n][label] for n in means])), 2) for label in labels
    }
    # auto was chosen on tabular.py's eight sets; the other 18 were never looked at for it.
    tuned = [n for n in means if n in ADBENCH_IFOREST]
    others = [n for n in means if n not in ADBENCH_IFOREST]
    subsets = {
        f"{key} ({len(group)} sets)": {
            label: round(float(np.mean([means[n][label] for n in group])), 2) for label in labels
        }
        for key, group in (("tuned_on", tuned), ("never_tuned_on", others))
        if group
    }
    seconds = {
        label: round(sum(r["total_seconds"] for n in runs for r in runs[n][label]), 1)
        for label in labels
    }
    comparison = None
    if "auto" in labels:
        diffs = {n: round(means[n]["auto"] - means[n][REFERENCE], 2) for n in means}
        comparison = {
            "against": REFERENCE,
            "datasets": len(diffs),
            "auto_wins": sum(d > 0 for d in diffs.values()),
            "auto_more_than_5_below": sorted(n for n, d in diffs.items() if d < -5),
            "auto_mean_minus_reference_mean": round(overall["auto"] - overall[REFERENCE], 2),
            "difference_per_dataset": diffs,
        }
    return {
        "protocol": (
            "ADBench: 70/30 split stratified by label per seed, trained on the 70% part "
            "without labels (anomalies included), ROC AUC x 100 on the 30% part, mean over "
            "seeds. Vigil detectors through vigil.training.trainer.train_model with catalogue "
            "defaults; reference: sklearn.ensemble.IsolationForest(n_estimators=100, "
            "max_samples='auto', contamination default, random_state=seed) on the same rows."
        ),
        "seeds": list(seeds),
        "row_cap": cap,
        "capped_datasets": sorted(n for n, i in info.items() if i["capped"]),
        "detectors": labels,
        "adbench_iforest_published": ADBENCH_IFOREST,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "datasets": info,
        "mean_roc_auc": means,
        "overall_mean": overall,
        "subset_mean": subsets,
        "seconds": seconds,
        "auto_vs_reference": comparison,
        "runs": runs,
    }


def render(results: dict[str, Any]) -> str:
    """Returns the mean ROC AUC table, data sets as rows and detectors as columns."""
    labels = results["detectors"]
    short = {REFERENCE: "sk IForest", "isolation_forest": "vigil iforest"}
    heads = [short.get(label, label) for label in labels]
    width = max(13, *(len(h) for h in heads))
    lines = [
        f"{'ROC AUC x 100':<20}" + "".join(f" {h:>{width}}" for h in heads),
        "-" * (20 + (width + 1) * len(heads)),
    ]
    for name, row in results["mean_roc_auc"].items():
        mark = "*" if results["datasets"][name]["capped"] else ""
        lines.append(
            f"{name + mark:<20}" + "".join(f" {row[label]:>{width}.2f}" for label in labels)
        )
    lines.append("-" * (20 + (width + 1) * len(heads)))
    lines.append(
        f"{'mean':<20}"
        + "".join(f" {results['overall_mean'][label]:>{width}.2f}" for label in labels)
    )
    for key, row in results["subset_mean"].items():
        lines.append(
            f"{'mean ' + key.split(' (')[0]:<20}"
            + "".join(f" {row[label]:>{width}.2f}" for label in labels)
        )
    lines.append(
        f"{'seconds':<20}"
        + "".join(f" {results['seconds'][label]:>{width}.1f}" for label in labels)
    )
    lines.append("")
    lines.append(
        "tuned_on: the eight sets auto was chosen on (tabular.py); never_tuned_on: the others."
    )
    if results["capped_datasets"]:
        lines.append(
            f"* capped to {results['row_cap']} rows (stratified, random_state=0) "
            "for every detector."
        )
    comparison = results["auto_vs_reference"]
    if comparison is not None:
        lines.append(
            f"auto beats sklearn IForest on {comparison['auto_wins']} of "
            f"{comparison['datasets']} sets; mean difference "
            f"{comparison['auto_mean_minus_reference_mean']:+.2f}; more than 5 points below on: "
            f"{', '.join(comparison['auto_more_than_5_below']) or 'none'}."
        )
    lines.append(f"Seeds: {', '.join(map(str, results['seeds']))}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument(
        "--detectors",
        default=",".join(DEFAULT_DETECTORS),
        help=f"Vigil detectors, any of {', '.join(VIGIL)} (sklearn IForest always runs)",
    )
    parser.add_argument(
        "--cap", type=int, default=None, help="row cap per data set (all detectors)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the CSV files")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"{args.data} does not exist; pass --data with the tabular CSV folder")
    available = datasets(args.data)
    names = available if args.datasets is None else args.datasets.split(",")
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown data sets: {', '.join(unknown)}")
    detectors = args.detectors.split(",")
    if set(detectors) - set(VIGIL):
        parser.error(f"unknown detectors: {', '.join(sorted(set(detectors) - set(VIGIL)))}")
    seeds = tuple(int(s) for s in args.seeds.split(","))

    started = time.perf_counter()
    results = run(names, detectors, seeds, args.data, args.cap, args.output)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(render(results))
    print(f"Wall time: {results['wall_seconds']:.0f} s.")
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
