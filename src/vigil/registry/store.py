"""The registry store: models per tenant, immutable versions, deployments and their history.

Every public method runs in one managed session and returns the plain records
of :mod:`vigil.registry.entities`, never ORM rows. Methods that change a model
first lock its row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
``BEGIN IMMEDIATE`` of :mod:`vigil.registry.db` already admits one writer at a
time), so concurrent changes to one model apply one after the other and each
sees the result of the last. Constraint violations come back as domain errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import Conflict, InvalidInput, NotFound
from vigil.registry.db import for_reading
from vigil.registry.entities import DeploymentEvent, ModelRecord, NewVersion, VersionRecord
from vigil.registry.tables import DeploymentEventRow, ModelRow, ModelVersionRow
from vigil.training.metric_names import LOWER_IS_BETTER

__all__ = ["STRATEGIES", "RegistryStore"]

STRATEGIES = ("replace", "canary", "shadow")

# The history actions that move the production pointer.
_PRODUCTION_ACTIONS = ("deploy", "rollback")

# Two first versions of a new model race to create its row; the loser retries
# and finds the row. More attempts than that means something else is wrong.
_ADD_VERSION_ATTEMPTS = 5

# SQLSTATE of unique_violation on PostgreSQL; SQLite only says it in the message.
_UNIQUE_VIOLATION = "23505"


def _utc_now() -> datetime:
    """Returns the current time, aware, in UTC."""
    return datetime.now(UTC)


class RegistryStore:
    """Models, versions and deployments of every tenant, in one SQL database."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._now = now
        self._write_sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(for_reading(engine), expire_on_commit=False)

    # --- versions ---------------------------------------------------------------------

    def add_version(self, tenant: str, name: str, new: NewVersion) -> VersionRecord:
        """Returns the new version recorded for ``name``, creating the model if needed.

        The version number is one more than any the model has had (deleted
        ones included, so a number never means two different versions). The
        first version of a model becomes its production version.
        """
        _require_text("tenant", tenant)
        _require_text("model name", name)
        _require_text("task", new.task)
        _require_text("created_by", new.created_by)
        if new.artifact_size < 0:
            raise InvalidInput(f"artifact_size must be >= 0, got {new.artifact_size}.")
        last_error: IntegrityError | None = None
        for _attempt in range(_ADD_VERSION_ATTEMPTS):
            try:
                with self._write_sessions.begin() as session:
                    return self._add_version(session, tenant, name, new)
            except IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise _domain_error(exc) from exc
                last_error = exc
        raise Conflict(
            f"Model {name} is being changed by other requests at the same time; try again."
        ) from last_error

    def _add_version(
        self, session: Session, tenant: str, name: str, new: NewVersion
    ) -> VersionRecord:
        """Returns the version added in ``session`` (the caller commits)."""
        now = self._now()
        model = self._find_model(session, tenant, name, lock=True)
        if model is None:
            model = ModelRow(
                tenant=tenant,
                name=name,
                task=new.task,
                created_at=now,
                created_by=new.created_by,
                production_version=None,
                canary_version=None,
                canary_weight=0.0,
                shadow_versions=[],
            )
            session.add(model)
            session.flush()
        elif model.task != new.task:
            raise InvalidInput(
                f"Model {name} is a {model.task} model; a {new.task} version cannot be added to it."
            )
        row = ModelVersionRow(
            model_id=model.id,
            version=self._highest_version_ever(session, model.id) + 1,
            task=new.task,
            algorithm=new.algorithm,
            params=new.params,
            metrics=new.metrics,
            feature_schema=new.feature_schema,
            data_fingerprint=new.data_fingerprint,
            artifact_key=new.artifact_key,
            artifact_sha256=new.artifact_sha256,
            artifact_hmac=new.artifact_hmac,
            artifact_size=new.artifact_size,
            library_versions=new.library_versions,
            created_by=new.created_by,
            created_at=now,
            job_id=new.job_id,
            target=new.target,
            extra=new.extra,
        )
        session.add(row)
        if model.production_version is None:
            model.production_version = row.version
            self._record(
                session,
                model,
                "deploy",
                version=row.version,
                previous_version=None,
                actor=new.created_by,
                reason="first version",
                at=now,
            )
        session.flush()
        # Read back what was stored, so the caller sees exactly what later reads will.
        session.refresh(row)
        return _to_version_record(model, row)

    def list_versions(self, tenant: str, name: str) -> list[VersionRecord]:
        """Returns every version of the model, oldest first."""
        with self._read_sessions.begin() as session:
            model = self._require_model(session, tenant, name)
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version)
            ).all()
            return [_to_version_record(model, row) for row in rows]

    def get_version(self, tenant: str, name: str, version: int) -> VersionRecord:
        """Returns one version of the model; NotFound names the model and the version."""
        with self._read_sessions.begin() as session:
            model = self._require_model(session, tenant, name)
            return _to_version_record(model, self._require_version(session, model, version))

    def best_version(self, tenant: str, name: str, metric: str) -> VersionRecord:
        """Returns the version with the best value of ``metric`` (earliest on a tie).

        Error and cost metrics (:data:`LOWER_IS_BETTER`) are best lowest, all
        others highest. Versions without a numeric value of the metric are
        ignored; if none has one, InvalidInput lists the metrics there are.
        """
        with self._read_sessions.begin() as session:
            model = self._require_model(session, tenant, name)
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version)
            ).all()
            scored = [
                (float(row.metrics[metric]), row)
                for row in rows
                if _is_number(row.metrics.get(metric))
            ]
            if not scored:
                available = sorted(
                    {key for row in rows for key, value in row.metrics.items() if _is_number(value)}
                )
                raise InvalidInput(
                    f"No version of model {name} has the metric {metric!r}; "
                    f"available metrics: {', '.join(available) or 'none'}."
                )
            choose = min if metric in LOWER_IS_BETTER else max
            _, best = choose(scored, key=lambda pair: pair[0])
            return _to_version_record(model, best)

    def delete_version(self, tenant: str, name: str, version: int, *, actor: str) -> VersionRecord:
        """Returns the deleted version, so the caller can delete its artifact.

        A deployed version (production, canary or shadow) is refused with
        Conflict: production must be replaced first, the others undeployed.
        """
        _require_text("actor", actor)
        with self._writing() as session:
            model = self._require_model(session, tenant, name, lock=True)
            row = self._require_version(session, model, version)
            if model.production_version == version:
                raise Conflict(
                    f"Version {version} of model {name} is the production version; "
                    "deploy another version first."
                )
            if model.canary_version == version or version in model.shadow_versions:
                role = "canary" if model.canary_version == version else "a shadow version"
                raise Conflict(f"Version {version} of model {name} is {role}; undeploy it first.")
            record = _to_version_record(model, row)
            session.delete(row)
            self._record(
                session,
                model,
                "delete_version",
                version=version,
                previous_version=model.production_version,
                actor=actor,
            )
            return record

    def artifact_keys(self) -> set[str]:
        """Returns every artifact key any version of any tenant refers to."""
        with self._read_sessions.begin() as session:
            return set(session.scalars(select(ModelVersionRow.artifact_key)).all())

    # --- models -----------------------------------------------------------------------

    def get_model(self, tenant: str, name: str) -> ModelRecord:
        """Returns the model (another tenant's model is NotFound, as a missing one)."""
        with self._read_sessions.begin() as session:
            return self._model_record(session, self._require_model(session, tenant, name))

    def list_models(self, tenant: str) -> list[ModelRecord]:
        """Returns the tenant's models by name, each with its latest version number."""
        latest = (
            select(
                ModelVersionRow.model_id,
                func.max(ModelVersionRow.version).label("latest_version"),
            )
            .group_by(ModelVersionRow.model_id)
            .subquery()
        )
        with self._read_sessions.begin() as session:
            rows = session.execute(
                select(ModelRow, latest.c.latest_version)
                .outerjoin(latest, latest.c.model_id == ModelRow.id)
                .where(ModelRow.tenant == tenant)
                .order_by(ModelRow.name)
            ).all()
            return [_to_model_record(model, latest_version) for model, latest_version in rows]

    def delete_model(self, tenant: str, name: str, *, actor: str) -> list[VersionRecord]:
        """Returns the versions deleted with the model, oldest first; its history goes too."""
        _require_text("actor", actor)
        with self._writing() as session:
            model = self._require_model(session, tenant, name, lock=True)
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version)
            ).all()
            records = [_to_version_record(model, row) for row in rows]
            session.execute(
                delete(DeploymentEventRow).where(DeploymentEventRow.model_id == model.id)
            )
            session.execute(delete(ModelVersionRow).where(ModelVersionRow.model_id == model.id))
            session.delete(model)
            return records

    # --- deployments ------------------------------------------------------------------

    def deploy(
        self,
        tenant: str,
        name: str,
        version: int,
        *,
        strategy: str = "replace",
        weight: float | None = None,
        actor: str,
        reason: str = "",
    ) -> ModelRecord:
        """Returns the model after ``version`` was deployed as ``strategy`` says.

        - ``replace``: ``version`` becomes production (and stops being canary or shadow);
        - ``canary``: ``version`` receives ``weight`` percent of the traffic, in (0, 100];
        - ``shadow``: ``version`` also scores every request, its answers kept, not returned.

        A deployment that changes nothing (the version already holds that
        role) records nothing. Every real change is appended to the history.
        """
        _require_text("actor", actor)
        if strategy not in STRATEGIES:
            raise InvalidInput(
                f"Deployment strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}."
            )
        if strategy == "canary":
            weight = _canary_weight(weight)
        elif weight is not None:
            raise InvalidInput(f"A weight applies only to a canary deployment, not {strategy}.")
        with self._writing() as session:
            model = self._require_model(session, tenant, name, lock=True)
            self._require_version(session, model, version)
            previous = model.production_version
            if strategy == "replace":
                if previous == version:
                    return self._model_record(session, model)
                _make_production(model, version)
                action = "deploy"
            else:
                if previous == version:
                    raise Conflict(
                        f"Version {version} of model {name} is the production version; "
                        f"a {strategy} version must be another one."
                    )
                if strategy == "canary":
                    if model.canary_version == version and model.canary_weight == weight:
                        return self._model_record(session, model)
                    model.canary_version = version
                    model.canary_weight = weight or 0.0
                    model.shadow_versions = [v for v in model.shadow_versions if v != version]
                else:
                    if version in model.shadow_versions:
                        return self._model_record(session, model)
                    if model.canary_version == version:
                        _clear_canary(model)
                    model.shadow_versions = sorted([*model.shadow_versions, version])
                action = strategy
            self._record(
                session,
                model,
                action,
                version=version,
                previous_version=previous,
                weight=weight if strategy == "canary" else None,
                actor=actor,
                reason=reason,
            )
            return self._model_record(session, model)

    def undeploy(
        self, tenant: str, name: str, version: int, *, actor: str, reason: str = ""
    ) -> ModelRecord:
        """Returns the model after its canary or shadow ``version`` stopped receiving traffic.

        Production cannot be undeployed (deploy or roll back to another
        version instead), and a version that is not deployed is a Conflict.
        """
        _require_text("actor", actor)
        with self._writing() as session:
            model = self._require_model(session, tenant, name, lock=True)
            self._require_version(session, model, version)
            if model.canary_version == version:
                _clear_canary(model)
            elif version in model.shadow_versions:
                model.shadow_versions = [v for v in model.shadow_versions if v != version]
            elif model.production_version == version:
                raise Conflict(
                    f"Version {version} of model {name} is the production version; "
                    "deploy or roll back to another version instead."
                )
            else:
                raise Conflict(
                    f"Version {version} of model {name} is neither canary nor shadow; "
                    "there is nothing to undeploy."
                )
            self._record(
                session,
                model,
                "undeploy",
                version=version,
                previous_version=model.production_version,
                actor=actor,
                reason=reason,
            )
            return self._model_record(session, model)

    def rollback(
        self,
        tenant: str,
        name: str,
        *,
        to_version: int | None = None,
        from_version: int | None = None,
        actor: str,
        reason: str = "",
    ) -> ModelRecord:
        """Returns the model after production moved back to an earlier version.

        Without ``to_version`` the target is the production version before the
        current one, read from the history as a stack: a deployment pushes its
        version, a rollback pops back to its target, so rolling back twice
        goes back two deployments (never forth again) and versions deleted
        since are skipped. Conflict when there is no earlier version.

        ``from_version`` makes it a compare-and-set: Conflict unless that
        version is still production. A decision to roll back is made on the
        version that was judged; if another process deployed a new one since,
        rolling back would undo that one instead.
        """
        _require_text("actor", actor)
        with self._writing() as session:
            model = self._require_model(session, tenant, name, lock=True)
            if from_version is not None and model.production_version != from_version:
                raise Conflict(
                    f"Production of model {name} is no longer version {from_version} "
                    f"(it is {model.production_version}); nothing was rolled back."
                )
            if to_version is None:
                target = self._previous_production(session, model)
            else:
                target = self._require_version(session, model, to_version).version
            previous = model.production_version
            if target == previous:
                return self._model_record(session, model)
            _make_production(model, target)
            self._record(
                session,
                model,
                "rollback",
                version=target,
                previous_version=previous,
                actor=actor,
                reason=reason,
            )
            return self._model_record(session, model)

    def previous_production(self, tenant: str, name: str) -> int | None:
        """Returns the version a rollback without a target would go back to, or None.

        The one definition of "previous production": the automatic rollback
        judges the same version it would roll back to.
        """
        with self._read_sessions.begin() as session:
            model = self._require_model(session, tenant, name)
            try:
                return self._previous_production(session, model)
            except Conflict:
                return None

    def history(self, tenant: str, name: str) -> list[DeploymentEvent]:
        """Returns every deployment change of the model, oldest first."""
        with self._read_sessions.begin() as session:
            model = self._require_model(session, tenant, name)
            rows = session.scalars(
                select(DeploymentEventRow)
                .where(DeploymentEventRow.model_id == model.id)
                .order_by(DeploymentEventRow.id)
            ).all()
            return [_to_event(model, row) for row in rows]

    # --- helpers ----------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """Yields a session in a write transaction; commits, or turns IntegrityError into ours."""
        try:
            with self._write_sessions.begin() as session:
                yield session
        except IntegrityError as exc:
            raise _domain_error(exc) from exc

    def _find_model(
        self, session: Session, tenant: str, name: str, *, lock: bool = False
    ) -> ModelRow | None:
        """Returns the model row, locked against concurrent writers if ``lock``, or None."""
        query = select(ModelRow).where(ModelRow.tenant == tenant, ModelRow.name == name)
        if lock:
            query = query.with_for_update()
        return session.scalars(query).one_or_none()

    def _require_model(
        self, session: Session, tenant: str, name: str, *, lock: bool = False
    ) -> ModelRow:
        """Returns the model row; NotFound names the model."""
        model = self._find_model(session, tenant, name, lock=lock)
        if model is None:
            raise NotFound(f"Model {name} does not exist.")
        return model

    def _require_version(self, session: Session, model: ModelRow, version: int) -> ModelVersionRow:
        """Returns the version row; NotFound names the model and the version."""
        row = session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.model_id == model.id, ModelVersionRow.version == version
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"Model {model.name} has no version {version}.")
        return row

    def _highest_version_ever(self, session: Session, model_id: int) -> int:
        """Returns the highest version number the model has had, deleted ones included (or 0)."""
        existing = session.scalar(
            select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model_id)
        )
        deleted = session.scalar(
            select(func.max(DeploymentEventRow.version)).where(
                DeploymentEventRow.model_id == model_id,
                DeploymentEventRow.action == "delete_version",
            )
        )
        return max(existing or 0, deleted or 0)

    def _previous_production(self, session: Session, model: ModelRow) -> int:
        """Returns the production version that preceded the current one; Conflict if none."""
        events = session.scalars(
            select(DeploymentEventRow)
            .where(
                DeploymentEventRow.model_id == model.id,
                DeploymentEventRow.action.in_(_PRODUCTION_ACTIONS),
            )
            .order_by(DeploymentEventRow.id)
        ).all()
        stack: list[int] = []
        for event in events:
            if event.version is None:
                continue
            if event.action == "rollback" and event.version in stack:
                last = len(stack) - 1 - stack[::-1].index(event.version)
                del stack[last + 1 :]
            else:
                stack.append(event.version)
        existing = set(
            session.scalars(
                select(ModelVersionRow.version).where(ModelVersionRow.model_id == model.id)
            ).all()
        )
        earlier = [version for version in stack if version in existing]
        while earlier and earlier[-1] == model.production_version:
            earlier.pop()
        if not earlier:
            raise Conflict(
                f"Model {model.name} has no earlier production version to roll back to; "
                "name the version to roll back to."
            )
        return earlier[-1]

    def _record(
        self,
        session: Session,
        model: ModelRow,
        action: str,
        *,
        version: int | None,
        previous_version: int | None,
        actor: str,
        reason: str = "",
        weight: float | None = None,
        at: datetime | None = None,
    ) -> None:
        """Appends one event to the model's deployment history."""
        session.add(
            DeploymentEventRow(
                model_id=model.id,
                action=action,
                version=version,
                previous_version=previous_version,
                weight=weight,
                actor=actor,
                reason=reason,
                created_at=at or self._now(),
            )
        )

    def _model_record(self, session: Session, model: ModelRow) -> ModelRecord:
        """Returns the record of ``model`` with its latest version number."""
        session.flush()
        latest = session.scalar(
            select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model.id)
        )
        return _to_model_record(model, latest)


