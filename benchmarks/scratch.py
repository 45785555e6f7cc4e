"""Benchmarks the from-scratch estimators against their scikit-learn counterparts.

Each pair is fitted on a stratified 80/20 split (random_state=42) of a
synthetic table (make_classification, random_state=0) and of the breast
cancer and wine datasets; the table shows fit time on the training rows and
accuracy on the test rows. The speed targets are then timed on the whole
synthetic table. Results go to benchmarks/results/scratch.json.

    .venv/bin/python benchmarks/scratch.py            # 100,000 x 20, as the targets say
    .venv/bin/python benchmarks/scratch.py --rows 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from vigil.algorithms.scratch_logistic import ScratchLogisticRegression
from vigil.algorithms.scratch_tree import ScratchDecisionTreeClassifier

RESULTS = Path(__file__).parent / "results" / "scratch.json"
TREE_DEPTH = 10
# Seconds allowed for one fit on the whole synthetic table (the targets).
TARGETS = {"scratch_logistic": 5.0, "scratch_tree": 60.0}

MODELS: dict[str, tuple[str, Callable[[], Any]]] = {
    "scratch_logistic": ("logistic", lambda: ScratchLogisticRegression(C=1.0)),
    "sklearn LogisticRegression": (
        "logistic",
        lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0)),
    ),
    "scratch_tree": ("tree", lambda: ScratchDecisionTreeClassifier(max_depth=TREE_DEPTH)),
    "sklearn DecisionTreeClassifier": (
        "tree",
        lambda: DecisionTreeClassifier(max_depth=TREE_DEPTH, random_state=0),
    ),
}


def datasets(rows: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Returns the benchmark datasets by name."""
    synthetic = make_classification(n_samples=rows, n_features=20, random_state=0)
    return {
        f"synthetic {rows}x20": synthetic,
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
    }


def timed_fit(
    factory: Callable[[], Any], X: np.ndarray, y: np.ndarray, repeat: int
) -> tuple[Any, float]:
    """Returns the model of the fastest of ``repeat`` fits and that fit's seconds."""
    best_seconds, best_model = float("inf"), None
    for _ in range(repeat):
        model = factory()
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Convergence warnings are part of what is compared, not noise to print.
            warnings.simplefilter("ignore")
            model.fit(X, y)
        seconds = time.perf_counter() - start
        if seconds < best_seconds:
            best_seconds, best_model = seconds, model
    return best_model, best_seconds


def iterations(model: Any) -> int | None:
    """Returns the optimiser iterations of a fitted model (or its last pipeline step), if any."""
    estimator = model[-1] if hasattr(model, "steps") else model
    n_iter = getattr(estimator, "n_iter_", None)
    return None if n_iter is None else int(np.max(n_iter))


def run(rows: int, repeat: int) -> dict[str, Any]:
    """Returns the comparison results and the speed-target checks as plain JSON."""
    comparisons = []
    tables = datasets(rows)
    for dataset, (X, y) in tables.items():
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, stratify=y, random_state=42
        )
        for name, (family, factory) in MODELS.items():
            model, seconds = timed_fit(factory, X_train, y_train, repeat)
            comparisons.append(
                {
                    "dataset": dataset,
                    "family": family,
                    "model": name,
                    "train_rows": len(X_train),
                    "fit_seconds": round(seconds, 4),
                    "accuracy": round(float(model.score(X_test, y_test)), 4),
                    "iterations": iterations(model),
                }
            )

    X, y = tables[f"synthetic {rows}x20"]
    targets = []
    for name, limit in TARGETS.items():
        _, seconds = timed_fit(MODELS[name][1], X, y, repeat)
        targets.append(
            {
                "model": name,
                "rows": rows,
                "fit_seconds": round(seconds, 4),
                "target_seconds": limit,
                "met": seconds < limit,
            }
        )
    return {
        "rows": rows,
        "tree_max_depth": TREE_DEPTH,
        "repeat": repeat,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "comparisons": comparisons,
        "speed_targets": targets,
    }


def render(results: dict[str, Any]) -> str:
    """Returns the results as a plain-text table."""
    lines = [
        f"{'dataset':<22} {'model':<32} {'train rows':>10} {'fit s':>8} {'accuracy':>9} "
        f"{'iters':>6}",
        "-" * 92,
    ]
    for row in results["comparisons"]:
        lines.append(
            f"{row['dataset']:<22} {row['model']:<32} {row['train_rows']:>10} "
            f"{row['fit_seconds']:>8.3f} {row['accuracy']:>9.4f} "
            f"{'' if row['iterations'] is None else row['iterations']:>6}"
        )
    lines += ["", f"Speed targets: one fit on the whole {results['rows']} x 20 table"]
    for row in results["speed_targets"]:
        verdict = "met" if row["met"] else "MISSED"
        lines.append(
            f"  {row['model']:<18} {row['fit_seconds']:>8.3f} s  "
            f"(target < {row['target_seconds']:.0f} s: {verdict})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic table")
    parser.add_argument("--repeat", type=int, default=3, help="fits per model; the fastest counts")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()

    results = run(args.rows, args.repeat)
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nWrote {args.output}")


if __name__ == "__main__":
    main()
