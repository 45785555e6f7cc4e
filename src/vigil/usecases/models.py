"""The registry as use cases: models, versions, deployments, rollback, deletion.

Every pointer move goes through ``RegistryStore`` (history, locks, rules) and
then tells this process's caches, so the next request here follows at once
and every other replica within the deployment view's lifetime.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil.errors import InvalidInput, NotFound
from vigil.registry.artifacts import ArtifactStore
from vigil.registry.entities import DeploymentEvent, ModelRecord, VersionRecord
from vigil.registry.entities import model_to_json as model_to_json  # its home since issue 12
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.serving.deployments import DeploymentView
from vigil.serving.model_cache import ModelCache
from vigil.usecases.audit import Audit

STRATEGIES = ("replace", "canary", "shadow")


def check_model_name(name: str) -> str:
    """Returns ``name`` if it may name a model, else raises InvalidInput naming the rule.

    >>> check_model_name("fraud-v2")
    'fraud-v2'
    """
    if not name or len(name) > 128 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise InvalidInput(
            f"Model name {name!r} is not allowed; use 1-128 letters, digits, '-', '_' or '.'.",
            errors=[{"loc": ["name"], "msg": "invalid model name"}],
        )
    if name.startswith("."):
        raise InvalidInput(f"Model name {name!r} must not start with '.'.")
    return name


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


class Models:
    """Models per tenant, their immutable versions and where traffic goes."""

    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        deployments: DeploymentView,
        cache: ModelCache,
        audit: Audit,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.deployments = deployments
        self.cache = cache
        self.audit = audit

    # --- reading ----------------------------------------------------------------------

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

    def previous_production(self, caller: Caller, name: str) -> int | None:
        """Returns the version a rollback without a target would go back to, if any.

        One definition, the registry's: the history replayed, rollbacks
        undoing what they went back over, deleted versions skipped.
        """
        return self.store.previous_production(caller.tenant, name)

    def deployed_at(
        self, caller: Caller, name: str, version: int, *, action: str | None = None
    ) -> datetime:
        """Returns when ``version`` last took its role (production unless ``action`` says)."""
        actions = (action,) if action else ("deploy", "rollback")
        for event in reversed(self.store.history(caller.tenant, name)):
            if event.action in actions and event.version == version:
                return event.created_at
        return self.store.get_version(caller.tenant, name, version).created_at

    # --- moving traffic ---------------------------------------------------------------

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
        require_role(caller, "trainer")
        if strategy not in STRATEGIES:
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
        self.audit.record(
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
        require_role(caller, "trainer")
        model = self.store.rollback(
            caller.tenant,
            name,
            to_version=to_version,
            from_version=from_version,
            actor=caller.actor,
            reason=reason,
        )
        self.deployments.forget(caller.tenant, name)
        self.audit.record(
            caller,
            "model.rollback",
            f"models/{name}",
            version=model.production_version,
            reason=reason,
        )
        return model

    def undeploy(self, caller: Caller, name: str, version: int, *, reason: str = "") -> ModelRecord:
        """Returns the model after its canary or shadow ``version`` stopped receiving traffic."""
        require_role(caller, "trainer")
        model = self.store.undeploy(caller.tenant, name, version, actor=caller.actor, reason=reason)
        self.deployments.forget(caller.tenant, name)
        self.audit.record(
            caller, "model.undeploy", f"models/{name}", version=version, reason=reason
        )
        return model

    # --- deleting ---------------------------------------------------------------------

    def delete_version(self, caller: Caller, name: str, version: int) -> VersionRecord:
        """Returns the deleted version, whose artifact is removed too."""
        require_role(caller, "trainer")
        record = self.store.delete_version(caller.tenant, name, version, actor=caller.actor)
        self.artifacts.delete(record.artifact_key)
        self.forget(caller.tenant, name)
        self.audit.record(caller, "model.delete_version", f"models/{name}/versions/{version}")
        return record

    def delete_model(self, caller: Caller, name: str) -> list[VersionRecord]:
        """Returns the versions deleted with the model (artifacts removed too)."""
        require_role(caller, "trainer")
        records = self.store.delete_model(caller.tenant, name, actor=caller.actor)
        for record in records:
            self.artifacts.delete(record.artifact_key)
        self.forget(caller.tenant, name)
        self.audit.record(
            caller, "model.delete", f"models/{name}", versions=[r.version for r in records]
        )
        return records

    def forget(self, tenant: str, name: str) -> None:
        """Drops what this process holds of the model (loaded versions, cached pointers)."""
        self.cache.forget(tenant, name)
        self.deployments.forget(tenant, name)
