"""The train request: one specification of what a training run is asked to do.

:class:`TrainRequest` is the contract. The REST body
(``POST /v1/models/{name}/train``, whose OpenAPI schema it is), the flags of
``vigil train`` and a retraining's stored request all go through
:func:`train_spec_from_request`, so the same field is accepted, or refused
with the same error naming it, whichever way it came.

Example:
    >>> from vigil.errors import InvalidInput
    >>> spec = train_spec_from_request({"features": "logs", "feature_options": {"window": "5min"}})
    >>> spec.feature_kind, dict(spec.feature_options)
    ('logs', {'window': '5min'})
    >>> train_spec_from_request(spec_to_json(spec)) == spec
    True
    >>> bad = {"features": "metrics", "feature_options": {"session_key": "x"}}
    >>> try:
    ...     train_spec_from_request(bad)
    ... except InvalidInput as exc:
    ...     print(exc.message)
    feature_options.session_key: --session-key does not apply to --features metrics.
"""

from __future__ import annotations

import datetime
import functools
import math
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from vigil.errors import UsageError, VigilError
from vigil.features.kinds import FEATURE_KINDS

if TYPE_CHECKING:
    from vigil.training.trainer import TrainSpec

__all__ = [
    "DEPLOY_CHOICES",
    "TASK_CHOICES",
    "Row",
    "Scalar",
    "SearchRequest",
    "SqlSource",
    "TrainData",
    "TrainRequest",
    "parse_train_request",
    "spec_to_json",
    "train_spec_from_request",
]

TASK_CHOICES = ("auto", "classification", "regression", "clustering", "anomaly", "forecast")
# Named in the design, not built yet: refused with a clear message, never accepted.
PLANNED_TASKS = ("recommendation",)
# The fields that only a forecast reads; any other task refuses them.
FORECAST_FIELDS = ("horizon", "series", "timestamp")
# The backtest windows of a forecast when ``cv`` is not given.
DEFAULT_BACKTEST_WINDOWS = 3
MAX_HORIZON = 10_000
DEPLOY_CHOICES = ("never", "always", "if_better")
# The kinds whose extractor takes options (``tabular`` has no extractor).
EXTRACTED_KINDS = tuple(kind for kind in FEATURE_KINDS if kind != "tabular")

# --- table cells ---------------------------------------------------------------------

_SCALAR_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
}
# JSON integers beyond 64 bits become floats: pandas cannot hold them as numbers.
_INT64 = 2**63


def _scalar(value: Any) -> str | int | float | bool | None:
    """Returns ``value`` if it is a JSON scalar a table cell can hold, else raises naming why."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 < value < _INT64 else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "must be a finite number")
        return value
    raise PydanticCustomError("scalar", "must be a string, number, boolean or null")


Scalar = Annotated[
    str | int | float | bool | None,
    PlainValidator(_scalar),
    WithJsonSchema(_SCALAR_SCHEMA),
]
Row = dict[str, Scalar]


def _cell(value: Any) -> Any:
    """Returns a training-data cell: a JSON scalar, or a date or NaN as Python callers hold them.

    A row built from a DataFrame holds NaN for a missing value (kept as null)
    and timestamps as datetimes; over JSON neither can arrive.
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime.date):
        return value
    return _scalar(value)


Cell = Annotated[
    str | int | float | bool | None, PlainValidator(_cell), WithJsonSchema(_SCALAR_SCHEMA)
]

# --- feature options -----------------------------------------------------------------


@functools.cache
def _option_model(kind: str) -> type[BaseModel]:
    """Returns a model of the options ``kind``'s extractor takes, typed as its constructor."""
    # The extractors (pandas, scikit-learn) load when options are first checked, not when
    # the API starts: a server that never trains never needs them.
    from vigil.features.extractors import make_extractor

    extractor = type(make_extractor(kind))
    hints = typing.get_type_hints(extractor.__init__)
    hints.pop("return", None)
    fields: dict[str, Any] = {name: (hint, None) for name, hint in hints.items()}
    return create_model(
        f"{kind.title()}FeatureOptions",
        __config__=ConfigDict(strict=True),
        **fields,
    )


