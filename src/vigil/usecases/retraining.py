"""Retraining as a use case: a challenger trained on the champion's data plus what
production has learned since, compared with the champion on the same rows, and
promoted only if it beats it by the policy's margin."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from vigil.data.loading import Dataset
from vigil.errors import Conflict, InvalidInput
from vigil.jsonsafe import json_safe
from vigil.lifecycle.retraining import RetrainingData, retraining_data
from vigil.monitoring.feedback import FeedbackStore
from vigil.registry.jobs import JobRecord
from vigil.registry.signing import sha256_hex
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.serving.prediction_log import PredictionLog
from vigil.training.metric_names import LOWER_IS_BETTER
from vigil.training.request import train_spec_from_request
from vigil.training.trainer import anomaly_labels, evaluate_bundle
from vigil.usecases.alerts import Alerts
from vigil.usecases.datasets import Datasets, table_bytes
from vigil.usecases.jobs import Beat, Jobs
from vigil.usecases.models import Models
from vigil.usecases.policies import Policies
from vigil.usecases.predictions import Predictions
from vigil.usecases.training import Training, TrainResult

log = logging.getLogger("vigil.retraining")

# Retraining reads at most this many recent predictions.
MAX_RECENT_ROWS = 50_000


def verdict(
    scores: tuple[float | None, float | None], metric: str, margin: float
) -> tuple[bool, str]:
    """Returns whether the challenger beats the champion by ``margin``, and the reason.

    >>> verdict((0.80, 0.86), "f1", 0.02)[0], verdict((0.10, 0.12), "rmse", 0.0)[0]
    (True, False)
    """
    champion, challenger = scores
    if champion is None or challenger is None:
        return False, f"no {metric} for both on labelled evaluation data, so no promotion"
    gain = champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
    better = gain > margin
    return better, (
        f"challenger {metric} {challenger:.4f} vs champion {champion:.4f} on the same "
        f"evaluation data ({'beats' if better else 'does not beat'} it by more than {margin:g})"
    )


class Retraining:
    """Challengers against the champion, by hand, on a schedule or on a trigger."""

    def __init__(
        self,
        store: RegistryStore,
        feedback: FeedbackStore,
        prediction_log: PredictionLog,
        datasets: Datasets,
        training: Training,
        models: Models,
        predictions: Predictions,
        policies: Policies,
        alerts: Alerts,
        jobs: Jobs,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.feedback = feedback
        self.prediction_log = prediction_log
        self.datasets = datasets
        self.training = training
        self.models = models
        self.predictions = predictions
        self.policies = policies
        self.alerts = alerts
        self.jobs = jobs
        self.now = now

    def submit_retraining(
        self, caller: Caller, name: str, *, reason: str = "requested"
    ) -> dict[str, Any]:
        """Returns the queued retraining job of the model (the one already waiting, if any)."""
        require_role(caller, "trainer")
        model = self.store.get_model(caller.tenant, name)
        if model.production_version is None:
            raise Conflict(f"Model {name} has no production version to retrain.")
        waiting = self.jobs.find_waiting(caller, "retrain", name)
        if waiting is not None:
            return waiting
        payload = {"model": name, "reason": reason}
        return self.jobs.submit(caller, "retrain", payload, model=name, reason=reason)

    def run_job(self, job: JobRecord, beat: Beat) -> dict[str, Any]:
        """Returns the result of a queued retraining job, run on a worker."""
        caller = Caller(tenant=job.tenant, actor=job.created_by, role="trainer")
        return self.retrain(
            caller,
            job.payload["model"],
            reason=str(job.payload.get("reason", "")),
            job_id=job.id,
            progress=beat,
        )

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
        require_role(caller, "trainer")
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
        record, policy = self.policies.read_policy(caller, name)
        metric = self.policies.policy_metric(model.task, policy)
        step(0.02, "loading the champion's training data")
        original = self.datasets.load_stored_dataset(caller.tenant, dataset_id).frame
        self.prediction_log.flush()
        started = self.now()
        # The feedback read now is learned from, whoever asked for this retraining: the
        # policy's feedback count (and its cooldown) start again from here.
        self.policies.mark_retrained(record, started)
        recent = self.feedback.rows(
            caller.tenant,
            name,
            since=started - timedelta(days=policy.recent_days),
            limit=MAX_RECENT_ROWS,
        )
        forecast = model.task == "forecast"
        if forecast:
            # A forecaster learns the actuals that arrived since as newer points of its series.
            from vigil.training.forecasting import with_actuals

            frame, challenger_spec = with_actuals(original, champion.extra, recent), spec
            summary = {"original_rows": len(original), "rows": len(frame)}
        else:
            data = retraining_data(original, spec, model.task, recent)
            frame, challenger_spec = data.train, dataclasses.replace(spec, holdout_rows=0)
            if spec.target is not None and data.evaluation is not None:
                # The challenger holds out exactly the shared evaluation rows (last in its
                # data), so it learns from everything else and its own metrics are on them.
                frame = pd.concat([data.train, data.evaluation], ignore_index=True)
                challenger_spec = dataclasses.replace(spec, holdout_rows=len(data.evaluation))
            summary = data.summary()
        payload, fmt = table_bytes(frame)
        dataset = Dataset(
            frame, sha256_hex(payload), fmt, f"retraining of {name} v{champion.version}"
        )
        trained = self.training.train(
            caller,
            name,
            dataset,
            challenger_spec,
            job_id=job_id,
            progress=lambda fraction, message: step(0.05 + 0.8 * fraction, message),
        )
        challenger = trained.version.version
        step(0.9, "comparing the challenger with the champion")
        if forecast:
            scores = self._compare_backtests(caller.tenant, name, champion.version, trained, metric)
        else:
            scores = self._compare(
                caller.tenant, name, (champion.version, challenger), data, metric
            )
        promoted, why_not = verdict(scores, metric, policy.promotion.margin)
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
            "verdict": why_not,
            "data": summary,
        }
        why = f"retrained ({reason}): {why_not}"
        if promoted and policy.canary.steps and policy.canary.steps[0] < 100:
            weight = policy.canary.steps[0]
            self.models.deploy(
                caller, name, challenger, strategy="canary", weight=weight, reason=why
            )
            result["deployment"] = f"canary {weight:g}%"
        elif promoted:
            self.models.deploy(caller, name, challenger, reason=why)
            result["deployment"] = "production"
        self.alerts.raise_alert(
            caller,
            name,
            kind="promoted" if promoted else "retrained",
            severity="info",
            message=f"v{challenger} {'promoted' if promoted else 'not promoted'}: {why}",
            version=challenger,
            details={k: v for k, v in result.items() if k != "data"},
        )
        return dict(json_safe(result))

    def _compare_backtests(
        self, tenant: str, name: str, champion: int, trained: TrainResult, metric: str
    ) -> tuple[float | None, float | None]:
        """Returns champion and challenger ``metric`` on the challenger's backtest windows.

        The champion's algorithm and parameters are backtested on the same
        data, horizon and windows as the challenger was.
        """
        from vigil.training.forecasting import champion_backtest

        bundle = self.predictions.load_bundle(tenant, name, champion)
        before = champion_backtest(bundle, trained.outcome).get(metric)
        after = trained.version.metrics.get(metric)
        return _number(before), _number(after)

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
            bundle = self.predictions.load_bundle(tenant, name, version)
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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
