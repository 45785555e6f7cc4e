"""Fitting a model: split, preprocess, fit, evaluate, explain — one pure function.

``train_model`` knows nothing of the registry or storage: it takes a table and
a ``TrainSpec`` and returns the fitted ``ModelBundle`` with its metrics, so
the same code serves the CLI, the API and retraining jobs.

Which columns are features: the ones named in ``features``, else every
column but the target, less those named in ``exclude``, the label columns of
simulated data (``vigil.simulate.LABEL_COLUMNS``) and identifiers (categories
different on every row, such as a transaction id). Extracted features leave
out the fields named in ``exclude`` and the label columns before the
extractor sees the events. What was left out, and why, is reported in
``TrainOutcome.excluded``.

With ``feature_kind`` other than ``tabular`` (``logs``, ``metrics``,
``requests``) the table holds raw events (or raw lines) and a feature
extractor turns them into one row per unit: per event, or per session. The
units are split first; the extractor is fitted on the events of the training
units only (so a template first seen in the test part counts as unseen, as
it would in production) and then transforms every event, so rolling windows
see the whole stream. The extractor travels in the bundle.

How anomaly models of sessions are trained with and without a label column,
and their default detectors: ``vigil.training.session_defaults``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline

from vigil.algorithms.anomaly_catalogue import auto_params
from vigil.algorithms.catalogue import DEFAULT_ALGORITHM, get_algorithm
from vigil.data.schema import ColumnSchema, conform, infer_kind, infer_schema
from vigil.errors import InvalidInput, UsageError
from vigil.features.extractors import FeatureExtractor, make_extractor
from vigil.features.kinds import FEATURE_KINDS
from vigil.features.parsers import ParseReport
from vigil.features.tabular import build_preprocessor
from vigil.online.evaluation import training_metrics as online_training_metrics
from vigil.online.model import fit_online_model, online_params
from vigil.simulate.labels import ALL_LABEL_COLUMNS
from vigil.training import metrics as task_metrics
from vigil.training.bundle import ModelBundle, anomaly_labels, profile_inputs
from vigil.training.importance import feature_importance
from vigil.training.session_defaults import (
    SESSION_NORMAL_DEFAULT,
    known_normal_params,
    known_normal_rows,
    session_default,
)
from vigil.training.tasks import check_task, detect_task

Progress = Callable[[float, str], None]
log = logging.getLogger("vigil.training")

# Fewer held-out rows than this cannot give a meaningful metric (r2 needs two).
_MIN_SPLIT_ROWS = 2
# Below this many values, a category different on every row may be chance, not an identifier.
_MIN_IDENTIFIER_ROWS = 20

# Extractor options whose values are field names (text_column, numeric_columns, session_field).
_FIELD_OPTION_SUFFIXES = ("_column", "_columns", "_field")

# Why a column was left out of the features, as TrainOutcome.excluded reports it.
EXCLUDED_AS_ASKED = "excluded as asked"
EXCLUDED_LABEL = "a label column of simulated data; name it in features to use it"
EXCLUDED_IDENTIFIER = (
    "an identifier (a different value on every row); name it in features to use it"
)


@dataclass(frozen=True)
class TrainSpec:
    """What to train: task, algorithm, columns, parameters and evaluation settings."""

    task: str = "auto"
    algorithm: str | None = None
    target: str | None = None
    features: list[str] | None = None
    # Columns (or, for extracted features, input fields) never used as features.
    exclude: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.2
    cv: int | None = None
    seed: int = 42
    # How raw inputs become features: "tabular" (the table as it is), "logs",
    # "metrics" or "requests"; options as make_extractor takes them.
    feature_kind: str = "tabular"
    feature_options: Mapping[str, Any] = field(default_factory=dict)
    # When set, the last ``holdout_rows`` labelled rows (events) are the test part
    # instead of a random split: a retraining is judged on exactly the rows it and
    # the champion are compared on. Session models split by session regardless.
    holdout_rows: int = 0
    # Forecast only: steps ahead, the series and time columns (None: inferred).
    horizon: int | None = None
    series: str | None = None
    timestamp: str | None = None


@dataclass
class TrainOutcome:
    """A fitted bundle with its evaluation."""

    bundle: ModelBundle
    task: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    feature_importance: dict[str, float]
    rows: int
    train_rows: int
    test_rows: int
    fit_seconds: float
    # The held-out part, kept in memory (never stored) so a challenger and the
    # champion can be scored on the same rows.
    X_test: pd.DataFrame | None = None
    y_test: pd.Series | None = None
    # For extracted features: how raw lines were read, and the held-out raw
    # events with their labels (a champion with another extractor needs those).
    parse_report: ParseReport | None = None
    test_frame: pd.DataFrame | None = None
    # A bounded sample of the model's input rows (features, for extracted models):
    # production inputs are compared with it for drift.
    reference: pd.DataFrame | None = None
    # Columns of the data left out of the features, each with the reason why
    # (asked by ``exclude``, a label column, an identifier).
    excluded: dict[str, str] = field(default_factory=dict)
    # Stored with the version beside the metrics (a forecast's per-series backtest).
    extra: dict[str, Any] = field(default_factory=dict)


# Drift compares production inputs with at most this many training rows.
REFERENCE_ROWS = 2000


@dataclass
class PreparedData:
    """A table validated against a spec: schema, features, target and task."""

    task: str
    algorithm: str
    schema: list[ColumnSchema]
    X: pd.DataFrame
    y: pd.Series | None
    # Columns of the data left out of the features, each with the reason.
    excluded: dict[str, str] = field(default_factory=dict)


@dataclass
class ExtractedData:
    """Raw events turned into features, split into train and test units."""

    data: PreparedData
    extractor: FeatureExtractor
    report: ParseReport | None
    train: np.ndarray
    test: np.ndarray | None
    test_frame: pd.DataFrame | None


def _no_progress(fraction: float, message: str) -> None:
    return None


def _logged(progress: Progress) -> Progress:
    """Returns ``progress`` that also logs each step, so non-interactive runs show them too."""

    def step(fraction: float, message: str) -> None:
        log.info("training %3.0f%%: %s", fraction * 100, message)
        progress(fraction, message)

    return step


def prepare(frame: pd.DataFrame, spec: TrainSpec) -> PreparedData:
    """Returns the table checked and coerced for ``spec``, or raises naming what is wrong."""
    if spec.target is not None and spec.target not in frame.columns:
        raise InvalidInput(
            f"Target column {spec.target!r} does not exist; columns are: "
            + ", ".join(map(str, frame.columns))
            + ".",
            errors=[{"loc": ["target"], "msg": "no such column"}],
        )
    target = frame[spec.target] if spec.target is not None else None
    task, algorithm = _task_and_algorithm(target, spec)
    features, excluded = choose_features(frame, spec)
    if target is not None:
        # Rows without a label cannot be learned from or scored against.
        frame = frame[target.notna()]
        target = target[target.notna()]
    schema = infer_schema(frame, features)
    X = conform(frame, schema)
    y = target.reset_index(drop=True) if target is not None else None
    return PreparedData(task, algorithm, schema, X.reset_index(drop=True), y, excluded)


def choose_features(frame: pd.DataFrame, spec: TrainSpec) -> tuple[list[str], dict[str, str]]:
    """Returns the feature columns of ``frame`` for ``spec`` and the columns left out, with why.

    Named ``features`` are taken as they are. Otherwise every column but the
    target is a feature, except those in ``exclude``, the label columns of
    simulated data, and identifiers (categories different on every row).
    """
    columns = [str(c) for c in frame.columns]
    check_exclude(spec, columns)
    excluded = dict.fromkeys(spec.exclude, EXCLUDED_AS_ASKED)
    if spec.features is not None:
        unknown = [c for c in spec.features if c not in frame.columns]
        if unknown:
            raise InvalidInput(
                f"Feature column {unknown[0]!r} does not exist; columns are: "
                + ", ".join(columns)
                + ".",
                errors=[{"loc": ["features", c], "msg": "no such column"} for c in unknown],
            )
        features = [c for c in spec.features if c != spec.target]
    else:
        for column in columns:
            if column == spec.target or column in excluded:
                continue
            if column in ALL_LABEL_COLUMNS:
                excluded[column] = EXCLUDED_LABEL
            elif _is_identifier(frame[column]):
                excluded[column] = EXCLUDED_IDENTIFIER
        features = [c for c in columns if c != spec.target and c not in excluded]
    if not features:
        left_out = "".join(f"; {c} is {why}" for c, why in excluded.items())
        raise InvalidInput(
            f"No feature columns are left once the target is set aside{left_out}.",
            errors=[{"loc": ["features"], "msg": "no feature columns"}],
        )
    return features, excluded


def check_exclude(spec: TrainSpec, columns: list[str]) -> None:
    """Raises ``InvalidInput`` unless each excluded column exists and is neither target nor feature.

    ``columns`` are those of the data (the event fields, for extracted features).
    """
    unknown = [c for c in spec.exclude if c not in columns]
    if unknown:
        raise InvalidInput(
            f"Excluded column {unknown[0]!r} does not exist; columns are: "
            + ", ".join(columns)
            + ".",
            errors=[{"loc": ["exclude", c], "msg": "no such column"} for c in unknown],
        )
    if spec.target is not None and spec.target in spec.exclude:
        raise InvalidInput(
            f"Column {spec.target!r} is the target; it cannot also be excluded "
            "(the target is never a feature).",
            errors=[{"loc": ["exclude", spec.target], "msg": "is the target"}],
        )
    both = [c for c in spec.exclude if spec.features is not None and c in spec.features]
    if both:
        raise InvalidInput(
            f"Column {both[0]!r} is both named in features and excluded; keep it in one of them.",
            errors=[{"loc": ["exclude", c], "msg": "also named in features"} for c in both],
        )


def _is_identifier(values: pd.Series) -> bool:
    """Returns whether ``values`` are categories different on every row: an id, not a feature.

    Free text is usually different on every row too, and is a feature (TF-IDF);
    numbers are never taken for identifiers.
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    present = values.dropna()
    if len(present) < _MIN_IDENTIFIER_ROWS or present.nunique() != len(present):
        return False
    return infer_kind(present) == "categorical"


