"""Request and response bodies of the REST API, so the OpenAPI document says what is sent.

Response models allow extra fields: the service may add a field before the
schema names it, and a client must not break on one. Requests forbid unknown
fields, so a typo (``"verison"``) is a 422 naming it instead of being ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.training.request import MAX_HORIZON, Row, Scalar

# --- shared --------------------------------------------------------------------------

# Version numbers are stored as 32-bit integers in every supported database.
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    """Base of response bodies: fields the schema does not name yet pass through."""

    model_config = ConfigDict(extra="allow")


class ProblemItem(BaseModel):
    """One invalid field: where it is and what is wrong with it."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details); ``errors`` lists invalid fields."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None
    request_id: str | None = None


class Health(BaseModel):
    """The service is up; ``degraded`` (with the reason) when part of it is failing."""

    status: Literal["ok", "degraded"]
    version: str
    reason: str | None = None


# --- algorithms ----------------------------------------------------------------------


class AlgorithmParam(PublicModel):
    """One hyperparameter of an algorithm: type, default and allowed values."""

    name: str
    type: Literal["int", "float", "bool", "str", "choice"]
    default: Any = None


class Algorithm(PublicModel):
    """A catalogue entry."""

    name: str
    tasks: list[str]
    description: str
    params: list[AlgorithmParam]


class AlgorithmList(PublicModel):
    """The algorithm catalogue."""

    algorithms: list[Algorithm]


# --- models, versions, deployments ---------------------------------------------------


class ModelPublic(PublicModel):
    """A model and where its deployment pointers stand."""

    name: str
    task: str
    production_version: int | None
    canary_version: int | None
    canary_weight: float
    shadow_versions: list[int]
    latest_version: int | None
    created_at: str
    created_by: str


class ModelList(PublicModel):
    """The caller's tenant's models."""

    models: list[ModelPublic]


class FeatureColumn(PublicModel):
    """One input column of a tabular model, as the version's schema records it."""

    name: str
    kind: str
    dtype: str


class FeatureExtraction(PublicModel):
    """How a logs, metrics or requests model turns raw inputs into features."""

    kind: Literal["logs", "metrics", "requests"]
    options: dict[str, Any]


class VersionPublic(PublicModel):
    """An immutable trained version and how it was made."""

    model: str
    version: int
    task: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    target: str | None
    features: list[FeatureColumn] | FeatureExtraction = Field(
        description="The input columns (tabular models), or the feature extractor's kind and "
        "options (logs, metrics and requests models)."
    )
    data_fingerprint: str
    artifact_sha256: str
    created_by: str
    created_at: str
    job_id: str | None


class VersionList(PublicModel):
    """A model's versions, oldest first."""

    model: str
    versions: list[VersionPublic]


class DeletedVersions(PublicModel):
    """What a delete removed."""

    model: str
    deleted_versions: list[int]


class DeploymentEventPublic(PublicModel):
    """One change of a model's deployment: who, when, what and why."""

    id: int
    action: str
    version: int | None
    previous_version: int | None
    weight: float | None
    actor: str
    reason: str
    created_at: str


class DeploymentHistory(PublicModel):
    """A model's deployment history, oldest first."""

    model: str
    history: list[DeploymentEventPublic]


class DeployRequest(RequestModel):
    """Move production to ``version``, or send it a canary share, or score it in the shadow."""

    version: VersionNumber
    strategy: Literal["replace", "canary", "shadow"] = "replace"
    weight: float | None = Field(
        default=None, gt=0, le=100, description="Canary share of traffic, in percent."
    )
    reason: str = Field(default="", max_length=1000, description="Why, for the history.")


class RollbackRequest(RequestModel):
    """Move production back to the previous production version, or to ``version``."""

    version: VersionNumber | None = None
    reason: str = Field(default="", max_length=1000)


# --- predictions ---------------------------------------------------------------------


class PredictRequest(RequestModel):
    """Rows to score, each an object of column values; or, for a forecast model, a horizon."""

    instances: list[Row] | None = Field(
        default=None, min_length=1, description="Rows to score (every task but forecast)."
    )
    horizon: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HORIZON,
        strict=True,
        description="Forecast: steps ahead, at most the model's horizon.",
    )
    series: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1, description="Forecast: the series to forecast (default: all)."
    )
    history: list[Row] | None = Field(
        default=None,
        min_length=1,
        description="Forecast: newer points than training (the training columns); the model "
        "forecasts from their end without retraining.",
    )
    exog: list[Row] | None = Field(
        default=None,
        min_length=1,
        description="Forecast with regressors: their values at each time forecast, as rows of "
        "the time, series and regressor columns (required by a model with regressors).",
    )
    level: list[Annotated[int, Field(ge=1, le=99, strict=True)]] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="Forecast: interval levels in per cent (default [80, 95]).",
    )
    # Strict: "yes" or 1 is refused rather than read as true.
    explain: bool = Field(default=False, strict=True)
    version: VersionNumber | None = Field(default=None, description="Default: production.")
    routing_key: str | None = Field(
        default=None,
        max_length=256,
        description="Sends the same key to the same side of a canary split (e.g. a user id).",
    )


