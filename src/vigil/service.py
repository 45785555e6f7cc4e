"""The composition root: builds the stores, the use cases and the background parts.

This is the one place that knows every concrete part of Vigil. The CLI and
the REST API get a ``VigilService`` and call its use cases (``service.training``,
``service.predictions``, ``service.models`` …); nothing below them imports this
module, so the dependencies point one way. Tests build it the same way, on
SQLite or PostgreSQL, with an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vigil.config import Settings
from vigil.jobs.runner import new_worker_id
from vigil.lifecycle.controller import LifecycleController
from vigil.monitoring.alerts import AlertStore
from vigil.monitoring.feedback import FeedbackStore
from vigil.monitoring.webhook import AlertNotifier, WebhookSender
from vigil.registry.artifacts import ArtifactStore, open_artifact_store
from vigil.registry.audit import AuditLog
from vigil.registry.datasets import DatasetStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.jobs import JobStore
from vigil.registry.keys import KeyStore
from vigil.registry.policies import LeaseStore, PolicyStore
from vigil.registry.store import RegistryStore
from vigil.serving.deployments import DeploymentView
from vigil.serving.loaded import ModelLoader
from vigil.serving.model_cache import ModelCache
from vigil.serving.prediction_log import PredictionLog
from vigil.usecases.access import Access
from vigil.usecases.alerts import Alerts
from vigil.usecases.audit import Audit
from vigil.usecases.datasets import Datasets
from vigil.usecases.jobs import Jobs
from vigil.usecases.models import Models
from vigil.usecases.monitoring import Monitoring
from vigil.usecases.policies import Policies
from vigil.usecases.predictions import Predictions
from vigil.usecases.retraining import Retraining
from vigil.usecases.scheduling import Scheduling
from vigil.usecases.training import Training

# Loaded versions kept per process (least recently used dropped first).
MODEL_CACHE_SIZE = 32


@dataclass(frozen=True)
class Stores:
    """The database stores, all on one engine."""

    keys: KeyStore
    audit: AuditLog
    jobs: JobStore
    datasets: DatasetStore
    feedback: FeedbackStore
    alerts: AlertStore
    policies: PolicyStore
    leases: LeaseStore

    @classmethod
    def on(cls, store: RegistryStore, now: Callable[[], datetime]) -> Stores:
        """Returns every store on the registry's engine."""
        engine = store.engine
        return cls(
            keys=KeyStore(engine, now),
            audit=AuditLog(engine, now),
            jobs=JobStore(engine, now),
            datasets=DatasetStore(engine, now),
            feedback=FeedbackStore(engine, now),
            alerts=AlertStore(engine, now),
            policies=PolicyStore(engine, now),
            leases=LeaseStore(engine, now),
        )


class VigilService:
    """Every use case of Vigil, built over one registry store and one artifact store."""

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
        self.stores = stores = Stores.on(store, self.now)
        # Names this process as a scheduler lease holder (host, pid and a unique suffix).
        self.instance_id = new_worker_id()

        # Background parts: each has a thread (or pool) that ``close`` stops.
        retention = settings.prediction_retention_days
        self.prediction_log = PredictionLog(
            store.engine, self.now, retention=timedelta(days=retention) if retention > 0 else None
        )
        self.notifier = AlertNotifier(stores.alerts, WebhookSender(settings.secret_key))
        self.deployments = DeploymentView(store)
        self.model_cache = ModelCache(
            ModelLoader(store, artifacts, settings.secret_key), size=MODEL_CACHE_SIZE
        )

        # Use cases, each given only what it uses.
        self.audit = audit = Audit(stores.audit)
        self.access = Access(settings, stores.keys, audit)
        self.datasets = Datasets(settings, stores.datasets, artifacts, audit, self.now)
        self.models = Models(store, artifacts, self.deployments, self.model_cache, audit)
        self.alerts = Alerts(store, stores.alerts, stores.policies, self.notifier, audit)
        self.jobs = Jobs(stores.jobs, store, self.alerts, audit)
        self.predictions = Predictions(
            self.models, self.model_cache, self.deployments, self.prediction_log, self.now
        )
        self.training = Training(
            settings,
            store,
            artifacts,
            self.datasets,
            self.models,
            self.predictions,
            self.jobs,
            audit,
            self.now,
        )
        self.monitoring = Monitoring(
            store,
            stores.feedback,
            stores.policies,
            self.prediction_log,
            self.models,
            self.predictions,
            self.now,
        )
        self.policies = Policies(store, stores.policies, audit, self.now)
        self.retraining = Retraining(
            store,
            stores.feedback,
            self.prediction_log,
            self.datasets,
            self.training,
            self.models,
            self.predictions,
            self.policies,
            self.alerts,
            self.jobs,
            self.now,
        )
        self.jobs.register("train", self.training.run_job)
        self.jobs.register("retrain", self.retraining.run_job)
        controller = LifecycleController(
            models=self.models,
            monitoring=self.monitoring,
            alerts=self.alerts,
            policies=self.policies,
            retraining=self.retraining,
        )
        self.scheduling = Scheduling(controller, stores.leases, audit, self.instance_id, self.now)

    @classmethod
    def from_settings(cls, settings: Settings) -> VigilService:
        """Returns a service on the configured database (migrated to head) and artifact store."""
        engine = create_engine_for(settings.database_url)
        upgrade(engine)
        return cls(settings, RegistryStore(engine), open_artifact_store(settings.artifact_uri))

    def start(self, *, job_threads: int = 2, scheduler: bool = True) -> None:
        """Starts the background parts of a long-running process: the log writer, job
        workers and the policy scheduler (which acts only while this process leads)."""
        self.prediction_log.start()
        self.jobs.start_workers(job_threads)
        if scheduler:
            self.scheduling.start_scheduler()

    def close(self) -> None:
        """Stops the background parts: scheduler, jobs, shadow scoring, alert posts, the log."""
        self.scheduling.stop_scheduler()
        self.jobs.stop_workers()
        self.notifier.stop()
        self.predictions.close()
        self.prediction_log.stop()
