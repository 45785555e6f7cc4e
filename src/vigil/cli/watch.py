"""``vigil watch``: streams a file or stdin into a model, printing anomalies and incidents live.

Lines are read in batches (:class:`vigil.streams.follow.LineSource`: a JSON
object per line, or raw log lines) and sent to the model's stream — in this
process on the configured state store, or to a server with ``--url`` (key
from ``VIGIL_API_KEY``). A file read to its end without ``--follow`` ends
with a flush, so open sessions are scored too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag
from vigil.errors import UsageError
from vigil.jsonsafe import json_safe

Send = Callable[[list[Any], bool], dict[str, Any]]


def watch(
    name: Annotated[str, typer.Argument(help="Model name (a deployed anomaly model).")],
    source: Annotated[str, typer.Argument(help="A file, or - for stdin.")] = "-",
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading appended lines (like tail -F).")
    ] = False,
    url: Annotated[
        str | None, typer.Option(help="Send to this server (key from VIGIL_API_KEY).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Events per batch.")] = 1000,
    json_output: JsonFlag = False,
) -> None:
    """Stream events into a model; print each anomaly and each incident change.

    --json prints one JSON line per anomaly on stdout.
    """
    from vigil.streams.follow import LineSource, event_of

    if source != "-" and not os.path.exists(source):
        raise UsageError(f"{source} does not exist.")
    send = _remote(name, url) if url else _in_process(name)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lines = LineSource(source, follow=follow, batch_size=batch_size, stop=stop)
    totals = {"events": 0, "anomalies": 0, "rejected": 0}
    open_incidents: set[str] = set()
    # On a terminal a live status line sits under the anomalies printed above it.
    live = None if json_output or not render.out.is_terminal else _live_status()
    try:
        if live is not None:
            live.start()
        for batch in lines.batches():
            events = [event_of(line) for line in batch]
            answer = send(events, False)
            _show(answer, events, totals, json_output)
            _follow_incidents(answer, open_incidents)
            if live is not None:
                live.update(_status(name, totals, open_incidents))
        if not stop.is_set():
            _show(send([], True), [], totals, json_output)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
        signal.signal(signal.SIGTERM, previous)
    render.err.print(
        f"Watched {totals['events']} events: {totals['anomalies']} anomalies, "
        f"{totals['rejected']} refused."
    )


def _live_status() -> Any:
    from rich.live import Live
    from rich.text import Text

    return Live(Text("waiting for events…"), console=render.out, refresh_per_second=4)


def _status(name: str, totals: dict[str, int], open_incidents: set[str]) -> Any:
    from rich.text import Text

    return Text(
        f"{name}: {totals['events']} events, {totals['anomalies']} anomalies, "
        f"{len(open_incidents)} open incidents, {totals['rejected']} refused",
        style="dim",
    )


def _follow_incidents(answer: dict[str, Any], open_incidents: set[str]) -> None:
    for change in answer.get("incidents", []):
        if change.get("status") == "open":
            open_incidents.add(change["id"])
        else:
            open_incidents.discard(change["id"])


def _in_process(name: str) -> Send:
    from vigil.cli.common import build_service, cli_caller

    service = build_service()
    caller = cli_caller()

    def send(events: list[Any], flush: bool) -> dict[str, Any]:
        return service.streams.ingest(caller, name, events, flush=flush).to_json()

    return send


def _remote(name: str, url: str) -> Send:
    from vigil.client import Client

    key = os.environ.get("VIGIL_API_KEY")
    if not key:
        raise UsageError("--url needs the server's API key in VIGIL_API_KEY.")
    client = Client(url, key)

    def send(events: list[Any], flush: bool) -> dict[str, Any]:
        return client.events(name, events, flush=flush)

    return send


def _show(
    answer: dict[str, Any], events: list[Any], totals: dict[str, int], json_output: bool
) -> None:
    from rich.markup import escape  # here: ``vigil --help`` loads this module

    totals["events"] += int(answer.get("accepted", 0))
    totals["rejected"] += len(answer.get("rejected", []))
    for anomaly in answer.get("anomalies", []):
        totals["anomalies"] += 1
        position = anomaly.get("event")
        if isinstance(position, int) and 0 <= position < len(events):
            anomaly = {**anomaly, "input": events[position]}
        if json_output:
            # One line per anomaly, flushed at once, for a pipe reading as it goes.
            sys.stdout.write(json.dumps(json_safe(anomaly), default=str) + "\n")
            sys.stdout.flush()
            continue
        shown = anomaly.get("session") or anomaly.get("input", "")
        render.out.print(
            f"[bold red]anomaly[/] {escape(str(anomaly['stream']))} "
            f"score {anomaly['score']:.3f} {anomaly['severity']}: {escape(str(shown)[:160])}"
        )
    if json_output:
        return
    for change in answer.get("incidents", []):
        render.out.print(
            f"[bold yellow]incident {change['change']}[/] {change['id']} on "
            f"{escape(str(change['stream']))}: {change['severity']}, {change['events']} events, "
            f"peak {change['peak_score']:.3f}"
        )
    for refused in answer.get("rejected", []):
        render.err.print(f"refused event {refused['event']}: {escape(refused['reason'])}")
