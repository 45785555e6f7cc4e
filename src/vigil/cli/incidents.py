"""``vigil incidents``: a model's incidents (consecutive anomalies of a stream), acknowledged."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller
from vigil.errors import UsageError


def incidents(
    name: Annotated[str, typer.Argument(help="Model name.")],
    status: Annotated[
        str | None, typer.Option(help="Only incidents in this state: open|resolved.")
    ] = None,
    ack: Annotated[
        str | None, typer.Option("--ack", help="Acknowledge the incident with this id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    json_output: JsonFlag = False,
) -> None:
    """List a model's incidents, newest first, or acknowledge one with --ack."""
    if status is not None and status not in ("open", "resolved"):
        raise UsageError(f"--status must be open or resolved, got {status!r}.")
    service = build_service()
    caller = cli_caller()
    if ack is not None:
        incident = service.streams.acknowledge_incident(caller, name, ack)
        if json_output:
            render.emit_json(incident)
        else:
            render.out.print(f"Incident {ack} acknowledged.")
        return
    found = service.streams.list_incidents(caller, name, status=status, limit=limit)
    if json_output:
        render.emit_json({"model": name, "incidents": found})
        return
    render.table(
        f"{name}: incidents",
        ["started", "ended", "stream", "status", "severity", "events", "peak", "ack", "id"],
        [
            [
                i["started_at"],
                i["ended_at"],
                i["stream"],
                i["status"],
                i["severity"],
                i["events"],
                i["peak_score"],
                i["acknowledged_by"] or "",
                i["id"],
            ]
            for i in found
        ],
    )
