"""The application core: one place that does each use case.

The CLI and the REST API both call ``VigilService``; neither holds business
logic. The service composes training (pure), the registry (database and
artifacts) and model loading, and is the only layer that knows all three.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa

from vigil import __version__
from vigil.algorithms.catalogue import CATALOGUE, get_algorithm
from vigil.config import Settings
from vigil.data.loading import Dataset, detect_format, read_table
from vigil.data.sources import check_named_query, check_url, fetch_url, run_named_query
from vigil.errors import (
    ArtifactIntegrityError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    UsageError,
    VigilError,
)
from vigil.features.parsers import ParseReport
from vigil.ids import uuid7
from vigil.jobs.runner import STALE_AFTER, Heartbeat, JobRunner, new_worker_id, worker_is_dead
from vigil.lifecycle.controller import LifecycleController
from vigil.lifecycle.policy import Policy, parse_policy
from vigil.lifecycle.retraining import RetrainingData, retraining_data
from vigil.lifecycle.scheduler import SCHEDULER_INTERVAL_SECONDS, PolicyScheduler
from vigil.monitoring.alerts import Alert, AlertStore
from vigil.monitoring.drift import DriftSettings, dataset_drift
from vigil.monitoring.feedback import FeedbackStore
from vigil.monitoring.performance import LIVE_METRICS, version_performance
from vigil.monitoring.webhook import AlertNotifier, WebhookSender
from vigil.registry.artifacts import ArtifactStore, open_artifact_store
from vigil.registry.audit import AuditLog
from vigil.registry.datasets import DatasetRecord, DatasetStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.entities import DeploymentEvent, ModelRecord, NewVersion, VersionRecord
from vigil.registry.jobs import JobRecord, JobStore
from vigil.registry.keys import KeyStore
from vigil.registry.policies import LeaseStore, PolicyRecord, PolicyStore
from vigil.registry.signing import read_verified, sha256_hex, write_verified
from vigil.registry.store import RegistryStore
from vigil.security import generate_key, role_allows, role_rank
from vigil.serving.batch import CHUNK_ROWS as BATCH_CHUNK_ROWS
from vigil.serving.batch import score_file
from vigil.serving.deployments import DeploymentView
from vigil.serving.fast_model import FastModel
from vigil.serving.model_cache import ModelCache, WouldBlock
from vigil.serving.prediction_log import (
    DeferredInput,
    DeferredInputs,
    LoggedPrediction,
    PredictionLog,
)
from vigil.serving.routing import choose_version
from vigil.training.bundle import BatchPrediction, ModelBundle
from vigil.training.metrics import LOWER_IS_BETTER
from vigil.training.request import spec_to_json, train_spec_from_request
from vigil.training.trainer import (
    Progress,
    TrainOutcome,
    TrainSpec,
    anomaly_labels,
    evaluate_bundle,
    train_model,
)

log = logging.getLogger("vigil.service")

DEPLOY_CHOICES = ("never", "always", "if_better")
# The tenant of the operator (VIGIL_ADMIN_KEY, the first admin key): it may administer others.
OPERATOR_TENANT = "default"
# The metric that decides "better" for each task when comparing versions.
PRIMARY_METRIC = {
    "classification": "f1",
    "regression": "r2",
    "clustering": "silhouette",
    "anomaly": "roc_auc",
}
# What a policy watches, compares and promotes on unless it names another metric.
POLICY_METRIC = {**PRIMARY_METRIC, "anomaly": "f1"}
# An artifact with no version row older than this was left by a crash, not by a
# training run that is about to commit its row.
ORPHAN_GRACE = timedelta(hours=1)
_BUNDLE_CACHE_SIZE = 32
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "xgboost", "lightgbm", "joblib")
# What ``predict`` reads: a table, or rows as mappings of column name to value.
PredictInput = pd.DataFrame | Sequence[Mapping[str, Any]]
# The most rows ``predict(block=False)`` answers: about 10 µs each on the compiled
# path, so an event loop calling it is held well under a millisecond.
INLINE_MAX_ROWS = 32


@dataclass(frozen=True)
class LoadedModel:
    """A loaded version: its bundle, and the compiled fast path when the model has one."""

    bundle: ModelBundle
    fast: FastModel | None = None

    def predict(self, data: PredictInput, *, explain: bool = False) -> BatchPrediction:
        """Returns the outputs for ``data``: the compiled path when it applies, else the bundle.

        ``data`` is a DataFrame or a list of row mappings (read as
        ``pd.DataFrame.from_records`` reads them). Rows given as mappings reach
        the compiled path without a DataFrame being built: for one row that
        is most of the cost of an answer.
        """
        if self.fast is not None and not explain:
            if isinstance(data, pd.DataFrame):
                return BatchPrediction(self.fast.predict_rows(data))
            if len(data) == 1:
                return BatchPrediction([self.fast.predict_row(data[0])])
            return BatchPrediction(self.fast.predict_rows(data))
        return self.bundle.predict_with_report(as_frame(data), explain=explain)


@dataclass(frozen=True)
class Caller:
    """Who asks: the tenant whose resources they reach, their role, and the actor recorded.

    The command line acts as an admin of tenant ``default`` (it runs where the
    database is); the API builds a Caller from the presented key.
    """

    tenant: str = "default"
    actor: str = "cli"
    role: str = "admin"
    key_id: str | None = None


@dataclass
class TrainResult:
    """A new version and how it came to be."""

    model: str
    version: VersionRecord
    outcome: TrainOutcome
    deployed: bool
    deploy_reason: str

    def to_json(self) -> dict[str, Any]:
        """Returns the result as the JSON object ``vigil train --json`` prints."""
        return {
            "model": self.model,
            "version": self.version.version,
            "task": self.version.task,
            "algorithm": self.version.algorithm,
            "params": self.version.params,
            "metrics": self.version.metrics,
            "feature_importance": self.outcome.feature_importance,
            "rows": {
                "total": self.outcome.rows,
                "train": self.outcome.train_rows,
                "test": self.outcome.test_rows,
            },
            "data_fingerprint": self.version.data_fingerprint,
            "artifact_sha256": self.version.artifact_sha256,
            "deployed": self.deployed,
            "deploy_reason": self.deploy_reason,
            **_extraction_json(self.outcome.bundle, self.outcome.parse_report),
        }


@dataclass
class PredictResult:
    """Predictions for a batch, in input order, and the version that answered."""

    model: str
    version: int
    predictions: list[dict[str, Any]] = field(default_factory=list)
    # How raw log lines were read (lines, malformed count, first examples).
    parse: ParseReport | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the JSON object of the predict answer (with ``parse`` for raw log lines)."""
        document: dict[str, Any] = {"model": self.model, "predictions": self.predictions}
        if self.parse is not None:
            document["parse"] = self.parse.to_json()
        return document


def _extraction_json(bundle: ModelBundle, report: ParseReport | None) -> dict[str, Any]:
    """Returns the feature kind and options of an extracted-features model, and its parse report."""
    document: dict[str, Any] = {}
    if bundle.extractor is not None:
        document["features"] = bundle.extractor.describe()
    if report is not None:
        document["parse"] = report.to_json()
    return document


def version_to_json(record: VersionRecord) -> dict[str, Any]:
    """Returns a version as the JSON the CLI and API show."""
    return {
        "model": record.model_name,
        "version": record.version,
        "task": record.task,
        "algorithm": record.algorithm,
        "params": record.params,
        "metrics": record.metrics,
        "target": record.target,
        "features": record.feature_schema,
        "data_fingerprint": record.data_fingerprint,
        "artifact_sha256": record.artifact_sha256,
        "artifact_size": record.artifact_size,
        "library_versions": record.library_versions,
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
        "job_id": record.job_id,
        **{k: v for k, v in record.extra.items() if k not in ("params", "metrics")},
    }


def model_to_json(record: ModelRecord) -> dict[str, Any]:
    """Returns a model and its deployment pointers as JSON."""
    return {
        "name": record.name,
        "task": record.task,
        "production_version": record.production_version,
        "canary_version": record.canary_version,
        "canary_weight": record.canary_weight,
        "shadow_versions": list(record.shadow_versions),
        "latest_version": record.latest_version,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
    }


def event_to_json(event: DeploymentEvent) -> dict[str, Any]:
    """Returns a deployment event as JSON."""
    return {
        "id": event.id,
        "action": event.action,
        "version": event.version,
        "previous_version": event.previous_version,
        "weight": event.weight,
        "actor": event.actor,
        "reason": event.reason,
        "created_at": event.created_at.isoformat(),
    }


