"""Benchmarks Vigil's metric anomaly detection on NAB's realAWSCloudwatch series.

The Numenta Anomaly Benchmark (Lavin and Ahmad, "Evaluating Real-time Anomaly
Detection Algorithms — the Numenta Anomaly Benchmark", ICMLA 2015) scores a
detector by *when* it raises alarms, not row by row:

- every labelled anomaly has a window around it (``combined_windows.json``);
  the first detection inside a window earns up to the true-positive weight,
  scaled by a sigmoid of its position (early is worth ~1, the right edge 0),
  and later detections in the same window earn nothing more; a window
  without a detection costs the false-negative weight;
- every detection outside a window costs the false-positive weight, less
  when it comes soon after a window (the same sigmoid, continued);
- the first 15% of each series (at most 750 points) is the probationary
  period, where the detector learns and nothing is scored;
- one threshold on the anomaly scores is swept over the whole corpus and the
  best total is kept; it is normalised so that a detector that never fires
  scores 0 and one that fires at the start of every window and nowhere else
  scores 100.

The scorer below follows NAB's own sweeper (``nab/sweeper.py``: the scaled
sigmoid, window entry and exit by timestamp, probationary points dropped, the
corpus-wide threshold sweep) and its normalisation (``nab/runner.py``:
perfect = true-positive weight x number of windows, null = the best score of
a detector whose scores are constant); it is written from their description,
and its arithmetic is checked in tests/benchmarks against hand-worked cases.

The detector is Vigil's own path, as a user would run it on each series: a
``metrics`` feature extractor (``--features metrics``) and an anomaly
detector through ``train_model``, trained without labels on the
probationary period of the series alone, then scoring the whole series. The
features are causal (each point sees only earlier points), the model never
sees a point it scores before scoring it, and with ``--retrain`` (default
``1D``) the model is retrained on everything seen so far at that interval,
as Vigil's retraining policy would — still never on a point it has yet to
score. The anomaly score is the model's calibrated score (0..1). No setting
is tuned to a series; every detector runs with its catalogue defaults.

What the figures say (benchmarks/results/nab.json): ``auto``, which is ECOD
alone for metric streams, scores 66.9 with daily retraining, above the
target of 60 (53.4 never retrained); ``ensemble`` at its defaults is
``auto`` for tables and events (the larger calibrated score of k-NN on
random subsamples and ECOD) and scores 39.0; the isolation forest 43.8.
Two changes took ECOD from 57.2 to 67.3, both in the metric features
(vigil.features.metrics): a ``range_excess`` feature (how far a value goes
beyond the trailing week's range, 0 inside it and over the first day at
hand) and leaving the level itself out of the detector's columns. Together
they took ECOD's false-positive points at its best threshold from 148 to
77: before, a lasting level change kept every later point anomalous until
the next retraining, and in spiky series every spike as high as the usual
daily ones was flagged. k-NN stays lower because window features of a
stream keep making combinations never seen in training that are normal,
and k-NN ranks them above the labelled faults.

    .venv/bin/python benchmarks/anomaly/nab.py    # auto, ensemble, isolation_forest, ecod
    .venv/bin/python benchmarks/anomaly/nab.py --algorithms auto --retrain none

Results go to benchmarks/results/nab.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from vigil.training.trainer import TrainSpec, train_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "metrics" / "nab"
CORPUS = "realAWSCloudwatch"
RESULTS = ROOT / "benchmarks" / "results" / "nab.json"
# NAB's profiles (config/profiles.json): weights of a true positive, a false
# positive and a false negative. The standard profile is the headline.
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}
PROBATION_PERCENT = 0.15
TARGET = 60.0
# NAB scoreboard, standard profile, whole corpus of 58 series (not this subset).
PUBLISHED_STANDARD = {
    "ARTime": 74.9,
    "Numenta HTM": 70.5,
    "Skyline": 58.2,
    "KNN CAD": 58.0,
    "Random Cut Forest": 51.7,
    "Twitter ADVec": 47.1,
}
# ``ensemble`` at its defaults is what ``auto`` is for tables and events: it shows
# what ``auto`` would score here without its choice of members for metric streams.
ALGORITHMS = ("auto", "ensemble", "isolation_forest", "ecod")


# --------------------------------------------------------------------------- scoring


def scaled_sigmoid(position: float) -> float:
    """Returns NAB's scaled sigmoid of a relative position: ~0.987 at -1, 0 at 0, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(rows: int, percent: float = PROBATION_PERCENT) -> int:
    """Returns how many leading points are probationary: 15%, at most 15% of 5,000."""
    return int(min(math.floor(percent * rows), percent * 5000))


