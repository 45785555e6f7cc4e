"""Benchmarks log anomaly detection on Loghub samples (and on simulated logs).

Complete HDFS sessions (``hdfs_sessions/``: blocks of train.log to fit,
blocks of test.log to score, labels.csv) are run first, through the product
path (``train_model`` on the events, ``bundle.predict`` on test.log, one
answer per block), in three settings, each flagged at the model's own
threshold (nothing is tuned on test.log):

- unsupervised: train.log as given (2.9% anomalous blocks), no label; the
  default for sessions (``invariants``), then every anomaly detector of the
  catalogue at its defaults, ``auto`` first;
- semi-supervised: the events carry a label column (an event is labelled 1
  when its block is anomalous; a session is anomalous when any of its
  events is), so training leaves the anomalous blocks out and the threshold
  is the clean-data one (``target_fpr`` 0.001); the default detector is
  ``idf_knn``, every detector is run;
- supervised: every catalogue classifier on the same session features and
  the session label.

The same three settings run on simulated application logs with sessions by
``request_id`` (two simulations with different seeds: one to train on, one
to score), a session log of another shape (requests of a few events,
anomalies that are latency spikes, error bursts, unseen messages).

Training with a label keeps a stratified 20% of train.log's blocks aside
(the product's default split), so those models see 80% of train.log. The
reference is scikit-learn's IsolationForest (contamination 0.03, as the data
README quotes) on the event-count vectors (template counts only), in the
same run. Published figures on HDFS are printed beside.

Where the settings come from: ``idf_knn``'s weighting is TF-IDF with cosine
distance as published, k = 5 is the catalogue's k-NN default, ``target_fpr``
0.001 is calibration's documented example for clean training data;
``invariants`` takes its tolerance from the default contamination (0.05) and
its ratios (1:1, 1:2, 1:3) from the small integer coefficients of Invariants
Mining. Only defaults are used, but while they were developed alternatives
(other k, weightings, a PCA residual, trimmed k-NN, other tolerances) were
also scored on test.log, so hdfs_sessions is not a pristine held-out set;
the hand-made sessions of tests/features/ are the other data they were
checked on (no other complete session log is in ../shared/data).

What stands between these figures and the issue's targets (session 8,
looked at with the labels of train.log and test.log; nothing below was kept):

- unsupervised, ``invariants`` 0.947 (precision 0.90, recall 1.0): 10 false
  alarms. Nine break count relations as the anomalies do: normal blocks that
  were re-replicated hold the rare events 11-14 once per extra replica
  (1.2% of training blocks hold them, 0.43% of the normal ones) and one
  more "receiving" and two more "received" events each, so ``t0 = t2`` and
  ``t4 = t2`` break; the tenth holds event 16, which no normal training
  block has. Relations of three counts (``b x_i = a x_j + c x_k``, kept
  where they hold on more training rows than the pair, rare columns that
  take part in a relation no longer counted as rare) describe the
  re-replicated blocks (``t0 = t2 + t11``, ``t4 = t2 + 2 t11``): 4 false
  alarms but 5 anomalies missed (they re-replicate too, with the same
  relations), F1 0.950 against 0.947. The extended relations hold on 37
  more training blocks, 24 of them anomalous: they describe failures as
  well as normal re-replication, so they were not kept. Thresholds on the
  number of broken relations do not separate either (the nine false alarms
  break 2 or more, 28 anomalies break exactly 1).
- supervised, 0.989 (every classifier but xgboost): the same two normal
  blocks are flagged by all of them (a decision tree too): one holds
  event 16, seen in training only in anomalous blocks (24% of them); the
  other is a 269-event block (203 of event 7). Neither has an identical
  count vector in train.log. A third count relation or another classifier
  would have to be tuned to these two blocks.

After k-NN calibration became blocked cross-fitting below 1,000 held-out
rows (``vigil.algorithms.knn``), hdfs_sessions again: the defaults are
unchanged (0.947, 0.984, 0.989); ``auto`` unsupervised 0.804 (was 0.822,
precision 0.67), semi-supervised ``knn`` 0.984 (was 0.327: its 0.001
threshold now rests on about 1,200 rows, not 600), ``subsampled_knn``
0.393 (was 0.063), ``auto`` 0.738 (was 0.748).

Then, per dataset with cross-validation:

- HDFS_2k in session mode: sessions are blocks (``blk_-?\\d+`` in the
  message), labelled by ``HDFS_2k_block_labels.csv``;
- BGL_2k per line: a line is an alert when its first token is not ``-``;
- simulated application logs (``vigil.simulate``), per event, as a reference
  with enough context around each incident.

Protocol: 5-fold stratified cross-validation over the units (sessions or
lines). In each fold the feature extractor is fitted on the training units'
events only (a template first seen in the test fold counts as unseen, as in
production) and every model is fitted on the same features. Unsupervised
detectors never see a label; their test units are flagged at the detector's
own threshold (scores calibrated to [0, 1] on the training fold). Supervised
models are fitted on the training fold's labels and flag at probability 0.5.
Precision, recall, F1 and ROC AUC are computed on the pooled out-of-fold
predictions. Every detector registered for ``anomaly`` in the catalogue at
run time is evaluated with its default parameters, so detectors added later
are picked up without changing this script. No setting is tuned per dataset.

For HDFS the table is followed by how much the 2,000-line sample can tell
apart: sessions per block, how many anomalous blocks have exactly the
template counts of some normal block (no model reading these lines can tell
those apart), and the F1 ceiling: the best F1 that any model of the
template counts (and session length) could reach, computed with the labels.
On HDFS_2k, where 99.7% of blocks have one line, it is 0.165 (the other
session features, such as timing, add next to nothing: the detectors reach
0.08-0.17 out of fold), so the issue's targets (0.92
unsupervised, 0.99 supervised, set from loglizer's figures on the full
HDFS v1 of 575,061 blocks) cannot be reached on this sample by any method.

    .venv/bin/python benchmarks/anomaly/logs.py
    .venv/bin/python benchmarks/anomaly/logs.py --folds 3 --simulated-rows 10000

Results go to benchmarks/results/logs.json.
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
from sklearn import metrics as skm
from sklearn.model_selection import StratifiedKFold

from vigil.algorithms.catalogue import algorithms_for
from vigil.data.loading import read_lines
from vigil.data.schema import infer_schema
from vigil.features.extractors import Extracted, FeatureExtractor, Units, make_extractor
from vigil.simulate import simulate
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import PreparedData, TrainSpec, build_pipeline, train_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "logs"
RESULTS = ROOT / "benchmarks" / "results" / "logs.json"
SUPERVISED = ("random_forest", "logistic_regression")
SEED = 42
# Published F1 on the full HDFS (loglizer), for comparison.
PUBLISHED_HDFS_F1 = {
    "loglizer isolation forest": 0.802,
    "loglizer invariants mining": 0.915,
    "loglizer decision tree (supervised)": 0.998,
    "loglizer logistic regression (supervised)": 0.933,
}


HDFS_SESSIONS = DATA / "hdfs_sessions"
BLOCK = r"blk_-?\d+"
# Published F1 on complete HDFS sessions (see ../shared/data/README.md).
PUBLISHED_HDFS_SESSIONS_F1 = {
    "loglizer invariants mining (unsupervised)": 0.915,
    "loglizer isolation forest (unsupervised)": 0.802,
    "DeepLog (normal sessions only), paper / reproduced": "0.96 / 0.945",
    "IDF count-vector clustering on normal sessions (AIT)": 0.958,
    "decision tree with labels, on hdfs_sessions": 0.99,
    "sklearn IsolationForest on count vectors, on hdfs_sessions": 0.65,
}
SESSION_TARGETS = {"unsupervised": 0.95, "semi-supervised": 0.97, "supervised": 0.99}


def hdfs_sessions() -> dict[str, Any]:
    """Returns every model's session metrics on test.log, trained on train.log, per setting."""
    labels = pd.read_csv(HDFS_SESSIONS / "labels.csv").set_index("BlockId")["Label"]
    anomalous = labels == "Anomaly"

    def events(name: str) -> pd.DataFrame:
        read, _ = make_extractor("logs", {}).read(read_lines((HDFS_SESSIONS / name).read_bytes()))
        return read.reset_index(drop=True)

    train, test = events("train.log"), events("test.log")
    train["label"] = train["message"].str.extract(f"({BLOCK})")[0].map(anomalous).astype(int)
    result = three_settings(train, test, {"session_key": BLOCK}, anomalous.astype(int))
    result["published_f1"] = PUBLISHED_HDFS_SESSIONS_F1
    return {"dataset": "hdfs_sessions (train.log -> test.log)", **result}


