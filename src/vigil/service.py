"""The application core: one place that does each use case.

The CLI and the REST API both call ``VigilService``; neither holds business
logic. The service composes training (pure), the registry (database and
artifacts) and model loading, and is the only layer that knows all three.
"""

from __future__ import annotations

import io
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import joblib
import numpy as np
import pandas as pd

from vigil import __version__
from vigil.algorithms.catalogue import CATALOGUE, get_algorithm
from vigil.config import Settings
from vigil.data.loading import Dataset
from vigil.errors import InvalidInput, NotFound, UsageError
from vigil.ids import uuid7
from vigil.registry.artifacts import ArtifactStore, open_artifact_store
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.entities import DeploymentEvent, ModelRecord, NewVersion, VersionRecord
from vigil.registry.signing import read_verified, write_verified
from vigil.registry.store import RegistryStore
from vigil.training.bundle import ModelBundle
from vigil.training.metrics import LOWER_IS_BETTER
from vigil.training.trainer import (
    Progress,
    TrainOutcome,
    TrainSpec,
    anomaly_labels,
    evaluate_bundle,
    train_model,
)

DEPLOY_CHOICES = ("never", "always", "if_better")
# The metric that decides "better" for each task when comparing versions.
PRIMARY_METRIC = {
    "classification": "f1",
    "regression": "r2",
    "clustering": "silhouette",
    "anomaly": "roc_auc",
}
# An artifact with no version row older than this was left by a crash, not by a
# training run that is about to commit its row.
ORPHAN_GRACE = timedelta(hours=1)
_BUNDLE_CACHE_SIZE = 32
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "xgboost", "lightgbm", "joblib")


@dataclass(frozen=True)
class Caller:
    """Who asks: the tenant whose resources they reach and the actor recorded in history."""

    tenant: str = "default"
    actor: str = "cli"


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
        }


@dataclass
class PredictResult:
    """Predictions for a batch, in input order, and the version that answered."""

    model: str
    version: int
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Returns the JSON object of the predict answer."""
        return {"model": self.model, "predictions": self.predictions}


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
        self._bundles: OrderedDict[tuple[str, str, int, str], ModelBundle] = OrderedDict()
        self._bundles_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VigilService:
        """Returns a service on the configured database (migrated to head) and artifact store."""
        engine = create_engine_for(settings.database_url)
        upgrade(engine)
        return cls(settings, RegistryStore(engine), open_artifact_store(settings.artifact_uri))

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
        _check_name(name)
        if deploy not in DEPLOY_CHOICES:
            raise InvalidInput(
                f"deploy must be one of {', '.join(DEPLOY_CHOICES)}, got {deploy!r}."
            )
        self._check_task_matches(caller, name, spec)
        self.sweep_orphans(caller.tenant)
        outcome = train_model(dataset.frame, spec, progress or (lambda f, m: None))
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
            },
        )
        try:
            record = self.store.add_version(caller.tenant, name, new)
        except BaseException:
            self.artifacts.delete(stored.key)
            raise
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

    def load_bundle(self, tenant: str, name: str, version: int) -> ModelBundle:
        """Returns the version's bundle, verified against its sha256 and HMAC before unpickling."""
        record = self.store.get_version(tenant, name, version)
        key = (tenant, name, version, record.artifact_sha256)
        with self._bundles_lock:
            cached = self._bundles.get(key)
            if cached is not None:
                self._bundles.move_to_end(key)
                return cached
        payload = read_verified(
            self.artifacts,
            record.artifact_key,
            record.artifact_sha256,
            record.artifact_hmac,
            self.settings.secret_key,
            label=f"model {name} version {version}",
        )
        bundle = joblib.load(io.BytesIO(payload))
        with self._bundles_lock:
            self._bundles[key] = bundle
            while len(self._bundles) > _BUNDLE_CACHE_SIZE:
                self._bundles.popitem(last=False)
        return bundle

    def predict(
        self,
        caller: Caller,
        name: str,
        frame: pd.DataFrame,
        *,
        version: int | None = None,
        explain: bool = False,
    ) -> PredictResult:
        """Returns one prediction per row of ``frame``, in order, each with an id and version."""
        chosen = self.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        outputs = bundle.predict(frame, explain=explain)
        predictions = [{"id": uuid7(), "version": chosen, **out} for out in outputs]
        return PredictResult(name, chosen, predictions)

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
        chosen = self.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        if target not in frame.columns:
            raise InvalidInput(
                f"Target column {target!r} does not exist; columns are: "
                + ", ".join(map(str, frame.columns))
                + "."
            )
        labelled = frame[frame[target].notna()]
        if labelled.empty:
            raise InvalidInput(f"Target column {target!r} has no values to evaluate against.")
        X = bundle.prepare(labelled)
        y = labelled[target].reset_index(drop=True)
        X = X.reset_index(drop=True)
        if bundle.task == "anomaly":
            y = pd.Series(anomaly_labels(y))
        metrics = evaluate_bundle(bundle, X, y)
        return {"model": name, "version": chosen, "rows": len(X), "metrics": metrics}

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
        if strategy not in ("replace", "canary", "shadow"):
            raise InvalidInput(f"strategy must be replace, canary or shadow, got {strategy!r}.")
        return self.store.deploy(
            caller.tenant,
            name,
            version,
            strategy=strategy,
            weight=weight,
            actor=caller.actor,
            reason=reason,
        )

    def rollback(
        self, caller: Caller, name: str, *, to_version: int | None = None, reason: str = ""
    ) -> ModelRecord:
        """Returns the model after production moved back (to ``to_version`` or the previous one)."""
        return self.store.rollback(
            caller.tenant, name, to_version=to_version, actor=caller.actor, reason=reason
        )

    def delete_version(self, caller: Caller, name: str, version: int) -> VersionRecord:
        """Returns the deleted version, whose artifact is removed too."""
        record = self.store.delete_version(caller.tenant, name, version, actor=caller.actor)
        self.artifacts.delete(record.artifact_key)
        self._forget(caller.tenant, name)
        return record

    def delete_model(self, caller: Caller, name: str) -> list[VersionRecord]:
        """Returns the versions deleted with the model (artifacts removed too)."""
        records = self.store.delete_model(caller.tenant, name, actor=caller.actor)
        for record in records:
            self.artifacts.delete(record.artifact_key)
        self._forget(caller.tenant, name)
        return records

    def _forget(self, tenant: str, name: str) -> None:
        with self._bundles_lock:
            for key in [k for k in self._bundles if k[0] == tenant and k[1] == name]:
                del self._bundles[key]


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


def _with_algorithm(spec: TrainSpec, algorithm: str) -> TrainSpec:
    return TrainSpec(
        task=spec.task,
        algorithm=algorithm,
        target=spec.target,
        features=spec.features,
        params=spec.params,
        test_size=spec.test_size,
        cv=spec.cv,
        seed=spec.seed,
    )


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