def _check_feature_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Returns the options that are set, checked as ``make_extractor`` checks them for ``kind``.

    Raises a ValidationError located at each offending option.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if kind == "tabular":
        _refuse(
            [
                (
                    (key,),
                    f"{_flag(key)} needs --features {', '.join(EXTRACTED_KINDS[:-1])} "
                    f"or {EXTRACTED_KINDS[-1]}.",
                )
                for key in given
            ]
        )
        return given
    model = _option_model(kind)
    _refuse(
        [
            ((key,), _extractor_refusal(kind, {key: given[key]}))
            for key in given
            if key not in model.model_fields
        ]
    )
    model.model_validate(given)  # a value of the wrong type, located at its option
    _refuse([((), _extractor_refusal(kind, given))])
    return given


def _extractor_refusal(kind: str, options: dict[str, Any]) -> str | None:
    """Returns why ``make_extractor`` refuses ``options`` for ``kind``, or None if it takes them."""
    from vigil.features.extractors import make_extractor

    try:
        make_extractor(kind, options)
    except VigilError as exc:
        return exc.message
    return None


def _refuse(problems: list[tuple[tuple[str, ...], str | None]]) -> None:
    """Raises a ValidationError with one error per (location, message) whose message is set."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("feature_option", "{message}", {"message": message}),
            loc=loc,
            input=None,
        )
        for loc, message in problems
        if message is not None
    ]
    if details:
        raise ValidationError.from_exception_data("feature_options", details)


def _flag(option: str) -> str:
    """Returns how ``vigil train`` spells an option (``session_key`` -> ``--session-key``)."""
    return "--" + option.replace("_", "-")


# --- the contract --------------------------------------------------------------------


class _Contract(BaseModel):
    """Base of the request's parts: unknown fields are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SqlSource(_Contract):
    """A named query on a connection configured on the server, with bound parameters."""

    connection: str
    query: str
    params: dict[str, Scalar] = Field(default_factory=dict)


class TrainData(_Contract):
    """Where the training data comes from: exactly one of the four fields."""

    dataset_id: str | None = Field(default=None, description="A dataset stored by Vigil.")
    rows: list[dict[str, Cell]] | None = Field(
        default=None, min_length=1, description="Inline rows, stored as a dataset."
    )
    url: str | None = Field(default=None, description="An allow-listed http(s) URL.")
    sql: SqlSource | None = None


class SearchRequest(_Contract):
    """Hyperparameter search over the algorithm's schema (not available yet)."""

    trials: int = Field(ge=1)
    timeout: float | None = Field(default=None, gt=0)


def _features(value: Any) -> list[str] | str | None:
    """Returns ``value`` if it is a list of column names or a feature kind, else raises."""
    if value is None or (isinstance(value, str) and value in FEATURE_KINDS):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise PydanticCustomError(
        "features",
        "must be a list of column names or one of {kinds}, got {value}",
        {"kinds": ", ".join(FEATURE_KINDS), "value": _shown(value)},
    )


_FEATURES_SCHEMA = {
    "anyOf": [
        {"type": "array", "items": {"type": "string"}, "title": "columns"},
        {"type": "string", "enum": list(FEATURE_KINDS), "title": "kind"},
        {"type": "null"},
    ],
    "default": None,
    "description": "The feature columns (default: every column but the target), or how raw "
    "inputs become features: one of " + ", ".join(FEATURE_KINDS) + "; for forecast, the "
    "regressor columns (default: the other complete numeric columns).",
}


def _describe_options(schema: dict[str, Any]) -> None:
    """Describes ``feature_options`` in the JSON schema, read from the extractors themselves.

    Called when the schema is generated (the first ``/openapi.json``), not at
    import, so starting the API does not load the extractors.
    """
    kinds = "; ".join(
        f"{kind}: {', '.join(_option_model(kind).model_fields)}" for kind in EXTRACTED_KINDS
    )
    schema["description"] = f"Options of the feature extractor chosen by `features` ({kinds})."


