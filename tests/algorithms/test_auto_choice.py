"""How ``auto`` combines its members: the combination rules on hand-made scores, z-scores of
the calibration scores, ECOD's quantile grid, and ``auto`` the same for the same seed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from vigil.algorithms.anomaly_catalogue import auto_params
from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.catalogue import CATALOGUE
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import (
    COMBINATIONS,
    AnomalyEnsemble,
    combine_member_scores,
    member_forms,
)
from vigil.algorithms.knn import KNNDetector

# Two members, three rows: "a" is sure about row 2, "b" mildly suspects rows 1 and 2.
FORMS = {
    "a": {
        "surprisal": np.array([0.2, 0.1, 4.0]),
        "calibrated": np.array([0.18, 0.1, 0.98]),
        "zscore": np.array([-0.5, -1.0, 6.0]),
    },
    "b": {
        "surprisal": np.array([0.1, 1.5, 1.0]),
        "calibrated": np.array([0.1, 0.78, 0.63]),
        "zscore": np.array([-1.0, 2.0, 1.0]),
    },
}


@pytest.mark.parametrize(
    ("combine", "expected"),
    [
        ("max", [0.2, 1.5, 4.0]),
        ("mean", [0.15, 0.8, 2.5]),
        ("rank", [0.14, 0.44, 0.805]),
        ("zscore", [-0.75, 0.5, 3.5]),
    ],
)
def test_each_rule_combines_its_form_of_the_member_scores(
    combine: str, expected: list[float]
) -> None:
    np.testing.assert_allclose(combine_member_scores(FORMS, combine), expected)


def test_an_unknown_rule_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"combine must be one of \('max', 'mean', 'rank'"):
        combine_member_scores(FORMS, "median")


def test_z_scores_are_standardised_by_the_calibration_scores() -> None:
    X = np.random.default_rng(3).normal(size=(400, 3))
    member = CalibratedAnomalyDetector(ECODDetector())
    raw = member.fit_raw_scores(X)
    np.testing.assert_allclose(member.standardised_of(raw).mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(member.standardised_of(raw).std(), 1.0)
    forms = member_forms(member, raw)
    np.testing.assert_allclose(forms["calibrated"], -member.fit_score_samples(X))
    np.testing.assert_allclose(forms["surprisal"], member.surprisal_of(raw))


@pytest.mark.parametrize("combine", COMBINATIONS)
def test_the_ensemble_scores_new_rows_by_its_rule(combine: str) -> None:
    X = np.random.default_rng(11).normal(size=(300, 2))
    queries = np.array([[0.0, 0.0], [2.5, 0.0], [6.0, 6.0]])
    detectors = [("forest", IsolationForest(random_state=0)), ("knn", KNNDetector())]
    ensemble = AnomalyEnsemble(detectors, combine=combine).fit(X)
    forms = {
        name: member_forms(member, member.raw_score(queries))
        for name, member in ensemble.detectors_
    }
    expected = combine_member_scores(forms, combine)
    np.testing.assert_allclose(-ensemble.score_samples(queries), expected)
    # Every rule ranks the far row above the central one.
    assert expected[2] > expected[1] > expected[0]


def test_ecod_grid_is_numpys_inverted_cdf_quantiles() -> None:
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 4, 2345), rng.normal(size=2345)]).astype(float)
    model = ECODDetector(n_quantiles=500).fit(X)
    levels = np.linspace(0.0, 1.0, 500)
    np.testing.assert_array_equal(
        model.grid_, np.quantile(X, levels, axis=0, method="inverted_cdf")
    )


def test_auto_chooses_and_scores_the_same_for_the_same_seed() -> None:
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(600, 4)), rng.normal(6.0, 1.0, size=(12, 4))])
    queries = rng.normal(size=(50, 4)) * 2.0
    fitted = []
    for _ in range(2):
        model, resolved = CATALOGUE["auto"].build("anomaly", {"random_state": 4})
        fitted.append((model.fit(X), resolved))
    (first, params), (second, again) = fitted
    assert params == again
    inner, other = first.detector_, second.detector_
    assert isinstance(inner, AnomalyEnsemble) and isinstance(other, AnomalyEnsemble)
    assert [n for n, _ in inner.detectors_] == [n for n, _ in other.detectors_]
    assert inner.combine == other.combine
    np.testing.assert_array_equal(first.score_samples(queries), second.score_samples(queries))


def _lodo_module() -> Any:
    """Returns benchmarks/anomaly/tabular_lodo.py, the rule that chose ``auto``."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "anomaly" / "tabular_lodo.py"
    spec = importlib.util.spec_from_file_location("tabular_lodo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up by name while being defined.
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_choice_is_the_best_mean_that_is_never_far_below_the_reference() -> None:
    lodo = _lodo_module()
    reference = {"a": 80.0, "b": 70.0, "c": 60.0}
    table = {
        # "risky" has the best mean but is 10 points below the reference on b.
        "a": {"safe": 85.0, "tied": 85.0, "risky": 99.0},
        "b": {"safe": 70.0, "tied": 70.0, "risky": 60.0},
        "c": {"safe": 65.0, "tied": 65.0, "risky": 70.0},
    }
    # Ties go to the earlier configuration: the same table always gives the same choice.
    assert lodo.choose(table, reference, ["a", "b", "c"]) == "safe"
    result = lodo.lodo(table, reference)
    # Only without b does "risky" look safe: b is judged by it, a and c by "safe".
    assert result["chosen"] == {"a": "safe", "b": "risky", "c": "safe"}
    assert result["lodo_roc_auc"] == {"a": 85.0, "b": 60.0, "c": 65.0}
    assert result["in_sample_choice"] == "safe"


def test_minmax_knn_measures_distances_on_the_training_range() -> None:
    rng = np.random.default_rng(8)
    # Feature 1 is almost always 0: standardised, its rare 1s would be 10 units away.
    X = np.column_stack([rng.uniform(0.0, 100.0, 400), (rng.random(400) < 0.01).astype(float)])
    model = KNNDetector(n_neighbors=3, rescale="minmax").fit(X)
    scaled = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    direct = KNNDetector(n_neighbors=3).fit(scaled)
    queries = np.array([[50.0, 0.0], [50.0, 1.0], [150.0, 0.0]])
    expected = direct.score_samples((queries - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0)))
    np.testing.assert_allclose(model.score_samples(queries), expected)
    # A feature without range is left as it is rather than divided by zero.
    constant = KNNDetector(rescale="minmax").fit(np.column_stack([X[:, 0], np.ones(400)]))
    assert np.isfinite(constant.score_samples(np.array([[1.0, 5.0]]))).all()
    with pytest.raises(ValueError, match="rescale must be one of"):
        KNNDetector(rescale="robust").fit(X)