class ExplanationItem(PublicModel):
    """A feature that drove an anomaly, its value and the range seen in training."""

    feature: str
    value: Any
    normal_range: Any
    contribution: float


class Prediction(PublicModel):
    """The model's answer for one row, with its id and the version that gave it."""

    id: str
    version: int
    prediction: Any
    probabilities: dict[str, float] | None = None
    score: float | None = None
    is_anomaly: bool | None = None
    severity: str | None = None
    explanation: list[ExplanationItem] | None = None


class ForecastPoint(PublicModel):
    """A forecast model's answer for one series at one future time, with its intervals.

    ``lo_<level>`` / ``hi_<level>`` for each level asked (default 80 and 95).
    """

    id: str
    version: int
    series: str
    timestamp: str
    forecast: float
    lo_80: float | None = None
    hi_80: float | None = None
    lo_95: float | None = None
    hi_95: float | None = None


class PredictResponse(PublicModel):
    """One prediction per input row, in input order (per session for session models).

    A forecast model answers one point per series and future time instead.
    """

    model: str
    predictions: list[Prediction | ForecastPoint]
    parse: dict[str, Any] | None = None


# --- monitoring ----------------------------------------------------------------------


class FeedbackItem(RequestModel):
    """The ground truth of one earlier prediction: by its id, or (forecasts) by series and time."""

    prediction_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Required unless timestamp is given (forecast models).",
    )
    series: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Forecast models: the series the actual belongs to.",
    )
    timestamp: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Forecast models: the time of the actual (joins every point forecast for "
        "that series and time).",
    )
    actual: Scalar


class FeedbackRequest(RequestModel):
    """Ground truth for earlier predictions, by prediction id."""

    items: list[FeedbackItem] = Field(min_length=1)


class FeedbackResult(PublicModel):
    """How the feedback was joined: accepted, unchanged (sent before), unknown ids."""

    accepted: int
    unchanged: int
    unknown: list[str]


class Performance(PublicModel):
    """Live metrics per version over recent windows."""

    model: str
    task: str
    production_version: int | None
    windows: dict[str, Any]


class Drift(PublicModel):
    """Drift of recent production inputs against the version's training reference."""

    model: str
    version: int
    drifted: bool
    features: dict[str, Any]


# --- training and jobs ---------------------------------------------------------------
# The train body is vigil.training.request.TrainRequest: one contract for REST and CLI.


class JobAccepted(PublicModel):
    """A job was queued; follow it at ``/v1/jobs/{job_id}``."""

    job_id: str
    status: str


class JobPublic(PublicModel):
    """A unit of long work: its status, progress, and result or error."""

    id: str
    kind: str
    status: str
    progress: float
    result: dict[str, Any] | None
    error: str | None


class JobList(PublicModel):
    """The tenant's recent jobs, newest first."""

    jobs: list[JobPublic]


# --- datasets ------------------------------------------------------------------------


class DatasetRowsCreate(RequestModel):
    """A dataset given as inline rows."""

    name: str = Field(default="", max_length=256)
    rows: list[Row] = Field(min_length=1)


class DatasetPublic(PublicModel):
    """A stored dataset: its shape and content fingerprint."""

    id: str
    name: str
    rows: int
    columns: list[dict[str, Any]]
    fingerprint: str


# --- keys and audit ------------------------------------------------------------------


class KeyCreate(RequestModel):
    """A new key's role, tenant (default: the caller's tenant) and optional lifetime."""

    role: Literal["viewer", "predictor", "trainer", "admin", "metrics"]
    tenant: str | None = Field(default=None, min_length=1, max_length=128)
    expires_in_days: float | None = Field(
        default=None, gt=0, le=3650, allow_inf_nan=False, strict=True
    )


class KeyInfo(PublicModel):
    """A key as listed: never its secret. ``state`` is active, revoked or expired."""

    id: str
    role: str
    tenant: str
    state: Literal["active", "revoked", "expired"]
    created_at: str
    created_by: str
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    rotated_from: str | None = None


class KeyCreated(KeyInfo):
    """A new API key; ``key`` is shown this once and never again."""

    key: str


class KeyRotate(RequestModel):
    """How long the old key keeps working after a rotation (default 24 hours)."""

    grace_hours: float = Field(default=24.0, ge=0, le=2160, allow_inf_nan=False, strict=True)


class AuditEvent(PublicModel):
    """One recorded change."""

    id: int
    actor: str
    action: str
    resource: str
    detail: dict[str, Any]
    created_at: str


class AuditList(PublicModel):
    """The tenant's audit events, newest first."""

    events: list[AuditEvent]
