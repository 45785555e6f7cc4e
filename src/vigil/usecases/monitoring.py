"""Monitoring as use cases: feedback joined to predictions, live metrics, drift."""

from __future__ import annotations

import math
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
        replaces the earlier one. A forecast model's actuals may come by
        ``series`` and ``timestamp`` instead of ``prediction_id``: they join
        every point forecast for that series and time, by any version.
        """
        require_role(caller, "predictor")
        self.store.get_model(caller.tenant, name)
        pairs: list[tuple[str, Any]] = []
        by_time: list[tuple[int, str | None, str, Any]] = []
        for index, item in enumerate(items):
            timed = (
                isinstance(item, dict)
                and item.get("prediction_id") is None
                and item.get("timestamp") is not None
            )
            if not timed and (
                not isinstance(item, dict) or not isinstance(item.get("prediction_id"), str)
            ):
                raise InvalidInput(
                    f"Feedback item {index} needs a prediction_id string "
                    "(or, for a forecast model, a timestamp and series).",
                    errors=[{"loc": ["items", index, "prediction_id"], "msg": "required string"}],
                )
            if "actual" not in item:
                raise InvalidInput(
                    f"Feedback item {index} needs an actual value.",
                    errors=[{"loc": ["items", index, "actual"], "msg": "required"}],
                )
            if timed:
                by_time.append((index, *_series_time(item, index), _actual_value(item, index)))
            else:
                pairs.append((item["prediction_id"], json_safe(item["actual"])))
        self.prediction_log.flush()
        unknown: list[str] = []
        if by_time:
            keys = {(series, timestamp) for _, series, timestamp, _ in by_time}
            ids = self.feedback.forecast_ids(caller.tenant, name, keys)
            for index, series, timestamp, actual in by_time:
                found = ids[(series, timestamp)]
                if series is None and len({s for _, s in found}) > 1:
                    raise InvalidInput(
                        f"Feedback item {index}: series is required, the model forecasts "
                        "several series.",
                        errors=[{"loc": ["items", index, "series"], "msg": "required"}],
                    )
                pairs.extend((prediction_id, actual) for prediction_id, _ in found)
                if not found:
                    unknown.append(timestamp if series is None else f"{series} at {timestamp}")
        outcome = self.feedback.record(caller.tenant, name, pairs).to_json()
        outcome["unknown"] = [*outcome["unknown"], *unknown]
        return outcome

    def actuals_from_table(
        self, caller: Caller, name: str, frame: pd.DataFrame
    ) -> list[dict[str, Any]]:
        """Returns by-time feedback items read from a table of a forecast model's actuals.

        The table holds newer points in the production version's training
        columns (its time, series and value columns), or in columns
        ``timestamp``, ``series`` and ``actual``. Raises InvalidInput naming the
        missing column, or when the model is not a forecast model.
        """
        model = self.store.get_model(caller.tenant, name)
        if model.task != "forecast" or model.production_version is None:
            raise InvalidInput(
                f"Feedback for {name} needs the columns prediction_id and actual "
                "(by series and timestamp only for forecast models)."
            )
        version = self.store.get_version(caller.tenant, name, model.production_version)
        settings = version.extra.get("forecast", {})
        trained = (settings.get("timestamp_column"), settings.get("series_column"))
        if "actual" in frame.columns:
            time_column, series_column, value = "timestamp", "series", "actual"
        else:
            (time_column, series_column), value = trained, settings.get("target")
        for column in (time_column, value):
            if column not in frame.columns:
                raise InvalidInput(
                    f"Actuals of {name} need the column {column!r} "
                    f"(columns are: {', '.join(map(str, frame.columns))})."
                )
        stamps = pd.to_datetime(frame[time_column], errors="coerce", format="mixed")
        series = frame[series_column] if series_column in frame.columns else None
        return [
            {
                "timestamp": stamp.isoformat() if not pd.isna(stamp) else str(raw),
                "series": None if series is None else str(series.iloc[i]),
                "actual": json_safe(actual),
            }
            for i, (stamp, raw, actual) in enumerate(
                zip(stamps, frame[time_column], frame[value], strict=True)
            )
        ]

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
        scales = self._scales(caller.tenant, name, model.task, {r.version for r in rows})
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
                            [r for r in rows if r.created_at >= since], model.task, classes, scales
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
        if bundle.task == "forecast":
            return self._forecast_drift(caller, name, chosen, bundle, rows)
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

    def _forecast_drift(
        self, caller: Caller, name: str, version: int, bundle: ModelBundle, rows: int
    ) -> dict[str, Any]:
        """Returns a forecast version's drift from the actuals of its recent points.

        ``rows`` counts actual points: each time is forecast by up to a
        horizon of requests, so that many logged points are read per actual.
        Raises Conflict when no actual has arrived yet (nothing to judge).
        """
        from vigil.monitoring.forecast_drift import forecast_drift
        from vigil.training.forecasting import ForecastBundle

        assert isinstance(bundle, ForecastBundle)  # task forecast is always one
        self.prediction_log.flush()
        logged = self.feedback.rows(
            caller.tenant, name, version=version, shadow=None, limit=rows * bundle.horizon
        )
        if not any(r.has_actual for r in logged):
            raise Conflict(
                f"Version {version} of {name} has no actuals yet: drift of a forecast model "
                "compares actuals with its training, so send them first (vigil feedback, "
                f"POST /v1/models/{name}/feedback with series, timestamp and actual)."
            )
        policy = parse_policy(self.policies.get(caller.tenant, name).document)
        report = forecast_drift(bundle, logged, DriftSettings(dataset_share=policy.drift_share))
        return {"model": name, "version": version, **report}

    def live_summary(
        self, caller: Caller, name: str, version: int, *, since: datetime
    ) -> dict[str, Any]:
        """Returns a version's predictions, feedback and live metrics since ``since``."""
        model = self.store.get_model(caller.tenant, name)
        self.prediction_log.flush()
        rows = self.feedback.rows(caller.tenant, name, since=since, version=version)
        classes = self._classes(caller.tenant, name, version)
        scales = self._scales(caller.tenant, name, model.task, {version})
        summary = version_performance(rows, model.task, classes, scales)
        return dict(summary.get(version, {"predictions": 0, "feedback": 0}))

    def feedback_count(self, caller: Caller, name: str, *, since: datetime | None) -> int:
        """Returns how many predictions of the model got feedback since ``since``."""
        return self.feedback.count_feedback(caller.tenant, name, since=since)

    def _scales(
        self, tenant: str, name: str, task: str, versions: set[int]
    ) -> dict[int, dict[str, float]]:
        """Returns each forecast version's per-series MASE scales (empty for other tasks)."""
        if task != "forecast":
            return {}
        return {
            v: dict(getattr(self.predictions.load_bundle(tenant, name, v), "scales", {}))
            for v in versions
        }

    def _classes(self, tenant: str, name: str, version: int | None) -> list[Any]:
        if version is None:
            return []
        return list(self.predictions.load_bundle(tenant, name, version).classes)


