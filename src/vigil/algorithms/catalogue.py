"""The algorithm catalogue: every trainable algorithm as data.

An entry names the algorithm, the tasks it serves, its typed hyperparameter
schema and a factory that builds an unfitted scikit-learn-compatible
estimator from resolved parameters. Adding an algorithm is one entry here (an
anomaly detector: in ``anomaly_catalogue``) and, when it is new code, one
module beside this one. Each entry also carries the parameters and the known
exceptions of its scikit-learn contract check (tests/algorithms/
test_estimator_contract.py walks the whole catalogue).

Each factory imports its estimator when it builds one: the entries themselves
(names, tasks, parameters: ``GET /v1/algorithms``) are read without importing
scikit-learn.
"""

from __future__ import annotations

from typing import Any

from vigil.algorithms.anomaly_catalogue import (
    ANOMALY_ENTRIES,
    AUTO_MEMBERS,
    AUTO_MEMBERS_BY_KIND,
    auto_members,
)
from vigil.algorithms.forecast_catalogue import FORECAST_ENTRIES, with_forecast_auto
from vigil.algorithms.params import Param
from vigil.algorithms.spec import AlgorithmSpec, seed_param
from vigil.errors import UsageError

__all__ = [
    "AUTO_MEMBERS",
    "AUTO_MEMBERS_BY_KIND",
    "CATALOGUE",
    "DEFAULT_ALGORITHM",
    "TASKS",
    "AlgorithmSpec",
    "algorithms_for",
    "auto_members",
    "get_algorithm",
    "list_algorithms",
]

TASKS = ("classification", "regression", "clustering", "anomaly", "forecast")


def _max_depth(default: int | None = None) -> Param:
    return Param("max_depth", "int", default, "deepest a tree may grow", 1, 1000, nullable=True)


def _linear_regression(task: str, p: dict[str, Any]) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression(fit_intercept=p["fit_intercept"])


def _logistic_regression(task: str, p: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=p["C"],
        l1_ratio=p["l1_ratio"],
        max_iter=p["max_iter"],
        class_weight=None if p["class_weight"] == "none" else p["class_weight"],
        solver="lbfgs" if p["l1_ratio"] == 0 else "saga",
    )


def _kmeans(task: str, p: dict[str, Any]) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(
        n_clusters=p["n_clusters"],
        max_iter=p["max_iter"],
        random_state=p["random_state"],
        n_init="auto",
    )


def _dbscan(task: str, p: dict[str, Any]) -> Any:
    from vigil.algorithms.dbscan import InductiveDBSCAN

    return InductiveDBSCAN(eps=p["eps"], min_samples=p["min_samples"], metric=p["metric"])