def _task_and_algorithm(target: pd.Series | None, spec: TrainSpec) -> tuple[str, str]:
    """Returns the task and algorithm ``spec`` asks for, checked against each other."""
    if spec.algorithm is not None:
        get_algorithm(spec.algorithm)
    if target is not None and target.isna().all():
        raise InvalidInput(f"Target column {spec.target!r} is entirely empty.")
    if spec.task != "auto":
        task = check_task(spec.task)
    elif spec.feature_kind != "tabular" and (
        spec.algorithm is None or "anomaly" in get_algorithm(spec.algorithm).tasks
    ):
        # Logs, metrics and requests are read for anomalies unless a classifier is asked for.
        task = "anomaly"
    else:
        task = detect_task(target, spec.algorithm)
    if task in ("classification", "regression") and target is None:
        raise InvalidInput(f"Task {task} needs a target column (--target).")
    algorithm = spec.algorithm or DEFAULT_ALGORITHM[task]
    if task not in get_algorithm(algorithm).tasks:
        raise UsageError(
            f"Algorithm {algorithm} does not do {task}; it does "
            + ", ".join(get_algorithm(algorithm).tasks)
            + "."
        )
    return task, algorithm


def split(data: PreparedData, spec: TrainSpec) -> tuple[Any, Any, Any, Any]:
    """Returns X_train, X_test, y_train, y_test (stratified where it applies).

    Unsupervised models without labels are fitted on every row: there is
    nothing to score a held-out part against.
    """
    indices = split_indices(data.y, data.task, spec)
    if indices is None:
        return data.X, None, None, None
    assert data.y is not None
    train, test = indices
    return data.X.iloc[train], data.X.iloc[test], data.y.iloc[train], data.y.iloc[test]


