"""The extractor interface and its wiring into training and prediction."""

from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from vigil.data.loading import read_lines
from vigil.errors import InvalidInput, UsageError
from vigil.features.extractors import LogExtractor, Units, make_extractor
from vigil.simulate import simulate
from vigil.training.trainer import TrainSpec, evaluate_bundle, train_model


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return simulate("logs", 6000, anomaly_rate=0.05, seed=21).drop(columns="anomaly_type")


def _as_lines(frame: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    text = frame.to_json(orient="records", lines=True, date_format="iso")
    return read_lines((text.rstrip("\n") + "".join(f"\n{e}" for e in extra)).encode())


def test_make_extractor_knows_the_kinds_and_their_options() -> None:
    assert make_extractor("logs", {"session_key": r"blk_\d+"}).kind == "logs"
    assert make_extractor("metrics", {"window": "30min"}).kind == "metrics"
    assert make_extractor("requests", {"text_column": "q", "window": None}).kind == "requests"
    with pytest.raises(UsageError, match="Unknown feature kind"):
        make_extractor("images")
    with pytest.raises(UsageError, match="--session-key does not apply to --features metrics"):
        make_extractor("metrics", {"session_key": "x"})
    with pytest.raises(UsageError, match="one way"):
        make_extractor("logs", {"session_key": "x", "window": "5min"})


def test_units_aggregate_labels_any_anomalous_event() -> None:
    units = Units(2, np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), ["a", "b"])
    assert units.labels(np.array([0, 1, 0])).tolist() == [1, 1]
    assert units.events_of(np.array([1])).tolist() == [1, 2]


def test_per_event_training_sets_the_label_aside_and_scores_the_test_part(
    logs: pd.DataFrame,
) -> None:
    outcome = train_model(logs, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="logs"))
    names = outcome.bundle.feature_names
    assert "is_anomaly" not in names and not any("is_anomaly" in n for n in names)
    assert outcome.rows == len(logs) and outcome.test_rows == int(np.ceil(len(logs) * 0.2))
    assert outcome.metrics["roc_auc"] > 0.8
    assert outcome.bundle.feature_kind == "logs"
    assert outcome.test_frame is not None and "is_anomaly" in outcome.test_frame.columns


def test_the_extractor_learns_only_from_training_units(logs: pd.DataFrame) -> None:
    outcome = train_model(logs, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="logs"))
    extractor = outcome.bundle.extractor
    assert isinstance(extractor, LogExtractor)
    assert extractor.features_.miner_.n_messages_ == outcome.train_rows


def test_raw_lines_predict_per_event_in_order_with_line_numbers(logs: pd.DataFrame) -> None:
    lines = _as_lines(logs.head(3000))
    outcome = train_model(lines, TrainSpec(task="anomaly", feature_kind="logs"))
    assert outcome.parse_report is not None and outcome.parse_report.format == "json"
    batch = outcome.bundle.predict_with_report(_as_lines(logs.iloc[3000:3100], ("", "oops")))
    assert [p["line"] for p in batch.outputs] == list(range(1, 101))
    assert batch.parse_report is not None
    assert (batch.parse_report.malformed, batch.parse_report.blank) == (1, 1)
    assert batch.parse_report.examples[0].line == 102
    assert {"prediction", "score", "is_anomaly", "severity"} <= set(batch.outputs[0])


def test_normal_events_sent_one_at_a_time_are_not_flagged_for_their_thin_context(
    logs: pd.DataFrame,
) -> None:
    # As over REST, one event a request: no window of history comes with it.
    outcome = train_model(
        logs.head(4000).drop(columns="is_anomaly"), TrainSpec(task="anomaly", feature_kind="logs")
    )
    normal = logs.iloc[4000:][logs["is_anomaly"].iloc[4000:] == 0].head(40)
    flagged = [
        outcome.bundle.predict(normal.iloc[[i]].drop(columns="is_anomaly"))[0]["is_anomaly"]
        for i in range(len(normal))
    ]
    # The model flags 5% of normal traffic (contamination); alone, events are no worse.
    assert sum(flagged) <= 6, flagged


def test_session_models_answer_per_session_in_first_appearance_order(
    logs: pd.DataFrame,
) -> None:
    spec = TrainSpec(
        task="anomaly",
        target="is_anomaly",
        feature_kind="logs",
        feature_options={"session_field": "request_id"},
    )
    outcome = train_model(logs, spec)
    assert outcome.rows == logs["request_id"].nunique()
    tail = logs.iloc[5000:5200]
    outputs = outcome.bundle.predict(tail)
    assert [o["session"] for o in outputs] == list(dict.fromkeys(tail["request_id"]))
    X, y = outcome.bundle.labelled(tail, "is_anomaly")
    assert len(X) == len(y) == len(outputs)
    expected = tail.groupby("request_id", sort=False)["is_anomaly"].max()
    assert y.tolist() == expected.tolist()


def test_time_window_sessions(logs: pd.DataFrame) -> None:
    spec = TrainSpec(task="anomaly", feature_kind="logs", feature_options={"window": "10min"})
    outcome = train_model(logs, spec)
    outputs = outcome.bundle.predict(logs)
    assert len(outputs) == outcome.rows
    assert outputs[0]["session"] == "2024-01-01T00:00:00Z"


def test_supervised_models_train_on_the_same_features(logs: pd.DataFrame) -> None:
    spec = TrainSpec(
        task="classification",
        algorithm="random_forest",
        target="is_anomaly",
        feature_kind="logs",
        params={"n_estimators": 30},
    )
    outcome = train_model(logs, spec)
    assert outcome.task == "classification"
    assert outcome.metrics["roc_auc"] > 0.9


def test_a_bundle_round_trips_through_an_artifact(logs: pd.DataFrame) -> None:
    outcome = train_model(logs.head(3000), TrainSpec(task="anomaly", feature_kind="logs"))
    buffer = io.BytesIO()
    joblib.dump(outcome.bundle, buffer, compress=3)
    restored = joblib.load(io.BytesIO(buffer.getvalue()))
    tail = logs.iloc[3000:3500]
    assert restored.predict(tail) == outcome.bundle.predict(tail)


def test_metrics_and_requests_train_and_predict_per_row() -> None:
    metrics = simulate("metrics", 3000, seed=1).drop(columns="anomaly_type")
    outcome = train_model(
        metrics, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="metrics")
    )
    assert outcome.metrics["roc_auc"] > 0.7
    assert len(outcome.bundle.predict(metrics.head(50))) == 50
    requests = simulate("requests", 3000, seed=1).drop(columns="anomaly_type")
    outcome = train_model(
        requests, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="requests")
    )
    assert outcome.metrics["roc_auc"] > 0.7
    X_test = outcome.X_test
    assert X_test is not None
    assert evaluate_bundle(outcome.bundle, X_test, outcome.y_test)["roc_auc"] > 0.7


def test_refusals_name_the_problem(logs: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="Target column 'label'"):
        train_model(logs, TrainSpec(task="anomaly", target="label", feature_kind="logs"))
    with pytest.raises(UsageError, match="takes no column list"):
        train_model(logs, TrainSpec(features=["message"], feature_kind="logs"))
    garbage = read_lines(b"\n".join([b"{not json"] * 5))
    with pytest.raises(InvalidInput, match="No events"):
        train_model(garbage, TrainSpec(feature_kind="logs", feature_options={"log_format": "json"}))
    lines = read_lines(json.dumps({"message": "no key here"}).encode())
    with pytest.raises(InvalidInput, match="No sessions"):
        train_model(
            lines, TrainSpec(feature_kind="logs", feature_options={"session_key": r"blk_\d+"})
        )