def _random_forest(task: str, p: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    max_features = {"all": 1.0}.get(p["max_features"], p["max_features"])
    if task == "regression" and p["max_features"] == "auto":
        max_features = 1.0
    elif p["max_features"] == "auto":
        max_features = "sqrt"
    return cls(
        n_estimators=p["n_estimators"],
        max_depth=p["max_depth"],
        min_samples_split=p["min_samples_split"],
        min_samples_leaf=p["min_samples_leaf"],
        max_features=max_features,
        random_state=p["random_state"],
        n_jobs=-1,
    )


def _svm(task: str, p: dict[str, Any]) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    if task == "classification":
        # scikit-learn 1.9 replaced SVC(probability=True) with this: Platt scaling
        # on cross-validated decision values of one SVC fitted on all the data.
        return CalibratedClassifierCV(
            SVC(C=p["C"], kernel=p["kernel"], gamma=p["gamma"], random_state=p["random_state"]),
            ensemble=False,
        )
    return SVR(C=p["C"], kernel=p["kernel"], gamma=p["gamma"])


def _xgboost(task: str, p: dict[str, Any]) -> Any:
    import xgboost  # imported lazily: it is large and most runs use one algorithm

    cls = xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor
    return cls(
        n_estimators=p["n_estimators"],
        max_depth=p["max_depth"],
        learning_rate=p["learning_rate"],
        subsample=p["subsample"],
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        random_state=p["random_state"],
        n_jobs=2,
        tree_method="hist",
        verbosity=0,
    )


def _lightgbm(task: str, p: dict[str, Any]) -> Any:
    import lightgbm

    cls = lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor
    return cls(
        n_estimators=p["n_estimators"],
        num_leaves=p["num_leaves"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        min_child_samples=p["min_child_samples"],
        subsample=p["subsample"],
        subsample_freq=1 if p["subsample"] < 1.0 else 0,
        colsample_bytree=p["colsample_bytree"],
        random_state=p["random_state"],
        n_jobs=2,
        verbose=-1,
    )


def _hist_gradient_boosting(task: str, p: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    return cls(
        max_iter=p["max_iter"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        max_leaf_nodes=p["max_leaf_nodes"],
        l2_regularization=p["l2_regularization"],
        early_stopping=p["early_stopping"],
        random_state=p["random_state"],
    )


def _scratch_logistic(task: str, p: dict[str, Any]) -> Any:
    from vigil.algorithms.scratch_logistic import ScratchLogisticRegression

    return ScratchLogisticRegression(**p)


def _scratch_tree(task: str, p: dict[str, Any]) -> Any:
    from vigil.algorithms.scratch_tree import ScratchDecisionTreeClassifier

    # The resolved parameters are recorded with the version: build from a copy.
    args = dict(p)
    args["max_features"] = {"all": None}.get(args["max_features"], args["max_features"])
    return ScratchDecisionTreeClassifier(**args)


def _weights_unlike_repeats(why: str) -> dict[str, str]:
    """Returns the sample-weight equivalence checks (dense and sparse data), each with ``why``.

    scikit-learn's own tests expect these estimators to fail them (its meta-issue
    #16298); Vigil never fits with sample weights.
    """
    return {f"check_sample_weight_equivalence_on_{kind}_data": why for kind in ("dense", "sparse")}


# XGBClassifier accepts only the labels 0..n-1; these checks fit other labels. The trainer
# fits every classifier on exactly those class codes (ModelBundle.class_codes).
_XGBOOST_LABEL_CHECKS = {
    check: "classification: XGBClassifier accepts only the labels 0..n-1, which the trainer passes"
    for check in (
        "check_estimators_dtypes",
        "check_sample_weights_pandas_series",
        "check_sample_weights_not_an_array",
        "check_sample_weights_shape",
        "check_sample_weights_not_overwritten",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
    )
}

_FOREST_PARAMS = (
    Param("n_estimators", "int", 100, "number of trees", 1, 5000),
    _max_depth(),
    Param("min_samples_split", "int", 2, "fewest rows a node needs to split", 2, 100_000),
    Param("min_samples_leaf", "int", 1, "fewest rows in a leaf", 1, 100_000),
    Param(
        "max_features",
        "choice",
        "auto",
        "features tried per split",
        choices=("auto", "sqrt", "log2", "all"),
    ),
    seed_param(),
)

_ENTRIES: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        "linear_regression",
        ("regression",),
        (Param("fit_intercept", "bool", True, "learn an intercept"),),
        _linear_regression,
        "Ordinary least squares.",
    ),
    AlgorithmSpec(
        "logistic_regression",
        ("classification",),
        (
            Param(
                "C",
                "float",
                1.0,
                "inverse regularisation strength",
                0.0,
                1e6,
                exclusive_minimum=True,
            ),
            Param("l1_ratio", "float", 0.0, "0 = L2 penalty, 1 = L1, between = elastic net", 0, 1),
            Param("max_iter", "int", 1000, "solver iterations", 1, 100_000),
            Param(
                "class_weight", "choice", "none", "reweight classes", choices=("none", "balanced")
            ),
        ),
        _logistic_regression,
        "Regularised logistic regression (scikit-learn).",
        scale=True,
    ),
    AlgorithmSpec(
        "random_forest",
        ("classification", "regression"),
        _FOREST_PARAMS,
        _random_forest,
        "Random forest of decision trees.",
        test_params=({"n_estimators": 5},),
        expected_failed_checks=_weights_unlike_repeats(
            "each tree fits a bootstrap sample, which draws a row of weight 2 unlike two copies"
        ),
    ),
    AlgorithmSpec(
        "svm",
        ("classification", "regression"),
        (
            Param(
                "C",
                "float",
                1.0,
                "inverse regularisation strength",
                0.0,
                1e6,
                exclusive_minimum=True,
            ),
            Param(
                "kernel", "choice", "rbf", "kernel", choices=("rbf", "linear", "poly", "sigmoid")
            ),
            Param("gamma", "choice", "scale", "kernel coefficient", choices=("scale", "auto")),
            seed_param(),
        ),
        _svm,
        "Support vector machine (SVC / SVR).",
        scale=True,
        expected_failed_checks={
            **_weights_unlike_repeats(
                "fits with weights and with repeated rows agree only to libsvm's tolerance (1e-3)"
            ),
            "check_supervised_y_2d": (
                "classification: CalibratedClassifierCV(ensemble=False) breaks on a column "
                "vector y in scikit-learn 1.9 (IndexError); the trainer passes a 1-d target"
            ),
        },
    ),
    AlgorithmSpec(
        "xgboost",
        ("classification", "regression"),
        (
            Param("n_estimators", "int", 200, "boosting rounds", 1, 10_000),
            Param("max_depth", "int", 6, "deepest a tree may grow", 1, 64),
            Param("learning_rate", "float", 0.1, "shrinkage", 0.0, 1.0, exclusive_minimum=True),
            Param(
                "subsample", "float", 1.0, "row share per tree", 0.0, 1.0, exclusive_minimum=True
            ),
            Param(
                "colsample_bytree",
                "float",
                1.0,
                "column share per tree",
                0.0,
                1.0,
                exclusive_minimum=True,
            ),
            Param("reg_lambda", "float", 1.0, "L2 regularisation", 0.0, 1e6),
            seed_param(),
        ),
        _xgboost,
        "Gradient-boosted trees (XGBoost).",
        dense=False,
        test_params=({"n_estimators": 5},),
        expected_failed_checks={
            **_XGBOOST_LABEL_CHECKS,
            **{
                check: "classification: XGBClassifier sets its objective parameter in fit "
                "(binary:logistic becomes multi:softprob for three classes)"
                for check in (
                    "check_estimators_overwrite_params",
                    "check_dont_overwrite_parameters",
                )
            },
            "check_all_zero_sample_weights_error": (
                "XGBoost refuses all-zero weights, but its message is about base_score"
            ),
            "check_classifiers_multilabel_output_format_predict": (
                "classification: XGBClassifier predicts floats for a multilabel target; Vigil "
                "trains single-label classifiers"
            ),
            "check_regressor_multioutput": (
                "regression: XGBRegressor predicts float32; Vigil trains single-target regressors"
            ),
        },
    ),
    AlgorithmSpec(
        "lightgbm",
        ("classification", "regression"),
        (
            Param("n_estimators", "int", 200, "boosting rounds", 1, 10_000),
            Param("num_leaves", "int", 31, "leaves per tree", 2, 131_072),
            Param("learning_rate", "float", 0.1, "shrinkage", 0.0, 1.0, exclusive_minimum=True),
            Param("max_depth", "int", -1, "deepest a tree may grow (-1 = no limit)", -1, 64),
            Param("min_child_samples", "int", 20, "fewest rows in a leaf", 1, 100_000),
            Param(
                "subsample", "float", 1.0, "row share per tree", 0.0, 1.0, exclusive_minimum=True
            ),
            Param(
                "colsample_bytree",
                "float",
                1.0,
                "column share per tree",
                0.0,
                1.0,
                exclusive_minimum=True,
            ),
            seed_param(),
        ),
        _lightgbm,
        "Gradient-boosted trees (LightGBM).",
        test_params=({"n_estimators": 10},),
        expected_failed_checks={
            "check_no_attributes_set_in_init": (
                "LightGBM keeps options given as keyword arguments (verbose) as attributes"
            ),
            "check_all_zero_sample_weights_error": "LightGBM fits all-zero weights without error",
        },
    ),
    AlgorithmSpec(
        "hist_gradient_boosting",
        ("classification", "regression"),
        (
            Param("max_iter", "int", 100, "boosting rounds", 1, 10_000),
            Param("learning_rate", "float", 0.1, "shrinkage", 0.0, 1.0, exclusive_minimum=True),
            _max_depth(),
            Param("max_leaf_nodes", "int", 31, "leaves per tree", 2, 100_000, nullable=True),
            Param("l2_regularization", "float", 0.0, "L2 regularisation", 0.0, 1e6),
            Param(
                "early_stopping",
                "choice",
                "auto",
                "stop when validation stalls",
                choices=("auto", True, False),
            ),
            seed_param(),
        ),
        _hist_gradient_boosting,
        "Histogram gradient boosting (scikit-learn).",
        test_params=({"max_iter": 5},),
    ),
    AlgorithmSpec(
        "scratch_logistic",
        ("classification",),
        (
            Param("penalty", "choice", "l2", "regularisation", choices=("l2", "l1", "none")),
            Param(
                "C",
                "float",
                1.0,
                "inverse regularisation strength",
                0.0,
                1e6,
                exclusive_minimum=True,
            ),
            Param("fit_intercept", "bool", True, "learn an intercept"),
            Param("scale", "bool", True, "standardise features inside the estimator"),
            Param("learning_rate", "float", 0.1, "step size", 0.0, 100.0, exclusive_minimum=True),
            Param("max_iter", "int", 1000, "iterations", 1, 1_000_000),
            Param("tol", "float", 1e-6, "stop when the cost improves less", 0.0, 1.0),
            Param("early_stopping", "bool", False, "stop on a held-out validation share"),
            Param(
                "validation_fraction",
                "float",
                0.1,
                "held-out share",
                0.0,
                0.5,
                exclusive_minimum=True,
            ),
            Param("n_iter_no_change", "int", 5, "patience for early stopping", 1, 10_000),
            seed_param(),
        ),
        _scratch_logistic,
        "Logistic regression written from scratch in NumPy.",
        test_params=({}, {"penalty": "l1", "C": 0.5}),
    ),
    AlgorithmSpec(
        "scratch_tree",
        ("classification",),
        (
            Param("criterion", "choice", "gini", "impurity", choices=("gini", "entropy")),
            _max_depth(),
            Param("min_samples_split", "int", 2, "fewest rows a node needs to split", 2, 100_000),
            Param("min_samples_leaf", "int", 1, "fewest rows in a leaf", 1, 100_000),
            Param("min_impurity_decrease", "float", 0.0, "smallest gain worth a split", 0.0, 1.0),
            Param("ccp_alpha", "float", 0.0, "cost-complexity pruning strength", 0.0, 1.0),
            Param(
                "max_features", "choice", "all", "features tried per split", choices=("all", "sqrt")
            ),
            seed_param(),
        ),
        _scratch_tree,
        "Decision tree written from scratch in NumPy.",
        test_params=(
            {},
            {"criterion": "entropy", "max_depth": 4, "max_features": "sqrt", "ccp_alpha": 0.01},
        ),
    ),
    AlgorithmSpec(
        "kmeans",
        ("clustering",),
        (
            Param("n_clusters", "int", 8, "number of clusters", 2, 10_000),
            Param("max_iter", "int", 300, "iterations per run", 1, 100_000),
            seed_param(),
        ),
        _kmeans,
        "k-means clustering.",
        scale=True,
        expected_failed_checks=_weights_unlike_repeats(
            "the initial centres are drawn differently for a row of weight 2 and for two copies"
        ),
    ),
    AlgorithmSpec(
        "dbscan",
        ("clustering",),
        (
            Param("eps", "float", 0.5, "neighbourhood radius", 0.0, 1e9, exclusive_minimum=True),
            Param("min_samples", "int", 5, "neighbours that make a core sample", 1, 100_000),
            Param(
                "metric",
                "choice",
                "euclidean",
                "distance",
                choices=("euclidean", "manhattan", "cosine"),
            ),
        ),
        _dbscan,
        "Density-based clustering; new points join their nearest core sample's cluster.",
        scale=True,
    ),
    # One ``auto`` serves anomalies and forecasts (its forecast settings in task_params).
    *(with_forecast_auto(spec) if spec.name == "auto" else spec for spec in ANOMALY_ENTRIES),
    *FORECAST_ENTRIES,
)

CATALOGUE: dict[str, AlgorithmSpec] = {spec.name: spec for spec in _ENTRIES}

DEFAULT_ALGORITHM = {
    "classification": "random_forest",
    "regression": "random_forest",
    "clustering": "kmeans",
    "anomaly": "auto",
    "forecast": "auto",
}


def get_algorithm(name: str) -> AlgorithmSpec:
    """Returns the catalogue entry called ``name``, or raises naming the known ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UsageError(
            f"Unknown algorithm {name!r}; known algorithms: {', '.join(sorted(CATALOGUE))}.",
            errors=[{"loc": ["algorithm"], "msg": "unknown algorithm"}],
        ) from None


def algorithms_for(task: str) -> list[AlgorithmSpec]:
    """Returns the entries that serve ``task``."""
    return [spec for spec in _ENTRIES if task in spec.tasks]


def list_algorithms() -> list[dict[str, Any]]:
    """Returns every entry with its hyperparameter schema, as JSON (no estimator is imported)."""
    return [spec.to_json() for spec in CATALOGUE.values()]