def split_indices(
    y: pd.Series | None, task: str, spec: TrainSpec
) -> tuple[np.ndarray, np.ndarray] | None:
    """Returns the train and test row positions (stratified where it applies), None without labels.

    The positions are those ``train_test_split`` gives for the rows, so the
    split of a table does not depend on whether rows or positions are split.
    """
    if not 0.0 < spec.test_size < 1.0:
        raise UsageError(f"test_size must be in (0, 1), got {spec.test_size}.")
    if y is None:
        return None
    n = len(y)
    if spec.holdout_rows:
        if not 0 < spec.holdout_rows < n:
            raise InvalidInput(
                f"holdout_rows must be between 1 and {n - 1} (the labelled rows less one), "
                f"got {spec.holdout_rows}."
            )
        return np.arange(n - spec.holdout_rows), np.arange(n - spec.holdout_rows, n)
    n_test = int(np.ceil(n * spec.test_size))
    stratify = None
    if task == "classification" or task == "anomaly":
        counts = y.value_counts()
        if task == "classification" and len(counts) < 2:
            raise InvalidInput(
                f"Target column {y.name!r} has a single class ({counts.index[0]!r}); "
                "classification needs at least two."
            )
        if (
            len(counts) > 1
            and counts.min() >= 2
            and n_test >= len(counts)
            and n - n_test >= len(counts)
        ):
            stratify = y
        elif task == "classification":
            raise InvalidInput(
                f"Too few rows for the split: {n} rows with {len(counts)} classes "
                f"(smallest has {int(counts.min())}) cannot give a stratified test part of "
                f"{spec.test_size:g}; add rows or change --test-size."
            )
    if n_test < _MIN_SPLIT_ROWS or n - n_test < _MIN_SPLIT_ROWS:
        raise InvalidInput(
            f"Too few rows for the split: {n} rows cannot give a test part of "
            f"{spec.test_size:g} with at least {_MIN_SPLIT_ROWS} rows on each side; "
            "add rows or change --test-size."
        )
    train, test = train_test_split(
        np.arange(n), test_size=spec.test_size, random_state=spec.seed, stratify=stratify
    )
    return np.asarray(train), np.asarray(test)


