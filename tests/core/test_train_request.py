"""The train request contract: what it accepts, what it refuses (naming the field), round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.training.request import (
    TrainRequest,
    parse_train_request,
    spec_to_json,
    train_spec_from_request,
)
from vigil.training.trainer import TrainSpec

ROUND_TRIPS = [
    TrainSpec(),
    TrainSpec(
        task="classification",
        algorithm="random_forest",
        target="churned",
        features=["plan", "tenure_months"],
        exclude=("region", "signup_at"),
        params={"n_estimators": 30, "max_depth": "4"},
        test_size=0.3,
        cv=5,
        seed=7,
    ),
    TrainSpec(
        task="anomaly",
        target="is_anomaly",
        exclude=("anomaly_type",),
        feature_kind="logs",
        feature_options={"session_field": "request_id", "log_format": "json", "tfidf_features": 8},
    ),
    TrainSpec(
        task="anomaly",
        feature_kind="metrics",
        feature_options={"window": "1h", "series_column": "series", "value_column": "value"},
    ),
    TrainSpec(feature_kind="requests", feature_options={"text_column": "payload"}),
    TrainSpec(feature_kind="logs", holdout_rows=120),
]


@pytest.mark.parametrize("spec", ROUND_TRIPS)
def test_a_spec_survives_json_and_back(spec: TrainSpec) -> None:
    document = json.loads(json.dumps(spec_to_json(spec)))
    assert train_spec_from_request(document) == spec


def test_features_take_a_kind_or_a_list_of_columns() -> None:
    logs = train_spec_from_request({"features": "logs", "feature_options": {"window": "10min"}})
    assert (logs.feature_kind, logs.features, dict(logs.feature_options)) == (
        "logs",
        None,
        {"window": "10min"},
    )
    columns = train_spec_from_request({"features": ["a", "b"], "exclude": ["c"]})
    assert (columns.feature_kind, columns.features, columns.exclude) == (
        "tabular",
        ["a", "b"],
        ("c",),
    )
    assert train_spec_from_request({"features": "tabular"}).features is None


def test_the_rest_body_and_a_stored_spec_give_the_same_spec() -> None:
    body = {
        "data": {"rows": [{"a": 1, "b": None}]},
        "features": "requests",
        "feature_options": {"text_column": "payload", "numeric_columns": None},
        "deploy": "if_better",
        "exclude": ["client_ip"],
    }
    spec = train_spec_from_request(body)
    assert dict(spec.feature_options) == {"text_column": "payload"}  # unset options dropped
    assert train_spec_from_request(spec_to_json(spec)) == spec


# (request, location of the first error, a fragment of the message)
REFUSED: list[tuple[Any, list[str | int], str]] = [
    ({"colour": "red"}, ["colour"], "Unknown field 'colour' in the train request"),
    ({"window": "5min"}, ["window"], "go in feature_options"),
    ({"features": "logz"}, ["features"], "features must be a list of column names or one of"),
    ({"features": ["a", 3]}, ["features"], "got ['a', 3]"),
    ({"task": "forecast"}, ["horizon"], "horizon is required for task forecast"),
    ({"horizon": 0}, ["horizon"], "horizon should be greater than or equal to 1"),
    ({"task": "regression", "horizon": 3}, ["horizon"], "horizon applies to task forecast only"),
    ({"task": "recommendation"}, ["task"], "'recommendation' is not available yet"),
    ({"task": "sorting"}, ["task"], "task must be one of auto, classification"),
    ({"deploy": "sometimes"}, ["deploy"], "deploy must be one of never, always, if_better"),
    ({"search": {"trials": 10}}, ["search"], "search is not available yet"),
    ({"algorithm": "magic"}, ["algorithm"], "algorithm must be one of the catalogue's"),
    ({"test_size": 0}, ["test_size"], "test_size should be greater than 0"),
    ({"test_size": "0.3"}, ["test_size"], "test_size should be a valid number"),
    ({"cv": 1}, ["cv"], "cv should be greater than or equal to 2"),
    ({"seed": True}, ["seed"], "seed should be a valid integer"),
    ({"exclude": "a,b"}, ["exclude"], "exclude should be a valid list"),
    ({"params": ["a"]}, ["params"], "params should be a valid dictionary"),
    ({"data": {"rows": []}}, ["data", "rows"], "data.rows: List should have at least 1 item"),
    ({"data": {"rows": [{"a": [1]}]}}, ["data", "rows", 0, "a"], "data.rows[0].a must be a"),
    ({"data": {"file": "x.csv"}}, ["data", "file"], "Unknown field 'data.file'"),
    (
        {"feature_options": {"session_key": "blk"}},
        ["feature_options", "session_key"],
        "--session-key needs --features logs, metrics or requests",
    ),
    (
        {"features": "metrics", "feature_options": {"session_key": "blk"}},
        ["feature_options", "session_key"],
        "--session-key does not apply to --features metrics",
    ),
    (
        {"features": "logs", "feature_options": {"window": 5}},
        ["feature_options", "window"],
        "feature_options.window should be a valid string",
    ),
    (
        {"features": "logs", "feature_options": {"session_key": "blk_("}},
        ["feature_options"],
        "not a valid regex",
    ),
    (
        {"features": "logs", "feature_options": {"window": "5min", "session_key": "b"}},
        ["feature_options"],
        "one way",
    ),
    (["not", "an", "object"], [], "must be an object"),
]


@pytest.mark.parametrize(("request_", "loc", "fragment"), REFUSED)
def test_a_wrong_field_is_refused_naming_it(
    request_: Any, loc: list[str | int], fragment: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        train_spec_from_request(request_)
    assert isinstance(refused.value, UsageError)  # bad usage: the CLI exits 2
    assert fragment in refused.value.message
    assert refused.value.errors[0]["loc"] == loc


def test_every_wrong_field_is_listed() -> None:
    with pytest.raises(InvalidInput) as refused:
        train_spec_from_request({"task": "x", "cv": 0, "colour": 1})
    assert [e["loc"] for e in refused.value.errors] == [["task"], ["cv"], ["colour"]]
    assert refused.value.message.endswith("(and 2 more).")


def test_rows_from_a_dataframe_keep_missing_values_and_timestamps() -> None:
    import pandas as pd

    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-01"]), "x": [float("nan")]})
    parsed = parse_train_request({"data": {"rows": frame.to_dict(orient="records")}})
    assert parsed.data is not None and parsed.data.rows is not None
    assert parsed.data.rows[0]["x"] is None
    with pytest.raises(InvalidInput, match=r"data.rows\[0\].x must be a finite number"):
        parse_train_request({"data": {"rows": [{"x": float("inf")}]}})


def test_the_schema_documents_features_as_columns_or_a_kind() -> None:
    features = TrainRequest.model_json_schema()["properties"]["features"]
    shapes = {s.get("type") for s in features["anyOf"]}
    assert shapes == {"array", "string", "null"}
