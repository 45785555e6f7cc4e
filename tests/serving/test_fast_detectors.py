"""The compiled anomaly detectors answer exactly as the detectors do, one row or many."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_support import ADMIN, readings

from vigil.algorithms.anomaly_catalogue import ANOMALY_ENTRIES
from vigil.algorithms.knn import KNNDetector
from vigil.data.loading import Dataset
from vigil.service import VigilService
from vigil.serving import fast_calibration, fast_detectors
from vigil.serving.fast_model import FastModel
from vigil.serving.loaded import LoadedModel
from vigil.serving.model_cache import WouldBlock
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import TrainSpec, train_model

TOLERANCE = 1e-9
# Twelve numeric columns: ECOD's per-row sum then runs over more than eight features,
# where NumPy sums pairwise, not in order.
NUMERIC = [f"m{i}" for i in range(12)]
# Every rule an ensemble may be trained with.
COMBINATIONS = next(
    param.choices
    for spec in ANOMALY_ENTRIES
    if spec.name == "ensemble"
    for param in spec.params
    if param.name == "combine"
)


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(len(NUMERIC), len(NUMERIC)))
    frame = pd.DataFrame(rng.normal(size=(rows, len(NUMERIC))) @ mixing, columns=NUMERIC)
    frame["count"] = rng.poisson(3.0, rows).astype(float)  # ties, as in counts
    frame["cached"] = rng.random(rows) > 0.4
    frame["method"] = rng.choice(["GET", "POST", "DELETE"], rows, p=[0.7, 0.25, 0.05])
    frame.loc[rng.random(rows) < 0.03, "m0"] = np.nan
    return frame


@pytest.fixture(scope="module")
def queries() -> pd.DataFrame:
    frame = _table(120, seed=1).astype(object)
    frame.loc[0, "method"] = "TRACE"  # never seen in training
    frame.loc[1, NUMERIC] = [None] * len(NUMERIC)
    frame.loc[2, "m3"] = 1e4  # far beyond training
    frame.loc[3, NUMERIC] = 0.0
    return frame


def _train(rows: int, algorithm: str, **params: Any) -> ModelBundle:
    spec = TrainSpec(task="anomaly", algorithm=algorithm, params={"random_state": 0, **params})
    return train_model(_table(rows, seed=0), spec).bundle


@pytest.fixture(scope="module")
def auto() -> ModelBundle:
    return _train(600, "auto")


def _same(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected)
    for reference, answer in zip(expected, actual, strict=True):
        assert answer.keys() == reference.keys()
        assert abs(answer["score"] - reference["score"]) <= TOLERANCE
        assert type(answer["score"]) is float
        for key in ("prediction", "is_anomaly", "severity"):
            assert answer[key] == reference[key] and type(answer[key]) is type(reference[key])


def _assert_answers_like_the_bundle(bundle: ModelBundle, queries: pd.DataFrame) -> None:
    fast = FastModel.from_bundle(bundle)
    assert fast is not None, bundle.algorithm
    rows = queries.to_dict(orient="records")
    expected = bundle.predict(queries)
    one_by_one = [bundle.predict(pd.DataFrame([row]))[0] for row in rows[:12]]

    _same(one_by_one, [fast.predict_row(row) for row in rows[:12]])
    # A row alone scores as the same row in a batch.
    _same(expected, [fast.predict_row(row) for row in rows])
    _same(expected, fast.predict_rows(rows))
    _same(expected, fast.predict_rows(queries))


def test_auto_answers_as_its_bundle_one_row_at_a_time_and_in_batches(
    auto: ModelBundle, queries: pd.DataFrame
) -> None:
    _assert_answers_like_the_bundle(auto, queries)


def test_auto_flags_and_grades_the_rows_the_bundle_flags(auto: ModelBundle) -> None:
    fast = FastModel.from_bundle(auto)
    assert fast is not None and fast.detector is not None
    training = _table(600, seed=0)  # holds rows above the contamination threshold

    answers = fast.predict_rows(training)

    _same(auto.predict(training), answers)
    assert {a["is_anomaly"] for a in answers} == {True, False}
    assert len({a["severity"] for a in answers}) > 2
    assert fast.detector.threshold == auto.pipeline[-1].threshold_


def test_auto_on_a_small_table_uses_exact_knn_and_answers_as_its_bundle(
    queries: pd.DataFrame,
) -> None:
    bundle = _train(150, "auto")  # fewer rows than a k-NN sample: exact k-NN

    # scikit-learn's neighbour index takes tens of milliseconds per call: fewer rows.
    _assert_answers_like_the_bundle(bundle, queries.head(6))


@pytest.mark.parametrize("combine", COMBINATIONS)
def test_every_combination_rule_of_an_ensemble_is_served_as_the_bundle(
    combine: str, queries: pd.DataFrame
) -> None:
    bundle = _train(
        400,
        "ensemble",
        members="isolation_forest,subsampled_knn,ecod",
        combine=combine,
    )

    _assert_answers_like_the_bundle(bundle, queries)


@pytest.mark.parametrize("algorithm", ["ecod", "subsampled_knn", "knn"])
def test_single_detectors_of_autos_kinds_are_served_as_their_bundles(
    algorithm: str, queries: pd.DataFrame
) -> None:
    bundle = train_model(_table(400, seed=0), TrainSpec(task="anomaly", algorithm=algorithm)).bundle

    _assert_answers_like_the_bundle(bundle, queries if algorithm != "knn" else queries.head(6))


def test_an_ensemble_member_of_another_kind_is_scored_by_its_own_code(
    queries: pd.DataFrame,
) -> None:
    bundle = _train(300, "ensemble", members="ecod,lof")

    _assert_answers_like_the_bundle(bundle, queries.head(5))


def test_explanations_come_from_the_bundle_with_the_fast_paths_scores(
    auto: ModelBundle, queries: pd.DataFrame
) -> None:
    loaded = LoadedModel(auto, FastModel.from_bundle(auto))
    rows = queries.head(5).to_dict(orient="records")

    explained = loaded.predict(rows, explain=True).outputs
    fast = loaded.predict(rows).outputs

    assert explained == auto.predict(queries.head(5), explain=True)
    assert all(out["explanation"] for out in explained)
    _same([{k: v for k, v in e.items() if k != "explanation"} for e in explained], fast)


def test_the_detectors_own_calibration_is_used_when_the_copy_disagrees(
    auto: ModelBundle, queries: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        fast_calibration.FastCalibration, "agrees_with", lambda self, detector: False
    )

    fast = FastModel.from_bundle(auto)

    assert fast is not None and fast.detector is not None
    assert fast.detector.calibration is None
    _assert_answers_like_the_bundle(auto, queries.head(20))


def test_a_compiled_part_that_differs_from_its_detector_leaves_the_model_on_the_slow_path(
    auto: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = fast_detectors._SubsampledKNNScorer
    exact = scorer.raw_rows
    monkeypatch.setattr(scorer, "raw_rows", lambda self, X, n: exact(self, X, n) * (1 + 1e-6))

    assert FastModel.from_bundle(auto) is None


def test_a_detector_without_a_compiled_kernel_is_served_through_its_own_scores(
    queries: pd.DataFrame,
) -> None:
    # LOF has no kernel here: its own score_samples answers inside the compiled
    # preprocessing and calibration, checked on the probes like every other part.
    lof = train_model(_table(200, seed=0), TrainSpec(task="anomaly", algorithm="lof")).bundle

    fast = FastModel.from_bundle(lof)

    assert fast is not None and fast.detector is not None
    assert isinstance(fast.detector.raw, fast_detectors._OwnScorer)
    _assert_answers_like_the_bundle(lof, queries)


def test_a_detector_whose_own_scores_differ_from_the_probes_stays_on_the_slow_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lof = train_model(_table(200, seed=0), TrainSpec(task="anomaly", algorithm="lof")).bundle
    scorer = fast_detectors._OwnScorer
    exact = scorer.raw_rows
    monkeypatch.setattr(scorer, "raw_rows", lambda self, X, n: exact(self, X, n) + 1e-6)

    assert FastModel.from_bundle(lof) is None


def test_the_service_answers_auto_inline_by_the_compiled_path_as_the_bundle_does(
    service: VigilService,
) -> None:
    service.prediction_log.start()
    spec = TrainSpec(task="anomaly", algorithm="auto")
    service.training.train(ADMIN, "auto-detector", Dataset(readings(600), "r", "csv", "r"), spec)
    frame = readings(3, seed=5)
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    # The first answer loads the model; the deployment pointer is cached 1 s, so on a
    # slow machine a warm answer may be needed again just before the inline one.
    for _ in range(5):
        service.predictions.predict(ADMIN, "auto-detector", rows)
        try:
            inline = service.predictions.predict(ADMIN, "auto-detector", rows, block=False)
            break
        except WouldBlock:
            continue
    else:
        pytest.fail("auto-detector was never answered inline")

    loaded = service.model_cache.get("default", "auto-detector", inline.version)
    assert loaded.fast is not None and loaded.fast.detector is not None
    answers = [
        {k: v for k, v in p.items() if k not in ("id", "version")} for p in inline.predictions
    ]
    _same(loaded.bundle.predict(frame), answers)


@pytest.mark.parametrize("method", ["largest", "mean"])
def test_a_rows_knn_distance_does_not_depend_on_the_rows_scored_with_it(method: str) -> None:
    # Served rows come one at a time; the same rows in a file come by the thousand.
    rng = np.random.default_rng(0)
    model = KNNDetector(method=method, max_samples=64, n_estimators=3, random_state=0)
    model.fit(rng.normal(size=(500, 13)))
    rows = rng.normal(size=(1100, 13)) * 1.5

    together = model.score_samples(rows)

    alone = [model.score_samples(rows[i : i + 1])[0] for i in (0, 1, 6, 7, 8, 1023, 1024, 1099)]
    assert alone == together[[0, 1, 6, 7, 8, 1023, 1024, 1099]].tolist()
    for start, stop in ((3, 9), (5, 40), (1000, 1100)):
        assert model.score_samples(rows[start:stop]).tolist() == together[start:stop].tolist()