@dataclass(frozen=True)
class ScoredPoint:
    """A point after the probationary period: its anomaly score, window and sweep weight.

    ``sweep`` is what a detection here is worth: positive inside a window
    (the earliest of a window's detections counts), negative outside.
    """

    score: float
    window: str | None
    sweep: float


def sweep_points(
    timestamps: pd.Series,
    scores: np.ndarray,
    windows: list[tuple[pd.Timestamp, pd.Timestamp]],
    name: str,
    profile: dict[str, float],
) -> list[ScoredPoint]:
    """Returns the scorable points of one series, as NAB's sweeper weighs them.

    A window is entered at the point whose timestamp equals its start and
    left after the point equal to its end. Inside, a point at index ``i`` of
    a window ending at ``right`` with ``width`` points sits at
    ``-(right - i + 1) / width`` and is worth ``tp x sigmoid / sigmoid(-1)``
    (an earliest detection is worth exactly the weight). Outside, a point
    before any window costs ``fp``; after one, ``fp x sigmoid`` of its
    distance from that window's end in (width - 1) units, so an alarm just
    late is forgiven more than one far away.
    """
    stamps = list(pd.to_datetime(timestamps))
    index_of = {stamp: i for i, stamp in reversed(list(enumerate(stamps)))}
    pending = list(windows)
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_length(len(stamps))
    points: list[ScoredPoint] = []
    current: tuple[pd.Timestamp, pd.Timestamp] | None = None
    right = width = 0
    previous_right: int | None = None
    previous_width = 0
    for i, (stamp, score) in enumerate(zip(stamps, scores, strict=True)):
        if pending and stamp == pending[0][0]:
            current = pending.pop(0)
            right = index_of[current[1]]
            width = right - index_of[current[0]] + 1
        window_name: str | None = None
        if current is not None:
            window_name = f"{name}|{current[0]}"
            sweep = scaled_sigmoid(-(right - i + 1) / width) * profile["tp"] / max_tp
        else:
            position = (
                3.0 if previous_right is None else abs(previous_right - i) / (previous_width - 1)
            )
            sweep = scaled_sigmoid(position) * profile["fp"]
        if i >= probation:
            points.append(ScoredPoint(float(score), window_name, sweep))
        if current is not None and stamp == current[1]:
            previous_right, previous_width = i, width
            current = None
    if pending:
        raise ValueError(f"{name}: window {pending[0]} starts at no timestamp of the series.")
    return points


@dataclass(frozen=True)
class Sweep:
    """The corpus score at every distinct threshold (detection = score >= threshold)."""

    thresholds: np.ndarray
    totals: np.ndarray
    windows: int

    def best(self) -> tuple[float, float]:
        """Returns (threshold, total) of the best threshold; the highest on a tie."""
        at = int(np.argmax(self.totals))
        return float(self.thresholds[at]), float(self.totals[at])


def sweep(points: list[ScoredPoint], profile: dict[str, float]) -> Sweep:
    """Returns the total at each threshold, from "nothing detected" (1.1) down to all.

    As in NAB, each window starts as a false negative (``-fn``) and takes the
    best sweep weight of its detected points; false positives add up. A
    threshold includes every point whose score is at least it.
    """
    ordered = sorted(points, key=lambda p: p.score, reverse=True)
    best = {p.window: -profile["fn"] for p in points if p.window is not None}
    total = float(sum(best.values()))
    thresholds = [1.1]
    totals = [total]
    for i, point in enumerate(ordered):
        if point.window is None:
            total += point.sweep
        elif point.sweep > best[point.window]:
            total += point.sweep - best[point.window]
            best[point.window] = point.sweep
        # A threshold is complete once every point with its score is in.
        if i + 1 == len(ordered) or ordered[i + 1].score != point.score:
            thresholds.append(point.score)
            totals.append(total)
    return Sweep(np.asarray(thresholds), np.asarray(totals), len(best))


def score_at(points: list[ScoredPoint], profile: dict[str, float], threshold: float) -> float:
    """Returns the score of ``points`` (one series or many) at a fixed threshold."""
    best = {p.window: -profile["fn"] for p in points if p.window is not None}
    total = 0.0
    for point in points:
        if point.score < threshold:
            continue
        if point.window is None:
            total += point.sweep
        else:
            best[point.window] = max(best[point.window], point.sweep)
    return total + float(sum(best.values()))


