"""``vigil serve``: the REST API under uvicorn."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigil.errors import UsageError

APP_FACTORY = "vigil.api.app:create_app"
WORKER_HEALTHCHECK_SECONDS = 120


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the start-up summary as one JSON document.")
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    import logging.config  # here, not at the top: it imports socketserver and friends

    import uvicorn

    from vigil.api.logs import logging_config
    from vigil.api.settings import ApiSettings
    from vigil.config import Settings
    from vigil.service import VigilService

    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}.")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}.")
    try:
        api_settings = ApiSettings.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    log_config = logging_config(api_settings.log_level)
    logging.config.dictConfig(log_config)
    # Migrate and create the first admin key once, here, rather than racing in each worker.
    # The thorough check (SQLite's quick_check) once here, before any worker starts.
    service = VigilService.from_settings(Settings.from_env(), thorough_check=True)
    admin_key = service.access.ensure_admin_key()
    home = service.settings.home
    # The app builds its own service in each worker; this one's connections are done.
    service.store.engine.dispose()
    url = f"http://{host}:{port}"
    if json_output:
        typer.echo(json.dumps({"url": url, "workers": workers, "admin_key": admin_key}))
    else:
        typer.echo(f"Vigil on {url} (docs at {url}/docs), {workers} worker(s).", err=True)
        if admin_key is not None:
            typer.echo(
                f"Admin key (shown once; also in {home / 'admin.key'}): {admin_key}",
                err=True,
            )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        access_log=False,
        # Each worker handles its own shutdown of job threads; give them time.
        timeout_graceful_shutdown=30,
        # A worker imports pandas, scikit-learn and friends before it can answer
        # the supervisor's ping; uvicorn's 5 s default kills slow starters on a
        # busy machine and restarts them forever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