@dataclass
class _SplitEvents:
    """Raw events read by an extractor, their labels set aside, split into train and test units."""

    extractor: FeatureExtractor
    report: ParseReport | None
    events: pd.DataFrame
    raw_labels: pd.Series | None
    task: str
    algorithm: str
    units: Any
    y: pd.Series | None
    indices: tuple[np.ndarray, np.ndarray] | None
    # The events as read, excluded fields kept: what a retraining or a champion is given.
    read_events: pd.DataFrame
    excluded: dict[str, str]


def _split_events(frame: pd.DataFrame, spec: TrainSpec) -> _SplitEvents:
    """Returns the events of ``frame`` read as ``spec`` says and the split of their units."""
    if spec.feature_kind not in FEATURE_KINDS:
        raise UsageError(
            f"Unknown feature kind {spec.feature_kind!r}; use one of {', '.join(FEATURE_KINDS)}."
        )
    if spec.features is not None:
        raise UsageError(
            f"--features {spec.feature_kind} reads its own fields; it takes no column list."
        )
    extractor = make_extractor(spec.feature_kind, spec.feature_options)
    events, report = extractor.read(frame)
    if len(events) == 0:
        detail = f" {report.summary()}" if report is not None else ""
        raise InvalidInput(f"No events could be read from the data.{detail}")
    raw_labels: pd.Series | None = None
    if spec.target is not None and spec.target not in events.columns:
        raise InvalidInput(
            f"Target column {spec.target!r} does not exist; columns are: "
            + ", ".join(map(str, events.columns))
            + ".",
            errors=[{"loc": ["target"], "msg": "no such column"}],
        )
    excluded = _excluded_fields(events, spec, extractor)
    if spec.target is not None:
        raw_labels = events[spec.target]
        events = events.drop(columns=[spec.target])
    read_events = events
    events = events.drop(columns=list(excluded))
    task, algorithm = _task_and_algorithm(raw_labels, spec)
    units = extractor.units(events)
    if units.count == 0:
        raise InvalidInput("No sessions were found in the events; check the session options.")
    y: pd.Series | None = None
    if raw_labels is not None:
        if units.keys is None and task != "anomaly":
            y = raw_labels.reset_index(drop=True)
        else:
            y = pd.Series(units.labels(anomaly_labels(raw_labels)))
        y.name = spec.target
        if y.isna().any():
            # Dropping an unlabelled event would also drop it from its neighbours' windows,
            # so a gap in the labels is refused rather than silently changing the features.
            raise InvalidInput(
                f"Target column {spec.target!r} has empty values; with --features "
                f"{spec.feature_kind} every event needs a label (or none has one)."
            )
    if task == "anomaly" and units.keys is not None and spec.algorithm is None and y is not None:
        algorithm = SESSION_NORMAL_DEFAULT
    if units.keys is not None and spec.holdout_rows:
        # Held-out rows are events; sessions are split at random like any first training.
        spec = dataclasses.replace(spec, holdout_rows=0)
    indices = split_indices(y, task, spec)
    return _SplitEvents(
        extractor,
        report,
        events,
        raw_labels,
        task,
        algorithm,
        units,
        y,
        indices,
        read_events,
        excluded,
    )


