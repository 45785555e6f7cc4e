"""Benchmarks Vigil's online metric models on NAB: 51 series in six categories.

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
and its arithmetic is checked in tests/benchmarks against hand-worked cases,
a perfect detector (100), no detection (0) and a random one.

Protocol (issue 17): each series is a user's stream. A metrics anomaly model
is trained with ``train_model`` (``--features metrics``, ``auto``, defaults)
on the series' probationary period alone, then the rest of the series is
scored in time order from the state training left, with
``bundle.score_in_order`` — what ``vigil predict`` of the file does — the
model learning from every point after scoring it (``online``), or not at
all (``frozen``, ``--param online=false``). No setting depends on the series
or its category. The detector's defaults (vigil.online: the half-life, the
level's 6 points, the forecast miss, the refractory span and its re-arm
ratio, the likelihood on the point alone against the last 8,640 raw
scores) were chosen on the
*tuning* categories (artificialNoAnomaly, artificialWithAnomaly,
realAWSCloudwatch, realAdExchange); realTraffic and realTweets are *held
out*.

How the defaults were reached (standard profile; "tuning" is the tuning
categories' own sweep, the figure the choice was made on; the held-out
figures were printed alongside during the search, so they are held out from
the choice, not unseen):

    variant                                         tuning  all 51
    value + step surprise, 10-point likelihood only    n/a    32.0
    same, point likelihood (short=1), refractory 100  54.5   56.9
    + cycle residual (same time yesterday)            58.8   59.4
    + refractory 16 hours instead of 100 points       59.0   59.7
    + likelihood of the 10-point mean as well         60.2   58.6
    + level (mean of the last 6 values)               65.4   62.2
    - the 10-point mean's likelihood (point only)     65.6   63.3
    + seasonal forecast miss as a fifth surprise       65.7   63.0
    forecast miss instead of same time yesterday      66.7   63.1
    same, half-life 700                               67.2   65.3
    likelihood over 8,640 raw scores                  68.2   67.0
    + re-arm only at 1.5 x the span's top surprisal   69.2   67.3
    tried and dropped (tuning lower): half-life 500, 1500 or 2000, refractory
    8, 24 or 48 hours, sum instead of max of the surprises, signed steps,
    one likelihood per surprise, empirical or robust instead of Gaussian
    likelihood, a level over 3, 12 or 24 values, a volatility surprise, a
    level of the cycle residual. A second level over 36 values (with the
    10-point likelihood) scored 66.2 on the tuning categories (+0.8 over
    that variant) and was left out: a gain that small does not pay for
    another window (it scored 61.5 over all).

    The forecast miss is the distance of a value from an additive seasonal
    forecast learned online (vigil.online.kernel: level smoothed with 0.05,
    each phase of the day's offset with 0.1 per day). Alone (the
    ``forecast_residual`` algorithm) it scored 51.9 over all; its smoothing
    at 0.01 or 0.2 (level) and 0.03 or 0.3 (offsets) scored 53.2, 53.1,
    51.2 and 52.7. The half-life is a noisy choice: with the forecast miss,
    500, 700, 850, 1000 and 1400 points scored 65.4, 67.2, 63.1, 66.7 and
    64.3 on the tuning categories (the corpus threshold moves between 0.951
    and 0.967 with it); with the same-time-yesterday difference instead,
    700, 1000 and 1400 scored 64.5, 65.7 and 64.9. The value, step, level
    and forecast miss at 700 were the best on the tuning categories and are
    the default; there, the level's smoothing at 0.1 or 0.02 and the
    offsets' at 0.05 or 0.2 scored 66.9, 65.2, 66.0 and 66.8 (67.2 at
    0.05 and 0.1); the likelihood of the 3- or 10-point mean as well 66.1
    and 66.9; halving every score for the refractory span after one at or
    above 0.95 (one alarm per span, whatever follows) 63.0.

    HTM's anomaly likelihood as NAB's Numenta detector runs it (Ahmad et
    al. 2017: a short mean of the raw score judged by a Gaussian fitted to a
    long recent history of it, 8,640 points, with a floor under its
    variance) differs from the one above mainly in that history's length,
    which here was the references' 1,400 points. Fitting the Gaussian to
    the last 8,640 raw scores instead (a ring of its own, ``likelihood_window``
    in vigil.online.detector) scored, tuning / held-out realTraffic +
    realTweets at the tuning threshold / all 51 / leave-one-category-out:
    1,400 (before) 67.2 / 62.6 / 65.3 / 63.3; 4,000 68.0 / 63.1 / 66.7 /
    64.5; 8,640 68.2 / 64.2 / 67.0 / 65.7; 16,000 68.2 / 64.6 / 67.1 /
    65.9. 8,640 (HTM's window) is the default: the best on the tuning
    categories with 16,000, and a series' state stays under 1 MB at the
    largest settings. With it, HTM's 10-point mean as the second likelihood
    scored 68.0 / 63.7 / 66.7 / 64.9 (kept at the point alone), and HTM's
    variance floor (0.0003) changed no score (no series' raw scores are
    that steady). Detections: 77 windows found, 20 missed, 138 false
    positives (75 / 22 / 133 before); realAWSCloudwatch fell from 65.8 to
    63.5 while realAdExchange rose from 52.4 to 66.3. The same likelihood
    lifted ``forecast_residual`` from 53.3 to 56.5 (tuning 54.1 to 57.8);
    the frozen figure (46.8) is unchanged, its likelihood knowing only the
    probationary scores either way.

    Re-arming (issue 17, session 8). Of the 138 false positives at 67.0,
    about 25 were the second or later point of one burst: scores creeping up
    point after point (0.951, 0.958, 0.959, 0.963), each a new high of the
    refractory span and so an alarm. A score now raises an alarm of its own
    only when its surprisal is ``rearm`` times that of the span's highest
    (ARTime re-arms its masked alarms on a similarity clearly below the last
    alarm's). Tuning / held-out at the tuning threshold / all 51 /
    leave-one-category-out: 1 (before) 68.2 / 64.2 / 67.0 / 65.7; 1.25 68.4
    / 65.8 / 67.5 / 66.5; 1.35 68.8 / 64.2 / 66.8 / 66.3; 1.5 69.2 / 65.1 /
    67.3 / 66.5; 1.75 69.2 / 63.9 / 66.6 / 64.9; 2 69.2 / 61.3 / 65.3 /
    61.0; 3 66.2 / 62.4 / 64.4 / 55.3. 1.5 is the default (the best on the
    tuning categories with 1.75, better than it on the others). realTraffic
    loses a window at 1.35 and above (64.0 to 58.1): its onset comes within
    16 hours of a stronger false alarm. A ratio that falls from its value at
    the span's top score to 1 at the span's end scored 68.7 / 66.6 / 67.9 /
    67.3 from 1.5, 69.3 / 64.3 / 66.9 / 65.2 from 2 and 66.6 / 63.0 / 65.0 /
    63.7 from 3: left out, 0.1 above the fixed 1.5 on the tuning categories
    at best and lower on the others there. Re-arming lifted the frozen model
    from 46.8 to 51.6 (one alarm per lasting shift instead of one per new
    high) and lowered ``forecast_residual`` from 56.5 to 54.1 (tuning 57.8
    to 55.2), which therefore re-arms on any new high as before. With 1.5, a
    refractory span of 8, 12 or 24 hours instead of 16 scored 68.3 / 66.1 /
    67.4 / 66.7, 68.8 / 64.4 / 66.8 / 66.1 and 67.7 / 60.2 / 64.1 / 61.9.
    Tried and dropped in the same session (tuning / all 51): halving every
    score whose raw score is not among the k highest of the last 8,640 (an
    alarm only for a month's record: the labelled anomalies are not) 66.0 /
    61.5 at k = 1, 65.5 / 61.9 at k = 3; a raw score that blends in the
    second-largest surprise (two surprises must agree) 67.3 / 66.7 at a
    quarter, 66.0 / 65.2 at a half; with re-arming at 1.5, the likelihood
    also against the last 1,400 raw scores, the lower of the two 69.2 / 67.3
    (held out 65.1: no change for another pair of sums), the higher 68.4 /
    66.4. At 67.0 the remaining cost is mostly false positives at high
    scores (69 of the 138 score above 0.98, where 58 of the 77 windows are
    found), largely on realTweets' repeated bursts, and 20 windows whose
    highest score is below 0.95 (7 of them below 0.5); most windows are
    found at their labelled point (+0.86 of the true-positive weight), few
    before it.

Each run reports the whole corpus's score (one threshold swept over the 51
series, NAB's figure), each category's at that threshold, the tuning
categories' own sweep, and the held-out categories at the tuning threshold.
``random`` (uniform scores, seed 0) is NAB's random detector, for scale.
``forecast_residual`` is the ``online`` protocol with ``--algorithm
forecast_residual`` (issue 16: the forecast miss alone, against ``auto``,
which is the ``online`` run). ``LOCO`` scores each category at the threshold
swept on the other five and normalises their sum as NAB does: only the
threshold is chosen per fold, the detector's defaults are not searched again.
Throughput is measured on one thread, in this process's CPU time (on a
shared machine the wall clock counts the others' work: at a load average
of 19 on 2 cores the compiled loop ran at 31,700 points/s by the wall
clock and 238,000 by CPU time): the compiled loop alone, and
``score_in_order`` end to end (reading rows, checks, answers).

    .venv/bin/python benchmarks/anomaly/nab.py      # online, frozen, forecast_residual, random
    .venv/bin/python benchmarks/anomaly/nab.py --runs online --batch auto:1D

``--batch ALG:RETRAIN`` adds the earlier batch protocol (a catalogue
detector on the window features, retrained on everything seen every
RETRAIN, ``none`` = never): ``auto:1D`` scored 66.9 on realAWSCloudwatch
alone and 20.3 on unseen series without retraining.

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
RESULTS = ROOT / "benchmarks" / "results" / "nab.json"
CATEGORIES = (
    "artificialNoAnomaly",
    "artificialWithAnomaly",
    "realAWSCloudwatch",
    "realAdExchange",
    "realTraffic",
    "realTweets",
)
TUNING = CATEGORIES[:4]
HELD_OUT = CATEGORIES[4:]
# NAB's profiles (config/profiles.json): weights of a true positive, a false
# positive and a false negative. The standard profile is the headline.
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}
PROBATION_PERCENT = 0.15
# Runs scored by an online metrics model: auto learning, auto frozen, the forecast residual.
ONLINE_RUNS = ("online", "frozen", "forecast_residual")
# Issue 17's targets.
TARGET_ALL = 70.0
TARGET_REAL_CATEGORY = 50.0
TARGET_POINTS_PER_SECOND = 50_000
TARGET_STATE_BYTES = 1_000_000
# NAB scoreboard, standard profile, whole corpus of 58 series (this folder holds 51).
PUBLISHED_STANDARD = {
    "ARTime": 74.9,
    "Numenta HTM": 70.5,
    "CAD OSE": 69.9,
    "Skyline": 58.2,
    "KNN CAD": 58.0,
    "Random Cut Forest": 51.7,
    "Twitter ADVec": 47.1,
    "Random": 11.0,
}


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
    """One NAB series: its category, points and scoring windows."""

    name: str
    category: str
    frame: pd.DataFrame
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]


def load_corpus(data: Path, categories: tuple[str, ...] = CATEGORIES) -> list[Series]:
    """Returns the series of ``categories`` present under ``data``, with their windows."""
    limits = json.loads((data / "combined_windows.json").read_text())
    corpus = []
    for category in categories:
        for path in sorted((data / category).glob("*.csv")):
            name = f"{category}/{path.name}"
            frame = pd.read_csv(path)
            windows = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in limits.get(name, [])]
            corpus.append(Series(name, category, frame, windows))
    return corpus


# --------------------------------------------------------------------------- detection


def detect_online(
    series: Series, online: bool, algorithm: str = "auto"
) -> tuple[np.ndarray, dict[str, Any]]:
    """Returns the score of every point (0 in probation) from a model trained on the probation.

    The points after the probationary period are scored in one
    ``score_in_order`` call from the state training left; the compiled loop
    is timed apart, on a copy of the same state, for the throughput figure.
    """
    frame = series.frame
    probation = probation_length(len(frame))
    spec = TrainSpec(
        task="anomaly",
        algorithm=algorithm,
        feature_kind="metrics",
        seed=0,
        params={"online": "true" if online else "false"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = train_model(frame.iloc[:probation], spec).bundle
    assert bundle.online is not None
    rest = frame.iloc[probation:].reset_index(drop=True)
    # CPU time of this (single-threaded) work: the wall clock of a shared machine counts
    # the other processes' work too.
    started = time.process_time()
    answers, state = bundle.score_in_order(rest, bundle.initial_state())
    end_to_end = time.process_time() - started
    values = rest["value"].to_numpy(dtype=np.float64)
    # The best of three runs: even CPU time varies with what shares the caches.
    timings = []
    for _ in range(3):
        kernel_state = bundle.initial_state().of("")
        started = time.process_time()
        bundle.online.detector.score(values, kernel_state)
        timings.append(time.process_time() - started)
    kernel = min(timings)
    scores = np.zeros(len(frame))
    scores[probation:] = [a["score"] for a in answers]
    return scores, {
        "points": len(rest),
        "kernel_seconds": kernel,
        "end_to_end_seconds": end_to_end,
        "state_bytes": len(state.to_bytes()),
        "threshold": bundle.online.threshold,
        "flagged": int(sum(a["is_anomaly"] for a in answers)),
    }


def detect_random(series: Series, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Returns NAB's random detector: a uniform score per point, from a seeded generator."""
    rng = np.random.default_rng(seed + sum(series.name.encode()))
    return rng.random(len(series.frame)), {"points": len(series.frame)}


