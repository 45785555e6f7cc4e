"""Which columns become features: ``exclude``, simulated labels and identifiers left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.data.loading import read_lines
from vigil.errors import InvalidInput
from vigil.simulate import simulate
from vigil.training.trainer import (
    EXCLUDED_AS_ASKED,
    EXCLUDED_IDENTIFIER,
    EXCLUDED_LABEL,
    TrainSpec,
    split_frame,
    train_model,
)


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return simulate("transactions", 600, anomaly_rate=0.1, seed=4)


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return simulate("logs", 800, anomaly_rate=0.05, seed=5)


def _table(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "y": np.where(x > 0, "yes", "no"),
        }
    )


# --- exclude on tables ------------------------------------------------------------------


def test_excluded_columns_are_not_features_and_are_reported() -> None:
    outcome = train_model(
        _table(), TrainSpec(target="y", algorithm="logistic_regression", exclude=("noise",))
    )
    assert outcome.bundle.feature_names == ["x", "colour"]
    assert outcome.excluded == {"noise": EXCLUDED_AS_ASKED}


def test_exclude_with_a_features_list_keeps_only_the_named_features() -> None:
    spec = TrainSpec(
        target="y", algorithm="logistic_regression", features=["x", "colour"], exclude=("noise",)
    )
    outcome = train_model(_table(), spec)
    assert outcome.bundle.feature_names == ["x", "colour"]
    assert outcome.excluded == {"noise": EXCLUDED_AS_ASKED}


def test_a_column_both_named_as_feature_and_excluded_is_refused() -> None:
    spec = TrainSpec(target="y", features=["x", "noise"], exclude=("noise",))
    with pytest.raises(InvalidInput, match=r"'noise' is both named in features and excluded") as e:
        train_model(_table(), spec)
    assert e.value.errors == [{"loc": ["exclude", "noise"], "msg": "also named in features"}]


def test_excluding_a_column_that_does_not_exist_names_it_and_the_columns() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"Excluded column 'nope' does not exist; columns are: x, noise, colour, y",
    ):
        train_model(_table(), TrainSpec(target="y", exclude=("nope",)))


def test_excluding_the_target_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"'y' is the target; it cannot also be excluded"):
        train_model(_table(), TrainSpec(target="y", exclude=("y",)))


def test_excluding_every_feature_says_what_was_left_out() -> None:
    frame = _table()[["x", "y"]]
    with pytest.raises(InvalidInput, match=r"No feature columns are left.*x is excluded as asked"):
        train_model(frame, TrainSpec(target="y", exclude=("x",)))


def test_prediction_ignores_an_excluded_column_sent_anyway() -> None:
    frame = _table()
    bundle = train_model(
        frame, TrainSpec(target="y", algorithm="logistic_regression", exclude=("noise",))
    ).bundle
    rows = frame.head(3)
    assert bundle.predict(rows.assign(noise="garbage")) == bundle.predict(
        rows.drop(columns="noise")
    )


# --- labels of simulated data and identifiers -------------------------------------------


def test_simulated_transactions_leave_the_label_and_the_id_out(
    transactions: pd.DataFrame,
) -> None:
    outcome = train_model(
        transactions, TrainSpec(target="is_anomaly", algorithm="random_forest", test_size=0.3)
    )
    names = outcome.bundle.feature_names
    assert "anomaly_type" not in names and "transaction_id" not in names
    assert "amount" in names and "account_id" in names
    assert outcome.excluded == {
        "transaction_id": EXCLUDED_IDENTIFIER,
        "anomaly_type": EXCLUDED_LABEL,
    }


def test_label_and_identifier_columns_named_as_features_are_kept(
    transactions: pd.DataFrame,
) -> None:
    spec = TrainSpec(
        target="is_anomaly",
        algorithm="random_forest",
        features=["amount", "anomaly_type", "transaction_id"],
    )
    outcome = train_model(transactions, spec)
    assert outcome.bundle.feature_names == ["amount", "anomaly_type", "transaction_id"]
    assert outcome.excluded == {}


def test_the_other_label_is_left_out_when_the_label_kind_is_the_target(
    transactions: pd.DataFrame,
) -> None:
    outcome = train_model(
        transactions, TrainSpec(target="anomaly_type", algorithm="random_forest", test_size=0.3)
    )
    assert outcome.task == "classification"
    assert "is_anomaly" not in outcome.bundle.feature_names
    assert outcome.excluded["is_anomaly"] == EXCLUDED_LABEL


def test_unsupervised_training_on_simulated_users_leaves_every_label_out() -> None:
    users = simulate("users", 300, seed=2)
    outcome = train_model(users, TrainSpec(task="clustering"))
    assert set(outcome.excluded) == {"user_id", "segment", "is_anomaly", "anomaly_type"}
    assert outcome.bundle.feature_names == [
        "device",
        "account_age_days",
        "sessions_per_week",
        "avg_session_minutes",
        "pages_per_session",
        "purchases",
        "days_since_last_visit",
    ]


def test_any_category_different_on_every_row_is_an_identifier_but_text_and_numbers_are_not() -> (
    None
):
    frame = _table()
    frame["order_ref"] = [f"ord-{i:05d}" for i in range(len(frame))]
    frame["serial"] = np.arange(len(frame))  # numbers may be a measurement
    words = np.array(["late", "parcel", "refund", "great", "broken", "box"])
    rng = np.random.default_rng(1)
    frame["note"] = [" ".join(rng.choice(words, 4)) + f" order {i}" for i in range(len(frame))]
    outcome = train_model(frame, TrainSpec(target="y", algorithm="logistic_regression"))
    assert outcome.excluded == {"order_ref": EXCLUDED_IDENTIFIER}
    assert {"serial", "note"} <= set(outcome.bundle.feature_names)


def test_a_few_distinct_categories_are_not_taken_for_an_identifier() -> None:
    frame = _table(12)
    frame["city"] = [f"city-{i}" for i in range(12)]
    spec = TrainSpec(target="x", algorithm="linear_regression", test_size=0.25)
    assert "city" in train_model(frame, spec).bundle.feature_names


# --- extracted features -----------------------------------------------------------------


def test_log_training_leaves_the_simulated_label_kind_out(logs: pd.DataFrame) -> None:
    outcome = train_model(logs, TrainSpec(task="anomaly", target="is_anomaly", feature_kind="logs"))
    assert outcome.excluded == {"anomaly_type": EXCLUDED_LABEL}
    extractor = outcome.bundle.extractor
    assert extractor is not None
    assert "anomaly_type" not in {f.name for f in extractor.fields()}


def test_an_excluded_event_field_is_never_read_in_training_or_prediction(
    logs: pd.DataFrame,
) -> None:
    spec = TrainSpec(
        task="anomaly", target="is_anomaly", feature_kind="logs", exclude=("response_time",)
    )
    outcome = train_model(logs, spec)
    bundle = outcome.bundle
    assert outcome.excluded == {"response_time": EXCLUDED_AS_ASKED, "anomaly_type": EXCLUDED_LABEL}
    assert bundle.extractor is not None
    assert "response_time" not in {f.name for f in bundle.extractor.fields()}
    assert not any("latency" in name for name in bundle.feature_names)
    events = logs.drop(columns=["is_anomaly", "anomaly_type"]).head(5)
    garbled = events.assign(response_time="not a number")
    assert [p["score"] for p in bundle.predict(garbled)] == [
        p["score"] for p in bundle.predict(events)
    ]


def test_excluding_a_field_of_raw_lines_names_the_parsed_fields(logs: pd.DataFrame) -> None:
    text = logs.head(400).to_json(orient="records", lines=True, date_format="iso")
    lines = read_lines(text.encode())
    outcome = train_model(lines, TrainSpec(task="anomaly", feature_kind="logs", exclude=("host",)))
    assert outcome.excluded["host"] == EXCLUDED_AS_ASKED
    with pytest.raises(InvalidInput, match=r"Excluded column 'hots' does not exist.*host"):
        train_model(lines, TrainSpec(task="anomaly", feature_kind="logs", exclude=("hots",)))


def test_a_field_named_by_an_extractor_option_cannot_be_excluded(logs: pd.DataFrame) -> None:
    spec = TrainSpec(
        task="anomaly",
        feature_kind="logs",
        feature_options={"session_field": "request_id"},
        exclude=("request_id",),
    )
    with pytest.raises(InvalidInput, match=r"'request_id' is excluded but named by the session"):
        train_model(logs, spec)


def test_a_retraining_split_keeps_excluded_fields_so_the_same_spec_trains_again(
    logs: pd.DataFrame,
) -> None:
    spec = TrainSpec(
        task="anomaly", target="is_anomaly", feature_kind="logs", exclude=("response_time",)
    )
    train, test = split_frame(logs, spec)
    assert test is not None and "response_time" in train.columns
    assert train_model(train, spec).excluded["response_time"] == EXCLUDED_AS_ASKED