def _actual_value(item: dict[str, Any], index: int) -> float:
    """Returns a forecast's actual as a number, or raises InvalidInput naming the item."""
    actual = item["actual"]
    if isinstance(actual, bool) or not isinstance(actual, int | float) or not math.isfinite(actual):
        raise InvalidInput(
            f"Feedback item {index}: actual must be a finite number for a forecast, "
            f"got {actual!r}.",
            errors=[{"loc": ["items", index, "actual"], "msg": "must be a finite number"}],
        )
    return float(actual)


def _series_time(item: dict[str, Any], index: int) -> tuple[str | None, str]:
    """Returns a by-time feedback item's (series, timestamp) as forecasts write them.

    Raises InvalidInput naming the item's field when either is not readable.
    """
    series = item.get("series")
    if series is not None and not isinstance(series, str):
        raise InvalidInput(
            f"Feedback item {index}: series must be a string, got {series!r}.",
            errors=[{"loc": ["items", index, "series"], "msg": "must be a string"}],
        )
    raw = item.get("timestamp")
    try:
        if not isinstance(raw, str):
            raise ValueError
        timestamp = pd.Timestamp(raw)
        if pd.isna(timestamp):
            raise ValueError
        if timestamp.tzinfo is not None:
            timestamp = timestamp.tz_convert("UTC").tz_localize(None)
        # Written as forecasts write their times, so the two compare as text.
        return series, timestamp.strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, OverflowError, NotImplementedError):
        # pandas refuses some texts with errors other than ValueError (a year before 1).
        raise InvalidInput(
            f"Feedback item {index}: timestamp must be a time such as 2024-03-01T13:00:00, "
            f"got {raw!r}.",
            errors=[{"loc": ["items", index, "timestamp"], "msg": "must be a time"}],
        ) from None


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