def _excluded_fields(
    events: pd.DataFrame, spec: TrainSpec, extractor: FeatureExtractor
) -> dict[str, str]:
    """Returns the event fields the extractor must not see: those excluded, and label columns.

    The extractor picks its fields itself (by role, or as its options name
    them), so a field is left out by removing it from the events before it
    is fitted; the fitted extractor never reads it afterwards. A field named
    by an option cannot be excluded. Identifiers are not left out here: a
    request id is what names a session.
    """
    fields = [str(c) for c in events.columns]
    check_exclude(spec, fields)
    named = _option_fields(extractor)
    clash = [c for c in spec.exclude if c in named]
    if clash:
        raise InvalidInput(
            f"Field {clash[0]!r} is excluded but named by the {named[clash[0]]} option; "
            "keep it in one of them.",
            errors=[{"loc": ["exclude", c], "msg": "named by a feature option"} for c in clash],
        )
    excluded = dict.fromkeys(spec.exclude, EXCLUDED_AS_ASKED)
    for name in fields:
        if name in ALL_LABEL_COLUMNS and name != spec.target and name not in named:
            excluded.setdefault(name, EXCLUDED_LABEL)
    return excluded


def _option_fields(extractor: FeatureExtractor) -> dict[str, str]:
    """Returns the fields the extractor's options name, each with the option naming it."""
    named: dict[str, str] = {}
    for option, value in extractor.options().items():
        if not option.endswith(_FIELD_OPTION_SUFFIXES):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, str):
                named.setdefault(item, option)
    return named