def detect_batch(
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


# --------------------------------------------------------------------------- evaluation


def points_of(
    corpus: list[Series], scores: dict[str, np.ndarray], profile: dict[str, float]
) -> dict[str, list[ScoredPoint]]:
    """Returns each series' scorable points under ``profile``."""
    return {
        s.name: sweep_points(s.frame["timestamp"], scores[s.name], s.windows, s.name, profile)
        for s in corpus
    }


def corpus_score(
    points: list[ScoredPoint], windows: int, profile: dict[str, float], threshold: float | None
) -> dict[str, float]:
    """Returns NAB's figure of ``points``: at its best threshold, or at ``threshold`` if given."""
    if threshold is None:
        threshold, raw = sweep(points, profile).best()
    else:
        raw = score_at(points, profile, threshold)
    # NAB's null detector: one constant score everywhere, at its own best threshold.
    _, null = sweep([ScoredPoint(0.5, p.window, p.sweep) for p in points], profile).best()
    perfect = windows * profile["tp"]
    # Without windows (artificialNoAnomaly) there is nothing to normalise by: the raw
    # score is the false positives' cost, 0 at best.
    score = normalised(raw, null, perfect) if windows else raw
    return {"threshold": threshold, "raw": round(raw, 4), "score": round(score, 2)}


def part(
    per_series: dict[str, list[ScoredPoint]],
    windows: dict[str, int],
    names: list[str],
    profile: dict[str, float],
    threshold: float | None,
) -> dict[str, float]:
    """Returns the figure of the series ``names`` (their own sweep, or at ``threshold``)."""
    points = [p for n in names for p in per_series[n]]
    return corpus_score(points, sum(windows[n] for n in names), profile, threshold)


def evaluate(corpus: list[Series], scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """Returns the corpus score per profile, and per category, tuning and held-out parts."""
    results: dict[str, Any] = {}
    windows = {s.name: len(s.windows) for s in corpus}
    tuning_names = [s.name for s in corpus if s.category in TUNING]
    held = [s.name for s in corpus if s.category in HELD_OUT]
    for profile_name, profile in PROFILES.items():
        per_series = points_of(corpus, scores, profile)
        everything = part(per_series, windows, list(per_series), profile, None)
        threshold = everything["threshold"]
        tuning = part(per_series, windows, tuning_names, profile, None)
        categories = {
            c: part(
                per_series,
                windows,
                [s.name for s in corpus if s.category == c],
                profile,
                threshold,
            )
            for c in CATEGORIES
            if any(s.category == c for s in corpus)
        }
        results[profile_name] = {
            **everything,
            "categories": categories,
            "tuning": tuning,
            "held_out_at_tuning_threshold": (
                part(per_series, windows, held, profile, tuning["threshold"]) if held else None
            ),
            "leave_one_category_out": leave_one_category_out(corpus, per_series, profile),
        }
    standard = points_of(corpus, scores, PROFILES["standard"])
    results["standard_counts"] = detections(standard, results["standard"]["threshold"])
    return results


def leave_one_category_out(
    corpus: list[Series], per_series: dict[str, list[ScoredPoint]], profile: dict[str, float]
) -> dict[str, Any]:
    """Returns each category scored at the threshold swept on the other five, and the whole.

    The whole is NAB's normalisation of the corpus total when every category
    is scored at its held-out threshold. Only the threshold is chosen per
    fold; the detector's defaults are not searched again.
    """
    windows = {s.name: len(s.windows) for s in corpus}
    categories = [c for c in CATEGORIES if any(s.category == c for s in corpus)]
    figures: dict[str, Any] = {}
    raw_total = 0.0
    for category in categories:
        inside = [s.name for s in corpus if s.category == category]
        others = [s.name for s in corpus if s.category != category]
        threshold = part(per_series, windows, others, profile, None)["threshold"]
        figures[category] = part(per_series, windows, inside, profile, threshold)
        raw_total += figures[category]["raw"]
    points = [p for name in per_series for p in per_series[name]]
    _, null = sweep([ScoredPoint(0.5, p.window, p.sweep) for p in points], profile).best()
    perfect = sum(windows.values()) * profile["tp"]
    return {"score": round(normalised(raw_total, null, perfect), 2), "categories": figures}


def detections(per_series: dict[str, list[ScoredPoint]], threshold: float) -> dict[str, int]:
    """Returns windows detected, missed, and false-positive points at ``threshold``."""
    found = missed = false_positives = 0
    for points in per_series.values():
        hit = {p.window for p in points if p.window is not None and p.score >= threshold}
        names = {p.window for p in points if p.window is not None}
        found += len(hit)
        missed += len(names - hit)
        false_positives += sum(1 for p in points if p.window is None and p.score >= threshold)
    return {"windows_detected": found, "windows_missed": missed, "false_positives": false_positives}


def run(corpus: list[Series], detector: str) -> dict[str, Any]:
    """Returns the NAB figures of one detector (online, frozen, random, or ALG:RETRAIN)."""
    scores: dict[str, np.ndarray] = {}
    costs: dict[str, Any] = {}
    started = time.perf_counter()
    for series in corpus:
        if detector in ("online", "frozen"):
            scores[series.name], costs[series.name] = detect_online(series, detector == "online")
        elif detector == "forecast_residual":
            scores[series.name], costs[series.name] = detect_online(series, True, detector)
        elif detector == "random":
            scores[series.name], costs[series.name] = detect_random(series)
        else:
            algorithm, _, retrain = detector.partition(":")
            every = None if retrain in ("", "none") else retrain
            scores[series.name], costs[series.name] = detect_batch(series, algorithm, every)
    result: dict[str, Any] = {
        "detector": detector,
        "seconds": round(time.perf_counter() - started, 1),
        **evaluate(corpus, scores),
    }
    if detector in ONLINE_RUNS:
        points = sum(c["points"] for c in costs.values())
        kernel = sum(c["kernel_seconds"] for c in costs.values())
        end_to_end = sum(c["end_to_end_seconds"] for c in costs.values())
        result["throughput"] = {
            "points": points,
            "kernel_points_per_second": round(points / kernel),
            "score_in_order_points_per_second": round(points / end_to_end),
            "max_state_bytes": max(c["state_bytes"] for c in costs.values()),
            "model_threshold": next(iter(costs.values()))["threshold"],
        }
    return result


def render(results: dict[str, Any]) -> str:
    """Returns the runs as plain-text tables, the published scoreboard after them."""
    short = {c: c.replace("artificial", "art").replace("real", "")[:11] for c in CATEGORIES}
    lines = [
        f"{'detector':<18}{'NAB':>7}{'lowFP':>7}{'lowFN':>7}{'tuning':>8}{'held':>7}{'LOCO':>7}"
        + "".join(f"{short[c]:>12}" for c in CATEGORIES)
        + f"{'found':>7}{'missed':>7}{'FP':>5}",
        "-" * 155,
    ]
    for r in results["runs"]:
        standard = r["standard"]
        held = standard["held_out_at_tuning_threshold"]
        counts = r["standard_counts"]
        lines.append(
            f"{r['detector']:<18}{standard['score']:>7.1f}"
            f"{r['reward_low_FP_rate']['score']:>7.1f}{r['reward_low_FN_rate']['score']:>7.1f}"
            f"{standard['tuning']['score']:>8.1f}{(held or {}).get('score', float('nan')):>7.1f}"
            f"{standard['leave_one_category_out']['score']:>7.1f}"
            + "".join(
                f"{standard['categories'].get(c, {}).get('score', float('nan')):>12.1f}"
                for c in CATEGORIES
            )
            + f"{counts['windows_detected']:>7}{counts['windows_missed']:>7}"
            f"{counts['false_positives']:>5}"
        )
    for r in results["runs"]:
        if "throughput" in r:
            t = r["throughput"]
            lines.append(
                f"{r['detector']}: {t['kernel_points_per_second']:,} points per CPU second "
                f"(compiled loop), {t['score_in_order_points_per_second']:,} (score_in_order), "
                f"state at most {t['max_state_bytes']:,} bytes per series"
            )
    lines += ["", "NAB scoreboard, standard profile, whole corpus (58 series, for reference):"]
    lines += [f"  {name:<20}{score:>6.1f}" for name, score in PUBLISHED_STANDARD.items()]
    lines += ["", "Targets (issue 17):"]
    lines += [
        f"  {t['what']}: {t['value']} — {'met' if t['met'] else 'MISSED'}"
        for t in results["targets"]
    ]
    return "\n".join(lines)


def targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns issue 17's targets against the online run."""
    online = next((r for r in runs if r["detector"] == "online"), None)
    if online is None:
        return []
    standard = online["standard"]
    out = [
        {
            "what": f"NAB standard over all series >= {TARGET_ALL:.0f}",
            "value": standard["score"],
            "met": standard["score"] >= TARGET_ALL,
        }
    ]
    for category, figure in standard["categories"].items():
        if category.startswith("real"):
            out.append(
                {
                    "what": f"{category} >= {TARGET_REAL_CATEGORY:.0f}",
                    "value": figure["score"],
                    "met": figure["score"] >= TARGET_REAL_CATEGORY,
                }
            )
    throughput = online["throughput"]
    out.append(
        {
            "what": f"online scoring >= {TARGET_POINTS_PER_SECOND:,} points/s per core",
            "value": throughput["kernel_points_per_second"],
            "met": throughput["kernel_points_per_second"] >= TARGET_POINTS_PER_SECOND,
        }
    )
    out.append(
        {
            "what": f"per-stream state <= {TARGET_STATE_BYTES:,} bytes",
            "value": throughput["max_state_bytes"],
            "met": throughput["max_state_bytes"] <= TARGET_STATE_BYTES,
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        default="online,frozen,forecast_residual,random",
        help="comma-separated: online, frozen, forecast_residual, random",
    )
    parser.add_argument(
        "--batch", default="", help="comma-separated ALG:RETRAIN batch runs (e.g. auto:1D)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="NAB folder (windows + series)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if not (args.data / "combined_windows.json").is_file():
        parser.error(f"{args.data} holds no combined_windows.json; pass --data with NAB's folder")
    corpus = load_corpus(args.data)
    detectors = [d.strip() for d in (args.runs + "," + args.batch).split(",") if d.strip()]
    runs = []
    started = time.perf_counter()
    for detector in detectors:
        result = run(corpus, detector)
        runs.append(result)
        print(
            f"  {detector:<14}: {result['standard']['score']:6.1f} ({result['seconds']:.0f} s)",
            file=sys.stderr,
        )
    results = {
        "benchmark": "NAB, 51 series in six categories",
        "protocol": (
            "NAB scoring (sweeper): windows from combined_windows.json, probationary period "
            "min(15%, 750 points) unscored, one threshold swept over the corpus, normalised "
            "(null detector 0, perfect 100). Detector: a metrics anomaly model trained per "
            "series on its probationary period (train_model, --features metrics, auto, "
            "defaults), then the rest scored in order with bundle.score_in_order from the "
            "state training left: learning from every scored point (online) or not (frozen). "
            f"Defaults chosen on {', '.join(TUNING)}; held out: {', '.join(HELD_OUT)}."
        ),
        "series": len(corpus),
        "windows": sum(len(s.windows) for s in corpus),
        "categories": {c: sum(1 for s in corpus if s.category == c) for c in CATEGORIES},
        "tuning_categories": list(TUNING),
        "held_out_categories": list(HELD_OUT),
        "profiles": PROFILES,
        "published_standard_whole_corpus": PUBLISHED_STANDARD,
        "runs": runs,
        "targets": targets(runs),
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
            "platform": platform.platform(),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
