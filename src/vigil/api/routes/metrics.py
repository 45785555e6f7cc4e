"""Prometheus metrics of this API process."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from vigil.api.deps import MetricsDep, require_role
from vigil.api.metrics import CONTENT_TYPE
from vigil.api.problems import problem_responses


def metrics_router(*, require_key: bool) -> APIRouter:
    """Returns the ``/metrics`` router, open or (``VIGIL_METRICS_REQUIRE_KEY``) admin-only.

    Open by default because scrapers rarely carry keys; the port it is on
    decides who can read it.
    """
    dependencies = [Depends(require_role("admin"))] if require_key else []
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