def test_auto_on_tables_is_recorded_and_other_kinds_keep_theirs() -> None:
    tables = auto_params("tabular")
    assert tables["members"] == "isolation_forest,subsampled_knn"
    model, resolved = CATALOGUE["auto"].build("anomaly", {**tables, "random_state": 1})
    inner = model.detector_ if hasattr(model, "detector_") else model.detector
    assert isinstance(inner, AnomalyEnsemble)
    assert inner.combine == tables["combine"]
    knn = dict(inner.detectors)["subsampled_knn"].detector
    assert (knn.n_neighbors, knn.rescale) == (tables["knn_neighbors"], tables["knn_rescale"])
    assert resolved["combine"] == tables["combine"]
    for kind in ("logs", "requests"):
        assert auto_params(kind) == {
            "members": "subsampled_knn,ecod",
            "combine": "max",
            "knn_neighbors": 5,
            "knn_rescale": "standardised",
        }
    assert auto_params("metrics")["members"] == "ecod"


def test_auto_scales_knn_min_max_on_numeric_tables_only() -> None:
    numeric = auto_params("tabular", ["numeric", "boolean", "numeric"])
    assert numeric == auto_params("tabular")
    assert numeric["knn_rescale"] == "minmax"
    # One-hot categories, TF-IDF or time columns: the k-NN member sees standardised numbers.
    for kind in ("categorical", "text", "datetime"):
        mixed = auto_params("tabular", ["numeric", kind])
        assert mixed["knn_rescale"] == "standardised"
        assert {k: v for k, v in mixed.items() if k != "knn_rescale"} == {
            k: v for k, v in numeric.items() if k != "knn_rescale"
        }
    # Logs and requests keep theirs whatever their columns.
    assert auto_params("logs", ["categorical"]) == auto_params("logs")


def test_the_trainer_records_how_autos_knn_saw_a_table() -> None:
    from vigil.training.trainer import TrainSpec, build_pipeline, prepare

    rng = np.random.default_rng(4)
    amounts = pd.DataFrame({"amount": rng.lognormal(3.0, 1.0, 80), "items": rng.integers(1, 5, 80)})
    mixed = amounts.assign(country=rng.choice(["fr", "de", "es"], 80))
    spec = TrainSpec(task="anomaly")
    recorded = {}
    for name, frame in (("numeric", amounts), ("mixed", mixed)):
        _, resolved = build_pipeline(prepare(frame, spec), {})
        recorded[name] = resolved["knn_rescale"]
    assert recorded == {"numeric": "minmax", "mixed": "standardised"}


@pytest.mark.parametrize(
    ("kind", "columns", "rescale"),
    [("tabular", ["numeric"], "minmax"), ("tabular", ["categorical"], None), ("logs", [], None)],
)
def test_autos_knn_member_is_built_as_recorded(
    kind: str, columns: list[str], rescale: str | None
) -> None:
    # The recorded parameters, built again, give the k-NN member the same scaling: standardised
    # is not read as "unset" (which would fall back to the min-max of numeric tables).
    chosen = auto_params(kind, columns)
    model, resolved = CATALOGUE["auto"].build("anomaly", {**chosen, "random_state": 0})
    assert resolved["knn_rescale"] == chosen["knn_rescale"]
    members = dict(model.detector.detectors)
    assert members["subsampled_knn"].detector.rescale == rescale
