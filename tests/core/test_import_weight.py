"""What the command line and a started server import: never the data stack before it is used.

A regression guard, not a timing: each check runs in a fresh interpreter and
reads ``sys.modules``. The figures (seconds, MiB) are measured by
benchmarks/startup.py. The commands' own import sets (``vigil --help``,
``vigil models list``) are checked in tests/cli/test_cli_startup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Imported only where a model is trained, loaded or scored, or data is read.
DATA_STACK = {
    "drain3",
    "joblib",
    "lightgbm",
    "numba",
    "pandas",
    "pyarrow",
    "pyod",
    "scipy",
    "sklearn",
    "statsforecast",
    "xgboost",
}

# Imports the command line, then prints the top-level packages loaded.
IMPORT_CLI = """
import json, sys
import vigil.cli.main
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""

# Starts the REST app as uvicorn does (its lifespan: database checked, admin key,
# prediction log writer, job threads, policy scheduler), asks what a monitor asks
# (health, a metrics scrape, the models) and the algorithm catalogue, then prints the
# packages loaded.
START_SERVER = """
import asyncio, json, os, sys
import httpx
from vigil.api.app import create_app

async def started():
    app = create_app()
    key = {"Authorization": "Bearer " + os.environ["VIGIL_ADMIN_KEY"]}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            for path in ("/health", "/metrics", "/v1/models", "/v1/algorithms"):
                answer = await client.get(path, headers=key)
                assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return sorted({m.split(".")[0] for m in sys.modules})

print(json.dumps(asyncio.run(started())))
"""


def _packages_after(code: str, home: Path) -> set[str]:
    """Returns the top-level packages a fresh interpreter holds after running ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env |= {"VIGIL_HOME": str(home), "VIGIL_ADMIN_KEY": "vk_import_weight_" + "k" * 40}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_command_line_loads_no_data_stack(tmp_path: Path) -> None:
    loaded = _packages_after(IMPORT_CLI, tmp_path / "home")

    assert loaded & (DATA_STACK | {"numpy", "sqlalchemy", "fastapi"}) == set()


def test_a_started_and_scraped_server_has_loaded_no_data_stack(tmp_path: Path) -> None:
    loaded = _packages_after(START_SERVER, tmp_path / "home")

    assert {"fastapi", "sqlalchemy"} <= loaded  # it did start: the app and its database
    assert loaded & DATA_STACK == set()
