"""Monitoring as use cases: feedback joined to predictions, live metrics, drift."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from vigil.errors import Conflict, InvalidInput
from vigil.jsonsafe import json_safe
from vigil.lifecycle.policy import parse_policy
from vigil.monitoring.drift import DriftSettings, dataset_drift
from vigil.monitoring.feedback import FeedbackStore
from vigil.monitoring.performance import version_performance
from vigil.registry.policies import PolicyStore
from vigil.registry.store import RegistryStore
from vigil.security import Caller, require_role
from vigil.serving.prediction_log import PredictionLog
from vigil.training.bundle import ModelBundle
from vigil.usecases.models import Models
from vigil.usecases.predictions import Predictions


class Monitoring:
    """How each version does in production: labels that arrive later, metrics, drift."""

    def __init__(
        self,
        store: RegistryStore,
        feedback: FeedbackStore,
        policies: PolicyStore,
        prediction_log: PredictionLog,
        models: Models,
        predictions: Predictions,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.feedback = feedback
        self.policies = policies
        self.prediction_log = prediction_log
        self.models = models
        self.predictions = predictions
        self.now = now

    def record_feedback(
        self, caller: Caller, name: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Returns how ground truth was joined to logged predictions (unknown ids reported).

        Sending the same feedback twice changes nothing; a corrected label
        replaces the earlier one.
        """
        require_role(caller, "predictor")
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
        chosen = self.models.resolve_version(caller, name, version)
        bundle = self.predictions.load_bundle(caller.tenant, name, chosen)
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

    def _classes(self, tenant: str, name: str, version: int | None) -> list[Any]:
        if version is None:
            return []
        return list(self.predictions.load_bundle(tenant, name, version).classes)


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