def normalised(raw: float, null: float, perfect: float) -> float:
    """Returns NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
    return 100.0 * (raw - null) / (perfect - null)


# --------------------------------------------------------------------------- data


@dataclass
class Series:
    """One NAB series: its points and its scoring windows."""

    name: str
    frame: pd.DataFrame
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]


def load_corpus(data: Path) -> list[Series]:
    """Returns the realAWSCloudwatch series with their windows, in name order."""
    limits = json.loads((data / "combined_windows.json").read_text())
    corpus = []
    for path in sorted((data / CORPUS).glob("*.csv")):
        name = f"{CORPUS}/{path.name}"
        frame = pd.read_csv(path)
        windows = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in limits.get(name, [])]
        corpus.append(Series(name, frame, windows))
    return corpus


# --------------------------------------------------------------------------- detection


def detect(
    series: Series, algorithm: str, retrain: str | None, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Returns Vigil's anomaly score of every point of ``series`` and what it took.

    The model is trained (no labels, catalogue defaults) on the probationary
    points; with ``retrain``, it is retrained on every point seen so far at
    that interval and scores the points up to the next retraining. The
    points of the probationary period are scored by the first model (NAB
    ignores them).
    """
    frame = series.frame
    times = pd.to_datetime(frame["timestamp"])
    probation = probation_length(len(frame))
    starts = [probation]
    if retrain is not None:
        step = pd.Timedelta(retrain)
        edge = times.iloc[probation] + step
        while edge <= times.iloc[-1]:
            starts.append(int(np.searchsorted(times.to_numpy(), edge.to_datetime64())))
            edge += step
        starts = sorted(set(starts))
    scores = np.zeros(len(frame))
    fits = 0
    fit_seconds = 0.0
    started = time.perf_counter()
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(frame)
        spec = TrainSpec(task="anomaly", algorithm=algorithm, feature_kind="metrics", seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = train_model(frame.iloc[:start], spec)
        fits += 1
        fit_seconds += outcome.fit_seconds
        # Features of a point read only earlier points, so scoring the prefix up to
        # ``end`` gives the points start..end exactly their streaming features.
        bundle = outcome.bundle
        X = bundle.pipeline[:-1].transform(bundle.prepare(frame.iloc[:end]))
        surprisal = np.asarray(bundle.pipeline[-1].surprisal(X), dtype=float)
        # NAB's score depends only on the order of the anomaly scores (one threshold is
        # swept). The calibrated score 1 - exp(-surprisal) has that order but rounds to
        # 1.0 in float64 beyond ~37 nats, tying every far outlier; s / (1 + s) keeps the
        # order, stays in [0, 1) and never ties distinct surprisals.
        mapped = surprisal / (1.0 + surprisal)
        scores[start:end] = mapped[start:end]
        if number == 0:
            scores[:start] = mapped[:start]
    return scores, {
        "fits": fits,
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


# --------------------------------------------------------------------------- benchmark


def evaluate(corpus: list[Series], scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """Returns each profile's best threshold, raw and normalised score, and per-series scores."""
    results: dict[str, Any] = {}
    for profile_name, profile in PROFILES.items():
        per_series = {
            s.name: sweep_points(s.frame["timestamp"], scores[s.name], s.windows, s.name, profile)
            for s in corpus
        }
        points = [p for ps in per_series.values() for p in ps]
        threshold, raw = sweep(points, profile).best()
        null_points = [
            ScoredPoint(0.5, p.window, p.sweep) for p in points
        ]  # NAB's null detector: one constant score everywhere
        _, null = sweep(null_points, profile).best()
        windows = sum(len(s.windows) for s in corpus)
        perfect = windows * profile["tp"]
        results[profile_name] = {
            "threshold": threshold,
            "raw": round(raw, 4),
            "null": round(null, 4),
            "perfect": perfect,
            "score": round(normalised(raw, null, perfect), 2),
            "series": {
                name: round(score_at(ps, profile, threshold), 4) for name, ps in per_series.items()
            },
        }
    return results


def detections(corpus: list[Series], scores: dict[str, np.ndarray], threshold: float) -> dict:
    """Returns windows detected, missed, and false-positive points at ``threshold``."""
    found = missed = false_positives = 0
    for s in corpus:
        points = sweep_points(
            s.frame["timestamp"], scores[s.name], s.windows, s.name, PROFILES["standard"]
        )
        hit = {p.window for p in points if p.window is not None and p.score >= threshold}
        names = {p.window for p in points if p.window is not None}
        found += len(hit)
        missed += len(names - hit)
        false_positives += sum(1 for p in points if p.window is None and p.score >= threshold)
    return {"windows_detected": found, "windows_missed": missed, "false_positives": false_positives}


def run(corpus: list[Series], algorithm: str, retrain: str | None) -> dict[str, Any]:
    """Returns the NAB scores of one detector over the corpus."""
    scores: dict[str, np.ndarray] = {}
    costs: dict[str, Any] = {}
    for series in corpus:
        scores[series.name], costs[series.name] = detect(series, algorithm, retrain)
    profiles = evaluate(corpus, scores)
    standard = profiles["standard"]
    return {
        "algorithm": algorithm,
        "retrain": retrain,
        "score": standard["score"],
        "profiles": profiles,
        "standard_counts": detections(corpus, scores, standard["threshold"]),
        "fits": sum(c["fits"] for c in costs.values()),
        "seconds": round(sum(c["seconds"] for c in costs.values()), 1),
    }


def render(results: dict[str, Any]) -> str:
    """Returns the runs as a plain-text table, the published scoreboard after them."""
    lines = [
        f"{'detector':<20}{'retrain':>8}{'standard':>10}{'low FP':>8}{'low FN':>8}"
        f"{'threshold':>11}{'found':>7}{'missed':>7}{'FP pts':>7}{'seconds':>9}",
        "-" * 95,
    ]
    for run_ in results["runs"]:
        p = run_["profiles"]
        c = run_["standard_counts"]
        lines.append(
            f"{run_['algorithm']:<20}{run_['retrain'] or 'none':>8}"
            f"{p['standard']['score']:>10.1f}{p['reward_low_FP_rate']['score']:>8.1f}"
            f"{p['reward_low_FN_rate']['score']:>8.1f}{p['standard']['threshold']:>11.4f}"
            f"{c['windows_detected']:>7}{c['windows_missed']:>7}{c['false_positives']:>7}"
            f"{run_['seconds']:>9.1f}"
        )
    lines += ["", "NAB scoreboard, standard profile, whole corpus (58 series, for reference):"]
    lines += [f"  {name:<20}{score:>6.1f}" for name, score in PUBLISHED_STANDARD.items()]
    target = results["target"]
    if target["auto"] is not None:
        verdict = "met" if target["met"] else "MISSED"
        lines += [
            "",
            f"Target: standard score >= {target['standard_at_least']:.0f} for auto "
            f"(retrain {target['retrain'] or 'none'}): {target['auto']:.1f}, {verdict}.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithms", default=",".join(ALGORITHMS), help="comma-separated catalogue names"
    )
    parser.add_argument(
        "--retrain",
        default="1D,none",
        help="comma-separated retraining intervals to run (pandas durations, or none)",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="NAB folder (windows + series)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if not (args.data / CORPUS).is_dir():
        parser.error(f"{args.data / CORPUS} does not exist; pass --data with NAB's folder")
    corpus = load_corpus(args.data)
    retrains = [None if r.strip() == "none" else r.strip() for r in args.retrain.split(",")]
    runs = []
    started = time.perf_counter()
    for algorithm in [a.strip() for a in args.algorithms.split(",") if a.strip()]:
        for retrain in retrains:
            result = run(corpus, algorithm, retrain)
            runs.append(result)
            print(
                f"  {algorithm:<20} retrain {retrain or 'none':>5}: {result['score']:6.1f} "
                f"({result['seconds']:.0f} s)",
                file=sys.stderr,
            )
    auto = [r for r in runs if r["algorithm"] == "auto"]
    headline = auto[0] if auto else None
    results = {
        "benchmark": f"NAB {CORPUS}",
        "protocol": (
            "NAB scoring (sweeper): windows from combined_windows.json, probationary period "
            "min(15%, 750 points) unscored, one threshold swept over the corpus, normalised "
            "(null detector 0, perfect 100). Detector: Vigil's metrics features + a catalogue "
            "detector with defaults, trained unsupervised per series on the probationary "
            "period, retrained on everything seen so far every `retrain` (none = never)."
        ),
        "series": len(corpus),
        "windows": sum(len(s.windows) for s in corpus),
        "profiles": PROFILES,
        "published_standard_whole_corpus": PUBLISHED_STANDARD,
        "target": {
            "standard_at_least": TARGET,
            "retrain": headline["retrain"] if headline else None,
            "auto": headline["score"] if headline else None,
            "met": bool(headline and headline["score"] >= TARGET),
        },
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