def library_versions() -> dict[str, str]:
    """Returns the versions of Python, Vigil and the libraries a model depends on."""
    found = {"python": platform.python_version(), "vigil": __version__}
    for name in _LIBRARIES:
        try:
            found[name] = package_version(name)
        except PackageNotFoundError:
            continue
    return found


def _check_name(name: str) -> str:
    if not name or len(name) > 128 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise InvalidInput(
            f"Model name {name!r} is not allowed; use 1-128 letters, digits, '-', '_' or '.'.",
            errors=[{"loc": ["name"], "msg": "invalid model name"}],
        )
    if name.startswith("."):
        raise InvalidInput(f"Model name {name!r} must not start with '.'.")
    return name


class VigilService:
    """Every use case of Vigil, over one registry store and one artifact store."""

    def __init__(
        self,
        settings: Settings,
        store: RegistryStore,
        artifacts: ArtifactStore,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.now = now or (lambda: datetime.now(UTC))
        engine = store.engine
        self.keys = KeyStore(engine, self.now)
        self.audit_log = AuditLog(engine, self.now)
        self.jobs = JobStore(engine, self.now)
        self.datasets = DatasetStore(engine, self.now)
        self.runner: JobRunner | None = None
        self.deployments = DeploymentView(store)
        self.models = ModelCache(self._load_model, size=_BUNDLE_CACHE_SIZE)
        retention = settings.prediction_retention_days
        self.prediction_log = PredictionLog(
            engine, self.now, retention=timedelta(days=retention) if retention > 0 else None
        )
        self._shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-shadow")
        self.shadow_errors = 0
        self.feedback = FeedbackStore(engine, self.now)
        self.alerts = AlertStore(engine, self.now)
        self.notifier = AlertNotifier(self.alerts, WebhookSender(settings.secret_key))
        self.policies = PolicyStore(engine, self.now)
        self.leases = LeaseStore(engine, self.now)
        self.lifecycle = LifecycleController(self)
        self.scheduler: PolicyScheduler | None = None
        # Names this process as a scheduler lease holder (host, pid and a unique suffix).
        self.instance_id = new_worker_id()

    @classmethod
    def from_settings(cls, settings: Settings) -> VigilService:
        """Returns a service on the configured database (migrated to head) and artifact store."""
        engine = create_engine_for(settings.database_url)
        upgrade(engine)
        return cls(settings, RegistryStore(engine), open_artifact_store(settings.artifact_uri))

    # --- keys and audit ---------------------------------------------------------------

    def authenticate(self, key_text: str) -> Caller:
        """Returns the caller a presented API key stands for; Unauthorized otherwise."""
        record = self.keys.authenticate(key_text)
        return Caller(
            tenant=record.tenant, actor=f"key:{record.id}", role=record.role, key_id=record.id
        )

    def create_key(self, caller: Caller, role: str, tenant: str | None = None) -> dict[str, Any]:
        """Returns a new key (its text shown this once) for ``tenant`` (default the caller's)."""
        _require_role(caller, "admin")
        role_rank(role)
        target = tenant or caller.tenant
        _check_tenant(target)
        if target != caller.tenant and caller.tenant != OPERATOR_TENANT:
            # Only the operator's tenant administers others; a tenant admin minting
            # keys elsewhere would break the isolation between tenants.
            raise Forbidden(
                f"Only an admin of tenant {OPERATOR_TENANT!r} can create keys for another tenant."
            )
        key = generate_key()
        record = self.keys.add(key, tenant=target, role=role, created_by=caller.actor)
        self.audit(caller, "key.create", f"keys/{record.id}", role=role, tenant=target)
        return {
            "id": record.id,
            "key": key.text,
            "role": record.role,
            "tenant": record.tenant,
            "created_at": record.created_at.isoformat(),
        }

    def ensure_admin_key(self) -> str | None:
        """Returns an admin key's text to print once at start, or None when there is nothing new.

        ``VIGIL_ADMIN_KEY`` becomes an admin key of tenant ``default`` (any text
        works; it is stored hashed under a fixed id). Otherwise, on a first start
        with no key at all, one admin key is created and written to
        ``$VIGIL_HOME/admin.key`` (mode 0600).
        """
        if self.settings.admin_key:
            self.keys.put_environment_admin(self.settings.admin_key)
            return None
        if self.keys.count() > 0:
            return None
        key = generate_key()
        self.keys.add(key, tenant="default", role="admin", created_by="first start")
        path = self.settings.home / "admin.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.text + "\n")
        return key.text

    def audit(self, caller: Caller, action: str, resource: str, **detail: Any) -> None:
        """Records a change in the audit log."""
        self.audit_log.record(
            tenant=caller.tenant,
            actor=caller.actor,
            action=action,
            resource=resource,
            detail=json_safe(detail),
        )

    def list_audit(
        self, caller: Caller, *, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Returns the tenant's audit events, newest first (admins only)."""
        _require_role(caller, "admin")
        return [
            r.to_json() for r in self.audit_log.list_for(caller.tenant, limit=limit, offset=offset)
        ]

    # --- datasets ---------------------------------------------------------------------

    def create_dataset(
        self, caller: Caller, *, name: str, payload: bytes, filename: str
    ) -> dict[str, Any]:
        """Returns the dataset stored from an uploaded file (CSV, Parquet or JSON Lines)."""
        _require_role(caller, "trainer")
        fmt = detect_format(filename)
        frame = read_table(payload, fmt, filename)
        return self._store_dataset(
            caller, name or filename, payload, fmt, frame, f"upload:{filename}"
        ).to_json()

    def create_dataset_from_rows(
        self, caller: Caller, *, name: str, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Returns the dataset stored from inline rows (kept as JSON Lines)."""
        _require_role(caller, "trainer")
        return self._dataset_from_rows(caller, name, rows).to_json()

    def get_dataset(self, caller: Caller, dataset_id: str) -> dict[str, Any]:
        """Returns a stored dataset's description."""
        return self.datasets.get(caller.tenant, dataset_id).to_json()

    def load_stored_dataset(self, tenant: str, dataset_id: str) -> Dataset:
        """Returns a stored dataset's table, read back from the artifact store."""
        record = self.datasets.get(tenant, dataset_id)
        payload = self.artifacts.get(record.artifact_key)
        if sha256_hex(payload) != record.fingerprint:
            raise ArtifactIntegrityError(f"Dataset {dataset_id} was altered in the artifact store.")
        frame = read_table(payload, record.format, record.name)
        return Dataset(frame, record.fingerprint, record.format, f"dataset:{record.id}")

    def _dataset_from_rows(
        self, caller: Caller, name: str, rows: list[dict[str, Any]]
    ) -> DatasetRecord:
        if not rows:
            raise InvalidInput(
                "rows is empty; send at least one row.", errors=[{"loc": ["rows"], "msg": "empty"}]
            )
        bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
        if bad is not None:
            raise InvalidInput(
                f"Row {bad} is not an object of column values.",
                errors=[{"loc": ["rows", bad], "msg": "not an object"}],
            )
        frame = pd.DataFrame.from_records(rows)
        payload = frame.to_json(orient="records", lines=True, date_format="iso").encode()
        return self._store_dataset(caller, name or "inline rows", payload, "jsonl", frame, "rows")

    def _store_dataset(
        self, caller: Caller, name: str, payload: bytes, fmt: str, frame: pd.DataFrame, source: str
    ) -> DatasetRecord:
        dataset_id = uuid7()
        key = f"{caller.tenant}/datasets/{dataset_id}.{fmt}"
        self.artifacts.put(key, payload)
        record = DatasetRecord(
            id=dataset_id,
            tenant=caller.tenant,
            name=name[:256],
            format=fmt,
            source=source[:2000],
            fingerprint=sha256_hex(payload),
            rows=len(frame),
            columns=[{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
            artifact_key=key,
            size=len(payload),
            created_by=caller.actor,
            created_at=self.now(),
        )
        try:
            self.datasets.add(record)
        except BaseException:
            self.artifacts.delete(key)
            raise
        self.audit(caller, "dataset.create", f"datasets/{dataset_id}", name=name, rows=len(frame))
        return record

    def _keep_training_data(self, caller: Caller, dataset: Dataset) -> str:
        """Returns the id of a stored dataset holding the training rows (stored now if needed).

        A retraining repeats the run on the same rows plus recent ones, so the
        rows must outlive the file or request they came from.
        """
        if dataset.source.startswith("dataset:"):
            return dataset.source.removeprefix("dataset:")
        payload, fmt = _table_bytes(dataset.frame)
        # The same table trained on again (another algorithm, a retry) is stored once.
        existing = self.datasets.find(caller.tenant, sha256_hex(payload))
        if existing is not None:
            return existing.id
        name = f"training data ({dataset.source})"
        return self._store_dataset(caller, name, payload, fmt, dataset.frame, dataset.source).id

    # --- jobs -------------------------------------------------------------------------

    def submit_training(self, caller: Caller, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """Returns the queued training job for ``name`` described by a train request body.

        The data reference is checked now (a dataset that exists, rows stored
        as a dataset, an allow-listed public URL, a configured SQL query), so a
        bad request fails at once instead of as a failed job.
        """
        _require_role(caller, "trainer")
        _check_name(name)
        spec = train_spec_from_request(request)
        deploy = request.get("deploy", "never")
        if deploy not in DEPLOY_CHOICES:
            raise InvalidInput(
                f"deploy must be one of {', '.join(DEPLOY_CHOICES)}, got {deploy!r}.",
                errors=[{"loc": ["deploy"], "msg": "invalid choice"}],
            )
        data = self._resolve_source(caller, request.get("data"))
        job = self.jobs.submit(
            uuid7(),
            tenant=caller.tenant,
            kind="train",
            created_by=caller.actor,
            payload={"model": name, "data": data, "spec": spec_to_json(spec), "deploy": deploy},
        )
        self.audit(caller, "job.submit", f"jobs/{job.id}", kind="train", model=name)
        if self.runner is not None:
            self.runner.wake()
        return job.to_json()

    def _resolve_source(self, caller: Caller, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or len(set(data) & SOURCE_KINDS) != 1:
            raise InvalidInput(
                "data must name exactly one of dataset_id, rows, url or sql.",
                errors=[{"loc": ["data"], "msg": "exactly one of dataset_id, rows, url, sql"}],
            )
        if "dataset_id" in data:
            self.datasets.get(caller.tenant, str(data["dataset_id"]))
            return {"dataset_id": str(data["dataset_id"])}
        if "rows" in data:
            rows = data["rows"]
            if not isinstance(rows, list):
                raise InvalidInput(
                    "data.rows must be a list of objects.",
                    errors=[{"loc": ["data", "rows"], "msg": "not a list"}],
                )
            return {"dataset_id": self._dataset_from_rows(caller, "inline rows", rows).id}
        if "url" in data:
            return {"url": check_url(str(data["url"]), self.settings.url_allowlist)}
        sql = data["sql"]
        if not isinstance(sql, dict):
            raise InvalidInput("data.sql must be an object with connection, query and params.")
        connection, query = str(sql.get("connection", "")), str(sql.get("query", ""))
        params = sql.get("params") or {}
        check_named_query(self.settings.sql_sources, connection, query, params)
        return {"sql": {"connection": connection, "query": query, "params": params}}

    def _materialise(self, tenant: str, actor: str, data: dict[str, Any]) -> Dataset:
        """Returns the table a job's data reference points at (fetching URL and SQL sources now)."""
        if "dataset_id" in data:
            return self.load_stored_dataset(tenant, data["dataset_id"])
        caller = Caller(tenant=tenant, actor=actor, role="trainer")
        if "url" in data:
            fetched = fetch_url(data["url"], self.settings.url_allowlist, max_bytes=MAX_FETCH_BYTES)
            frame = read_table(fetched.payload, fetched.format, fetched.url)
            record = self._store_dataset(
                caller, fetched.url, fetched.payload, fetched.format, frame, fetched.url
            )
            return Dataset(frame, record.fingerprint, record.format, fetched.url)
        sql = data["sql"]
        frame = run_named_query(
            self.settings.sql_sources, sql["connection"], sql["query"], sql["params"]
        )
        payload = frame.to_json(orient="records", lines=True, date_format="iso").encode()
        source = f"sql:{sql['connection']}/{sql['query']}"
        record = self._store_dataset(caller, source, payload, "jsonl", frame, source)
        return Dataset(frame, record.fingerprint, "jsonl", source)

    def job_counts(self) -> dict[str, int]:
        """Returns how many jobs are in each state, over all tenants (for /metrics)."""
        return self.jobs.counts()

    def get_job(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """Returns a job of the caller's tenant."""
        return self.jobs.get(caller.tenant, job_id).to_json()

    def list_jobs(self, caller: Caller) -> list[dict[str, Any]]:
        """Returns the tenant's recent jobs, newest first."""
        return [job.to_json() for job in self.jobs.list_for(caller.tenant)]

    def cancel_job(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """Returns the job after cancelling it or asking its worker to stop."""
        _require_role(caller, "trainer")
        job = self.jobs.cancel(caller.tenant, job_id)
        self.audit(caller, "job.cancel", f"jobs/{job_id}")
        return job.to_json()

    def execute_job(self, job: JobRecord, worker_id: str) -> None:
        """Runs a claimed job to its end and records how it ended (never raises for job errors)."""

        def beat(progress: float | None = None, message: str | None = None) -> None:
            if self.jobs.heartbeat(job.id, worker_id, progress=progress, message=message):
                raise JobCancelled()

        try:
            with Heartbeat(lambda: self.jobs.heartbeat(job.id, worker_id)):
                result = self._run_job(job, beat)
        except JobCancelled:
            self.jobs.finish(job.id, worker_id, status="cancelled", error="Cancelled on request.")
            return
        except VigilError as exc:
            self._job_failed(job, worker_id, exc.message)
            return
        except Exception as exc:  # the job failed; the worker goes on with the next one
            log.exception("job %s failed", job.id)
            self._job_failed(job, worker_id, f"{type(exc).__name__}: {exc}")
            return
        self.jobs.finish(job.id, worker_id, status="succeeded", result=json_safe(result))

    def _job_failed(self, job: JobRecord, worker_id: str, error: str) -> None:
        """Records a failed job and raises an alert on its model."""
        self.jobs.finish(job.id, worker_id, status="failed", error=error)
        model = job.payload.get("model")
        if not isinstance(model, str):
            return
        try:
            self.store.get_model(job.tenant, model)
        except NotFound:
            return  # a first training that failed: there is no model to hang the alert on
        caller = Caller(tenant=job.tenant, actor=job.created_by, role="admin")
        self.raise_alert(
            caller,
            model,
            kind="job_failed",
            severity="warning",
            message=f"{job.kind} job {job.id} failed: {error}",
            details={"job_id": job.id, "kind": job.kind},
            # A job that keeps failing is one open alert until someone acknowledges it.
            dedup_key=f"job_failed:{model}:{job.kind}",
        )

    def _run_job(self, job: JobRecord, beat: Callable[..., None]) -> dict[str, Any]:
        if job.kind == "retrain":
            caller = Caller(tenant=job.tenant, actor=job.created_by, role="trainer")
            return self.retrain(
                caller,
                job.payload["model"],
                reason=str(job.payload.get("reason", "")),
                job_id=job.id,
                progress=beat,
            )
        if job.kind != "train":
            raise InvalidInput(f"Unknown job kind {job.kind!r}.")
        payload = job.payload
        caller = Caller(tenant=job.tenant, actor=job.created_by, role="trainer")
        beat(0.01, "loading data")
        dataset = self._materialise(job.tenant, job.created_by, payload["data"])
        spec = train_spec_from_request(payload["spec"])
        result = self.train(
            caller,
            payload["model"],
            dataset,
            spec,
            deploy=payload["deploy"],
            job_id=job.id,
            progress=lambda fraction, message: beat(0.05 + 0.9 * fraction, message),
        )
        document = result.to_json()
        document.pop("feature_importance", None)
        return document

    def recover_jobs(self) -> list[JobRecord]:
        """Returns the jobs whose worker died, now requeued or failed with the reason."""
        return self.jobs.recover_stale(STALE_AFTER, worker_is_dead)

    def run_pending_jobs(self, worker_id: str = "inline") -> int:
        """Returns how many queued jobs ran to their end in this thread (`vigil worker --once`)."""
        runner = JobRunner(
            self.jobs.claim, self.execute_job, self.recover_jobs, worker_id=worker_id
        )
        count = 0
        while runner.run_one() is not None:
            count += 1
        return count

    def start_workers(self, threads: int = 2) -> None:
        """Starts background worker threads in this process."""
        if self.runner is None:
            self.recover_jobs()
            self.runner = JobRunner(
                self.jobs.claim, self.execute_job, self.recover_jobs, threads=threads
            )
            self.runner.start()

    def stop_workers(self) -> None:
        """Stops the background workers after their current job."""
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    # --- training ------------------------------------------------------------------

    def train(
        self,
        caller: Caller,
        name: str,
        dataset: Dataset,
        spec: TrainSpec,
        *,
        deploy: str = "never",
        job_id: str | None = None,
        progress: Progress | None = None,
    ) -> TrainResult:
        """Returns the new version trained on ``dataset``; deploys it as ``deploy`` says.

        The artifact is written and verified before the version row is
        committed; if the row cannot be written the artifact is removed, so a
        version never lacks its artifact and a failed run leaves nothing.
        """
        _require_role(caller, "trainer")
        _check_name(name)
        if deploy not in DEPLOY_CHOICES:
            raise InvalidInput(
                f"deploy must be one of {', '.join(DEPLOY_CHOICES)}, got {deploy!r}."
            )
        self._check_task_matches(caller, name, spec)
        self.sweep_orphans(caller.tenant)
        outcome = train_model(dataset.frame, spec, progress or (lambda f, m: None))
        outcome.bundle.reference = outcome.reference
        dataset_id = self._keep_training_data(caller, dataset)
        payload = _dump_bundle(outcome.bundle)
        key = f"{caller.tenant}/models/{name}/{uuid7()}.vigil"
        stored = write_verified(self.artifacts, key, payload, self.settings.secret_key)
        new = NewVersion(
            task=outcome.task,
            algorithm=outcome.algorithm,
            params=outcome.params,
            metrics=outcome.metrics,
            feature_schema=[c.to_json() for c in outcome.bundle.schema],
            data_fingerprint=dataset.fingerprint,
            artifact_key=stored.key,
            artifact_sha256=stored.sha256,
            artifact_hmac=stored.hmac,
            artifact_size=stored.size,
            library_versions=library_versions(),
            created_by=caller.actor,
            job_id=job_id,
            target=spec.target,
            extra={
                "feature_importance": outcome.feature_importance,
                "rows": outcome.rows,
                "train_rows": outcome.train_rows,
                "test_rows": outcome.test_rows,
                "data_source": dataset.source,
                "test_size": spec.test_size,
                "seed": spec.seed,
                # What a retraining needs to repeat this run on fresh data.
                "dataset_id": dataset_id,
                "train_spec": spec_to_json(spec),
                **_extraction_json(outcome.bundle, outcome.parse_report),
            },
        )
        try:
            record = self.store.add_version(caller.tenant, name, new)
        except BaseException:
            self.artifacts.delete(stored.key)
            raise
        self.audit(
            caller,
            "model.train",
            f"models/{name}/versions/{record.version}",
            algorithm=record.algorithm,
            job_id=job_id,
            data_fingerprint=dataset.fingerprint,
        )
        deployed, reason = self._deploy_after_training(caller, name, record, outcome, deploy)
        return TrainResult(name, record, outcome, deployed, reason)

    def _check_task_matches(self, caller: Caller, name: str, spec: TrainSpec) -> None:
        """Refuses early (before fitting) a task that differs from the existing model's."""
        if spec.task == "auto":
            return
        try:
            model = self.store.get_model(caller.tenant, name)
        except NotFound:
            return
        if model.task != spec.task:
            raise InvalidInput(
                f"Model {name} is a {model.task} model; "
                f"a {spec.task} version cannot be added to it."
            )

    def _deploy_after_training(
        self, caller: Caller, name: str, record: VersionRecord, outcome: TrainOutcome, deploy: str
    ) -> tuple[bool, str]:
        model = self.store.get_model(caller.tenant, name)
        if model.production_version == record.version:
            return True, "first version of the model"
        if deploy == "never":
            return False, "not requested"
        if deploy == "always":
            self.deploy(caller, name, record.version, reason="deployed after training")
            return True, "requested"
        better, why = self._beats_production(caller, name, model, outcome)
        if better:
            self.deploy(caller, name, record.version, reason=f"deployed after training: {why}")
        return better, why

    def _beats_production(
        self, caller: Caller, name: str, model: ModelRecord, outcome: TrainOutcome
    ) -> tuple[bool, str]:
        """Returns whether the new model beats production on the new model's own test data."""
        metric = PRIMARY_METRIC[outcome.task]
        challenger = outcome.metrics.get(metric)
        if challenger is None or model.production_version is None:
            return False, f"no {metric} to compare"
        champion_bundle = self.load_bundle(caller.tenant, name, model.production_version)
        if outcome.X_test is None:
            return False, "no held-out data to compare on"
        try:
            if outcome.test_frame is not None or champion_bundle.extractor is not None:
                challenger, champion = self._scores_on_raw_test(outcome, champion_bundle, metric)
            else:
                X = champion_bundle.prepare(outcome.X_test)
                champion = evaluate_bundle(champion_bundle, X, outcome.y_test).get(metric)
        except InvalidInput as exc:
            return True, f"production cannot score the new test data ({exc.message})"
        if champion is None:
            return True, f"production has no {metric} on the same data"
        lower = metric in LOWER_IS_BETTER
        better = challenger < champion if lower else challenger > champion
        verdict = "beats" if better else "does not beat"
        return better, (
            f"{metric} {challenger:.4f} {verdict} production v{model.production_version} "
            f"({champion:.4f}) on the same test data"
        )

    @staticmethod
    def _scores_on_raw_test(
        outcome: TrainOutcome, champion: ModelBundle, metric: str
    ) -> tuple[Any, Any]:
        """Returns challenger and champion ``metric`` on the held-out raw events.

        Models that extract their own features (from logs, metrics, requests)
        cannot share feature rows, so both read the same held-out events.
        """
        target = outcome.bundle.target
        if outcome.test_frame is None or target is None:
            raise InvalidInput("the new model kept no held-out events to compare on")
        scores = []
        for bundle in (outcome.bundle, champion):
            X, y = bundle.labelled(outcome.test_frame, target)
            if bundle.task == "anomaly":
                y = pd.Series(anomaly_labels(y))
            scores.append(evaluate_bundle(bundle, X, y).get(metric))
        return scores[0], scores[1]

    def sweep_orphans(self, tenant: str) -> list[str]:
        """Returns the artifact keys deleted because no version references them.

        Such artifacts are left when a process dies between writing the artifact
        and committing the version row; the grace period spares runs in flight.
        """
        referenced = self.store.artifact_keys()
        cutoff = self.now() - ORPHAN_GRACE
        removed = []
        for info in self.artifacts.list(f"{tenant}/models/"):
            if info.key not in referenced and info.modified_at < cutoff:
                self.artifacts.delete(info.key)
                removed.append(info.key)
        return removed

    # --- prediction and evaluation --------------------------------------------------

    def resolve_version(self, caller: Caller, name: str, version: int | None) -> int:
        """Returns ``version`` if given (checked to exist), else the production version."""
        if version is not None:
            return self.store.get_version(caller.tenant, name, version).version
        model = self.store.get_model(caller.tenant, name)
        if model.production_version is None:
            raise NotFound(f"Model {name} has no production version; deploy one first.")
        return model.production_version

    def feature_kind(self, caller: Caller, name: str, version: int | None = None) -> str:
        """Returns how the version (default production) reads its input: tabular, logs, …

        A ``logs`` model reads raw lines, so a caller holding a file knows to
        pass it as lines (JSON Lines included) for the model's parser to read.
        """
        chosen = self.resolve_version(caller, name, version)
        record = self.store.get_version(caller.tenant, name, chosen)
        features = record.extra.get("features") or {}
        return str(features.get("kind", "tabular"))

    def load_bundle(self, tenant: str, name: str, version: int) -> ModelBundle:
        """Returns the version's bundle from the cache, loading (and verifying) it if needed."""
        loaded: LoadedModel = self.models.get(tenant, name, version)
        return loaded.bundle

    def _load_model(self, tenant: str, name: str, version: int) -> LoadedModel:
        """Returns the verified bundle with its compiled fast path where one exists."""
        bundle = self._load_verified_bundle(tenant, name, version)
        return LoadedModel(bundle, FastModel.from_bundle(bundle))

    def _load_verified_bundle(self, tenant: str, name: str, version: int) -> ModelBundle:
        """Returns the version's bundle, verified against its sha256 and HMAC before unpickling."""
        record = self.store.get_version(tenant, name, version)
        payload = read_verified(
            self.artifacts,
            record.artifact_key,
            record.artifact_sha256,
            record.artifact_hmac,
            self.settings.secret_key,
            label=f"model {name} version {version}",
        )
        bundle: ModelBundle = joblib.load(io.BytesIO(payload))
        return bundle

    def predict(
        self,
        caller: Caller,
        name: str,
        frame: PredictInput,
        *,
        version: int | None = None,
        explain: bool = False,
        routing_key: str | None = None,
        block: bool = True,
    ) -> PredictResult:
        """Returns one prediction per row of ``frame``, in order, each with an id and version.

        Without ``version`` the deployment routes the request (production, or
        the canary for its share); shadow versions score the same rows in the
        background and are logged, never returned. Every answer is logged.
        ``frame`` may also be a list of row mappings (a request's instances).

        With ``block=False`` (an event loop calling) the answer is given only
        if it needs no database read, no model load and at most
        ``INLINE_MAX_ROWS`` rows on the compiled path, so microseconds of
        work; otherwise ``WouldBlock`` is raised before anything is done, for
        the caller to retry from a thread.
        """
        _require_role(caller, "predictor")
        started = time.perf_counter()
        shadows: tuple[int, ...] = ()
        loaded: LoadedModel
        if not block:
            chosen, loaded, shadows = self._serve_without_waiting(
                caller.tenant, name, frame, version, explain, routing_key
            )
        elif version is not None:
            self.store.get_version(caller.tenant, name, version)
            chosen, loaded = version, self.models.get(caller.tenant, name, version)
        else:
            model = self.deployments.get(caller.tenant, name)
            chosen, loaded = self.models.serve(
                caller.tenant, name, choose_version(model, routing_key)
            )
            shadows = tuple(v for v in model.shadow_versions if v != chosen)
        batch = loaded.predict(frame, explain=explain)
        outputs = batch.outputs
        latency_us = (time.perf_counter() - started) * 1e6 / max(len(outputs), 1)
        predictions = [{"id": uuid7(), "version": chosen, **out} for out in outputs]
        self._log_predictions(caller.tenant, name, frame, predictions, latency_us, routing_key)
        for shadow in shadows:
            self._shadow_pool.submit(
                self._score_shadow, caller.tenant, name, shadow, frame, routing_key
            )
        return PredictResult(name, chosen, predictions, batch.parse_report)

    def _serve_without_waiting(
        self,
        tenant: str,
        name: str,
        frame: PredictInput,
        version: int | None,
        explain: bool,
        routing_key: str | None,
    ) -> tuple[int, LoadedModel, tuple[int, ...]]:
        """Returns (version, model, shadows) for ``predict(block=False)``, or raises WouldBlock."""
        if (
            version is not None  # checking that it exists reads the database
            or explain
            or isinstance(frame, pd.DataFrame)
            or len(frame) > INLINE_MAX_ROWS
            or not self.prediction_log.running  # without its thread, the log writes at once
        ):
            raise WouldBlock("not a small request for the compiled path")
        model = self.deployments.peek(tenant, name)
        if model is None:
            raise WouldBlock(f"the deployment of {name} is not cached")
        chosen, loaded = self.models.serve(
            tenant, name, choose_version(model, routing_key), block=False
        )
        if loaded.fast is None:
            raise WouldBlock(f"{name} version {chosen} has no compiled path")
        return chosen, loaded, tuple(v for v in model.shadow_versions if v != chosen)

    def _score_shadow(
        self, tenant: str, name: str, version: int, frame: PredictInput, routing_key: str | None
    ) -> None:
        """Scores rows with a shadow version and logs the outputs (errors counted, never raised)."""
        try:
            started = time.perf_counter()
            loaded: LoadedModel = self.models.get(tenant, name, version)
            outputs = loaded.predict(frame).outputs
            latency_us = (time.perf_counter() - started) * 1e6 / max(len(outputs), 1)
            predictions = [{"id": uuid7(), "version": version, **out} for out in outputs]
            self._log_predictions(
                tenant, name, frame, predictions, latency_us, routing_key, shadow=True
            )
        except Exception:  # a failing shadow must never affect production traffic
            self.shadow_errors += 1
            log.exception("shadow version %d of %s failed", version, name)

    def _log_predictions(
        self,
        tenant: str,
        name: str,
        frame: PredictInput,
        predictions: list[dict[str, Any]],
        latency_us: float,
        routing_key: str | None,
        *,
        shadow: bool = False,
    ) -> None:
        """Hands the answers to the prediction log; its writer thread makes them JSON.

        Rows sent as mappings are logged as sent, one per prediction; the
        inputs of a DataFrame (and of log models, which answer per event or
        session) are read from it by the writer thread, off the request path.
        """
        if not predictions:
            return
        inputs: Sequence[Any]
        if (
            not isinstance(frame, pd.DataFrame)
            and len(frame) == len(predictions)
            and not any("session" in p for p in predictions)
        ):
            inputs = frame
        else:
            deferred = DeferredInputs(lambda: _prediction_inputs(as_frame(frame), predictions))
            inputs = [DeferredInput(deferred, i) for i in range(len(predictions))]
        created_at = self.now()
        self.prediction_log.append(
            [
                LoggedPrediction(
                    id=p["id"],
                    tenant=tenant,
                    model=name,
                    version=p["version"],
                    shadow=shadow,
                    inputs=row,
                    output={k: v for k, v in p.items() if k != "id" and k != "version"},
                    latency_us=latency_us,
                    created_at=created_at,
                    routing_key=routing_key,
                )
                for p, row in zip(predictions, inputs, strict=True)
            ]
        )

    def predict_file(
        self,
        caller: Caller,
        name: str,
        source: Path,
        output: Path,
        *,
        version: int | None = None,
        explain: bool = False,
        log: bool = True,
        chunk_rows: int = BATCH_CHUNK_ROWS,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Scores a table file into ``output`` chunk by chunk; returns a summary of the run.

        One version answers every row: ``version``, else the production
        version when the run starts (a deployment made meanwhile does not mix
        versions in one output). Memory is bounded by a chunk; the output
        appears whole or not at all. With ``log`` every prediction goes to
        the prediction log, as ``predict``'s do; without, only the file has them.
        """
        _require_role(caller, "predictor")
        chosen = self.resolve_version(caller, name, version)

        def score(chunk: pd.DataFrame) -> list[dict[str, Any]]:
            if log:
                answered = self.predict(caller, name, chunk, version=chosen, explain=explain)
                return answered.predictions
            loaded: LoadedModel = self.models.get(caller.tenant, name, chosen)
            outputs = loaded.predict(chunk, explain=explain).outputs
            return [{"id": uuid7(), "version": chosen, **out} for out in outputs]

        started = time.perf_counter()
        summary = score_file(
            source, output, score, chunk_rows=chunk_rows, explain=explain, progress=progress
        )
        return {
            "model": name,
            "version": chosen,
            "rows": summary.rows,
            "chunks": summary.chunks,
            "output": str(summary.output),
            "seconds": round(time.perf_counter() - started, 3),
            "logged": log,
        }

    def start(self, *, job_threads: int = 2, scheduler: bool = True) -> None:
        """Starts the background parts of a long-running process: the log writer, job
        workers and the policy scheduler (which acts only while this process leads)."""
        self.prediction_log.start()
        self.start_workers(job_threads)
        if scheduler:
            self.start_scheduler()

    def close(self) -> None:
        """Stops the background parts: scheduler, jobs, shadow scoring, alert posts, the log."""
        self.stop_scheduler()
        self.stop_workers()
        self.notifier.stop()
        self._shadow_pool.shutdown(wait=True)
        self.prediction_log.stop()

    def evaluate(
        self,
        caller: Caller,
        name: str,
        frame: pd.DataFrame,
        target: str,
        *,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Returns the version's metrics on labelled data ``frame``."""
        _require_role(caller, "predictor")
        chosen = self.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        X, y = bundle.labelled(frame, target)
        if bundle.task == "anomaly":
            y = pd.Series(anomaly_labels(y))
        metrics = evaluate_bundle(bundle, X, y)
        return {"model": name, "version": chosen, "rows": len(X), "metrics": metrics}

    # --- monitoring -------------------------------------------------------------------

    def record_feedback(
        self, caller: Caller, name: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Returns how ground truth was joined to logged predictions (unknown ids reported).

        Sending the same feedback twice changes nothing; a corrected label
        replaces the earlier one.
        """
        _require_role(caller, "predictor")
        self.store.get_model(caller.tenant, name)
        pairs: list[tuple[str, Any]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("prediction_id"), str):
                raise InvalidInput(
                    f"Feedback item {index} needs a prediction_id string.",
                    errors=[{"loc": ["items", index, "prediction_id"], "msg": "required string"}],
                )
            if "actual" not in item:
                raise InvalidInput(
                    f"Feedback item {index} needs an actual value.",
                    errors=[{"loc": ["items", index, "actual"], "msg": "required"}],
                )
            pairs.append((item["prediction_id"], json_safe(item["actual"])))
        self.prediction_log.flush()
        return self.feedback.record(caller.tenant, name, pairs).to_json()

    def performance(self, caller: Caller, name: str) -> dict[str, Any]:
        """Returns live metrics per version over the last hour, day, week and since deploy."""
        model = self.store.get_model(caller.tenant, name)
        now = self.now()
        deployed_at = next(
            (
                e.created_at
                for e in reversed(self.store.history(caller.tenant, name))
                if e.action in ("deploy", "rollback") and e.version == model.production_version
            ),
            model.created_at,
        )
        windows = {
            "last_hour": now - timedelta(hours=1),
            "last_day": now - timedelta(days=1),
            "last_week": now - timedelta(days=7),
            "since_deploy": deployed_at,
        }
        self.prediction_log.flush()
        rows = self.feedback.rows(caller.tenant, name, since=min(windows.values()))
        classes = self._classes(caller.tenant, name, model.production_version)
        return {
            "model": name,
            "task": model.task,
            "production_version": model.production_version,
            "deployed_at": deployed_at.isoformat(),
            "windows": {
                window: {
                    "since": since.isoformat(),
                    "versions": {
                        str(v): summary
                        for v, summary in version_performance(
                            [r for r in rows if r.created_at >= since], model.task, classes
                        ).items()
                    },
                }
                for window, since in windows.items()
            },
        }

    def drift(
        self, caller: Caller, name: str, *, version: int | None = None, rows: int = 1000
    ) -> dict[str, Any]:
        """Returns drift of recent production inputs against the version's training reference."""
        chosen = self.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        reference = getattr(bundle, "reference", None)
        if reference is None or reference.empty:
            raise Conflict(f"Version {chosen} of {name} has no reference sample to compare with.")
        self.prediction_log.flush()
        logged = self.feedback.rows(caller.tenant, name, version=chosen, shadow=None, limit=rows)
        current = pd.DataFrame([r.inputs for r in reversed(logged)])
        if bundle.extractor is not None and len(current):
            current = _extracted_features(bundle, current, name)
        kinds = {c.name: c.kind for c in bundle.schema}
        policy = parse_policy(self.policies.get(caller.tenant, name).document)
        report = dataset_drift(
            reference, current, kinds, DriftSettings(dataset_share=policy.drift_share)
        )
        return {"model": name, "version": chosen, **report}

    def _classes(self, tenant: str, name: str, version: int | None) -> list[Any]:
        if version is None:
            return []
        return list(self.load_bundle(tenant, name, version).classes)

    # --- policies, alerts and the lifecycle ---------------------------------------------

    def get_policy(self, caller: Caller, name: str) -> dict[str, Any]:
        """Returns the model's policy (every field, defaults filled in) and its schedule state."""
        return _policy_json(self.policies.get(caller.tenant, name))

    def put_policy(self, caller: Caller, name: str, document: Any) -> dict[str, Any]:
        """Returns the policy after replacing it; a bad field is refused, naming it."""
        _require_role(caller, "trainer")
        policy = parse_policy(document)
        task = self.store.get_model(caller.tenant, name).task
        if policy.metric is not None and policy.metric not in LIVE_METRICS.get(task, ()):
            # A metric never measured live would silently switch rollback and promotion off.
            allowed = ", ".join(LIVE_METRICS.get(task, ())) or "none (no live metrics)"
            raise InvalidInput(
                f"Policy field metric {policy.metric!r} is not measured live for a {task} "
                f"model; use one of: {allowed}.",
                errors=[{"loc": ["metric"], "msg": "not a live metric of the task"}],
            )
        now = self.now()
        next_run = policy.schedule.next_after(None, now) if policy.schedule else None
        record = self.policies.put(
            caller.tenant, name, policy.to_json(), actor=caller.actor, next_run_at=next_run
        )
        self.audit(caller, "model.policy", f"models/{name}", policy=policy.to_json())
        return _policy_json(record)

    def set_policy_paused(self, caller: Caller, name: str, paused: bool) -> dict[str, Any]:
        """Returns the policy after pausing (no automatic action) or resuming it."""
        _require_role(caller, "trainer")
        record = self.policies.set_paused(caller.tenant, name, paused, actor=caller.actor)
        self.audit(caller, "model.pause" if paused else "model.resume", f"models/{name}")
        return _policy_json(record)

    def submit_retraining(
        self, caller: Caller, name: str, *, reason: str = "requested"
    ) -> dict[str, Any]:
        """Returns the queued retraining job of the model (the one already waiting, if any)."""
        _require_role(caller, "trainer")
        model = self.store.get_model(caller.tenant, name)
        if model.production_version is None:
            raise Conflict(f"Model {name} has no production version to retrain.")
        for job in self.jobs.list_for(caller.tenant):
            if (
                job.kind == "retrain"
                and job.payload.get("model") == name
                and job.status in ("queued", "running")
            ):
                return job.to_json()
        job = self.jobs.submit(
            uuid7(),
            tenant=caller.tenant,
            kind="retrain",
            created_by=caller.actor,
            payload={"model": name, "reason": reason},
        )
        self.audit(
            caller, "job.submit", f"jobs/{job.id}", kind="retrain", model=name, reason=reason
        )
        if self.runner is not None:
            self.runner.wake()
        return job.to_json()

    def retrain(
        self,
        caller: Caller,
        name: str,
        *,
        reason: str = "requested",
        job_id: str | None = None,
        progress: Callable[..., None] | None = None,
    ) -> dict[str, Any]:
        """Returns how a challenger trained on the champion's data plus recent labelled
        predictions compared with the champion on the same evaluation data, and whether it
        was promoted (by the policy's margin; through canary steps when the policy has them).
        """
        _require_role(caller, "trainer")
        step = progress or (lambda fraction=None, message=None: None)
        model = self.store.get_model(caller.tenant, name)
        if model.production_version is None:
            raise Conflict(f"Model {name} has no production version to retrain.")
        champion = self.store.get_version(caller.tenant, name, model.production_version)
        spec_doc, dataset_id = champion.extra.get("train_spec"), champion.extra.get("dataset_id")
        if not isinstance(spec_doc, dict) or not isinstance(dataset_id, str):
            raise Conflict(
                f"Version {champion.version} of {name} kept no training data to retrain from; "
                "train a new version by hand first."
            )
        spec = train_spec_from_request(spec_doc)
        record = self.policies.get(caller.tenant, name)
        policy = parse_policy(record.document)
        metric = self.policy_metric(model.task, policy)
        step(0.02, "loading the champion's training data")
        original = self.load_stored_dataset(caller.tenant, dataset_id).frame
        self.prediction_log.flush()
        started = self.now()
        # The feedback read now is learned from, whoever asked for this retraining: the
        # policy's feedback count (and its cooldown) start again from here.
        self.policies.update_state(record.model_id, {"last_retrain_at": started.isoformat()})
        recent = self.feedback.rows(
            caller.tenant,
            name,
            since=started - timedelta(days=policy.recent_days),
            limit=MAX_RECENT_ROWS,
        )
        data = retraining_data(original, spec, model.task, recent)
        frame, challenger_spec = data.train, dataclasses.replace(spec, holdout_rows=0)
        if spec.target is not None and data.evaluation is not None:
            # The challenger holds out exactly the shared evaluation rows (last in its data),
            # so it learns from everything else and its own metrics are on the same rows.
            frame = pd.concat([data.train, data.evaluation], ignore_index=True)
            challenger_spec = dataclasses.replace(spec, holdout_rows=len(data.evaluation))
        payload, fmt = _table_bytes(frame)
        dataset = Dataset(
            frame, sha256_hex(payload), fmt, f"retraining of {name} v{champion.version}"
        )
        trained = self.train(
            caller,
            name,
            dataset,
            challenger_spec,
            job_id=job_id,
            progress=lambda fraction, message: step(0.05 + 0.8 * fraction, message),
        )
        challenger = trained.version.version
        step(0.9, "comparing the challenger with the champion")
        scores = self._compare(caller.tenant, name, (champion.version, challenger), data, metric)
        promoted, verdict = _verdict(scores, metric, policy.promotion.margin)
        result: dict[str, Any] = {
            "model": name,
            "reason": reason,
            "champion": champion.version,
            "challenger": challenger,
            "metric": metric,
            "champion_score": scores[0],
            "challenger_score": scores[1],
            "margin": policy.promotion.margin,
            "promoted": promoted,
            "verdict": verdict,
            "data": data.summary(),
        }
        why = f"retrained ({reason}): {verdict}"
        if promoted and policy.canary.steps and policy.canary.steps[0] < 100:
            weight = policy.canary.steps[0]
            self.deploy(caller, name, challenger, strategy="canary", weight=weight, reason=why)
            result["deployment"] = f"canary {weight:g}%"
        elif promoted:
            self.deploy(caller, name, challenger, reason=why)
            result["deployment"] = "production"
        self.raise_alert(
            caller,
            name,
            kind="promoted" if promoted else "retrained",
            severity="info",
            message=f"v{challenger} {'promoted' if promoted else 'not promoted'}: {why}",
            version=challenger,
            details={k: v for k, v in result.items() if k != "data"},
        )
        return dict(json_safe(result))

    def _compare(
        self,
        tenant: str,
        name: str,
        versions: tuple[int, int],
        data: RetrainingData,
        metric: str,
    ) -> tuple[float | None, float | None]:
        """Returns champion and challenger ``metric`` on the same evaluation rows."""
        if data.evaluation is None:
            return None, None
        scores: list[float | None] = []
        for version in versions:
            bundle = self.load_bundle(tenant, name, version)
            try:
                X, y = bundle.labelled(data.evaluation, data.target)
                if bundle.task == "anomaly":
                    y = pd.Series(anomaly_labels(y))
                value = evaluate_bundle(bundle, X, y).get(metric)
            except InvalidInput as exc:
                log.warning("v%d of %s cannot be scored for promotion: %s", version, name, exc)
                value = None
            scores.append(float(value) if isinstance(value, int | float) else None)
        return scores[0], scores[1]

    def lifecycle_tick(self) -> list[dict[str, Any]] | None:
        """Returns what every model's policy did now, or None when another process leads.

        Only the holder of the scheduler lease acts, so however many replicas
        and workers run a scheduler, each check and each scheduled run happens once.
        """
        if not self.leases.acquire(SCHEDULER_LEASE, self.instance_id, SCHEDULER_LEASE_TTL):
            return None
        return [report.to_json() for report in self.lifecycle.tick(self.now())]

    def run_lifecycle_now(self, caller: Caller) -> dict[str, Any]:
        """Returns what the policies did on a tick asked for by hand (admin)."""
        _require_role(caller, "admin")
        reports = self.lifecycle_tick()
        self.audit(caller, "scheduler.run", "scheduler")
        holder = self.leases.holder(SCHEDULER_LEASE)
        return {
            "ran": reports is not None,
            "leader": holder[0] if holder else None,
            # Another tenant's models are not named to this caller.
            "models": [
                {"model": r["model"], "actions": r["actions"]}
                for r in reports or []
                if r["tenant"] == caller.tenant
            ],
        }

    def start_scheduler(self, interval: float | None = None) -> None:
        """Starts the background scheduler of this process (it acts only while it leads)."""
        if self.scheduler is None:
            self.scheduler = PolicyScheduler(self.lifecycle_tick, interval=interval)
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stops the scheduler and gives the lease up, so another process takes over at once."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
            self.leases.release(SCHEDULER_LEASE, self.instance_id)

    def raise_alert(
        self,
        caller: Caller,
        name: str,
        *,
        kind: str,
        severity: str,
        message: str,
        version: int | None = None,
        dedup_key: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[Alert, bool]:
        """Returns the alert raised (or the open one for the same condition) and whether it is new.

        A new alert is posted to the policy's webhook, signed, off this thread.
        """
        url = parse_policy(self.policies.get(caller.tenant, name).document).webhook_url
        alert, created = self.alerts.raise_alert(
            caller.tenant,
            name,
            kind=kind,
            severity=severity,
            message=message,
            details=json_safe(details or {}),
            version=version,
            dedup_key=dedup_key,
            deliver=url is not None,
        )
        if created and url is not None:
            self.notifier.notify(alert, url)
        return alert, created

    def resume_alert_deliveries(
        self, caller: Caller, name: str, url: str, *, before: datetime
    ) -> int:
        """Returns how many of the model's alerts raised before ``before`` and still not
        posted (their process ended first) were queued again for ``url``, its webhook."""
        return self.notifier.resume(url, tenant=caller.tenant, model=name, created_before=before)

    def list_alerts(
        self, caller: Caller, name: str, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Returns the model's alerts, newest first (only those with ``status`` if given)."""
        self.store.get_model(caller.tenant, name)
        found = self.alerts.list(caller.tenant, name, status=status, limit=limit)
        return [alert.to_json() for alert in found]

    def acknowledge_alert(self, caller: Caller, name: str, alert_id: str) -> dict[str, Any]:
        """Returns the alert acknowledged by the caller; acknowledging again changes nothing."""
        _require_role(caller, "trainer")
        self.store.get_model(caller.tenant, name)
        alert = self.alerts.acknowledge(caller.tenant, name, alert_id, caller.actor)
        self.audit(caller, "alert.acknowledge", f"models/{name}/alerts/{alert_id}")
        return alert.to_json()

    def policy_metric(self, task: str, policy: Policy) -> str:
        """Returns the metric a policy watches: its own choice, else the task's primary one."""
        # Anomaly models are served by their threshold (is_anomaly), which roc_auc does not
        # see: a uniform shift that floods the alerts leaves the ranking, and roc_auc, intact.
        return policy.metric or POLICY_METRIC.get(task, "f1")

    def deployed_at(
        self, caller: Caller, name: str, version: int, *, action: str | None = None
    ) -> datetime:
        """Returns when ``version`` last took its role (production unless ``action`` says)."""
        actions = (action,) if action else ("deploy", "rollback")
        for event in reversed(self.store.history(caller.tenant, name)):
            if event.action in actions and event.version == version:
                return event.created_at
        return self.store.get_version(caller.tenant, name, version).created_at

    def previous_production(self, caller: Caller, name: str) -> int | None:
        """Returns the version that was production before the current one, if any."""
        model = self.store.get_model(caller.tenant, name)
        for event in reversed(self.store.history(caller.tenant, name)):
            if event.action in ("deploy", "rollback") and event.version == model.production_version:
                return event.previous_version
        return None

    def live_summary(
        self, caller: Caller, name: str, version: int, *, since: datetime
    ) -> dict[str, Any]:
        """Returns a version's predictions, feedback and live metrics since ``since``."""
        model = self.store.get_model(caller.tenant, name)
        self.prediction_log.flush()
        rows = self.feedback.rows(caller.tenant, name, since=since, version=version)
        summary = version_performance(rows, model.task, self._classes(caller.tenant, name, version))
        return dict(summary.get(version, {"predictions": 0, "feedback": 0}))

    def feedback_count(self, caller: Caller, name: str, *, since: datetime | None) -> int:
        """Returns how many predictions of the model got feedback since ``since``."""
        return self.feedback.count_feedback(caller.tenant, name, since=since)

    def undeploy(self, caller: Caller, name: str, version: int, *, reason: str = "") -> ModelRecord:
        """Returns the model after its canary or shadow ``version`` stopped receiving traffic."""
        _require_role(caller, "trainer")
        model = self.store.undeploy(caller.tenant, name, version, actor=caller.actor, reason=reason)
        self.deployments.forget(caller.tenant, name)
        self.audit(caller, "model.undeploy", f"models/{name}", version=version, reason=reason)
        return model

    # --- registry -------------------------------------------------------------------

    def list_models(self, caller: Caller) -> list[ModelRecord]:
        """Returns the tenant's models."""
        return self.store.list_models(caller.tenant)

    def get_model(self, caller: Caller, name: str) -> ModelRecord:
        """Returns one model of the tenant."""
        return self.store.get_model(caller.tenant, name)

    def list_versions(self, caller: Caller, name: str) -> list[VersionRecord]:
        """Returns the model's versions, oldest first."""
        return self.store.list_versions(caller.tenant, name)

    def get_version(self, caller: Caller, name: str, version: int) -> VersionRecord:
        """Returns one version."""
        return self.store.get_version(caller.tenant, name, version)

    def history(self, caller: Caller, name: str) -> list[DeploymentEvent]:
        """Returns the model's deployment history, oldest first."""
        return self.store.history(caller.tenant, name)

    def best_version(self, caller: Caller, name: str, metric: str) -> VersionRecord:
        """Returns the version with the best value of ``metric``."""
        return self.store.best_version(caller.tenant, name, metric)

    def deploy(
        self,
        caller: Caller,
        name: str,
        version: int,
        *,
        strategy: str = "replace",
        weight: float | None = None,
        reason: str = "",
    ) -> ModelRecord:
        """Returns the model after moving its production, canary or shadow pointer."""
        _require_role(caller, "trainer")
        if strategy not in ("replace", "canary", "shadow"):
            raise InvalidInput(f"strategy must be replace, canary or shadow, got {strategy!r}.")
        model = self.store.deploy(
            caller.tenant,
            name,
            version,
            strategy=strategy,
            weight=weight,
            actor=caller.actor,
            reason=reason,
        )
        self.deployments.forget(caller.tenant, name)
        self.audit(
            caller,
            "model.deploy",
            f"models/{name}",
            version=version,
            strategy=strategy,
            weight=weight,
            reason=reason,
        )
        return model

    def rollback(
        self,
        caller: Caller,
        name: str,
        *,
        to_version: int | None = None,
        from_version: int | None = None,
        reason: str = "",
    ) -> ModelRecord:
        """Returns the model after production moved back (to ``to_version`` or the previous one).

        With ``from_version``, only if that version is still production (else Conflict).
        """
        _require_role(caller, "trainer")
        model = self.store.rollback(
            caller.tenant,
            name,
            to_version=to_version,
            from_version=from_version,
            actor=caller.actor,
            reason=reason,
        )
        self.deployments.forget(caller.tenant, name)
        self.audit(
            caller,
            "model.rollback",
            f"models/{name}",
            version=model.production_version,
            reason=reason,
        )
        return model

    def delete_version(self, caller: Caller, name: str, version: int) -> VersionRecord:
        """Returns the deleted version, whose artifact is removed too."""
        _require_role(caller, "trainer")
        record = self.store.delete_version(caller.tenant, name, version, actor=caller.actor)
        self.artifacts.delete(record.artifact_key)
        self._forget(caller.tenant, name)
        self.audit(caller, "model.delete_version", f"models/{name}/versions/{version}")
        return record

    def delete_model(self, caller: Caller, name: str) -> list[VersionRecord]:
        """Returns the versions deleted with the model (artifacts removed too)."""
        _require_role(caller, "trainer")
        records = self.store.delete_model(caller.tenant, name, actor=caller.actor)
        for record in records:
            self.artifacts.delete(record.artifact_key)
        self._forget(caller.tenant, name)
        self.audit(caller, "model.delete", f"models/{name}", versions=[r.version for r in records])
        return records

    def _forget(self, tenant: str, name: str) -> None:
        self.models.forget(tenant, name)
        self.deployments.forget(tenant, name)


def list_algorithms() -> list[dict[str, Any]]:
    """Returns every catalogue entry with its hyperparameter schema (needs no database)."""
    return [spec.to_json() for spec in CATALOGUE.values()]


def compare_algorithms(
    dataset: Dataset, spec: TrainSpec, algorithms: Sequence[str]
) -> list[dict[str, Any]]:
    """Returns one row per algorithm trained on the same split: metrics and fit time.

    Nothing is recorded: comparing is for choosing, training is for keeping.
    """
    if not algorithms:
        raise UsageError("Name at least one algorithm to compare.")
    for name in algorithms:
        get_algorithm(name)
    rows = []
    for name in algorithms:
        started = time.perf_counter()
        outcome = train_model(dataset.frame, _with_algorithm(spec, name))
        rows.append(
            {
                "algorithm": name,
                "task": outcome.task,
                "metrics": outcome.metrics,
                "fit_seconds": outcome.fit_seconds,
                "total_seconds": time.perf_counter() - started,
            }
        )
    return rows


SCHEDULER_LEASE = "scheduler"
# A leader that stops renewing (its process died) is replaced after this long.
SCHEDULER_LEASE_TTL = timedelta(seconds=max(30.0, 3 * SCHEDULER_INTERVAL_SECONDS))
# Retraining reads at most this many recent predictions.
MAX_RECENT_ROWS = 50_000
SOURCE_KINDS = frozenset({"dataset_id", "rows", "url", "sql"})
# A URL source larger than this is refused rather than filling memory.
MAX_FETCH_BYTES = 512 * 1024 * 1024


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested."""


def _require_role(caller: Caller, required: str) -> None:
    if not role_allows(caller.role, required):
        raise Forbidden(f"This needs the {required} role; the key has {caller.role}.")


def _check_tenant(tenant: str) -> None:
    if not tenant or len(tenant) > 128 or not all(ch.isalnum() or ch in "-_." for ch in tenant):
        raise InvalidInput(
            f"Tenant {tenant!r} is not allowed; use 1-128 letters, digits, '-', '_' or '.'.",
            errors=[{"loc": ["tenant"], "msg": "invalid tenant"}],
        )


def _with_algorithm(spec: TrainSpec, algorithm: str) -> TrainSpec:
    return dataclasses.replace(spec, algorithm=algorithm)


def as_frame(data: PredictInput) -> pd.DataFrame:
    """Returns ``data`` as a DataFrame (a list of row mappings read as ``from_records`` does)."""
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame.from_records(list(data))


def _prediction_inputs(frame: pd.DataFrame, predictions: list[dict[str, Any]]) -> list[Any]:
    """Returns the input logged with each prediction.

    A row per prediction for tables; for raw log lines the line an event came
    from; for sessions, which have no single input row, the session key.
    """
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    if len(rows) == len(predictions) and not any("session" in p for p in predictions):
        return list(rows)
    inputs: list[Any] = []
    for p in predictions:
        line = p.get("line")
        if isinstance(line, int) and 0 < line <= len(rows):
            inputs.append(rows[line - 1])
        else:
            inputs.append({"session": p.get("session")})
    return inputs


def _extracted_features(bundle: ModelBundle, inputs: pd.DataFrame, name: str) -> pd.DataFrame:
    """Returns the features a log, metric or request model saw in its logged inputs.

    Such models keep a sample of their extracted features as the drift
    reference, so production inputs are read and extracted the same way,
    in time order (rolling windows need it).
    """
    assert bundle.extractor is not None
    if "session" in inputs.columns:
        raise Conflict(f"Model {name} scores sessions; drift is measured on per-event models only.")
    events, _ = bundle.extractor.read(inputs)
    if len(events) == 0:
        return pd.DataFrame(columns=bundle.feature_names)
    return bundle.extractor.transform(events).features.reset_index(drop=True)


def _policy_json(record: PolicyRecord) -> dict[str, Any]:
    """Returns a stored policy as the API shows it: every field, and the schedule's state."""
    return {
        "model": record.model,
        "policy": parse_policy(record.document).to_json(),
        "paused": record.paused,
        "next_run_at": record.next_run_at.isoformat() if record.next_run_at else None,
        "last_run_at": record.last_run_at.isoformat() if record.last_run_at else None,
        "updated_by": record.updated_by or None,
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
    }


def _verdict(
    scores: tuple[float | None, float | None], metric: str, margin: float
) -> tuple[bool, str]:
    """Returns whether the challenger beats the champion by ``margin``, and the reason."""
    champion, challenger = scores
    if champion is None or challenger is None:
        return False, f"no {metric} for both on labelled evaluation data, so no promotion"
    gain = champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
    better = gain > margin
    return better, (
        f"challenger {metric} {challenger:.4f} vs champion {champion:.4f} on the same "
        f"evaluation data ({'beats' if better else 'does not beat'} it by more than {margin:g})"
    )


def _table_bytes(frame: pd.DataFrame) -> tuple[bytes, str]:
    """Returns a table as Parquet (compact, typed), or JSON Lines when Parquet cannot hold it."""
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue(), "parquet"
    except (ValueError, TypeError, ImportError, pa.ArrowException):
        # Mixed-type object columns: JSON keeps each value as it is.
        text = frame.to_json(orient="records", lines=True, date_format="iso")
        return text.encode(), "jsonl"


def _dump_bundle(bundle: ModelBundle) -> bytes:
    """Returns the pickled bundle; compressed because trees and TF-IDF vocabularies are large."""
    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    return buffer.getvalue()


def json_safe(value: Any) -> Any:
    """Returns ``value`` with NumPy scalars and NaN made JSON-friendly."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
