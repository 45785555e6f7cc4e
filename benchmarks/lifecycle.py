"""How many predictions Vigil needs to see a drift, and how much retraining recovers.

Everything runs in process on one ``VigilService`` (a temporary SQLite
database and artifact folder, a clock the benchmark moves by hand), through
the same calls the API makes: ``train``, ``put_policy``, ``predict``,
``drift``, ``record_feedback``, ``retrain``, ``evaluate``. Two models:

- ``logs``: ``isolation_forest`` (60 trees) on ``simulate_logs`` events with
  ``feature_kind="logs"`` (5% of the events in labelled incidents); the
  policy's metric is ``f1``, as in the lifecycle test (``roc_auc``, the
  anomaly default, is shown too: it ranks, so it hardly sees a detector whose
  threshold no longer fits the traffic);
- ``table``: a ``random_forest`` (50 trees) classifier on a synthetic table of
  four numeric fields ``f0..f3`` (standard normal) and two categorical ones
  (``cat_a``: a/b/c/d at 40/30/20/10%, ``cat_b``: x/y/z at 50/35/15%); the
  label is a fixed noisy rule, ``1.5 f0 - 0.6 f0^2 + 0.8 f1 - 0.5 f2`` plus a
  per-category effect plus noise above a threshold. Its effect of ``f0`` peaks
  at ``f0 = 1.25`` (like a risk that peaks at a middle age), so a shift moves
  traffic where the model saw few examples. The rule never changes: any
  drop is covariate shift alone. The policy's metric is ``f1``.

Drifts (the size is the same for both models):

- ``none``: production traffic from the training distribution (the control:
  any drift reported is a false alarm);
- ``mean +k sd`` for k = 0.25, 0.5, 1, 2: the table's ``f0, f1, f2`` move by k
  standard deviations; the logs' ``response_time`` moves by k within-service
  standard deviations of log latency (every event k spreads slower:
  ``expm1(log1p(ms) + k * sd)``), logs having one latency field;
- ``mix p`` for p = 0.2, 0.5: a share p of rows change category (the table's
  ``cat_a`` becomes ``d`` and ``cat_b`` becomes ``z``; the logs' ``level``
  becomes ``WARN``).

Part 1, detection. Per model, seed and drift a fresh model (v1, production)
is trained, then production traffic arrives: first 1000 undrifted predictions
(the controller's drift window, ``DRIFT_ROWS``, so the window is full of normal
traffic when the drift begins), then 1000 drifted ones, with ``service.monitoring.drift``
(over the last 1000 logged inputs, as the controller calls it) checked after
25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800 and 1000 drifted
predictions (every 25 would triple the run time; the traffic between two
checks is one predict call, and a check sees the same logged inputs either
way). Reported: predictions after the drift began until the service says
``drifted`` (the share of drifted features reaches the policy's
``drift_share``, default 0.5), until the share reaches 0.3 (the setting the
lifecycle test uses for logs), and until a feature of a changed field is itself
flagged (for logs ``latency_vs_service``, log latency in its service's own
spreads, which is what the shift moves, or ``level=WARN``; for the table any of
``f0..f2`` or ``cat_a``, ``cat_b``); the median over seeds (``>1000``: not
within 1000). The drift is also checked on the full window of undrifted traffic
just before it begins: a seed where a rule already fires there cannot show a
detection and is left out of that rule's median (counted as "pre"). With no
drift the same rules give false-alarm rates: the share of checks reporting
drift, cold (the window filling up right after the deploy, checked after the
same counts of predictions) and warm (a full window). Every check records the
test statistic of the changed fields' features (``response_time`` too).

Part 2, recovery. After the 1000 drifted predictions every prediction (normal
and drifted) gets its true label as feedback and ``service.retraining.retrain`` runs (the
challenger learns from v1's data plus the labelled recent predictions; it is
promoted if it beats v1 on the service's evaluation rows, v1's test split plus
held-back recent labels, by the policy's margin, 0). Both versions are then
scored with ``service.predictions.evaluate`` on a fresh labelled sample neither saw,
undrifted and drifted (the same rows, the same drift): v1 before the drift
(undrifted), v1 on drifted data, v2 on drifted data, and v2 on undrifted data
(what the retraining cost on the old distribution); precision and recall are
kept in the JSON. "Recovered" is ``(v2 drifted - v1 drifted) / (v1 undrifted -
v1 drifted)`` when the drop is at least 0.03 (below that it is mostly noise);
above 100% means v2 does better on the drifted rows than v1 did before the
drift (the drifted distribution may simply be easier). Results go to
benchmarks/results/lifecycle.json.

    .venv/bin/python benchmarks/lifecycle.py            # 3 seeds, every drift
    .venv/bin/python benchmarks/lifecycle.py --quick    # 1 seed
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from vigil.config import Settings
from vigil.data.loading import Dataset
from vigil.lifecycle.controller import DRIFT_ROWS
from vigil.monitoring.drift import DriftSettings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate.logs import DEFAULT_START, simulate_logs
from vigil.training.trainer import TrainSpec

RESULTS = Path(__file__).parent / "results" / "lifecycle.json"
CALLER = Caller(tenant="default", actor="benchmark", role="admin")
SEEDS = (0, 1, 2)
# Drift is checked after this many predictions (since the drift began, or since the deploy
# for the cold window): every 25 at first, then more sparsely, so the whole run stays short.
CHECKPOINTS = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800, 1000)
WINDOW = DRIFT_ROWS  # undrifted predictions before the drift: the drift window full
MAX_DRIFTED = CHECKPOINTS[-1]
TRAIN_ROWS = 3000
EVAL_ROWS = 2000
LOG_ANOMALY_RATE = 0.05
# The policy's drift_share (the service's default) and the lower one the lifecycle test uses.
DRIFT_SHARE = 0.5
LOW_SHARE = 0.3
# "Recovered" is reported only for a drop of the metric at least this large.
MIN_DROP = 0.03


@dataclass(frozen=True)
class Drift:
    """A change of production traffic: none, a mean shift (k sd) or a category mix (share p)."""

    kind: str
    size: float = 0.0

    @property
    def label(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "mean":
            return f"mean +{self.size:g} sd"
        return f"mix {self.size:g}"


DRIFTS = (
    Drift("none"),
    Drift("mean", 0.25),
    Drift("mean", 0.5),
    Drift("mean", 1.0),
    Drift("mean", 2.0),
    Drift("mix", 0.2),
    Drift("mix", 0.5),
)


class Clock:
    """The service's clock, moved by the benchmark (nothing sleeps)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# --- the two models --------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One model: its data, how a drift changes it, and which features the drift touches."""

    name: str
    spec: TrainSpec
    target: str
    hidden: tuple[str, ...]  # label columns, never sent with a prediction
    metrics: tuple[str, ...]  # the policy's metric first
    # rows, seed, part (0 training, 1 production, 2 evaluation), drift, first drifted row
    frame: Callable[[int, int, int, Drift, int], pd.DataFrame]
    watch: dict[str, tuple[str, ...]]  # per drift kind, the features of the changed fields
    observe: tuple[str, ...]  # features whose test statistic every check records


