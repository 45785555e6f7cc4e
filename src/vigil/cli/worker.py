"""``vigil worker``: runs jobs and schedules from the shared queue (scale mode)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import build_service


def worker(
    threads: Annotated[int, typer.Option(help="Jobs run at once by this process.")] = 2,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run jobs from the shared queue (scale mode: start as many as you need)."""
    service = build_service()
    if once:
        ran = service.jobs.run_pending_jobs()
        service.scheduling.lifecycle_tick()
        render.err.print(f"Ran {ran} jobs and one policy check.")
        return
    service.jobs.start_workers(threads)
    # The scheduler acts only while this process holds the lease, so any number may run.
    service.scheduling.start_scheduler()
    render.err.print(
        f"Worker {service.jobs.runner.worker_id if service.jobs.runner else ''} running jobs and "
        "schedules; Ctrl-C stops it."
    )
    try:
        threading.Event().wait()
    finally:
        service.close()