def _require_text(what: str, value: str) -> None:
    """Refuses an empty or blank identifier."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The {what} must be a non-empty string, got {value!r}.")


def _canary_weight(weight: float | None) -> float:
    """Returns the canary weight as a float percentage in (0, 100]; InvalidInput otherwise."""
    if weight is None:
        raise InvalidInput("A canary deployment needs a weight: the percent of traffic, 0-100.")
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise InvalidInput(f"The canary weight must be a number, got {weight!r}.")
    if not (math.isfinite(weight) and 0 < weight <= 100):
        raise InvalidInput(
            f"The canary weight is a percent of traffic in (0, 100], got {weight!r}."
        )
    return float(weight)


def _is_number(value: Any) -> bool:
    """Returns whether ``value`` is a finite int or float (bools are not metrics)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _make_production(model: ModelRow, version: int) -> None:
    """Points production at ``version``, which stops being the canary or a shadow."""
    model.production_version = version
    if model.canary_version == version:
        _clear_canary(model)
    if version in model.shadow_versions:
        # A new list: the ORM does not see changes made inside a JSON value.
        model.shadow_versions = [v for v in model.shadow_versions if v != version]


def _clear_canary(model: ModelRow) -> None:
    """Removes the canary: all traffic goes to production again."""
    model.canary_version = None
    model.canary_weight = 0.0