def log_frame(rows: int, seed: int, part: int, drift: Drift, start: int) -> pd.DataFrame:
    """Returns simulated log events, rows from ``start`` on changed by ``drift``.

    Each part is its own seed and begins ``part`` weeks after the training data, at the
    same weekday and hour: the times of day match as well as they can, and production
    events never interleave with the training events a retraining learns from again.
    """
    origin = DEFAULT_START + timedelta(weeks=part)
    frame = simulate_logs(rows, LOG_ANOMALY_RATE, seed + 1000 * part, start=origin)
    if drift.kind == "none":
        return frame
    part = frame.index >= start
    if drift.kind == "mean":
        spread = log_latency_spread()
        latency = np.log1p(frame.loc[part, "response_time"].to_numpy(dtype=float))
        frame.loc[part, "response_time"] = np.round(np.expm1(latency + drift.size * spread), 1)
    else:
        rng = np.random.default_rng(seed + 7)
        chosen = part & (rng.random(rows) < drift.size)
        frame.loc[chosen, "level"] = "WARN"
    return frame


@functools.cache
def log_latency_spread() -> float:
    """Returns the within-service standard deviation of log1p latency of normal events.

    Measured once on the simulator's normal training events of seed 0: it is a
    property of the simulator (each service's lognormal spread), not of a seed.
    """
    events = simulate_logs(TRAIN_ROWS, LOG_ANOMALY_RATE, 0)
    events = events[events["is_anomaly"] == 0]
    latency = pd.Series(np.log1p(events["response_time"].to_numpy(dtype=float)))
    centred = latency - latency.groupby(events["service"].to_numpy()).transform("mean")
    return float(centred.std(ddof=0))


