"""Events a log, metric or request model cannot read are refused naming row and field.

Every case here used to reach the feature code and fail there (``KeyError:
'level'``, a string where a number belongs silently read as missing, an
infinity passed to the model); each must now be an ``InvalidInput`` (422).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from vigil.data.loading import read_lines
from vigil.errors import InvalidInput
from vigil.features.fields import InputField
from vigil.simulate import simulate
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import TrainSpec, train_model

LABELS = ["is_anomaly", "anomaly_type"]
LOG_FIELDS = (
    "required fields timestamp (time), level (text), service (text), message (text) "
    "and optional fields response_time (number), status_code (number)"
)


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return simulate("logs", 600, anomaly_rate=0.05, seed=11)


def _events(frame: pd.DataFrame, rows: int = 2) -> list[dict[str, Any]]:
    """Returns the first rows of simulated data as JSON-like events, labels dropped."""
    records = frame.drop(columns=LABELS).head(rows).to_dict("records")
    return [
        {str(k): v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in r.items()}
        for r in records
    ]


def _refusal(bundle: ModelBundle, events: list[dict[str, Any]]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        bundle.predict_with_report(pd.DataFrame(events))
    return caught.value


@pytest.fixture(scope="module")
def event_model(logs: pd.DataFrame) -> ModelBundle:
    return train_model(
        logs, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="logs")
    ).bundle


@pytest.fixture(scope="module")
def raw_model(logs: pd.DataFrame) -> ModelBundle:
    text = logs.to_json(orient="records", lines=True, date_format="iso")
    return train_model(
        read_lines(text.encode()), TrainSpec(task="anomaly", feature_kind="logs")
    ).bundle


# --- per-event log models ---------------------------------------------------------------


def test_a_log_event_model_lists_the_fields_it_reads(event_model: ModelBundle) -> None:
    assert event_model.extractor is not None
    assert event_model.extractor.fields() == [
        InputField("timestamp", "time", True),
        InputField("level", "text", True),
        InputField("service", "text", True),
        InputField("message", "text", True),
        InputField("response_time", "number", False),
        InputField("status_code", "number", False),
    ]


def test_an_event_without_level_names_the_row_and_the_fields_accepted(
    logs: pd.DataFrame, event_model: ModelBundle
) -> None:
    good, other = _events(logs)
    del other["level"], other["service"]
    error = _refusal(event_model, [good, other])
    assert error.message == (
        f"Row 1 has no 'level' or 'service'; the model reads log events with {LOG_FIELDS}."
    )
    assert error.errors == [
        {"loc": ["data", 1, "level"], "msg": "missing field"},
        {"loc": ["data", 1, "service"], "msg": "missing field"},
    ]


def test_a_null_required_field_is_a_missing_one(
    logs: pd.DataFrame, event_model: ModelBundle
) -> None:
    (event,) = _events(logs, 1)
    error = _refusal(event_model, [{**event, "level": None}])
    assert error.message.startswith("Row 0 has no 'level';")


def test_an_unrelated_object_names_every_required_field(event_model: ModelBundle) -> None:
    error = _refusal(event_model, [{"foo": 1}])
    assert error.message.startswith(
        "Row 0 has no 'timestamp', 'level', 'service' or 'message'; the model reads log events"
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("response_time", "x", "a finite number between -3.4e38 and 3.4e38, not 'x'"),
        ("response_time", "inf", "a finite number between -3.4e38 and 3.4e38, not 'inf'"),
        ("status_code", "1e999", "a finite number between -3.4e38 and 3.4e38, not '1e999'"),
        ("status_code", True, "a finite number between -3.4e38 and 3.4e38, not True"),
        ("timestamp", "yesterday", "a timestamp (ISO 8601 text or epoch seconds), not 'yesterday'"),
        ("message", {"text": "hi"}, "text, not {'text': 'hi'}"),
    ],
)
def test_a_value_of_the_wrong_kind_names_row_and_field(
    logs: pd.DataFrame, event_model: ModelBundle, field: str, value: Any, expected: str
) -> None:
    good, bad = _events(logs)
    error = _refusal(event_model, [good, {**bad, field: value}])
    assert error.message == f"Field {field!r} of row 1 must be {expected}."
    assert error.errors is not None and error.errors[0]["loc"] == ["data", 1, field]


def test_optional_numbers_may_be_null_numeric_text_or_absent(
    logs: pd.DataFrame, event_model: ModelBundle
) -> None:
    first, second = _events(logs)
    del first["status_code"]
    events = [{**first, "response_time": None}, {**second, "response_time": "12.5"}]
    assert len(event_model.predict(pd.DataFrame(events))) == 2


def test_evaluation_data_is_checked_the_same_way(
    logs: pd.DataFrame, event_model: ModelBundle
) -> None:
    frame = logs.head(50).drop(columns=["level"])
    with pytest.raises(InvalidInput, match=r"Row 0 has no 'level'"):
        event_model.labelled(frame, "is_anomaly")


def test_a_field_some_training_events_lacked_is_optional_even_absent_from_a_batch(
    logs: pd.DataFrame,
) -> None:
    patchy = logs.copy()
    patchy.loc[::7, "service"] = None
    bundle = train_model(patchy, TrainSpec(task="anomaly", feature_kind="logs")).bundle
    assert bundle.extractor is not None
    assert InputField("service", "text", False) in bundle.extractor.fields()
    events = [{k: v for k, v in e.items() if k != "service"} for e in _events(logs)]
    assert len(bundle.predict(pd.DataFrame(events))) == 2


def test_a_model_saved_before_fields_were_recorded_takes_its_fields_as_required(
    logs: pd.DataFrame, event_model: ModelBundle
) -> None:
    extractor = event_model.extractor
    assert extractor is not None
    recorded = extractor.fields_  # type: ignore[attr-defined]
    del extractor.fields_  # type: ignore[attr-defined]
    try:
        assert extractor.fields() == recorded
        (event,) = _events(logs, 1)
        del event["message"]
        assert _refusal(event_model, [event]).message.startswith("Row 0 has no 'message';")
    finally:
        extractor.fields_ = recorded  # type: ignore[attr-defined]


# --- raw-log models ---------------------------------------------------------------------


def test_a_raw_log_model_asks_for_the_line_it_reads(raw_model: ModelBundle) -> None:
    error = _refusal(raw_model, [{"foo": 1}])
    assert error.message == (
        "Row 0 has no 'line'; the model reads raw log lines, each as "
        '{"line": "<log line>"} (or events already parsed, with ' + LOG_FIELDS + ")."
    )
    assert error.errors == [{"loc": ["data", 0, "line"], "msg": "missing field"}]
    assert _refusal(raw_model, [{"line": None}]).message.startswith("Row 0 has no 'line';")


def test_a_raw_log_model_reads_the_line_beside_other_fields_and_parsed_events(
    logs: pd.DataFrame, raw_model: ModelBundle
) -> None:
    event = _events(logs, 1)[0]
    line = pd.Series([event]).to_json(orient="records", lines=True)
    (by_line,) = raw_model.predict(pd.DataFrame([{"line": line, "source": "agent-7"}]))
    (by_event,) = raw_model.predict(pd.DataFrame([event]))
    assert by_line["line"] == 1
    assert by_line["score"] == pytest.approx(by_event["score"])


def test_a_raw_line_without_the_parsed_fields_names_its_line(raw_model: ModelBundle) -> None:
    error = _refusal(raw_model, [{"line": '{"message": "disk full"}'}])
    assert error.message.startswith("Line 1 has no 'timestamp', 'level' or 'service';")
    assert error.errors is not None and error.errors[0]["loc"] == ["data", 1, "timestamp"]


# --- session models ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def session_model(logs: pd.DataFrame) -> ModelBundle:
    spec = TrainSpec(
        task="anomaly", feature_kind="logs", feature_options={"session_field": "request_id"}
    )
    return train_model(logs.drop(columns=LABELS), spec).bundle


def test_a_session_model_refuses_events_it_cannot_read(
    logs: pd.DataFrame, session_model: ModelBundle
) -> None:
    good, bad = _events(logs)
    no_message = {k: v for k, v in bad.items() if k != "message"}
    assert _refusal(session_model, [good, no_message]).message.startswith(
        "Row 1 has no 'message'; the model reads log events with required fields message (text)"
    )
    error = _refusal(session_model, [good, {**bad, "response_time": "slow"}])
    assert (
        error.message
        == "Field 'response_time' of row 1 must be a finite number between -3.4e38 and 3.4e38, "
        "not 'slow'."
    )


def test_a_session_model_needs_the_field_that_names_sessions(
    logs: pd.DataFrame, session_model: ModelBundle
) -> None:
    events = [{k: v for k, v in e.items() if k != "request_id"} for e in _events(logs)]
    with pytest.raises(InvalidInput, match=r"No event has 'request_id', the field that names"):
        session_model.predict(pd.DataFrame(events))


# --- metric and request models ----------------------------------------------------------


@pytest.fixture(scope="module")
def metric_model() -> ModelBundle:
    points = simulate("metrics", 900, seed=12)
    spec = TrainSpec(task="anomaly", target="is_anomaly", feature_kind="metrics")
    return train_model(points, spec).bundle


POINT = {"timestamp": "2024-01-02T00:00:00", "series": "cpu_utilization", "value": 21.5}


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", "'abc'"), ("inf", "'inf'"), ("1e999", "'1e999'"), ("-inf", "'-inf'")],
)
def test_a_metric_value_that_is_not_a_finite_number_is_refused(
    metric_model: ModelBundle, value: str, shown: str
) -> None:
    error = _refusal(metric_model, [POINT, {**POINT, "value": value}])
    assert (
        error.message
        == "Field 'value' of row 1 must be a finite number between -3.4e38 and 3.4e38, "
        f"not {shown}."
    )


def test_a_metric_point_without_value_series_or_time_names_them(
    metric_model: ModelBundle,
) -> None:
    reads = (
        "the model reads metric points with required fields timestamp (time), value (number), "
        "series (text)."
    )
    assert _refusal(metric_model, [{**POINT, "value": None}]).message == (
        f"Row 0 has no 'value'; {reads}"
    )
    point = {k: v for k, v in POINT.items() if k != "series"}
    assert _refusal(metric_model, [point]).message == f"Row 0 has no 'series'; {reads}"
    point = {k: v for k, v in POINT.items() if k != "timestamp"}
    assert _refusal(metric_model, [point]).message == f"Row 0 has no 'timestamp'; {reads}"
    assert len(metric_model.predict(pd.DataFrame([{**POINT, "value": "21.5"}]))) == 1


@pytest.fixture(scope="module")
def request_model() -> ModelBundle:
    requests = simulate("requests", 600, seed=13)
    spec = TrainSpec(task="anomaly", target="is_anomaly", feature_kind="requests")
    return train_model(requests, spec).bundle


REQUEST = {"method": "GET", "path": "/search", "payload": "shoes", "status_code": 200}


def test_a_request_without_its_payload_names_the_fields_accepted(
    request_model: ModelBundle,
) -> None:
    error = _refusal(request_model, [{**REQUEST, "payload": None}])
    assert error.message == (
        "Row 0 has no 'payload'; the model reads requests with required field payload (text) "
        "and optional fields status_code (number), response_size (number)."
    )


@pytest.mark.parametrize(
    ("field", "value"), [("response_size", "x"), ("status_code", "inf"), ("payload", ["a"])]
)
def test_a_request_field_of_the_wrong_kind_is_refused(
    request_model: ModelBundle, field: str, value: Any
) -> None:
    error = _refusal(request_model, [REQUEST, {**REQUEST, field: value}])
    assert error.message.startswith(f"Field {field!r} of row 1 must be ")
