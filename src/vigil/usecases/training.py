"""Training as use cases: a run becomes an immutable version, optionally deployed.

The artifact is written and verified before the version row is committed,
and removed if the row cannot be written, so a version never lacks its
artifact and a failed run leaves nothing behind (a crash in between leaves an
orphan that the next run sweeps).
"""

from __future__ import annotations

import io
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import pandas as pd

from vigil import __version__
from vigil.algorithms.catalogue import get_algorithm
from vigil.config import Settings
from vigil.data.limits import check_cells, check_columns
from vigil.data.loading import Dataset
from vigil.errors import InvalidInput, NotFound, UsageError
from vigil.features.parsers import ParseReport
from vigil.ids import uuid7
from vigil.registry.artifacts import ArtifactStore
from vigil.registry.entities import ModelRecord, NewVersion, VersionRecord
from vigil.registry.jobs import JobRecord
from vigil.registry.signing import write_verified
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.training.bundle import ModelBundle
from vigil.training.metric_names import LOWER_IS_BETTER, PRIMARY_METRIC
from vigil.training.request import (
    DEPLOY_CHOICES,
    parse_train_request,
    spec_to_json,
    train_spec_from_request,
)
from vigil.training.trainer import (
    Progress,
    TrainOutcome,
    TrainSpec,
    anomaly_labels,
    evaluate_bundle,
    train_model,
)
from vigil.usecases.audit import Audit
from vigil.usecases.datasets import Datasets
from vigil.usecases.jobs import Beat, Jobs
from vigil.usecases.models import Models, check_model_name
from vigil.usecases.predictions import Predictions

# An artifact with no version row older than this was left by a crash, not by a
# training run that is about to commit its row.
ORPHAN_GRACE = timedelta(hours=1)
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "xgboost", "lightgbm", "joblib")


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
            # Columns left out of the features, each with why (asked, a label, an id).
            "excluded": dict(self.outcome.excluded),
            **extraction_json(self.outcome.bundle, self.outcome.parse_report),
            # A forecast's settings and per-series backtest metrics.
            **self.outcome.extra,
        }


def extraction_json(bundle: ModelBundle, report: ParseReport | None) -> dict[str, Any]:
    """Returns the feature kind and options of an extracted-features model, and its parse report."""
    document: dict[str, Any] = {}
    if bundle.extractor is not None:
        document["features"] = bundle.extractor.describe()
    if report is not None:
        document["parse"] = report.to_json()
    return document


def library_versions() -> dict[str, str]:
    """Returns the versions of Python, Vigil and the libraries a model depends on."""
    found = {"python": platform.python_version(), "vigil": __version__}
    for name in _LIBRARIES:
        try:
            found[name] = package_version(name)
        except PackageNotFoundError:
            continue
    return found


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
        outcome = fit_model(dataset.frame, replace(spec, algorithm=name))
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


def fit_model(
    frame: pd.DataFrame, spec: TrainSpec, progress: Progress = lambda f, m: None
) -> TrainOutcome:
    """Returns the trained outcome: a forecaster for task forecast, else ``train_model``'s."""
    if spec.task == "forecast":
        # statsforecast (numba) loads only when a forecast is trained.
        from vigil.training.forecasting import train_forecast

        return train_forecast(frame, spec, progress)
    return train_model(frame, spec, progress)


def check_deploy(deploy: Any) -> str:
    """Returns ``deploy`` if it is one of never, always, if_better; else raises naming them."""
    if deploy not in DEPLOY_CHOICES:
        raise InvalidInput(
            f"deploy must be one of {', '.join(DEPLOY_CHOICES)}, got {deploy!r}.",
            errors=[{"loc": ["deploy"], "msg": "invalid choice"}],
        )
    return str(deploy)


