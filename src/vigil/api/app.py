"""The FastAPI application: routers, error handlers, middleware and the service's lifetime.

``create_app()`` with no arguments builds everything from the environment;
``vigil serve`` hands uvicorn the import string ``vigil.api.app:create_app``
with ``factory=True`` so that each worker process builds its own app.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vigil import __version__
from vigil.api.logs import ensure_json_logging
from vigil.api.metrics import ApiMetrics
from vigil.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from vigil.api.openapi import openapi_builder
from vigil.api.problems import install_problem_handlers
from vigil.api.ratelimit import Clock, RateLimiter
from vigil.api.responses import OrjsonResponse
from vigil.api.routes import (
    alerts,
    algorithms,
    audit,
    datasets,
    events,
    health,
    jobs,
    keys,
    models,
    monitoring,
    policies,
    predictions,
)
from vigil.api.routes.metrics import metrics_router
from vigil.api.settings import ApiSettings
from vigil.config import Settings
from vigil.service import VigilService

DESCRIPTION = (
    "Train, version, serve and watch machine-learning models. Send an API key as "
    "`Authorization: Bearer KEY`; errors are `application/problem+json`."
)


def create_app(
    service: VigilService | None = None,
    settings: ApiSettings | None = None,
    *,
    clock: Clock | None = None,
) -> FastAPI:
    """Returns the REST application over ``service`` (default: one built from the environment).

    The service is built at start-up rather than here, so importing or
    creating the app touches no database. Start-up starts the service's
    background parts (prediction log writer, ``settings.job_threads`` job
    threads) and shutdown stops them; ``clock`` drives the rate limiter.
    """
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_json_logging(settings.log_level)
        running = service or VigilService.from_settings(Settings.from_env())
        app.state.service = running
        admin_key = running.access.ensure_admin_key()
        if admin_key is not None:
            # Printed, never logged: logs are shipped and kept; this is shown once.
            print(
                f"Admin key (shown once; also in {running.settings.home / 'admin.key'}): "
                f"{admin_key}",
                file=sys.stderr,
                flush=True,
            )
        running.start(job_threads=settings.job_threads, scheduler=settings.scheduler)
        try:
            yield
        finally:
            running.close()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    metrics = ApiMetrics(
        job_counts=lambda: _job_counts(app), serving_stats=lambda: _serving_stats(app)
    )
    metrics.registry.register(
        events.StreamsCollector(lambda: events.stream_counters(getattr(app.state, "service", None)))
    )
    app.state.api_settings = settings
    app.state.metrics = metrics
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_burst, clock)
    if service is not None:
        app.state.service = service
    install_problem_handlers(app)
    for router in (
        health.router,
        algorithms.router,
        datasets.router,
        models.router,
        predictions.router,
        events.router,
        monitoring.router,
        alerts.router,
        policies.router,
        jobs.router,
        keys.router,
        audit.router,
    ):
        app.include_router(router)
    app.include_router(metrics_router(require_key=settings.metrics_require_key))
    # Added last = outermost: the request id exists before the body limit answers.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.openapi = openapi_builder(app)  # type: ignore[method-assign]
    return app


def _serving_stats(app: FastAPI) -> Mapping[str, float] | None:
    """Returns the prediction log's and shadow scoring's counters, or None before start-up."""
    service: VigilService | None = getattr(app.state, "service", None)
    if service is None:
        return None
    stats = service.prediction_log.stats
    predictions = vars(service).get("predictions")  # built on first use (see VigilService)
    lost: float
    try:
        lost = service.prediction_log.lost_total()
    except Exception:  # a scrape must answer even while the database fails
        lost = math.nan
    return {
        "lost": lost,
        "logged": stats.logged,
        "dropped": stats.dropped,
        "write_errors": stats.write_errors,
        "pending": stats.pending,
        # Read only where predictions were served: building the use case for a zero would
        # load pandas, scikit-learn and numba into a server on its first scrape.
        "shadow_errors": predictions.shadow_errors if predictions is not None else 0,
    }


def _job_counts(app: FastAPI) -> Mapping[str, int]:
    """Returns the number of jobs in each state, or nothing before the service exists."""
    service: VigilService | None = getattr(app.state, "service", None)
    return {} if service is None else service.jobs.job_counts()