def split_frame(frame: pd.DataFrame, spec: TrainSpec) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Returns the rows (or read events, labels kept) a run of ``spec`` fits on and holds out.

    The split is the one ``train_model`` makes for the same data and spec, so
    a retraining can keep the champion's held-out rows out of the
    challenger's training and score both on them. Without labels nothing is
    held out.
    """
    if spec.feature_kind == "tabular":
        if spec.target is None or spec.target not in frame.columns:
            return frame.reset_index(drop=True), None
        labelled = frame[frame[spec.target].notna()].reset_index(drop=True)
        data = prepare(labelled, spec)
        indices = split_indices(data.y, data.task, spec)
        if indices is None:
            return labelled, None
        return labelled.iloc[np.sort(indices[0])], labelled.iloc[np.sort(indices[1])]
    split = _split_events(frame, spec)
    events = split.read_events
    if split.raw_labels is not None:
        events = events.assign(**{str(spec.target): split.raw_labels.to_numpy()})
    if split.indices is None:
        return events.reset_index(drop=True), None
    # In their original order: rolling windows and lags read events as a timeline.
    train, test = (np.sort(split.units.events_of(part)) for part in split.indices)
    return events.iloc[train].reset_index(drop=True), events.iloc[test].reset_index(drop=True)


def prepare_extracted(frame: pd.DataFrame, spec: TrainSpec) -> ExtractedData:
    """Returns raw events turned into feature rows, split into train and test units.

    The label column (``spec.target``) is set aside before anything else sees
    the events; a session's label is 1 when any of its events is anomalous.
    """
    split = _split_events(frame, spec)
    events, units, extractor, task = split.events, split.units, split.extractor, split.task
    raw_labels, y, indices = split.raw_labels, split.y, split.indices
    train = np.arange(units.count) if indices is None else indices[0]
    test = None if indices is None else indices[1]
    fit_events = events.iloc[units.events_of(train)] if test is not None else events
    extractor.fit(fit_events, task=task)
    extracted = extractor.transform(events)
    X = extracted.features.reset_index(drop=True)
    if len(X) != units.count:
        raise InvalidInput("The feature extractor gave a different number of units than found.")
    schema = infer_schema(X.loc[:, X.notna().any()]) if len(X) else []
    missing = [c for c in X.columns if c not in {s.name for s in schema}]
    if missing:
        X = X.drop(columns=missing)
    test_frame = None
    if test is not None and raw_labels is not None:
        held_out = units.events_of(test)
        test_frame = split.read_events.iloc[held_out].copy()
        test_frame[spec.target] = raw_labels.iloc[held_out].to_numpy()
    data = PreparedData(task, split.algorithm, schema, X, y, split.excluded)
    return ExtractedData(data, extractor, split.report, train, test, test_frame)


def build_pipeline(
    data: PreparedData, params: Mapping[str, Any], feature_kind: str = "tabular"
) -> tuple[Pipeline, dict[str, Any]]:
    """Returns the unfitted preprocessing + estimator pipeline and the resolved parameters.

    ``auto`` without members given is made of the members chosen for
    ``feature_kind``, and they are recorded in the resolved parameters.
    """
    algorithm = get_algorithm(data.algorithm)
    if algorithm.name == "auto":
        # What auto is for this kind, recorded in the resolved parameters; given ones win.
        chosen = {k: v for k, v in params.items() if v is not None}
        params = {**params, **auto_params(feature_kind, (c.kind for c in data.schema)), **chosen}
    estimator, resolved = algorithm.build(data.task, params)
    preprocess = build_preprocessor(data.schema, scale=algorithm.scale, dense=algorithm.dense)
    return Pipeline([("preprocess", preprocess), ("model", estimator)]), resolved


def train_model(
    frame: pd.DataFrame, spec: TrainSpec, progress: Progress = _no_progress
) -> TrainOutcome:
    """Returns a fitted bundle and its evaluation for ``frame`` trained as ``spec`` says."""
    progress = _logged(progress)
    progress(0.02, "validating data")
    extracted: ExtractedData | None = None
    if spec.feature_kind == "tabular":
        data = prepare(frame, spec)
    else:
        progress(0.03, f"extracting {spec.feature_kind} features")
        extracted = prepare_extracted(frame, spec)
        data = extracted.data
        if spec.algorithm is None and getattr(extracted.extractor, "session_mode", False):
            data.algorithm = session_default(
                data.task,
                data.y is not None,
                data.algorithm,
                data.X.iloc[extracted.train],
                spec.params,
            )
    params, online = online_params(spec.params, data.algorithm, spec.feature_kind, data.task)
    sessions = extracted is not None and getattr(extracted.extractor, "session_mode", False)
    params = known_normal_params(
        data.task, data.y is not None, data.algorithm, params, sessions=sessions
    )
    pipeline, resolved = build_pipeline(data, params, spec.feature_kind)
    resolved = {**resolved, **(online or {})}
    if spec.cv is not None and not 2 <= spec.cv <= 20:
        raise UsageError(f"cv must be between 2 and 20 folds, got {spec.cv}.")
    if extracted is None:
        X_train, X_test, y_train, y_test = split(data, spec)
    else:
        X_train = data.X.iloc[extracted.train]
        X_test = data.X.iloc[extracted.test] if extracted.test is not None else None
        y_train = data.y.iloc[extracted.train] if data.y is not None else None
        y_test = (
            data.y.iloc[extracted.test]
            if data.y is not None and extracted.test is not None
            else None
        )

    classes: list[Any] = []
    if data.task == "classification":
        classes = sorted(y_train.unique().tolist(), key=lambda v: (str(type(v)), v))

    profiles, categories = profile_inputs(X_train, data.schema)
    bundle = ModelBundle(
        task=data.task,
        algorithm=data.algorithm,
        params=resolved,
        schema=data.schema,
        pipeline=pipeline,
        target=spec.target,
        classes=classes,
        profiles=profiles,
        categories=categories,
        extractor=extracted.extractor if extracted is not None else None,
    )
    progress(0.1, f"fitting {data.algorithm}")
    started = time.perf_counter()
    if data.task == "classification":
        pipeline.fit(X_train, bundle.class_codes(y_train))
    elif data.task == "regression":
        pipeline.fit(X_train, y_train.to_numpy(dtype=float))
    elif y_train is not None and sessions:
        pipeline.fit(known_normal_rows(X_train, y_train))
    else:
        pipeline.fit(X_train)
    bundle.online = fit_online_model(frame, extracted, online, data.algorithm)
    fit_seconds = time.perf_counter() - started
    progress(0.75, "evaluating")
    if bundle.online is not None:
        # What is served is the online detector: its metrics, scored online on later points.
        metrics = online_training_metrics(frame, extracted, bundle.online, spec.target)
    else:
        metrics = evaluate_bundle(bundle, X_test if X_test is not None else X_train, y_test)
    if spec.cv is not None and data.y is not None and data.task in ("classification", "regression"):
        progress(0.8, f"{spec.cv}-fold cross-validation")
        metrics.update(_cross_validate(pipeline, data, spec))
    metrics["fit_seconds"] = round(fit_seconds, 4)

    progress(0.9, "feature importance")
    importance = feature_importance(bundle, X_test, y_test)
    progress(1.0, "done")
    return TrainOutcome(
        bundle=bundle,
        task=data.task,
        algorithm=data.algorithm,
        params=resolved,
        metrics=metrics,
        feature_importance=importance,
        rows=len(data.X),
        train_rows=len(X_train),
        test_rows=0 if X_test is None else len(X_test),
        fit_seconds=fit_seconds,
        X_test=X_test,
        y_test=y_test,
        parse_report=extracted.report if extracted is not None else None,
        test_frame=extracted.test_frame if extracted is not None else None,
        reference=_reference_sample(data.X),
        excluded=data.excluded,
    )


def _reference_sample(X: pd.DataFrame) -> pd.DataFrame | None:
    """Returns a bounded random sample of the input rows the model was trained on."""
    if X.empty:
        return None
    sample = X.sample(REFERENCE_ROWS, random_state=0) if len(X) > REFERENCE_ROWS else X
    return sample.reset_index(drop=True)


def evaluate_bundle(bundle: ModelBundle, X: pd.DataFrame, y: pd.Series | None) -> dict[str, Any]:
    """Returns the task's metrics of ``bundle`` on prepared rows ``X`` with labels ``y``."""
    if bundle.task == "classification":
        if y is None:
            raise InvalidInput("Evaluating a classifier needs the target column.")
        predicted = np.asarray(bundle.pipeline.predict(X)).astype(int)
        has_proba = hasattr(bundle.pipeline[-1], "predict_proba")
        proba = bundle.pipeline.predict_proba(X) if has_proba else None
        return task_metrics.classification_metrics(
            bundle.class_codes(y), predicted, proba, bundle.classes
        )
    if bundle.task == "regression":
        if y is None:
            raise InvalidInput("Evaluating a regressor needs the target column.")
        return task_metrics.regression_metrics(
            y.to_numpy(dtype=float), np.asarray(bundle.pipeline.predict(X), dtype=float)
        )
    if bundle.task == "clustering":
        labels = np.asarray(bundle.pipeline.predict(X))
        return task_metrics.clustering_metrics(bundle.pipeline[:-1].transform(X), labels)
    scores = bundle.anomaly_scores(X)
    flagged = (scores >= bundle.pipeline[-1].threshold_).astype(int)
    if y is None:
        return {"anomaly_rate": float(flagged.mean())}
    return task_metrics.anomaly_metrics(anomaly_labels(y), flagged, scores)


def _cross_validate(pipeline: Pipeline, data: PreparedData, spec: TrainSpec) -> dict[str, Any]:
    assert data.y is not None and spec.cv is not None
    if data.task == "classification":
        folds: Any = StratifiedKFold(n_splits=spec.cv, shuffle=True, random_state=spec.seed)
        scoring, name = "accuracy", "accuracy"
        target = data.y.astype(str).to_numpy()
    else:
        folds = KFold(n_splits=spec.cv, shuffle=True, random_state=spec.seed)
        scoring, name = "r2", "r2"
        target = data.y.to_numpy(dtype=float)
    try:
        scores = cross_val_score(clone(pipeline), data.X, target, cv=folds, scoring=scoring)
    except ValueError as exc:
        raise InvalidInput(f"Cross-validation with {spec.cv} folds failed: {exc}") from exc
    return {
        f"cv_{name}_mean": float(np.mean(scores)),
        f"cv_{name}_std": float(np.std(scores)),
        "cv_folds": spec.cv,
    }
