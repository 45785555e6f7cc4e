"""FastModel answers exactly as ModelBundle.predict does, for bundles trained by train_model."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput
from vigil.serving import fast_calibration, fast_model
from vigil.serving.fast_model import FastModel
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import TrainSpec, train_model

TOLERANCE = 1e-9


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-06-01T00:00:00Z")
    hosts = [f"node-{i}" for i in range(60)]
    weights = np.linspace(1.0, 20.0, len(hosts))
    frame = pd.DataFrame(
        {
            "latency": rng.gamma(2.0, 40.0, rows),
            "bytes": rng.integers(100, 50_000, rows),
            "cached": rng.random(rows) > 0.4,
            "host": rng.choice(hosts, rows, p=weights / weights.sum()),
            "method": rng.choice(["GET", "POST", "DELETE"], rows),
            "at": [
                (start + pd.Timedelta(minutes=int(m))).isoformat()
                for m in rng.integers(0, 60 * 24 * 30, rows)
            ],
        }
    )
    frame.loc[rng.random(rows) < 0.05, "latency"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "host"] = None
    slow = frame["latency"].fillna(0) + (frame["method"] == "POST") * 30
    frame["outcome"] = np.where(slow > 90, "slow", np.where(frame["cached"], "hit", "ok"))
    frame["cost"] = frame["bytes"] / 1000.0 + frame["latency"].fillna(10) / 7.0
    return frame


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table(400, seed=0)


@pytest.fixture(scope="module")
def queries() -> pd.DataFrame:
    frame = _table(150, seed=1).drop(columns=["outcome", "cost"]).astype(object)
    frame.loc[0, "host"] = "node-unknown"
    frame.loc[1, "method"] = "TRACE"
    frame.loc[2, ["latency", "bytes", "cached", "host", "at"]] = [None] * 5
    frame.loc[3, ["latency", "bytes"]] = [50_000.0, 10**8]  # far beyond training
    frame.loc[4, "at"] = "2024-09-01T03:00:00+02:00"
    return frame


def _train(table: pd.DataFrame, **spec: Any) -> ModelBundle:
    params = {"n_estimators": 15, "random_state": 0}
    return train_model(table, TrainSpec(params=params, **spec)).bundle


@pytest.fixture(scope="module")
def bundles(table: pd.DataFrame) -> dict[str, ModelBundle]:
    features = table.drop(columns=["outcome", "cost"])
    return {
        "classification": _train(
            table.drop(columns="cost"),
            task="classification",
            algorithm="random_forest",
            target="outcome",
        ),
        "regression": _train(
            table.drop(columns="outcome"),
            task="regression",
            algorithm="random_forest",
            target="cost",
        ),
        "anomaly": _train(features, task="anomaly", algorithm="isolation_forest"),
    }


def _assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert type(actual[key]) is float
            assert abs(actual[key] - value) <= TOLERANCE, key
        elif isinstance(value, dict):
            _assert_same(value, actual[key])
        else:
            assert actual[key] == value and type(actual[key]) is type(value), key


def _assert_all_same(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected)
    for reference, answer in zip(expected, actual, strict=True):
        _assert_same(reference, answer)


@pytest.mark.parametrize("task", ["classification", "regression", "anomaly"])
def test_answers_equal_the_bundles_one_row_at_a_time_and_in_batches(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame, task: str
) -> None:
    bundle = bundles[task]
    fast = FastModel.from_bundle(bundle)
    assert fast is not None
    rows = queries.to_dict(orient="records")

    expected = bundle.predict(queries)
    # One row alone is read with its own dtypes, so it is compared with one row alone.
    one_by_one = [bundle.predict(pd.DataFrame([row]))[0] for row in rows[:30]]

    _assert_all_same(one_by_one, [fast.predict_row(row) for row in rows[:30]])
    _assert_all_same(expected, [fast.predict_row(row) for row in rows])
    _assert_all_same(expected, fast.predict_rows(rows))
    _assert_all_same(expected, fast.predict_rows(queries))


def test_anomaly_answers_flag_and_grade_the_rows_the_bundle_flags(
    bundles: dict[str, ModelBundle], table: pd.DataFrame
) -> None:
    bundle = bundles["anomaly"]
    fast = FastModel.from_bundle(bundle)
    assert fast is not None
    # The training rows hold the contamination share of anomalies, so both kinds appear.
    rows = table[bundle.feature_names]

    answers = fast.predict_rows(rows)

    _assert_all_same(bundle.predict(rows), answers)
    assert {a["is_anomaly"] for a in answers} == {True, False}
    assert len({a["severity"] for a in answers}) > 2


def test_the_single_row_calibration_agrees_with_the_detector(
    bundles: dict[str, ModelBundle],
) -> None:
    fast = FastModel.from_bundle(bundles["anomaly"])
    assert fast is not None

    # Checked at load on every quantile, between them, below them and in the tail.
    assert fast._calibration is not None


def test_a_dataframe_larger_than_a_chunk_is_answered_in_order(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_model, "CHUNK_ROWS", 32)
    for task in ("classification", "anomaly"):
        bundle = bundles[task]
        fast = FastModel.from_bundle(bundle)
        assert fast is not None

        _assert_all_same(bundle.predict(queries), fast.predict_rows(queries))


def test_an_invalid_value_in_a_later_chunk_is_reported_at_its_row_in_the_frame(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_model, "CHUNK_ROWS", 32)
    bundle = bundles["anomaly"]
    fast = FastModel.from_bundle(bundle)
    assert fast is not None
    frame = queries.copy()
    frame.loc[100, "bytes"] = "lots"

    with pytest.raises(InvalidInput) as expected:
        bundle.predict(frame)
    with pytest.raises(InvalidInput) as actual:
        fast.predict_rows(frame)

    assert "row 100" in actual.value.message
    assert actual.value.message == expected.value.message


def test_an_invalid_row_raises_the_bundles_error(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame
) -> None:
    bundle = bundles["classification"]
    fast = FastModel.from_bundle(bundle)
    assert fast is not None
    row = {**queries.iloc[0].to_dict(), "cached": "sometimes"}

    with pytest.raises(InvalidInput) as expected:
        bundle.predict(pd.DataFrame([row]))
    with pytest.raises(InvalidInput) as actual:
        fast.predict_row(row)

    assert actual.value.message == expected.value.message


def test_no_rows_give_no_answers(bundles: dict[str, ModelBundle], queries: pd.DataFrame) -> None:
    fast = FastModel.from_bundle(bundles["anomaly"])
    assert fast is not None

    assert fast.predict_rows([]) == []
    assert fast.predict_rows(queries.head(0)) == []


def test_the_detectors_own_calibration_is_used_when_the_copy_disagrees(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        fast_calibration.FastCalibration, "agrees_with", lambda self, detector: False
    )
    bundle = bundles["anomaly"]
    fast = FastModel.from_bundle(bundle)
    assert fast is not None
    rows = queries.head(20).to_dict(orient="records")

    _assert_all_same(bundle.predict(queries.head(20)), [fast.predict_row(r) for r in rows])


def test_threads_sharing_one_model_get_the_same_answers(
    bundles: dict[str, ModelBundle], queries: pd.DataFrame
) -> None:
    fast = FastModel.from_bundle(bundles["classification"])
    assert fast is not None
    rows = queries.to_dict(orient="records")
    expected = [fast.predict_row(row) for row in rows]
    answers: dict[int, list[dict[str, Any]]] = {}

    def work(worker: int) -> None:
        answers[worker] = [fast.predict_row(row) for row in rows]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(answers[i] == expected for i in range(4))


def test_models_it_cannot_accelerate_give_none(table: pd.DataFrame) -> None:
    logistic = train_model(
        table.head(120).drop(columns="cost"),
        TrainSpec(task="classification", algorithm="logistic_regression", target="outcome"),
    ).bundle
    text = (
        table.head(120)
        .assign(
            note=[f"request {i} to {h} took long" for i, h in enumerate(table["host"].head(120))]
        )
        .drop(columns="cost")
    )
    with_text = _train(text, task="classification", algorithm="random_forest", target="outcome")

    assert FastModel.from_bundle(logistic) is None
    assert FastModel.from_bundle(with_text) is None
