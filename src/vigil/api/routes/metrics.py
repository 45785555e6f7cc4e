"""Prometheus metrics of this API process."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from vigil.api.deps import MetricsDep, require_role
from vigil.api.metrics import CONTENT_TYPE
from vigil.api.problems import problem_responses
from vigil.security import METRICS_ROLE


def metrics_router(*, require_key: bool) -> APIRouter:
    """Returns the ``/metrics`` router: an admin or ``metrics`` key by default, open by setting.

    The text names every tenant's models, so a key is required unless the
    operator sets ``VIGIL_METRICS_REQUIRE_KEY=0`` (a port only the scraper reaches).
    A ``metrics`` key reads this and nothing else: a scraper's key is a weak secret
    (it sits in a config file) and must not open the models.
    """
    dependencies = [Depends(require_role(METRICS_ROLE))] if require_key else []
    responses = problem_responses(401, 403, 429) if require_key else {}
    router = APIRouter(tags=["metrics"], dependencies=dependencies)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}, **responses},
    )
    def metrics(registry: MetricsDep) -> Response:
        """Returns the metrics in the Prometheus text format."""
        return Response(registry.render(), media_type=CONTENT_TYPE)

    return router