def simulated_sessions(rows: int) -> dict[str, Any]:
    """Returns the same settings on simulated application logs, sessions by ``request_id``.

    Two simulations with different seeds are the training and the new data;
    a request is anomalous when any of its events is (an unseen message, an
    error burst, a latency spike, a traffic drop).
    """
    frames = []
    for seed in (7, 8):
        frame = simulate("logs", rows, anomaly_rate=0.05, seed=seed)
        frame["request_id"] = frame["request_id"] + f"-{seed}"
        frames.append(frame.drop(columns=["anomaly_type"]).rename(columns={"is_anomaly": "label"}))
    train, test = frames
    truth = pd.concat(frames).groupby("request_id")["label"].max().astype(int)
    result = three_settings(
        train, test.drop(columns="label"), {"session_field": "request_id"}, truth
    )
    return {"dataset": f"simulated logs {rows} + {rows} events (sessions by request_id)", **result}


def three_settings(
    train: pd.DataFrame, test: pd.DataFrame, options: dict[str, Any], truth: pd.Series
) -> dict[str, Any]:
    """Returns every model's metrics on the sessions of ``test``, per setting.

    ``train`` holds a ``label`` column (1 = the event's session is
    anomalous), used only by the semi-supervised and supervised settings;
    ``truth`` maps each session key to 0 or 1.
    """
    unlabelled = train.drop(columns="label")
    detectors = [a.name for a in algorithms_for("anomaly")]
    detectors.sort(key=lambda name: name != "auto")
    classifiers = [a.name for a in algorithms_for("classification")]
    kinds = {"feature_kind": "logs", "feature_options": options}
    runs: list[tuple[str, str | None, pd.DataFrame, TrainSpec]] = [
        ("unsupervised", None, unlabelled, TrainSpec(task="anomaly", **kinds))
    ]
    runs += [
        ("unsupervised", name, unlabelled, TrainSpec(task="anomaly", algorithm=name, **kinds))
        for name in detectors
    ]
    runs.append(
        ("semi-supervised", None, train, TrainSpec(task="anomaly", target="label", **kinds))
    )
    runs += [
        (
            "semi-supervised",
            name,
            train,
            TrainSpec(task="anomaly", algorithm=name, target="label", **kinds),
        )
        for name in detectors
    ]
    runs += [
        (
            "supervised",
            name,
            train,
            TrainSpec(task="classification", algorithm=name, target="label", **kinds),
        )
        for name in classifiers
    ]
    rows = []
    for setting, asked, data, spec in runs:
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = train_model(data, spec)
                predictions = outcome.bundle.predict(test)
        except Exception as exc:  # a model that cannot run here is reported, not fatal
            rows.append({"setting": setting, "model": asked or "default", "error": str(exc)[:200]})
            continue
        keys = [p["session"] for p in predictions]
        labels = pd.Series(keys).map(truth).fillna(0).astype(int).to_numpy()
        if spec.task == "anomaly":
            flags = np.array([int(p["is_anomaly"]) for p in predictions])
            scores = np.array([p["score"] for p in predictions], dtype=float)
        else:
            flags = np.array([int(p["prediction"]) for p in predictions])
            scores = np.array([p["probabilities"]["1"] for p in predictions], dtype=float)
        rows.append(
            {
                "setting": setting,
                "model": outcome.algorithm if asked else f"default ({outcome.algorithm})",
                **_scores(labels, flags, scores),
                "sessions_answered": len(keys),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    rows.append(_sklearn_reference(unlabelled, test, options, truth))
    units = make_extractor("logs", options)
    test_keys = units.units(units.read(test)[0]).keys or []
    train_keys = units.units(units.read(unlabelled)[0]).keys or []
    return {
        "train_sessions": len(train_keys),
        "test_sessions": len(test_keys),
        "test_anomalies": int(pd.Series(test_keys).map(truth).fillna(0).sum()),
        "targets_f1": SESSION_TARGETS,
        "rows": rows,
    }


def _scores(truth: np.ndarray, flags: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "precision": float(skm.precision_score(truth, flags, zero_division=0)),
        "recall": float(skm.recall_score(truth, flags, zero_division=0)),
        "f1": float(skm.f1_score(truth, flags, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(truth, scores)),
    }


def _sklearn_reference(
    train: pd.DataFrame, test: pd.DataFrame, options: dict[str, Any], truth: pd.Series
) -> dict[str, Any]:
    """Returns scikit-learn's IsolationForest (contamination 0.03) on event-count vectors."""
    from sklearn.ensemble import IsolationForest

    started = time.perf_counter()
    extractor = make_extractor("logs", options)
    extractor.fit(extractor.read(train)[0], task="anomaly")
    fitted = extractor.transform(train).features
    counts = [c for c in fitted.columns if c.startswith("template=")]
    forest = IsolationForest(contamination=0.03, random_state=0).fit(fitted[counts])
    scored = extractor.transform(test)
    X = scored.features[counts]
    labels = pd.Series(scored.keys).map(truth).fillna(0).astype(int).to_numpy()
    flags = (forest.predict(X) == -1).astype(int)
    return {
        "setting": "reference",
        "model": "sklearn IsolationForest (counts, contamination 0.03)",
        **_scores(labels, flags, -forest.score_samples(X)),
        "sessions_answered": len(labels),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _print_sessions(result: dict[str, Any]) -> None:
    print(
        f"\n{result['dataset']}: {result['train_sessions']} training sessions, "
        f"{result['test_sessions']} test sessions ({result['test_anomalies']} anomalous); "
        f"targets F1 {result['targets_f1']}"
    )
    print(f"{'setting':<17}{'model':<40}{'precision':>10}{'recall':>8}{'f1':>8}{'roc_auc':>9}")
    for row in result["rows"]:
        if "error" in row:
            print(f"{row['setting']:<17}{row['model']:<40}  failed: {row['error']}")
            continue
        print(
            f"{row['setting']:<17}{row['model']:<40}{row['precision']:>10.3f}{row['recall']:>8.3f}"
            f"{row['f1']:>8.3f}{row['roc_auc']:>9.3f}"
        )
    if "published_f1" in result:
        published = result["published_f1"].items()
        print("published F1:", "; ".join(f"{k} {v}" for k, v in published))


def hdfs() -> tuple[pd.DataFrame, dict[str, Any], Any]:
    """Returns HDFS_2k lines, extractor options, and a function labelling the units."""
    lines = read_lines((DATA / "HDFS_2k.log").read_bytes())
    blocks = pd.read_csv(DATA / "HDFS_2k_block_labels.csv").set_index("BlockId")["Label"]

    def label(events: pd.DataFrame, extracted: Extracted) -> np.ndarray:
        assert extracted.keys is not None
        named = pd.Series(extracted.keys).map(blocks)
        return np.where(named.isna(), -1, (named == "Anomaly").astype(int))

    return lines, {"session_key": r"blk_-?\d+", "log_format": "hdfs"}, label


def bgl() -> tuple[pd.DataFrame, dict[str, Any], Any]:
    """Returns BGL_2k lines, extractor options, and a function labelling the lines."""
    lines = read_lines((DATA / "BGL_2k.log").read_bytes())

    def label(events: pd.DataFrame, extracted: Extracted) -> np.ndarray:
        return (events["label"].astype(str) != "-").astype(int).to_numpy()

    return lines, {"log_format": "bgl"}, label


def simulated(rows: int) -> tuple[pd.DataFrame, dict[str, Any], Any]:
    """Returns simulated JSON log lines, extractor options, and their labels."""
    frame = simulate("logs", rows, anomaly_rate=0.05, seed=7)
    labels = frame["is_anomaly"].to_numpy()
    text = frame.drop(columns=["is_anomaly", "anomaly_type"]).to_json(
        orient="records", lines=True, date_format="iso"
    )
    lines = read_lines(text.encode())

    def label(events: pd.DataFrame, extracted: Extracted) -> np.ndarray:
        return np.asarray(labels)

    return lines, {}, label


def run_dataset(
    name: str, lines: pd.DataFrame, options: dict[str, Any], label: Any, folds: int
) -> dict[str, Any]:
    """Returns the pooled out-of-fold metrics of every model on one dataset."""
    reader = make_extractor("logs", options)
    events, report = reader.read(lines)
    units = reader.units(events)
    # Labels need fitted features only for their keys; a throwaway fit gives them.
    probe = make_extractor("logs", options)
    probe.read(lines)
    y_all = label(events, probe.fit(events).transform(events))
    known = np.flatnonzero(y_all >= 0)
    y = y_all[known]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    detectors = [a.name for a in algorithms_for("anomaly")]
    models = [(d, "anomaly") for d in detectors] + [(s, "classification") for s in SUPERVISED]
    scores = {m: np.full(len(known), np.nan) for m, _ in models}
    flags = {m: np.zeros(len(known), dtype=int) for m, _ in models}
    seconds = dict.fromkeys(scores, 0.0)
    failures: dict[str, str] = {}
    feature_count = 0
    for train, test in splitter.split(np.zeros(len(y)), y):
        features: dict[str, pd.DataFrame] = {}
        for task in ("anomaly", "classification"):
            # Fitted per task, as training does (the defaults differ a little by task).
            extractor = make_extractor("logs", options)
            extractor.read(lines)  # remembers the format, as training does
            extractor.fit(events.iloc[units.events_of(known[train])], task=task)
            X = extractor.transform(events).features.iloc[known].reset_index(drop=True)
            features[task] = X.loc[:, X.iloc[train].notna().any()]
        feature_count = features["anomaly"].shape[1]
        for model, task in models:
            if model in failures:
                continue
            X = features[task]
            started = time.perf_counter()
            try:
                score, flag = _fit_and_score(model, task, X, y, train, test)
            except Exception as exc:  # a detector that cannot run here is reported, not fatal
                failures[model] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            scores[model][test] = score
            flags[model][test] = flag
            seconds[model] += time.perf_counter() - started
    rows = []
    for model, task in models:
        if model in failures:
            rows.append({"model": model, "kind": _kind(task), "error": failures[model]})
            continue
        rows.append(
            {
                "model": model,
                "kind": _kind(task),
                "precision": float(skm.precision_score(y, flags[model], zero_division=0)),
                "recall": float(skm.recall_score(y, flags[model], zero_division=0)),
                "f1": float(skm.f1_score(y, flags[model], zero_division=0)),
                "roc_auc": float(skm.roc_auc_score(y, scores[model])),
                "seconds": round(seconds[model], 3),
            }
        )
    result: dict[str, Any] = {
        "dataset": name,
        "units": "sessions" if units.keys is not None else "events",
        "unit_count": len(y),
        "anomalies": int(y.sum()),
        "features": feature_count,
        "parse": report.to_json() if report is not None else None,
        "rows": rows,
    }
    if units.keys is not None:
        result["separability"] = _separability(probe, events, units, y_all)
    return result


def _fit_and_score(
    model: str, task: str, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Returns test scores and 0/1 flags of one model fitted on the training rows."""
    schema = infer_schema(X)
    data = PreparedData(task, model, schema, X, pd.Series(y))
    params: dict[str, Any] = {"n_estimators": 200} if model == "random_forest" else {}
    if model == "logistic_regression":
        params["class_weight"] = "balanced"
    # Log features: auto is what `vigil train --features logs` makes of it, not the tabular one.
    pipeline, resolved = build_pipeline(data, params, feature_kind="logs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "anomaly":
            pipeline.fit(X.iloc[train])
            bundle = ModelBundle(task, model, resolved, schema, pipeline)
            score = bundle.anomaly_scores(X.iloc[test])
            return score, (score >= pipeline[-1].threshold_).astype(int)
        pipeline.fit(X.iloc[train], y[train])
        proba = pipeline.predict_proba(X.iloc[test])[:, 1]
        return proba, (proba >= 0.5).astype(int)


def _separability(
    extractor: FeatureExtractor, events: pd.DataFrame, units: Units, y_all: np.ndarray
) -> dict[str, Any]:
    """Returns how many anomalous sessions look exactly like some normal session."""
    X = extractor.transform(events).features
    counts = X[[c for c in X.columns if c.startswith("template") or c == "length"]]
    signature = counts.round(6).astype(str).agg("|".join, axis=1).to_numpy()
    normal = set(signature[y_all == 0])
    anomalous = np.flatnonzero(y_all == 1)
    twins = sum(signature[i] in normal for i in anomalous)
    sizes = np.bincount(units.unit_index, minlength=units.count)
    return {
        "events_per_session_mean": float(sizes.mean()),
        "single_event_sessions": float((sizes == 1).mean()),
        "anomalous_sessions": len(anomalous),
        "anomalous_sessions_identical_to_a_normal_one": int(twins),
        "f1_ceiling": _f1_ceiling(signature[y_all >= 0], y_all[y_all >= 0]),
    }


def _f1_ceiling(signature: np.ndarray, y: np.ndarray) -> float:
    """Returns the best F1 any model can reach when sessions of equal signature are equal.

    A model is a function of the features, so it flags every session of one
    signature or none. Flagging signatures in decreasing order of their share
    of anomalies and keeping the best F1 along the way gives the optimum (the
    best set for F1 is always such a prefix), with the labels known: no
    detector, supervised or not, can beat it on these features.
    """
    groups = pd.DataFrame({"signature": signature, "anomaly": y}).groupby("signature")["anomaly"]
    table = pd.DataFrame({"anomalies": groups.sum(), "sessions": groups.size()})
    rate = (table["anomalies"] / table["sessions"]).to_numpy()
    table = table.iloc[np.argsort(-rate, kind="stable")]
    positives = int(table["anomalies"].sum())
    tp = table["anomalies"].cumsum().to_numpy()
    flagged = table["sessions"].cumsum().to_numpy()
    f1 = 2 * tp / (flagged + positives)
    return round(float(f1.max()), 4) if positives else 0.0


def _kind(task: str) -> str:
    return "unsupervised" if task == "anomaly" else "supervised"


def main() -> None:
    """Runs the benchmark, prints a table per dataset and writes the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--simulated-rows", type=int, default=10_000)
    parser.add_argument(
        "--skip-sessions", action="store_true", help="leave out the three session settings"
    )
    args = parser.parse_args()
    datasets: list[tuple[str, Any]] = []
    if DATA.exists():
        datasets += [("HDFS_2k (sessions)", hdfs), ("BGL_2k (lines)", bgl)]
    else:
        print(f"{DATA} is absent: Loghub samples skipped.")
    datasets.append(
        (f"simulated {args.simulated_rows} (events)", lambda: simulated(args.simulated_rows))
    )
    sessions = []
    loaders = [] if args.skip_sessions else [lambda: simulated_sessions(args.simulated_rows)]
    if HDFS_SESSIONS.exists() and not args.skip_sessions:
        loaders.insert(0, hdfs_sessions)
    for load_sessions in loaders:
        started = time.perf_counter()
        session_result = load_sessions()
        session_result["seconds"] = round(time.perf_counter() - started, 2)
        sessions.append(session_result)
        _print_sessions(session_result)
    results = []
    for name, load in datasets:
        lines, options, label = load()
        started = time.perf_counter()
        result = run_dataset(name, lines, options, label, args.folds)
        result["seconds"] = round(time.perf_counter() - started, 2)
        results.append(result)
        _print(result)
    document = {
        "benchmark": "log anomaly detection",
        "protocol": f"{args.folds}-fold stratified CV, pooled out-of-fold metrics, seed {SEED}",
        "targets": {f"hdfs_sessions {k} f1": v for k, v in SESSION_TARGETS.items()},
        "published_hdfs_full_dataset_f1": PUBLISHED_HDFS_F1,
        "sessions": sessions,
        "results": results,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT)}")


def _print(result: dict[str, Any]) -> None:
    print(
        f"\n{result['dataset']}: {result['unit_count']} {result['units']}, "
        f"{result['anomalies']} anomalous, {result['features']} features, "
        f"{result['seconds']} s"
    )
    print(f"{'model':<22}{'kind':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'roc_auc':>9}")
    for row in result["rows"]:
        if "error" in row:
            print(f"{row['model']:<22}{row['kind']:<14}  failed: {row['error']}")
            continue
        print(
            f"{row['model']:<22}{row['kind']:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}"
            f"{row['f1']:>8.3f}{row['roc_auc']:>9.3f}"
        )
    if "separability" in result:
        s = result["separability"]
        print(
            f"sessions: {s['events_per_session_mean']:.3f} events on average, "
            f"{s['single_event_sessions']:.1%} single-event; "
            f"{s['anomalous_sessions_identical_to_a_normal_one']} of {s['anomalous_sessions']} "
            "anomalous sessions have exactly the template counts of a normal one; "
            f"the best F1 any model of the template counts can reach is {s['f1_ceiling']:.3f}"
        )


if __name__ == "__main__":
    main()
