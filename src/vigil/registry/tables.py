"""The registry's tables as SQLAlchemy 2 declarative models.

Only the stores of :mod:`vigil.registry` touch these rows; everything else gets
plain records such as those of :mod:`vigil.registry.entities`. The schema itself is created
by the Alembic migrations, never by ``metadata.create_all``: a test compares
these models with the migrated database so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "DeploymentEventRow", "ModelRow", "ModelVersionRow", "UTCDateTime"]

# Named constraints: SQLite batch migrations can only drop or alter constraints
# that have a name, and the names must be the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC and given its zone back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Returns ``value`` in UTC (naive for SQLite); a naive input is refused as ambiguous."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"Timestamp {value.isoformat()} has no time zone; use UTC.")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Returns the stored timestamp as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of the registry tables (their metadata drives Alembic)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ModelRow(Base):
    """A named model of a tenant and its deployment pointers."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(256))
    production_version: Mapped[int | None] = mapped_column(Integer)
    canary_version: Mapped[int | None] = mapped_column(Integer)
    canary_weight: Mapped[float] = mapped_column(Float, default=0.0)
    shadow_versions: Mapped[list[int]] = mapped_column(JSON, default=list)


class ModelVersionRow(Base):
    """One immutable trained version of a model."""

    __tablename__ = "model_versions"
    # The unique (model_id, version) index also serves lookups by model_id alone.
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(32))
    algorithm: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    feature_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    data_fingerprint: Mapped[str] = mapped_column(String(128))
    artifact_key: Mapped[str] = mapped_column(String(1024))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_hmac: Mapped[str] = mapped_column(String(128))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    library_versions: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    job_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]]


class DeploymentEventRow(Base):
    """One change of a model's deployment pointers, kept as its history."""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[float | None] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: its tenant and role, and the hash of its secret (never the secret)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(256))
    revoked_at: Mapped[datetime | None]
    # None: the key never expires. Rotation sets it on the old key (its grace period).
    expires_at: Mapped[datetime | None]
    # Written at most once a minute per process: a key check must not become a write.
    last_used_at: Mapped[datetime | None]
    # The key this one replaced by rotation, if any.
    rotated_from: Mapped[str | None] = mapped_column(String(32))


class AuditEventRow(Base):
    """One change made through Vigil: who, in which tenant, when, what."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class JobRow(Base):
    """Long work (training, retraining, batch scoring) with its state, progress and outcome."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DatasetRow(Base):
    """A dataset stored by Vigil (uploaded, inline rows, fetched from a URL or a query)."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(256))
    format: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    artifact_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class PredictionRow(Base):
    """One answer given (or scored in the shadow): inputs, output, version, latency, time.

    ``actual`` and ``feedback_at`` are filled when ground truth arrives later.
    """

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_model_time", "tenant", "model", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    shadow: Mapped[bool] = mapped_column(default=False)
    inputs: Mapped[dict[str, Any]]
    output: Mapped[dict[str, Any]]
    latency_us: Mapped[float] = mapped_column(Float)
    routing_key: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    actual: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    feedback_at: Mapped[datetime | None]


class AlertRow(Base):
    """Something a person should look at: drift, degradation, a failed job, an automatic action.

    ``dedup_key`` keeps one open alert per ongoing condition (drift of a version
    is raised once, not at every check); ``delivery`` tracks the webhook post.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_model_time", "tenant", "model", "created_at"),
        Index("ix_alerts_dedup", "tenant", "dedup_key", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    dedup_key: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(256))
    delivery: Mapped[str] = mapped_column(String(16))
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(Text)


class PolicyRow(Base):
    """A model's policy (the document users edit) and the scheduler's state for it."""

    __tablename__ = "policies"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]]
    paused: Mapped[bool] = mapped_column(default=False)
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    state: Mapped[dict[str, Any]]
    updated_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime]


class LeaseRow(Base):
    """A named lease: the process holding it unexpired is the only one doing that work.

    The row also carries requests to do that work now: ``run_requests`` counts
    them, ``runs_answered`` is the count seen when the holder's newest finished
    run began, and ``last_run_*`` say who ran it, when it finished and what it
    reported.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    run_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    runs_answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_run_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_report: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class PredictionLogLossRow(Base):
    """Predictions a process accepted but never wrote (it died first), found at a later start.

    ``accepted - written`` of the dead process's counter file; ``/metrics``
    sums ``lost`` so the loss stays visible after the restart.
    """

    __tablename__ = "prediction_log_losses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance: Mapped[str] = mapped_column(String(128))
    lost: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime]
    detected_by: Mapped[str] = mapped_column(String(128))


class StreamStateRow(Base):
    """A model's stream state (recent raw events, open sessions and incidents), one blob.

    ``revision`` grows with every write, so a process holding a copy knows
    whether another replica wrote since.
    """

    __tablename__ = "stream_states"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]
    # The revision ``payload`` is at (a snapshot); the batches after it are in stream_log.
    snapshot_revision: Mapped[int | None] = mapped_column(BigInteger)


class StreamLogRow(Base):
    """A batch answered since its model's stream snapshot (vigil.streams.journal)."""

    __tablename__ = "stream_log"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class IncidentRow(Base):
    """Consecutive anomalies of one stream of a model: opened, escalated, resolved."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_model_status", "tenant", "model", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    stream: Mapped[str] = mapped_column(String(512))
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    events: Mapped[int] = mapped_column(Integer)
    peak_score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime]