def _is_unique_violation(exc: IntegrityError) -> bool:
    """Returns whether ``exc`` is a duplicate key (a race with another writer)."""
    if getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
        return True
    return "UNIQUE constraint failed" in str(exc.orig)


def _domain_error(exc: IntegrityError) -> Conflict | InvalidInput:
    """Returns the domain error for a constraint the database refused."""
    detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "constraint"
    if _is_unique_violation(exc):
        return Conflict(f"The registry already holds that record ({detail}).")
    return InvalidInput(f"The registry refused the change ({detail}).")


def _to_model_record(model: ModelRow, latest_version: int | None) -> ModelRecord:
    """Returns the plain record of a model row."""
    return ModelRecord(
        id=model.id,
        tenant=model.tenant,
        name=model.name,
        task=model.task,
        created_at=model.created_at,
        created_by=model.created_by,
        production_version=model.production_version,
        canary_version=model.canary_version,
        canary_weight=model.canary_weight,
        shadow_versions=tuple(sorted(model.shadow_versions)),
        latest_version=latest_version,
    )


def _to_version_record(model: ModelRow, row: ModelVersionRow) -> VersionRecord:
    """Returns the plain record of a version row."""
    return VersionRecord(
        model_name=model.name,
        tenant=model.tenant,
        version=row.version,
        task=row.task,
        algorithm=row.algorithm,
        params=row.params,
        metrics=row.metrics,
        feature_schema=row.feature_schema,
        data_fingerprint=row.data_fingerprint,
        artifact_key=row.artifact_key,
        artifact_sha256=row.artifact_sha256,
        artifact_hmac=row.artifact_hmac,
        artifact_size=row.artifact_size,
        library_versions=row.library_versions,
        created_by=row.created_by,
        created_at=row.created_at,
        job_id=row.job_id,
        target=row.target,
        extra=row.extra,
    )


def _to_event(model: ModelRow, row: DeploymentEventRow) -> DeploymentEvent:
    """Returns the plain record of a deployment event row."""
    return DeploymentEvent(
        id=row.id,
        model_name=model.name,
        action=row.action,
        version=row.version,
        previous_version=row.previous_version,
        weight=row.weight,
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
    )