class TrainRequest(_Contract):
    """What to train, on which data, and whether to deploy the result."""

    data: TrainData | None = Field(
        default=None, description="Required over REST; the CLI passes a file instead."
    )
    task: Literal["auto", "classification", "regression", "clustering", "anomaly", "forecast"] = (
        Field(
            default="auto",
            description="recommendation is planned and refused until it exists; auto with a "
            "horizon is forecast.",
        )
    )
    algorithm: str | None = Field(default=None, description="A name from /v1/algorithms.")
    target: str | None = Field(
        default=None,
        description="The label column (for anomaly: optional, never a feature); for forecast, "
        "the value column (default: the one numeric column).",
    )
    features: Annotated[
        list[str] | str | None, PlainValidator(_features), WithJsonSchema(_FEATURES_SCHEMA)
    ] = None
    feature_options: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra=_describe_options
    )
    exclude: list[str] = Field(
        default_factory=list, description="Columns (or input fields) left out of the features."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Hyperparameters (see the algorithm's schema)."
    )
    test_size: float = Field(default=0.2, gt=0, lt=1, description="Held-out share.")
    cv: int | None = Field(
        default=None,
        ge=2,
        le=20,
        description="k-fold cross-validation; for forecast, the rolling-origin backtest windows "
        f"of the horizon (default {DEFAULT_BACKTEST_WINDOWS}).",
    )
    seed: int = Field(default=42, ge=0, lt=2**32, description="Seed of the split and model.")
    deploy: Literal["never", "always", "if_better"] = "never"
    search: SearchRequest | None = Field(
        default=None, description="Hyperparameter search: not available yet, refused."
    )
    horizon: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HORIZON,
        description="Forecast: how many steps ahead the model forecasts (required for forecast).",
    )
    series: str | None = Field(
        default=None,
        min_length=1,
        description="Forecast: the column naming each series (default: one series).",
    )
    timestamp: str | None = Field(
        default=None,
        min_length=1,
        description="Forecast: the time column (default: the one datetime-like column).",
    )
    # Internal (retraining): the last ``holdout_rows`` labelled rows are the test part.
    holdout_rows: SkipJsonSchema[int] = Field(default=0, ge=0)

    @field_validator("task", mode="before")
    @classmethod
    def _known_task(cls, value: Any) -> Any:
        if value in PLANNED_TASKS:
            raise PydanticCustomError(
                "not_available",
                "'{task}' is not available yet (planned, not built); use one of {choices}",
                {"task": value, "choices": ", ".join(TASK_CHOICES)},
            )
        if isinstance(value, str) and value not in TASK_CHOICES:
            raise _choice_error(value, TASK_CHOICES)
        return value

    @field_validator("deploy", mode="before")
    @classmethod
    def _known_deploy(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in DEPLOY_CHOICES:
            raise _choice_error(value, DEPLOY_CHOICES)
        return value

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str | None) -> str | None:
        from vigil.algorithms.catalogue import CATALOGUE

        if value is not None and value not in CATALOGUE:
            raise PydanticCustomError(
                "unknown_algorithm",
                "must be one of the catalogue's algorithms ({known}), got {value}",
                {"known": ", ".join(sorted(CATALOGUE)), "value": _shown(value)},
            )
        return value

    @field_validator("feature_options")
    @classmethod
    def _options_of_extractor(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "features" not in info.data:
            return value  # features is invalid itself: nothing to check the options against
        features = info.data["features"]
        kind = features if isinstance(features, str) else "tabular"
        return _check_feature_options(kind, value)

    @field_validator("search")
    @classmethod
    def _search_not_built(cls, value: SearchRequest | None) -> SearchRequest | None:
        if value is not None:
            raise PydanticCustomError(
                "not_available",
                "is not available yet: hyperparameter search is planned, not built; leave it out",
            )
        return value

    def to_spec(self) -> TrainSpec:
        """Returns the TrainSpec this request asks for."""
        from vigil.training.trainer import TrainSpec  # the trainer loads scikit-learn

        features = self.features
        kind, columns = (features, None) if isinstance(features, str) else ("tabular", features)
        forecast = self.task == "forecast"
        return TrainSpec(
            task=self.task,
            algorithm=self.algorithm,
            target=self.target,
            features=columns,
            exclude=tuple(self.exclude),
            params=dict(self.params),
            test_size=self.test_size,
            cv=(self.cv or DEFAULT_BACKTEST_WINDOWS) if forecast else self.cv,
            seed=self.seed,
            feature_kind=kind,
            feature_options=self.feature_options,
            holdout_rows=self.holdout_rows,
            horizon=self.horizon,
            series=self.series,
            timestamp=self.timestamp,
        )


# --- parsing -------------------------------------------------------------------------


def parse_train_request(request: Any) -> TrainRequest:
    """Returns the validated request, or raises UsageError naming the first wrong field.

    The error's ``errors`` list every wrong field as ``{"loc", "msg"}``.
    """
    if not isinstance(request, Mapping):
        raise UsageError(
            "The train request must be an object of named fields.",
            errors=[{"loc": [], "msg": "must be an object"}],
        )
    try:
        parsed = TrainRequest.model_validate(dict(request))
    except ValidationError as exc:
        raise _usage_error(exc) from None
    return _checked_forecast_fields(parsed)


def _checked_forecast_fields(parsed: TrainRequest) -> TrainRequest:
    """Returns the request with its task settled: a horizon asks for a forecast.

    Raises UsageError naming the field when a forecast lacks its horizon or
    sends what a forecast does not read, or another task sends a forecast field.
    """
    given = [name for name in FORECAST_FIELDS if getattr(parsed, name) is not None]
    if parsed.task == "auto" and parsed.horizon is not None:
        parsed = parsed.model_copy(update={"task": "forecast"})
    if parsed.task != "forecast":
        if given:
            raise _field_error(given[0], f"{given[0]} applies to task forecast only.")
        return parsed
    if parsed.horizon is None:
        raise _field_error(
            "horizon", "horizon is required for task forecast (how many steps ahead)."
        )
    if isinstance(parsed.features, str) and parsed.features != "tabular":
        raise _field_error(
            "features",
            f"features {parsed.features!r} does not apply to task forecast: a forecast reads "
            "its series as they are.",
        )
    return parsed


def _field_error(field: str, message: str) -> UsageError:
    return UsageError(message, errors=[{"loc": [field], "msg": message}])


def train_spec_from_request(request: Mapping[str, Any]) -> TrainSpec:
    """Returns the TrainSpec described by a train request (REST body, CLI flags, stored spec).

    Raises InvalidInput (a UsageError) naming the field that is wrong, with ``errors``
    carrying each field's ``loc``.
    """
    return parse_train_request(request).to_spec()


def spec_to_json(spec: TrainSpec) -> dict[str, Any]:
    """Returns a TrainSpec as the request fields that rebuild it."""
    extracted = spec.feature_kind != "tabular"
    document: dict[str, Any] = {
        "task": spec.task,
        "algorithm": spec.algorithm,
        "target": spec.target,
        "features": spec.feature_kind if extracted else spec.features,
        "params": dict(spec.params),
        "test_size": spec.test_size,
        "cv": spec.cv,
        "seed": spec.seed,
    }
    if extracted:
        document["feature_options"] = dict(spec.feature_options)
    if spec.exclude:
        document["exclude"] = list(spec.exclude)
    if spec.holdout_rows:
        document["holdout_rows"] = spec.holdout_rows
    for name in FORECAST_FIELDS:
        if getattr(spec, name) is not None:
            document[name] = getattr(spec, name)
    return document


# --- errors --------------------------------------------------------------------------

# Messages of these errors read after the field's name ("deploy must be one of ...").
_PREDICATES = frozenset(
    {"choice", "not_available", "features", "unknown_algorithm", "scalar", "finite_number"}
)


def _usage_error(exc: ValidationError) -> UsageError:
    """Returns the UsageError for a failed validation: the first problem as a sentence."""
    problems = exc.errors(include_url=False, include_input=False)
    errors = [
        {
            "loc": list(p["loc"]),
            "msg": "unknown field" if p["type"] == "extra_forbidden" else p["msg"],
        }
        for p in problems
    ]
    message = _sentence(problems[0])
    if len(problems) > 1:
        message = f"{message[:-1]} (and {len(problems) - 1} more)."
    return UsageError(message, errors=errors)


def _sentence(problem: Mapping[str, Any]) -> str:
    """Returns one sentence naming the field of ``problem`` and what is wrong with it."""
    where = _where(problem["loc"])
    kind, msg = problem["type"], str(problem["msg"])
    if kind == "extra_forbidden":
        if len(problem["loc"]) == 1 and any(
            where in _option_model(k).model_fields for k in EXTRACTED_KINDS
        ):
            return (
                f"Unknown field {where!r} in the train request; "
                "options of the feature extractor go in feature_options."
            )
        return f"Unknown field {where!r} in the train request."
    if kind == "missing":
        return f"{where} is required."
    if kind in _PREDICATES:
        text = f"{where} {msg}"
    elif msg.startswith("Input should"):
        text = f"{where} should{msg[len('Input should') :]}"
    else:
        text = f"{where}: {msg}"
    return text if text.endswith(".") else text + "."


def _where(loc: tuple[str | int, ...]) -> str:
    """Returns a location as a path a person reads: ``data.rows[3].age``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "request"


def _choice_error(value: str, choices: tuple[str, ...]) -> PydanticCustomError:
    return PydanticCustomError(
        "choice",
        "must be one of {choices}, got {value}",
        {"choices": ", ".join(choices), "value": _shown(value)},
    )


def _shown(value: Any) -> str:
    """Returns a short repr of a refused value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
