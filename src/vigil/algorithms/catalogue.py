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
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import SVC, SVR

from vigil.algorithms.calibration import (
    CalibratedAnomalyDetector,
    flagged_share,
    parse_severity_bands,
)
from vigil.algorithms.dbscan import InductiveDBSCAN
from vigil.algorithms.ecod import ECODDetector
from vigil.algorithms.ensemble import AnomalyEnsemble
from vigil.algorithms.knn import KNNDetector
from vigil.algorithms.ocsvm import SubsampledOneClassSVM
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


def _neighbour_params() -> tuple[Param, ...]:
    """Returns the parameters shared by the k-NN detectors."""
    return (
        Param("n_neighbors", "int", 5, "k: neighbours a row is compared with", 1, 10_000),
        Param(
            "method",
            "choice",
            "largest",
            "distance to the k-th neighbour, or mean distance to the k nearest",
            choices=("largest", "mean"),
        ),
    )


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


def _threshold_params() -> tuple[Param, ...]:
    """Returns the parameters every anomaly detector shares: threshold and severity bands."""
    return (
        _contamination(),
        Param(
            "target_fpr",
            "float",
            None,
            "share of normal rows allowed above the threshold when the training data are "
            "clean; overrides contamination (none = use contamination)",
            0.0,
            0.5,
            exclusive_minimum=True,
            nullable=True,
        ),
        Param(
            "severity_bands",
            "str",
            None,
            "calibrated scores where low, medium, high and critical begin, ascending from the "
            "threshold, e.g. 0.95,0.98,0.995,0.999 (none = spread from the threshold to 1)",
            nullable=True,
        ),
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

    # The resolved parameters are recorded with the version: build from a copy.
    args = dict(p)
    args["max_features"] = {"all": None}.get(args["max_features"], args["max_features"])
    return ScratchDecisionTreeClassifier(**args)


def _calibrated(detector: Any, p: dict[str, Any]) -> CalibratedAnomalyDetector:
    """Returns ``detector`` wrapped for calibrated scores, its severity bands checked."""
    share = flagged_share(p["contamination"], p["target_fpr"])
    try:
        bands = parse_severity_bands(p["severity_bands"], 1.0 - share)
    except ValueError as exc:
        raise UsageError(
            str(exc), errors=[{"loc": ["params", "severity_bands"], "msg": str(exc)}]
        ) from None
    return CalibratedAnomalyDetector(
        detector,
        contamination=p["contamination"],
        target_fpr=p["target_fpr"],
        severity_bands=bands,
    )


def _isolation_forest(task: str, p: dict[str, Any]) -> Any:
    forest = IsolationForest(
        n_estimators=p["n_estimators"],
        max_samples="auto" if p["max_samples"] is None else p["max_samples"],
        max_features=p["max_features"],
        random_state=p["random_state"],
        n_jobs=1,
    )
    return _calibrated(forest, p)


def _lof(task: str, p: dict[str, Any]) -> Any:
    return _calibrated(LocalOutlierFactor(n_neighbors=p["n_neighbors"], novelty=True), p)


def _ocsvm(task: str, p: dict[str, Any]) -> Any:
    svm = SubsampledOneClassSVM(
        nu=p["nu"],
        kernel=p["kernel"],
        gamma=p["gamma"],
        max_samples=p["max_samples"],
        random_state=p["random_state"],
    )
    return _calibrated(svm, p)


def _knn(task: str, p: dict[str, Any]) -> Any:
    return _calibrated(KNNDetector(n_neighbors=p["n_neighbors"], method=p["method"]), p)


def _subsampled_knn(task: str, p: dict[str, Any]) -> Any:
    knn = KNNDetector(
        n_neighbors=p["n_neighbors"],
        method=p["method"],
        max_samples=p["max_samples"],
        n_estimators=p["n_estimators"],
        random_state=p["random_state"],
    )
    return _calibrated(knn, p)


def _ecod(task: str, p: dict[str, Any]) -> Any:
    return _calibrated(ECODDetector(), p)


# Names an ensemble cannot contain: itself and ``auto``, which is an ensemble.
_COMPOSITE = ("ensemble", "auto")
# ``auto``: a multivariate, local view (distance to neighbours in random subsamples) and
# a per-feature one (ECOD's tail probabilities); benchmarks/anomaly/ measures why.
AUTO_MEMBERS = ("subsampled_knn", "ecod")
# Kinds of features for which ``auto`` is made of other members (see ``_auto``).
AUTO_MEMBERS_BY_KIND = {"metrics": ("ecod",)}


def auto_members(feature_kind: str = "tabular") -> str:
    """Returns the members ``auto`` is made of for ``feature_kind``, comma-separated."""
    return ",".join(AUTO_MEMBERS_BY_KIND.get(feature_kind, AUTO_MEMBERS))


def _member_names(members: str, owner: str = "ensemble") -> list[str]:
    """Returns the names in a comma-separated member list, or raises naming the allowed ones."""
    names = [name.strip() for name in members.split(",") if name.strip()]
    allowed = [s.name for s in _ENTRIES if "anomaly" in s.tasks and s.name not in _COMPOSITE]
    unknown = [name for name in names if name not in allowed]
    problem = None
    if not names:
        problem = "got none"
    elif unknown:
        problem = f"{unknown[0]!r} is not one"
    elif len(set(names)) != len(names):
        problem = "a name is repeated"
    if problem is not None:
        message = (
            f"Parameter 'members' of {owner} must be comma-separated distinct names from: "
            f"{', '.join(allowed)}; {problem}."
        )
        raise UsageError(message, errors=[{"loc": ["params", "members"], "msg": message}])
    return names


def _members(names: list[str], seed: int) -> list[tuple[str, Any]]:
    """Returns each named detector built with its catalogue defaults and the ensemble's seed."""
    built = []
    for name in names:
        spec = CATALOGUE[name]
        given = {"random_state": seed} if any(p.name == "random_state" for p in spec.params) else {}
        built.append((name, spec.build("anomaly", given)[0]))
    return built


def _ensemble(task: str, p: dict[str, Any]) -> Any:
    members = _members(_member_names(p["members"]), p["random_state"])
    return _calibrated(AnomalyEnsemble(members, combine=p["combine"]), p)


def _auto(task: str, p: dict[str, Any]) -> Any:
    """Returns the default detector: the larger calibrated score of its members.

    The members are ``AUTO_MEMBERS`` unless the trainer chose them by the kind
    of features (``auto_members``); the choice is recorded in the model's
    parameters. Chosen on data of three kinds, with every member at its
    catalogue defaults: nothing is tuned to a data set.

    - Tables and events (ADBench's eight numeric tables and Vigil's four
      simulated event tables, benchmarks/anomaly/): k-NN distance to random
      subsamples and ECOD. It adapts to the data by one rule: k-NN samples
      hold min(256, rows) rows (below 256 rows that is exact k-NN) and ECOD
      keeps at most 10,000 values per feature, so the model's size and the
      cost of scoring a row stay bounded however large the training data.
      Five k-NN samples (1,280 references) rather than twenty cost 0.2
      points of mean ROC AUC on the tabular benchmark and score four times
      as fast: the log pipeline runs above 100,000 events/s on one core
      (benchmarks/anomaly/log_speed.py). The k-NN member is calibrated on
      the last quarter of the training rows against the earlier ones
      (``fit_detector``), so in a stream new rows are judged as fairly as in
      a shuffled table.
    - Metric streams: ECOD alone. Window features of a stream keep finding
      combinations never seen in training (a quiet hour after a busy one, a
      burst a little wider than before) that are normal; k-NN ranks them
      above real faults, and as the larger score it decides. On NAB's real
      CloudWatch series (benchmarks/anomaly/nab.py, daily retraining) ECOD
      alone scores 66.9, the members for tables 39.0, the isolation forest
      43.8. On simulated metric streams (benchmarks/anomaly/
      metric_streams.py) both see a fault where it starts as well (ROC AUC
      of its first points against normal ones 98.1, 97.6 for the members for
      tables); k-NN keeps flagging more of a lasting fault's later points
      (per-point ROC AUC 85.0 against 81.7), which an alert does not need.
    """
    names = _member_names(p["members"] or auto_members(), "auto")
    if len(names) == 1:
        # One member needs no ensemble: it is calibrated with auto's threshold settings.
        spec = CATALOGUE[names[0]]
        shared = {param.name for param in spec.params} & set(p)
        return spec.build(task, {name: p[name] for name in shared})[0]
    return _calibrated(AnomalyEnsemble(_members(names, p["random_state"])), p)


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
            *_threshold_params(),
            _seed(),
        ),
        _isolation_forest,
        "Isolation forest with scores calibrated to [0, 1].",
    ),
    AlgorithmSpec(
        "lof",
        ("anomaly",),
        (
            Param(
                "n_neighbors", "int", 20, "neighbours a row's density is compared with", 1, 10_000
            ),
            *_threshold_params(),
        ),
        _lof,
        "Local outlier factor (novelty mode): density relative to the neighbours' density.",
        scale=True,
    ),
    AlgorithmSpec(
        "ocsvm",
        ("anomaly",),
        (
            Param(
                "nu",
                "float",
                0.5,
                "bound on the share outside the boundary",
                0.0,
                1.0,
                exclusive_minimum=True,
            ),
            Param(
                "kernel", "choice", "rbf", "kernel", choices=("rbf", "linear", "poly", "sigmoid")
            ),
            Param("gamma", "choice", "scale", "kernel coefficient", choices=("scale", "auto")),
            Param(
                "max_samples",
                "int",
                10_000,
                "rows the SVM is fitted on; larger training sets are randomly subsampled",
                2,
                1_000_000,
            ),
            *_threshold_params(),
            _seed(),
        ),
        _ocsvm,
        "One-class SVM, fitted on at most max_samples (10,000) random rows to stay fast.",
        scale=True,
    ),
    AlgorithmSpec(
        "knn",
        ("anomaly",),
        (
            *_neighbour_params(),
            *_threshold_params(),
        ),
        _knn,
        "Distance to the k-th nearest training row (exact k-NN).",
        scale=True,
    ),
    AlgorithmSpec(
        "subsampled_knn",
        ("anomaly",),
        (
            *_neighbour_params(),
            Param("max_samples", "int", 256, "rows per subsample", 2, 1_000_000),
            Param("n_estimators", "int", 5, "number of subsamples", 1, 1000),
            *_threshold_params(),
            _seed(),
        ),
        _subsampled_knn,
        "k-NN distance to random subsamples of the training rows, averaged.",
        scale=True,
    ),
    AlgorithmSpec(
        "ecod",
        ("anomaly",),
        _threshold_params(),
        _ecod,
        "ECOD: how deep each feature lies in its training tails; parameter-free.",
    ),
    AlgorithmSpec(
        "ensemble",
        ("anomaly",),
        (
            Param(
                "members",
                "str",
                ",".join(AUTO_MEMBERS),
                "comma-separated anomaly algorithms, each with its default parameters",
            ),
            Param(
                "combine",
                "choice",
                "max",
                "largest calibrated member score, or the mean (of surprisals)",
                choices=("max", "mean"),
            ),
            *_threshold_params(),
            _seed(),
        ),
        _ensemble,
        "Detectors combined by their calibrated scores (largest or mean).",
        scale=True,
    ),
    AlgorithmSpec(
        "auto",
        ("anomaly",),
        (
            Param(
                "members",
                "str",
                None,
                "comma-separated anomaly algorithms (none = chosen by the kind of features: "
                f"{auto_members('metrics')} for metric streams, {auto_members()} "
                "otherwise)",
                nullable=True,
            ),
            *_threshold_params(),
            _seed(),
        ),
        _auto,
        "The default: ecod for metric streams; otherwise the larger calibrated score of "
        "subsampled_knn and ecod.",
        scale=True,
    ),
)

CATALOGUE: dict[str, AlgorithmSpec] = {spec.name: spec for spec in _ENTRIES}

DEFAULT_ALGORITHM = {
    "classification": "random_forest",
    "regression": "random_forest",
    "clustering": "kmeans",
    "anomaly": "auto",
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