def _dump_bundle(bundle: ModelBundle) -> bytes:
    """Returns the pickled bundle; compressed because trees and TF-IDF vocabularies are large."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    return buffer.getvalue()


class Training:
    """Training runs, by hand (CLI), as jobs (REST), and what happens to the version after."""

    def __init__(
        self,
        settings: Settings,
        store: RegistryStore,
        artifacts: ArtifactStore,
        datasets: Datasets,
        models: Models,
        predictions: Predictions,
        jobs: Jobs,
        audit: Audit,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.datasets = datasets
        self.models = models
        self.predictions = predictions
        self.jobs = jobs
        self.audit = audit
        self.now = now

    def submit_training(self, caller: Caller, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """Returns the queued training job for ``name`` described by a train request body.

        The data reference is checked now (a dataset that exists, rows stored
        as a dataset, an allow-listed public URL, a configured SQL query), so a
        bad request fails at once instead of as a failed job.
        """
        require_role(caller, "trainer")
        check_model_name(name)
        # One validation of the whole request: deploy is one of its fields.
        parsed = parse_train_request(request)
        data = self.datasets.resolve_source(caller, request.get("data"))
        spec = spec_to_json(parsed.to_spec())
        payload = {"model": name, "data": data, "spec": spec, "deploy": parsed.deploy}
        return self.jobs.submit(caller, "train", payload, model=name)

    def run_job(self, job: JobRecord, beat: Beat) -> dict[str, Any]:
        """Returns the result of a queued training job, run on a worker."""
        payload = job.payload
        caller = Caller(tenant=job.tenant, actor=job.created_by, role="trainer")
        beat(0.01, "loading data")
        dataset = self.datasets.materialise(job.tenant, job.created_by, payload["data"])
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
        """Returns the new version trained on ``dataset``; deploys it as ``deploy`` says."""
        require_role(caller, "trainer")
        check_model_name(name)
        check_deploy(deploy)
        self._check_task_matches(caller, name, spec)
        self.sweep_orphans(caller.tenant)
        rows, columns = dataset.frame.shape
        check_columns(columns, self.settings.max_columns, dataset.source)
        check_cells(rows, columns, self.settings.max_cells, dataset.source)
        outcome = fit_model(dataset.frame, spec, progress or (lambda f, m: None))
        outcome.bundle.reference = outcome.reference
        dataset_id = self.datasets.keep_training_data(caller, dataset)
        key = f"{caller.tenant}/models/{name}/{uuid7()}.vigil"
        stored = write_verified(
            self.artifacts, key, _dump_bundle(outcome.bundle), self.settings.secret_key
        )
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
                "excluded": dict(outcome.excluded),
                **extraction_json(outcome.bundle, outcome.parse_report),
                **outcome.extra,
            },
        )
        try:
            record = self.store.add_version(caller.tenant, name, new)
        except BaseException:
            self.artifacts.delete(stored.key)
            raise
        self.audit.record(
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
            self.models.deploy(caller, name, record.version, reason="deployed after training")
            return True, "requested"
        better, why = self._beats_production(caller, name, model, outcome)
        if better:
            self.models.deploy(
                caller, name, record.version, reason=f"deployed after training: {why}"
            )
        return better, why

    def _beats_production(
        self, caller: Caller, name: str, model: ModelRecord, outcome: TrainOutcome
    ) -> tuple[bool, str]:
        """Returns whether the new model beats production on the new model's own test data."""
        metric = PRIMARY_METRIC[outcome.task]
        challenger = outcome.metrics.get(metric)
        if challenger is None or model.production_version is None:
            return False, f"no {metric} to compare"
        champion_bundle = self.predictions.load_bundle(
            caller.tenant, name, model.production_version
        )
        if outcome.task == "forecast":
            from vigil.training.forecasting import champion_backtest

            # The champion's algorithm and parameters, backtested on the same windows.
            champion = champion_backtest(champion_bundle, outcome).get(metric)
            return _verdict(metric, challenger, champion, model.production_version, "windows")
        if outcome.X_test is None:
            return False, "no held-out data to compare on"
        try:
            if outcome.test_frame is not None or champion_bundle.extractor is not None:
                challenger, champion = _scores_on_raw_test(outcome, champion_bundle, metric)
            else:
                X = champion_bundle.prepare(outcome.X_test)
                champion = evaluate_bundle(champion_bundle, X, outcome.y_test).get(metric)
        except InvalidInput as exc:
            return True, f"production cannot score the new test data ({exc.message})"
        return _verdict(metric, challenger, champion, model.production_version, "test data")

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


def _verdict(
    metric: str, challenger: Any, champion: Any, production: int, data: str
) -> tuple[bool, str]:
    """Returns whether the challenger's ``metric`` beats production's on the same ``data``."""
    if champion is None:
        return True, f"production has no {metric} on the same {data}"
    lower = metric in LOWER_IS_BETTER
    better = challenger < champion if lower else challenger > champion
    verdict = "beats" if better else "does not beat"
    return better, (
        f"{metric} {challenger:.4f} {verdict} production v{production} "
        f"({champion:.4f}) on the same {data}"
    )


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
