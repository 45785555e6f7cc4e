"""The composition root: builds the stores, the use cases and the background parts.

This is the one place that knows every concrete part of Vigil. The CLI and
the REST API get a ``VigilService`` and call its use cases (``service.training``,
``service.predictions``, ``service.models`` …); nothing below them imports this
module, so the dependencies point one way. Tests build it the same way, on
SQLite or PostgreSQL, with an injected clock.

The stores are built at once; each use case (and the background part only
use cases need) is built on first use, importing its module then. A command
that reads the registry (``vigil models list``) so never imports pandas,
scikit-learn or numba, and starts in a fraction of a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from vigil.config import Settings
from vigil.jobs.runner import new_worker_id
from vigil.monitoring.alerts import AlertStore
from vigil.monitoring.feedback import FeedbackStore
from vigil.registry.artifacts import ArtifactStore, open_artifact_store
from vigil.registry.audit import AuditLog
from vigil.registry.datasets import DatasetStore
from vigil.registry.db import create_engine_for, files_under, prepare_database
from vigil.registry.jobs import JobStore
from vigil.registry.keys import KeyStore
from vigil.registry.policies import LeaseStore, PolicyStore
from vigil.registry.store import RegistryStore
from vigil.serving.deployments import DeploymentView
from vigil.serving.model_cache import ModelCache

if TYPE_CHECKING:
    from vigil.monitoring.webhook import AlertNotifier
    from vigil.serving.loaded import ModelLoader
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
    from vigil.usecases.streams import Streams
    from vigil.usecases.training import Training

# Loaded versions kept per process (least recently used dropped first).
MODEL_CACHE_SIZE = 32

Part = TypeVar("Part")


class built_on_first_use(Generic[Part]):  # noqa: N801 - used as a decorator, like cached_property
    """A part of the service built by the decorated method on first use, then kept.

    Unlike ``functools.cached_property`` (whose lock Python 3.12 removed) two
    threads asking at once still get the same part: building holds the
    service's lock, which is reentrant because one part's builder asks for
    the parts it is given.
    """

    def __init__(self, build: Callable[[VigilService], Part]) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, service: None, owner: type[Any]) -> built_on_first_use[Part]: ...

    @overload
    def __get__(self, service: VigilService, owner: type[Any]) -> Part: ...

    def __get__(
        self, service: VigilService | None, owner: type[Any]
    ) -> built_on_first_use[Part] | Part:
        if service is None:
            return self
        with service.building:
            # Once built, the part sits in the instance's __dict__, which attribute lookup
            # reads before this (non-data) descriptor: later uses never reach this lock.
            if self.name not in service.__dict__:
                service.__dict__[self.name] = self.build(service)
        part: Part = service.__dict__[self.name]
        return part


class OnFirstCall(Generic[Part]):
    """Stands in for a part that a long-lived component is given but may never call.

    Attribute access is passed to the part, which ``build`` returns (the
    service's ``built_on_first_use`` caches it, so every call reaches one part).
    The lifecycle controller is built when a server starts, yet needs
    monitoring and retraining, and with them pandas and scikit-learn, only
    once a model has a policy: with this, a server without policies never
    imports them, and one with policies imports them on its first tick.
    """

    def __init__(self, build: Callable[[], Part]) -> None:
        self._build = build

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._build(), attribute)


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
        self.stores = Stores.on(store, self.now)
        # Names this process as a scheduler lease holder (host, pid and a unique suffix).
        self.instance_id = new_worker_id()
        # Held while a part is built on first use (see ``built_on_first_use``).
        self.building = threading.RLock()

        self.deployments = DeploymentView(store)
        # The loader, and the serving stack it imports, is built on the first load.
        self.model_cache = ModelCache(
            lambda tenant, name, version: self.model_loader(tenant, name, version),
            size=MODEL_CACHE_SIZE,
        )

    # Background parts: each has a thread (or pool) that ``close`` stops.

    @built_on_first_use
    def prediction_log(self) -> PredictionLog:
        """The prediction log and its writer thread (started by ``start``)."""
        from vigil.serving.prediction_log import PredictionLog

        retention = self.settings.prediction_retention_days
        return PredictionLog(
            self.store.engine,
            self.now,
            retention=timedelta(days=retention) if retention > 0 else None,
            # What a killed process accepted but never wrote is counted at the next start.
            ledger_dir=self.settings.home / "prediction-log",
            instance=self.instance_id,
        )

    @built_on_first_use
    def model_loader(self) -> ModelLoader:
        """Loads verified versions for the model cache."""
        from vigil.serving.loaded import ModelLoader  # pandas, scikit-learn, numba

        return ModelLoader(self.store, self.artifacts, self.settings.secret_key)

    @built_on_first_use
    def notifier(self) -> AlertNotifier:
        """Posts alerts to the models' webhooks, on its own thread."""
        from vigil.monitoring.webhook import AlertNotifier, WebhookSender  # httpx

        return AlertNotifier(self.stores.alerts, WebhookSender(self.settings.secret_key))

    # Use cases, each given only what it uses.

    @built_on_first_use
    def audit(self) -> Audit:
        """Records every change; lists the audit log."""
        from vigil.usecases.audit import Audit

        return Audit(self.stores.audit)

    @built_on_first_use
    def access(self) -> Access:
        """API keys and the callers they authenticate."""
        from vigil.usecases.access import Access

        return Access(self.settings, self.stores.keys, self.audit)

    @built_on_first_use
    def datasets(self) -> Datasets:
        """Datasets kept by Vigil and the data references of training jobs."""
        from vigil.usecases.datasets import Datasets

        return Datasets(self.settings, self.stores.datasets, self.artifacts, self.audit, self.now)

    @built_on_first_use
    def models(self) -> Models:
        """Models, versions, deployments and their history."""
        from vigil.usecases.models import Models

        return Models(self.store, self.artifacts, self.deployments, self.model_cache, self.audit)

    @built_on_first_use
    def alerts(self) -> Alerts:
        """Alerts raised, posted, listed and acknowledged."""
        from vigil.usecases.alerts import Alerts

        return Alerts(
            self.store, self.stores.alerts, self.stores.policies, self.notifier, self.audit
        )

    @built_on_first_use
    def jobs(self) -> Jobs:
        """The job queue, each job kind run by the use case that owns it."""
        from vigil.usecases.jobs import Jobs

        jobs = Jobs(
            self.stores.jobs,
            self.store,
            self.alerts,
            self.audit,
            time_limit=self.settings.max_training_seconds,
        )
        # Bound late: the training stack is built when the first such job runs.
        jobs.register("train", lambda job, beat: self.training.run_job(job, beat))
        jobs.register("retrain", lambda job, beat: self.retraining.run_job(job, beat))
        return jobs

    @built_on_first_use
    def predictions(self) -> Predictions:
        """Routing, scoring and logging of predictions; batch files; evaluation."""
        from vigil.usecases.predictions import Predictions

        return Predictions(
            self.models, self.model_cache, self.deployments, self.prediction_log, self.now
        )

    @built_on_first_use
    def training(self) -> Training:
        """Training runs, as a command or as jobs; the algorithm catalogue."""
        from vigil.usecases.training import Training

        return Training(
            self.settings,
            self.store,
            self.artifacts,
            self.datasets,
            self.models,
            self.predictions,
            self.jobs,
            self.audit,
            self.now,
        )

    @built_on_first_use
    def monitoring(self) -> Monitoring:
        """Feedback, live metrics per version, drift."""
        from vigil.usecases.monitoring import Monitoring

        return Monitoring(
            self.store,
            self.stores.feedback,
            self.stores.policies,
            self.prediction_log,
            self.models,
            self.predictions,
            self.now,
        )

    @built_on_first_use
    def policies(self) -> Policies:
        """Each model's policy document, pause switch and schedule state."""
        from vigil.usecases.policies import Policies

        return Policies(self.store, self.stores.policies, self.audit, self.now)

    @built_on_first_use
    def retraining(self) -> Retraining:
        """Challengers trained on the champion's data and recent labels, promoted by policy."""
        from vigil.usecases.retraining import Retraining

        return Retraining(
            self.store,
            self.stores.feedback,
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

    @built_on_first_use
    def scheduling(self) -> Scheduling:
        """The lifecycle tick under the scheduler lease."""
        from vigil.lifecycle.controller import LifecycleController
        from vigil.usecases.scheduling import Scheduling

        controller = LifecycleController(
            models=self.models,
            monitoring=OnFirstCall(lambda: self.monitoring),
            alerts=self.alerts,
            policies=self.policies,
            retraining=OnFirstCall(lambda: self.retraining),
        )
        return Scheduling(controller, self.stores.leases, self.audit, self.instance_id, self.now)

    @built_on_first_use
    def streams(self) -> Streams:
        """Events judged with their stream's history; the incidents they form."""
        from vigil.streams.incidents import IncidentStore
        from vigil.streams.store import open_state_store
        from vigil.usecases.streams import Streams

        state = open_state_store(self.settings.state_url, self.store.engine, self.now)
        incidents = IncidentStore(self.store.engine, self.now)
        return Streams(
            self.models,
            self.deployments,
            self.model_cache,
            state,
            incidents,
            self.alerts,
            self.now,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, thorough_check: bool = False) -> VigilService:
        """Returns a service on the configured database (checked, migrated) and artifact store.

        A damaged or emptied database is refused with one sentence (``DatabaseUnusable``);
        ``thorough_check`` (``vigil serve``) also runs SQLite's ``quick_check``.
        """
        engine = create_engine_for(settings.database_url)
        artifacts = open_artifact_store(settings.artifact_uri)
        prepare_database(
            engine, artifacts_present=lambda: files_under(artifacts), thorough=thorough_check
        )
        return cls(settings, RegistryStore(engine), artifacts)

    def start(self, *, job_threads: int = 2, scheduler: bool = True) -> None:
        """Starts the background parts of a long-running process: the log writer, job
        workers and the policy scheduler (which acts only while this process leads)."""
        self.prediction_log.start()
        self.jobs.start_workers(job_threads)
        if scheduler:
            self.scheduling.start_scheduler()

    def close(self) -> None:
        """Stops the background parts: scheduler, jobs, shadow scoring, alert posts, the log.

        A part never built has nothing running and is not built to be stopped.
        """
        built = vars(self)
        if "scheduling" in built:
            self.scheduling.stop_scheduler()
        if "jobs" in built:
            self.jobs.stop_workers()
        if "notifier" in built:
            self.notifier.stop()
        if "predictions" in built:
            self.predictions.close()
        if "prediction_log" in built:
            self.prediction_log.stop()
