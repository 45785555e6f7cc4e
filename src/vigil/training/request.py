"""The train request: one specification of what a training run is asked to do.

The REST body (``POST /v1/models/{name}/train``), the CLI's flags and a
retraining's stored request all become a ``TrainSpec`` here, so the same
field is accepted, or refused with the same error, whichever way it came.
"""

from __future__ import annotations

from typing import Any

from vigil.errors import InvalidInput
from vigil.features.extractors import FEATURE_KINDS
from vigil.training.trainer import TrainSpec

_TRAIN_FIELDS = frozenset(
    {
        "data",
        "task",
        "algorithm",
        "target",
        "features",
        "params",
        "test_size",
        "cv",
        "deploy",
        "seed",
        "feature_options",
        "holdout_rows",
    }
)


def train_spec_from_request(request: dict[str, Any]) -> TrainSpec:
    """Returns the TrainSpec described by a train request body (the REST shape).

    Raises InvalidInput naming the field that has the wrong type or an unknown name.
    """
    unknown = sorted(set(request) - _TRAIN_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0]!r} in the train request.",
            errors=[{"loc": [name], "msg": "unknown field"} for name in unknown],
        )

    def typed(name: str, kinds: type | tuple[type, ...], default: Any) -> Any:
        value = request.get(name, default)
        if value is not None and not isinstance(value, kinds):
            raise InvalidInput(
                f"Field {name!r} has the wrong type ({type(value).__name__}).",
                errors=[{"loc": [name], "msg": "wrong type"}],
            )
        return value

    features = typed("features", (list, str), None)
    kind = "tabular"
    if isinstance(features, str):
        # A kind name (logs, metrics, requests, tabular) asks for that feature extraction.
        if features not in FEATURE_KINDS:
            raise InvalidInput(
                f"Field 'features' is a list of columns or one of {', '.join(FEATURE_KINDS)}; "
                f"got {features!r}.",
                errors=[{"loc": ["features"], "msg": "unknown feature kind"}],
            )
        kind, features = features, None
    if features is not None and not all(isinstance(f, str) for f in features):
        raise InvalidInput("Field 'features' must be a list of column names.")
    options = typed("feature_options", dict, None) or {}
    test_size = typed("test_size", (int, float), 0.2)
    return TrainSpec(
        task=typed("task", str, "auto") or "auto",
        algorithm=typed("algorithm", str, None),
        target=typed("target", str, None),
        features=features,
        params=typed("params", dict, None) or {},
        test_size=float(test_size),
        cv=typed("cv", int, None),
        seed=typed("seed", int, 42),
        feature_kind=kind,
        feature_options=options,
        holdout_rows=typed("holdout_rows", int, 0) or 0,
    )


def spec_to_json(spec: TrainSpec) -> dict[str, Any]:
    """Returns a TrainSpec as the request fields that rebuild it."""
    return {
        "task": spec.task,
        "algorithm": spec.algorithm,
        "target": spec.target,
        "features": spec.features,
        "params": dict(spec.params),
        "test_size": spec.test_size,
        "cv": spec.cv,
        "seed": spec.seed,
        **(
            {"features": spec.feature_kind, "feature_options": dict(spec.feature_options)}
            if spec.feature_kind != "tabular"
            else {}
        ),
        **({"holdout_rows": spec.holdout_rows} if spec.holdout_rows else {}),
    }
