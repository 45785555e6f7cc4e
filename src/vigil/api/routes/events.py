"""Events pushed to a deployed anomaly model, and the incidents they form."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import PredictorDep, ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.responses import OrjsonResponse
from vigil.api.settings import ApiSettings
from vigil.errors import InvalidInput
from vigil.service import VigilService

if TYPE_CHECKING:
    from vigil.usecases.streams import StreamCounters

router = APIRouter(
    prefix="/v1/models",
    tags=["streams"],
    responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@router.post("/{name}/events")
async def push_events(
    name: str,
    caller: PredictorDep,
    request: Request,
    return_: Annotated[Literal["anomalies", "all"], Query(alias="return")] = "anomalies",
    flush: bool = False,
) -> Response:
    """Scores a batch of events with their streams' history; answers the anomalies (or all).

    The body is ``{"events": [...], "flush"?: bool, "settings"?: {...}}`` (settings:
    the model's ``tolerance``, ``session_timeout``, ``incident_gap``,
    ``incident_quiet`` as durations, kept for later batches), or NDJSON lines (one
    event per line) with ``Content-Type: application/x-ndjson``. Events that
    cannot be read, or arrive later than the tolerance, are listed in
    ``rejected`` with the reason; the rest of the batch is scored.
    """
    service: VigilService = request.app.state.service
    settings: ApiSettings = request.app.state.api_settings
    events, flush_body, stream_settings = _parse_body(
        await request.body(), request.headers.get("content-type")
    )
    if len(events) > settings.max_instances:
        raise InvalidInput(
            f"A batch holds at most {settings.max_instances} events; this one has {len(events)}.",
            errors=[{"loc": ["body", "events"], "msg": f"at most {settings.max_instances}"}],
        )
    result = await run_in_threadpool(
        service.streams.ingest,
        caller,
        name,
        events,
        flush=flush or flush_body,
        return_all=return_ == "all",
        settings=stream_settings,
    )
    return OrjsonResponse(result.to_json())


def _parse_body(
    body: bytes, content_type: str | None
) -> tuple[list[Any], bool, dict[str, Any] | None]:
    """Returns the events, the flush flag and the stream settings of a JSON or NDJSON body.

    An NDJSON line that is not JSON stays in the batch as its text, so it is
    refused on its own (with its position) and the other lines are scored.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in NDJSON_TYPES:
        events: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                events.append(line.decode("utf-8", "replace"))
        return events, False, None
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f'The body is not JSON ({exc}); send {{"events": [...]}} or NDJSON lines '
            "with Content-Type: application/x-ndjson.",
            errors=[{"loc": ["body"], "msg": "invalid JSON"}],
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidInput(
            'The body must be {"events": [...], "flush"?: bool}.',
            errors=[{"loc": ["body", "events"], "msg": "a list of events is required"}],
        )
    flush = document.get("flush", False)
    if not isinstance(flush, bool):
        raise InvalidInput(
            "flush must be true or false.", errors=[{"loc": ["body", "flush"], "msg": "boolean"}]
        )
    settings = document.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise InvalidInput(
            'settings must be an object such as {"session_timeout": "10min"}.',
            errors=[{"loc": ["body", "settings"], "msg": "an object"}],
        )
    return document["events"], flush, settings


@router.get("/{name}/incidents")
def list_incidents(
    name: str,
    caller: ViewerDep,
    service: ServiceDep,
    status: Literal["open", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Returns the model's incidents, newest first, only those with ``status`` if given."""
    return {
        "model": name,
        "incidents": service.streams.list_incidents(caller, name, status=status, limit=limit),
    }


@router.post("/{name}/incidents/{incident_id}/acknowledge")
def acknowledge_incident(
    name: str, incident_id: str, caller: TrainerDep, service: ServiceDep
) -> dict[str, Any]:
    """Marks the incident as seen by the caller and returns it."""
    return service.streams.acknowledge_incident(caller, name, incident_id)


class StreamsCollector(Collector):
    """``/metrics`` series of this process's streams: events, refusals, anomalies, incidents."""

    def __init__(self, counters: Callable[[], StreamCounters | None]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        """Yields the stream counters (nothing before the first batch)."""
        counters = self._counters()
        if counters is None:
            return
        with counters.lock:
            events = dict(counters.events)
            rejected = dict(counters.rejected)
            anomalies = dict(counters.anomalies)
            incidents = dict(counters.incidents)
        for name, help_text, values in (
            ("vigil_stream_events", "Stream events scored, by tenant and model.", events),
            ("vigil_stream_rejected", "Stream events refused (unreadable or late).", rejected),
            ("vigil_stream_anomalies", "Stream events found anomalous.", anomalies),
        ):
            family = CounterMetricFamily(name, help_text, labels=["tenant", "model"])
            for (tenant, model), count in sorted(values.items()):
                family.add_metric([tenant, model], count)
            yield family
        changes = CounterMetricFamily(
            "vigil_incident_changes",
            "Incidents opened, escalated and resolved, by tenant and model.",
            labels=["tenant", "model", "change"],
        )
        for (tenant, model, change), count in sorted(incidents.items()):
            changes.add_metric([tenant, model, change], count)
        yield changes

    def describe(self) -> Iterable[Metric]:
        """Returns nothing: the series are read at scrape time."""
        return []


def stream_counters(service: VigilService | None) -> StreamCounters | None:
    """Returns the service's stream counters, or None while no batch has built the use case."""
    if service is None or "streams" not in vars(service):
        return None
    return service.streams.counters