CAT_A = (("a", "b", "c", "d"), (0.4, 0.3, 0.2, 0.1), {"a": 0.0, "b": 0.3, "c": -0.3, "d": 0.6})
CAT_B = (("x", "y", "z"), (0.5, 0.35, 0.15), {"x": 0.0, "y": 0.0, "z": 0.3})


def table_frame(rows: int, seed: int, part: int, drift: Drift, start: int) -> pd.DataFrame:
    """Returns the synthetic table, rows from ``start`` drifted; labels follow the fixed rule."""
    rng = np.random.default_rng(seed + 1000 * part)
    numbers = rng.normal(0.0, 1.0, (rows, 4))
    cat_a = rng.choice(CAT_A[0], rows, p=CAT_A[1])
    cat_b = rng.choice(CAT_B[0], rows, p=CAT_B[1])
    noise = rng.normal(0.0, 0.3, rows)
    chosen = rng.random(rows)
    part = np.arange(rows) >= start
    if drift.kind == "mean":
        numbers[part, :3] += drift.size  # the fields' standard deviation is 1
    elif drift.kind == "mix":
        moved = part & (chosen < drift.size)
        cat_a[moved], cat_b[moved] = "d", "z"
    f0, f1, f2 = numbers[:, 0], numbers[:, 1], numbers[:, 2]
    effect = pd.Series(cat_a).map(CAT_A[2]).to_numpy() + pd.Series(cat_b).map(CAT_B[2]).to_numpy()
    score = 1.5 * f0 - 0.6 * f0**2 + 0.8 * f1 - 0.5 * f2 + effect + noise
    frame = pd.DataFrame(numbers, columns=["f0", "f1", "f2", "f3"])
    frame["cat_a"], frame["cat_b"] = cat_a, cat_b
    frame["label"] = (score > 0.5).astype(int)
    return frame


SCENARIOS = (
    Scenario(
        name="logs",
        spec=TrainSpec(
            target="is_anomaly",
            algorithm="isolation_forest",
            params={"n_estimators": 60},
            feature_kind="logs",
        ),
        target="is_anomaly",
        hidden=("is_anomaly", "anomaly_type"),
        metrics=("f1", "roc_auc", "precision", "recall"),
        frame=log_frame,
        # latency_vs_service is log latency in the service's own spreads: exactly what the
        # shift moves. The raw response_time (recorded too) mixes services a thousand-fold
        # apart and jumps whenever a latency incident enters the window.
        watch={"mean": ("latency_vs_service",), "mix": ("level=WARN",)},
        observe=("response_time", "latency_vs_service", "level=WARN"),
    ),
    Scenario(
        name="table",
        spec=TrainSpec(target="label", algorithm="random_forest", params={"n_estimators": 50}),
        target="label",
        hidden=("label",),
        metrics=("f1", "precision", "recall"),
        frame=table_frame,
        watch={"mean": ("f0", "f1", "f2"), "mix": ("cat_a", "cat_b")},
        observe=("f0", "f1", "f2", "f3", "cat_a", "cat_b"),
    ),
)


# --- one run ---------------------------------------------------------------------------


