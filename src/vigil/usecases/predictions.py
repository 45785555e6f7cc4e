"""Predictions as use cases: route, score, log; batch files; evaluation on labelled data.

The request path is kept short: the deployment pointers come from a view
cached for a second, the model from the cache (a version not loaded yet loads
in the background while the last served one answers), and the answers go to
the prediction log's buffer. Shadow versions score the same rows on a
background thread and are logged, never returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from vigil.features.parsers import ParseReport
from vigil.ids import uuid7
from vigil.security import Caller, require_role
from vigil.serving.answers import log_answers
from vigil.serving.batch import CHUNK_ROWS as BATCH_CHUNK_ROWS
from vigil.serving.batch import score_file
from vigil.serving.deployments import DeploymentView
from vigil.serving.forecasts import ForecastRequest, forecast_inputs, forecast_points
from vigil.serving.loaded import LoadedModel, PredictInput
from vigil.serving.model_cache import ModelCache, WouldBlock
from vigil.serving.prediction_log import PredictionLog
from vigil.serving.routing import choose_version
from vigil.training.bundle import ModelBundle
from vigil.training.trainer import Progress, anomaly_labels, evaluate_bundle
from vigil.usecases.models import Models

log = logging.getLogger("vigil.predictions")

# The most rows ``predict(block=False)`` answers: about 10 µs each on the compiled
# path, so an event loop calling it is held well under a millisecond.
INLINE_MAX_ROWS = 32


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


class Predictions:
    """Answers from deployed (or named) versions, each logged for monitoring."""

    def __init__(
        self,
        models: Models,
        cache: ModelCache,
        deployments: DeploymentView,
        prediction_log: PredictionLog,
        now: Callable[[], datetime],
    ) -> None:
        self.models = models
        self.cache = cache
        self.deployments = deployments
        self.prediction_log = prediction_log
        self.now = now
        self._shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-shadow")
        self.shadow_errors = 0

    def load_bundle(self, tenant: str, name: str, version: int) -> ModelBundle:
        """Returns the version's bundle from the cache, loading (and verifying) it if needed."""
        loaded: LoadedModel = self.cache.get(tenant, name, version)
        return loaded.bundle

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
        require_role(caller, "predictor")
        started = time.perf_counter()
        shadows: tuple[int, ...] = ()
        loaded: LoadedModel
        if not block:
            chosen, loaded, shadows = self._serve_without_waiting(
                caller.tenant, name, frame, version, explain, routing_key
            )
        else:
            chosen, loaded, shadows = self._route(caller, name, version, routing_key)
        batch = loaded.predict(frame, explain=explain)
        outputs = batch.outputs
        latency_us = (time.perf_counter() - started) * 1e6 / max(len(outputs), 1)
        predictions = [{"id": uuid7(), "version": chosen, **out} for out in outputs]
        self._log(caller.tenant, name, frame, predictions, latency_us, routing_key)
        for shadow in shadows:
            self._shadow_pool.submit(
                self._score_shadow, caller.tenant, name, shadow, frame, routing_key
            )
        return PredictResult(name, chosen, predictions, batch.parse_report)

    def _route(
        self, caller: Caller, name: str, version: int | None, routing_key: str | None
    ) -> tuple[int, LoadedModel, tuple[int, ...]]:
        """Returns (version, model, shadows): the named version, else as the deployment routes."""
        if version is not None:
            self.models.get_version(caller, name, version)
            return version, self.cache.get(caller.tenant, name, version), ()
        model = self.deployments.get(caller.tenant, name)
        chosen, loaded = self.cache.serve(caller.tenant, name, choose_version(model, routing_key))
        return chosen, loaded, tuple(v for v in model.shadow_versions if v != chosen)

    def forecast(
        self,
        caller: Caller,
        name: str,
        request: ForecastRequest,
        *,
        version: int | None = None,
        routing_key: str | None = None,
    ) -> PredictResult:
        """Returns a forecast model's points (series, timestamp, forecast, intervals), logged.

        Routed as any prediction (the named version, else production or the
        canary for its share; shadows forecast the same request in the
        background). Each point is logged with its series and timestamp, so
        actuals sent later by series and timestamp find it.
        """
        require_role(caller, "predictor")
        started = time.perf_counter()
        chosen, loaded, shadows = self._route(caller, name, version, routing_key)
        points = forecast_points(loaded.bundle, request)
        latency_us = (time.perf_counter() - started) * 1e6 / max(len(points), 1)
        predictions = [{"id": uuid7(), "version": chosen, **point} for point in points]
        self._log(caller.tenant, name, forecast_inputs(predictions), predictions, latency_us, None)
        for shadow in shadows:
            self._shadow_pool.submit(self._forecast_shadow, caller.tenant, name, shadow, request)
        return PredictResult(name, chosen, predictions)

    def _forecast_shadow(
        self, tenant: str, name: str, version: int, request: ForecastRequest
    ) -> None:
        """Forecasts with a shadow version and logs its points (errors counted, never raised)."""
        try:
            started = time.perf_counter()
            loaded: LoadedModel = self.cache.get(tenant, name, version)
            points = forecast_points(loaded.bundle, request)
            latency_us = (time.perf_counter() - started) * 1e6 / max(len(points), 1)
            predictions = [{"id": uuid7(), "version": version, **p} for p in points]
            inputs = forecast_inputs(predictions)
            self._log(tenant, name, inputs, predictions, latency_us, None, shadow=True)
        except Exception:  # a failing shadow must never affect production traffic
            self.shadow_errors += 1
            log.exception("shadow version %d of %s failed", version, name)

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
        chosen, loaded = self.cache.serve(
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
            loaded: LoadedModel = self.cache.get(tenant, name, version)
            outputs = loaded.predict(frame).outputs
            latency_us = (time.perf_counter() - started) * 1e6 / max(len(outputs), 1)
            predictions = [{"id": uuid7(), "version": version, **out} for out in outputs]
            self._log(tenant, name, frame, predictions, latency_us, routing_key, shadow=True)
        except Exception:  # a failing shadow must never affect production traffic
            self.shadow_errors += 1
            log.exception("shadow version %d of %s failed", version, name)

    def _log(
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
        log_answers(
            self.prediction_log,
            tenant=tenant,
            name=name,
            data=frame,
            predictions=predictions,
            latency_us=latency_us,
            routing_key=routing_key,
            created_at=self.now(),
            shadow=shadow,
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
        require_role(caller, "predictor")
        chosen = self.models.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        # An online model scores the file as one stream: each chunk from the state the
        # previous chunk left, so the answers are those of the whole file at once.
        state = bundle.initial_state() if getattr(bundle, "online", None) is not None else None

        def score(chunk: pd.DataFrame) -> list[dict[str, Any]]:
            nonlocal state
            if state is not None:
                started = time.perf_counter()
                outputs, state = bundle.score_in_order(chunk, state, explain=explain)
                answers = [{"id": uuid7(), "version": chosen, **out} for out in outputs]
                if log:
                    latency_us = (time.perf_counter() - started) * 1e6 / max(len(answers), 1)
                    self._log(caller.tenant, name, chunk, answers, latency_us, None)
                return answers
            if log:
                answered = self.predict(caller, name, chunk, version=chosen, explain=explain)
                return answered.predictions
            loaded: LoadedModel = self.cache.get(caller.tenant, name, chosen)
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
        require_role(caller, "predictor")
        chosen = self.models.resolve_version(caller, name, version)
        bundle = self.load_bundle(caller.tenant, name, chosen)
        X, y = bundle.labelled(frame, target)
        if bundle.task == "anomaly":
            y = pd.Series(anomaly_labels(y))
        metrics = evaluate_bundle(bundle, X, y)
        return {"model": name, "version": chosen, "rows": len(X), "metrics": metrics}

    def close(self) -> None:
        """Waits for the shadow scoring in flight, then stops its thread."""
        self._shadow_pool.shutdown(wait=True)
