"""The algorithm catalogue: every trainable algorithm as data.

An entry names the algorithm, the tasks it serves, its typed hyperparameter
schema and a factory that builds an unfitted scikit-learn-compatible
estimator from resolved parameters. Adding an algorithm is one entry here and,
when it is new code, one module beside this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC, SVR

from vigil.algorithms.calibration import CalibratedAnomalyDetector
from vigil.algorithms.dbscan import InductiveDBSCAN
from vigil.algorithms.params import Param, resolve_params
from vigil.errors import UsageError

TASKS = ("classification", "regression", "clustering", "anomaly")

Factory = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class AlgorithmSpec:
    """One catalogue entry.

    ``scale`` says whether numeric inputs are standardised before the estimator
    (distance- and gradient-based models need it; trees do not). ``dense``
    says whether the estimator needs a dense matrix.
    """

    name: str
    tasks: tuple[str, ...]
    params: tuple[Param, ...]
    factory: Factory
    description: str
    scale: bool = False
    dense: bool = True

    def build(self, task: str, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Returns an unfitted estimator for ``task`` and the resolved parameters."""
        if task not in self.tasks:
            raise UsageError(
                f"Algorithm {self.name} does not do {task}; it does {', '.join(self.tasks)}."
            )
        resolved = resolve_params(self.params, params, self.name)
        return self.factory(task, resolved), resolved

    def to_json(self) -> dict[str, Any]:
        """Returns the entry as plain JSON (``vigil algorithms --json``)."""
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "description": self.description,
            "params": [p.to_json() for p in self.params],
        }


def _seed() -> Param:
    return Param("random_state", "int", 0, "seed for reproducible fits", minimum=0)


def _max_depth(default: int | None = None) -> Param:
    return Param("max_depth", "int", default, "deepest a tree may grow", 1, 1000, nullable=True)


def _contamination() -> Param:
    return Param(
        "contamination",
        "float",
        0.05,
        "expected share of anomalies; sets the threshold",
        0.0,
        0.5,
        exclusive_minimum=True,
    )


def _random_forest(task: str, p: dict[str, Any]) -> Any:
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

    max_features = p.pop("max_features")
    return ScratchDecisionTreeClassifier(
        **p, max_features={"all": None}.get(max_features, max_features)
    )


def _isolation_forest(task: str, p: dict[str, Any]) -> Any:
    forest = IsolationForest(
        n_estimators=p["n_estimators"],
        max_samples="auto" if p["max_samples"] is None else p["max_samples"],
        max_features=p["max_features"],
        random_state=p["random_state"],
        n_jobs=1,
    )
    return CalibratedAnomalyDetector(forest, contamination=p["contamination"])


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
    _seed(),
)

_ENTRIES: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        "linear_regression",
        ("regression",),
        (Param("fit_intercept", "bool", True, "learn an intercept"),),
        lambda task, p: LinearRegression(fit_intercept=p["fit_intercept"]),
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
        lambda task, p: LogisticRegression(
            C=p["C"],
            l1_ratio=p["l1_ratio"],
            max_iter=p["max_iter"],
            class_weight=None if p["class_weight"] == "none" else p["class_weight"],
            solver="lbfgs" if p["l1_ratio"] == 0 else "saga",
        ),
        "Regularised logistic regression (scikit-learn).",
        scale=True,
    ),
    AlgorithmSpec(
        "random_forest",
        ("classification", "regression"),
        _FOREST_PARAMS,
        _random_forest,
        "Random forest of decision trees.",
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
            _seed(),
        ),
        _svm,
        "Support vector machine (SVC / SVR).",
        scale=True,
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
            _seed(),
        ),
        _xgboost,
        "Gradient-boosted trees (XGBoost).",
        dense=False,
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
            _seed(),
        ),
        _lightgbm,
        "Gradient-boosted trees (LightGBM).",
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
            _seed(),
        ),
        _hist_gradient_boosting,
        "Histogram gradient boosting (scikit-learn).",
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
            _seed(),
        ),
        _scratch_logistic,
        "Logistic regression written from scratch in NumPy.",
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
            _seed(),
        ),
        _scratch_tree,
        "Decision tree written from scratch in NumPy.",
    ),
    AlgorithmSpec(
        "kmeans",
        ("clustering",),
        (
            Param("n_clusters", "int", 8, "number of clusters", 2, 10_000),
            Param("max_iter", "int", 300, "iterations per run", 1, 100_000),
            _seed(),
        ),
        lambda task, p: KMeans(
            n_clusters=p["n_clusters"],
            max_iter=p["max_iter"],
            random_state=p["random_state"],
            n_init="auto",
        ),
        "k-means clustering.",
        scale=True,
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
        lambda task, p: InductiveDBSCAN(
            eps=p["eps"], min_samples=p["min_samples"], metric=p["metric"]
        ),
        "Density-based clustering; new points join their nearest core sample's cluster.",
        scale=True,
    ),
    AlgorithmSpec(
        "isolation_forest",
        ("anomaly",),
        (
            Param("n_estimators", "int", 100, "number of trees", 1, 5000),
            Param(
                "max_samples",
                "int",
                None,
                "rows per tree (none = min(256, rows))",
                2,
                10_000_000,
                nullable=True,
            ),
            Param(
                "max_features",
                "float",
                1.0,
                "feature share per tree",
                0.0,
                1.0,
                exclusive_minimum=True,
            ),
            _contamination(),
            _seed(),
        ),
        _isolation_forest,
        "Isolation forest with scores calibrated to [0, 1].",
    ),
)

CATALOGUE: dict[str, AlgorithmSpec] = {spec.name: spec for spec in _ENTRIES}

DEFAULT_ALGORITHM = {
    "classification": "random_forest",
    "regression": "random_forest",
    "clustering": "kmeans",
    "anomaly": "isolation_forest",
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