class Bench:
    """A service on a temporary database and artifact folder, with its clock."""

    def __init__(self, home: Path) -> None:
        self.clock = Clock()
        settings = Settings.from_env(
            {"VIGIL_HOME": str(home / "home"), "VIGIL_SECRET_KEY": "benchmark"}
        )
        self.engine = create_engine_for(settings.database_url)
        upgrade(self.engine)
        self.service = VigilService(
            settings,
            RegistryStore(self.engine, self.clock),
            LocalArtifactStore(home / "artifacts"),
            now=self.clock,
        )

    def close(self) -> None:
        self.service.jobs.stop_workers()
        self.engine.dispose()

    def predict(self, scenario: Scenario, name: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
        if rows.empty:
            return []
        answer = self.service.predictions.predict(
            CALLER, name, rows.drop(columns=list(scenario.hidden))
        )
        self.clock.advance(minutes=1)
        return [
            {"prediction_id": p["id"], "actual": int(label)}
            for p, label in zip(answer.predictions, rows[scenario.target], strict=True)
        ]

    def check(self, name: str, watch: tuple[str, ...], observe: tuple[str, ...]) -> dict[str, Any]:
        report = self.service.monitoring.drift(CALLER, name)
        flagged = report.get("drifted_features", [])
        return {
            "rows": report["rows"],
            "drifted": bool(report["drifted"]),
            "share": round(float(report.get("share_drifted", 0.0)), 4),
            "field": any(f in flagged for f in watch),
            "features": flagged,
            # The test statistic of the observed features (normalised Wasserstein, KS or JS).
            "statistics": {
                f: round(float(report["features"][f]["statistic"]), 4)
                for f in observe
                if f in report.get("features", {})
            },
        }


def first(checks: list[dict[str, Any]], hit: Callable[[dict[str, Any]], bool]) -> int | None:
    """Returns the predictions since the drift began at the first check ``hit`` holds."""
    return next((c["after"] for c in checks if hit(c)), None)


RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "service": lambda c: c["drifted"],
    "share_0.3": lambda c: c["share"] >= LOW_SHARE,
    "field": lambda c: c["field"],
}


def run_one(bench: Bench, scenario: Scenario, seed: int, drift: Drift) -> dict[str, Any]:
    """Returns detection and recovery of one model, seed and drift."""
    service = bench.service
    name = f"{scenario.name}-{seed}-{drift.kind}-{drift.size:g}"
    train = scenario.frame(TRAIN_ROWS, seed, 0, Drift("none"), 0)
    dataset = Dataset(train, f"{seed:064d}", "parquet", f"{scenario.name} seed {seed}")
    started = time.perf_counter()
    trained = service.training.train(CALLER, name, dataset, scenario.spec, deploy="always").version
    v1 = trained.version
    service.policies.put_policy(
        CALLER, name, {"drift_share": DRIFT_SHARE, "metric": scenario.metrics[0]}
    )
    watch = (
        tuple(f for fields in scenario.watch.values() for f in fields)
        if drift.kind == "none"
        else scenario.watch[drift.kind]
    )

    # Part 1: undrifted traffic fills the window, then the drift begins.
    stream = scenario.frame(WINDOW + MAX_DRIFTED, seed, 1, drift, WINDOW)
    feedback: list[dict[str, Any]] = []
    cold: list[dict[str, Any]] = []
    done = 0
    filling = [c for c in CHECKPOINTS if c < WINDOW] + [WINDOW]
    for at in filling if drift.kind == "none" else (WINDOW,):
        feedback += bench.predict(scenario, name, stream.iloc[done:at])
        done = at
        if drift.kind == "none":
            cold.append({"after": at, **bench.check(name, watch, scenario.observe)})
    # The full window of undrifted traffic just before the drift: a rule already firing
    # here cannot tell the drift apart, so that seed's detection is left out of the median.
    before = {"after": 0, **bench.check(name, watch, scenario.observe)}
    checks: list[dict[str, Any]] = []
    for at in CHECKPOINTS:
        if drift.kind != "none" and all(first(checks, rule) for rule in RULES.values()):
            break  # every rule has fired: the rest of the traffic needs no more checks
        feedback += bench.predict(scenario, name, stream.iloc[done : WINDOW + at])
        done = WINDOW + at
        checks.append({"after": at, **bench.check(name, watch, scenario.observe)})
    feedback += bench.predict(scenario, name, stream.iloc[done:])
    detection_seconds = time.perf_counter() - started

    # Part 2: every prediction labelled, then the retraining and a fresh labelled sample.
    service.monitoring.record_feedback(CALLER, name, feedback)
    bench.clock.advance(minutes=5)
    started = time.perf_counter()
    retrained = service.retraining.retrain(CALLER, name, reason="benchmark: after the drift")
    retrain_seconds = time.perf_counter() - started
    v2 = retrained["challenger"]
    clean = scenario.frame(EVAL_ROWS, seed, 2, Drift("none"), 0)
    drifted = scenario.frame(EVAL_ROWS, seed, 2, drift, 0)
    scores = {}
    for label, version, frame in (
        ("v1_undrifted", v1, clean),
        ("v1_drifted", v1, drifted),
        ("v2_drifted", v2, drifted),
        ("v2_undrifted", v2, clean),
    ):
        metrics = service.predictions.evaluate(
            CALLER, name, frame, scenario.target, version=version
        )
        scores[label] = {m: _round(metrics["metrics"].get(m)) for m in scenario.metrics}
    return {
        "seed": seed,
        "drift": drift.label,
        "detection": {
            "predictions_to_detect": {rule: first(checks, hit) for rule, hit in RULES.items()},
            "firing_before_drift": {rule: bool(hit(before)) for rule, hit in RULES.items()},
            "false_alarm_rate": (
                {
                    phase: {rule: _rate(rows, hit) for rule, hit in RULES.items()}
                    for phase, rows in (("cold", cold), ("warm", checks))
                }
                if drift.kind == "none"
                else None
            ),
            "watched_features": list(watch),
            "before_drift": _brief(before, features=True),
            # Which features were flagged is kept where it explains false alarms.
            "checks": [_brief(c, features=drift.kind == "none") for c in checks],
            "cold_checks": [_brief(c, features=True) for c in cold],
            "seconds": round(detection_seconds, 2),
        },
        "recovery": {
            "metric": scenario.metrics[0],
            "v1_trained": {m: _round(trained.metrics.get(m)) for m in scenario.metrics},
            "scores": scores,
            "retrain": {
                key: retrained.get(key)
                for key in (
                    "champion",
                    "challenger",
                    "champion_score",
                    "challenger_score",
                    "promoted",
                    "verdict",
                    "data",
                )
            },
            "seconds": round(retrain_seconds, 2),
        },
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _rate(checks: list[dict[str, Any]], hit: Callable[[dict[str, Any]], bool]) -> float | None:
    return round(sum(map(hit, checks)) / len(checks), 4) if checks else None


def _brief(check: dict[str, Any], *, features: bool) -> dict[str, Any]:
    keys = ("after", "rows", "drifted", "share", "field", "statistics")
    return {key: check[key] for key in keys + (("features",) if features else ())}


METRICS = ("f1", "roc_auc")


# --- summary and tables ----------------------------------------------------------------


def median_predictions(values: list[int | None]) -> float | None:
    """Returns the median over seeds, a miss counting as infinitely late (None if it is one)."""
    middle = statistics.median([np.inf if v is None else v for v in values])
    return None if middle == np.inf else float(middle)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns one row per model and drift: medians over seeds, per-seed values kept."""
    rows = []
    for scenario in SCENARIOS:
        for drift in DRIFTS:
            group = [r for r in runs if r["model"] == scenario.name and r["drift"] == drift.label]
            if not group:
                continue
            detect = {}
            for rule in RULES:
                values = [r["detection"]["predictions_to_detect"][rule] for r in group]
                already = [r["detection"]["firing_before_drift"][rule] for r in group]
                clean = [v for v, pre in zip(values, already, strict=True) if not pre]
                detect[rule] = {
                    "median": median_predictions(clean) if clean else None,
                    "detected": sum(v is not None for v in clean),
                    "eligible": len(clean),
                    "firing_before_drift": sum(already),
                    "per_seed": values,
                }
            row: dict[str, Any] = {
                "model": scenario.name,
                "drift": drift.label,
                "seeds": [r["seed"] for r in group],
                "predictions_to_detect": detect,
            }
            if drift.kind == "none":
                row["false_alarm_rate"] = {
                    phase: {
                        rule: round(
                            statistics.mean(
                                r["detection"]["false_alarm_rate"][phase][rule] for r in group
                            ),
                            4,
                        )
                        for rule in RULES
                    }
                    for phase in ("cold", "warm")
                }
            metric = scenario.metrics[0]
            recovery: dict[str, Any] = {"metric": metric}
            for key in ("v1_undrifted", "v1_drifted", "v2_drifted", "v2_undrifted"):
                for m in scenario.metrics:
                    values = [r["recovery"]["scores"][key][m] for r in group]
                    recovery.setdefault(m, {})[key] = statistics.median(values)
            m = recovery[metric]
            drop = m["v1_undrifted"] - m["v1_drifted"]
            recovery["drop"] = round(drop, 4)
            recovery["gain"] = round(m["v2_drifted"] - m["v1_drifted"], 4)
            recovery["recovered"] = round(recovery["gain"] / drop, 3) if drop >= MIN_DROP else None
            recovery["promoted"] = sum(bool(r["recovery"]["retrain"]["promoted"]) for r in group)
            # Did the service's decision match the fresh drifted sample (v2 better than v1)?
            recovery["decision_agrees_with_fresh_sample"] = sum(
                bool(r["recovery"]["retrain"]["promoted"])
                == (
                    r["recovery"]["scores"]["v2_drifted"][metric]
                    > r["recovery"]["scores"]["v1_drifted"][metric]
                )
                for r in group
            )
            recovery["service_scores"] = {
                "champion": statistics.median(
                    r["recovery"]["retrain"]["champion_score"] for r in group
                ),
                "challenger": statistics.median(
                    r["recovery"]["retrain"]["challenger_score"] for r in group
                ),
            }
            row["recovery"] = recovery
            rows.append(row)
    return rows


def _n(value: float | None) -> str:
    return f">{MAX_DRIFTED}" if value is None else f"{value:g}"


def detection_table(summary: list[dict[str, Any]]) -> str:
    """Returns part 1: predictions to detection (median) or, with no drift, false alarms."""
    rules = ("service says drifted", f"share >= {LOW_SHARE:g}", "changed field flagged")
    header = f"{'model':<6} {'drift':<14} " + " ".join(f"{r:>22}" for r in rules)
    lines = [
        "Drifted predictions until the drift is reported: median over seeds (detected/seeds;",
        "checked after 25, 50, 75, ... 1000; '>1000': not within 1000; 'k pre': seeds where the",
        "rule already fired on the undrifted window just before the drift, left out). With no",
        "drift: share of checks reporting drift, window filling after the deploy / full window.",
        header,
        "-" * len(header),
    ]
    for row in summary:
        if "false_alarm_rate" in row:
            rates = row["false_alarm_rate"]
            cells = [f"{rates['cold'][rule]:.0%} / {rates['warm'][rule]:.0%}" for rule in RULES]
        else:
            cells = []
            for rule in RULES:
                found = row["predictions_to_detect"][rule]
                cell = f"({found['detected']}/{found['eligible']})"
                if found["eligible"]:
                    cell = f"{_n(found['median'])} {cell}"
                if found["firing_before_drift"]:
                    cell += f" {found['firing_before_drift']} pre"
                cells.append(cell)
        lines.append(f"{row['model']:<6} {row['drift']:<14} " + " ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def recovery_table(summary: list[dict[str, Any]]) -> str:
    """Returns part 2: v1 before and after the drift, v2 after retraining (medians)."""
    header = (
        f"{'model':<6} {'drift':<14} {'metric':<8} {'v1 before':>9} {'v1 drift':>9} "
        f"{'v2 drift':>9} {'recovered':>9} {'v2 before':>9} {'service v1/v2':>14} "
        f"{'promoted':>8} {'agrees':>6}"
    )
    lines = [
        "Metric on a fresh labelled sample (median over seeds): v1 on undrifted and drifted rows,",
        "the retrained v2 on the same drifted rows and on the undrifted ones; the service's own",
        "comparison on its evaluation rows (median), the seeds where it promoted v2, and the seeds",
        "where that decision matches the fresh drifted sample (promoted iff v2 scored higher).",
        header,
        "-" * len(header),
    ]
    for row in summary:
        recovery = row["recovery"]
        for metric in (m for m in METRICS if m in recovery):
            m = recovery[metric]
            main = metric == recovery["metric"]
            recovered = "-" if recovery["recovered"] is None else f"{recovery['recovered']:.0%}"
            service = recovery["service_scores"]
            compared = f"{service['champion']:.3f}/{service['challenger']:.3f}"
            promoted = f"{recovery['promoted']}/{len(row['seeds'])}"
            agrees = f"{recovery['decision_agrees_with_fresh_sample']}/{len(row['seeds'])}"
            if not main:
                recovered = compared = promoted = agrees = ""
            lines.append(
                f"{row['model'] if main else '':<6} {row['drift'] if main else '':<14} "
                f"{metric:<8} {m['v1_undrifted']:>9.3f} {m['v1_drifted']:>9.3f} "
                f"{m['v2_drifted']:>9.3f} {recovered:>9} {m['v2_undrifted']:>9.3f} "
                f"{compared:>14} {promoted:>8} {agrees:>6}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    seeds = tuple(range(args.seeds or (1 if args.quick else len(SEEDS))))
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="vigil-lifecycle-") as home:
        bench = Bench(Path(home))
        try:
            for scenario in SCENARIOS:
                for seed in seeds:
                    for drift in DRIFTS:
                        run = {"model": scenario.name, **run_one(bench, scenario, seed, drift)}
                        runs.append(run)
                        found = run["detection"]["predictions_to_detect"]
                        scores = run["recovery"]["scores"]
                        metric = run["recovery"]["metric"]
                        print(
                            f"  {scenario.name:<6} seed {seed} {drift.label:<14} "
                            f"detect {found}  {metric} "
                            f"{scores['v1_undrifted'][metric]:.3f} -> "
                            f"{scores['v1_drifted'][metric]:.3f} -> "
                            f"{scores['v2_drifted'][metric]:.3f} "
                            f"promoted={run['recovery']['retrain']['promoted']}  "
                            f"{run['detection']['seconds'] + run['recovery']['seconds']:.1f} s",
                            file=sys.stderr,
                        )
        finally:
            bench.close()
    summary = summarise(runs)
    results = {
        "description": __doc__.split("\n\n")[0],
        "settings": {
            "seeds": list(seeds),
            "checkpoints": list(CHECKPOINTS),
            "undrifted_before_drift": WINDOW,
            "max_drifted_predictions": MAX_DRIFTED,
            "drift_window_rows": DRIFT_ROWS,
            "train_rows": TRAIN_ROWS,
            "eval_rows": EVAL_ROWS,
            "log_anomaly_rate": LOG_ANOMALY_RATE,
            "policy": {"drift_share": DRIFT_SHARE, "promotion_margin": 0.0},
            "low_share": LOW_SHARE,
            "min_drop_for_recovered": MIN_DROP,
            "log_parts_start": {
                part: str(DEFAULT_START + timedelta(weeks=index))
                for index, part in enumerate(("training", "production", "evaluation"))
            },
            "drift_tests": DriftSettings().__dict__,
            "drifts": [d.label for d in DRIFTS],
            "models": {
                s.name: {
                    "algorithm": s.spec.algorithm,
                    "params": s.spec.params,
                    "feature_kind": s.spec.feature_kind,
                    "metric": s.metrics[0],
                    "watched_features": s.watch,
                }
                for s in SCENARIOS
            },
            "log_latency_spread": round(log_latency_spread(), 4),
        },
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit_learn": sklearn.__version__,
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "summary": summary,
        "runs": runs,
    }
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(detection_table(summary))
    print()
    print(recovery_table(summary))
    print(f"\nSeeds: {', '.join(map(str, seeds))}. Wall time: {results['wall_seconds']:.0f} s.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
