"""What a command imports to start: only what it uses (timings are in benchmarks/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from vigil.registry.db import MIGRATIONS_DIR, script_head

# Runs ``vigil ARGS`` in a fresh interpreter, then writes the top-level packages it imported.
RUN_AND_LIST_IMPORTS = """
import json, sys
from vigil.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as listing:
    json.dump({"code": code, "packages": sorted({m.split(".")[0] for m in sys.modules})}, listing)
"""
DATA_STACK = {"pandas", "numpy", "sklearn", "scipy", "numba", "pyarrow", "joblib"}
SERVER_STACK = {"fastapi", "starlette", "uvicorn", "httpx", "apscheduler"}


def _imported_by(tmp_path: Path, *args: str) -> set[str]:
    """Returns the top-level packages ``vigil ARGS`` imported; fails unless it exited 0."""
    listing = tmp_path / "imports.json"
    # The environment, VIGIL_HOME included, is the test's (see the vigil_home fixture).
    subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_IMPORTS, str(listing), *args],
        capture_output=True,
        check=True,
    )
    report = json.loads(listing.read_text())
    assert report["code"] in (0, None)
    return set(report["packages"])


@pytest.mark.usefixtures("vigil_home")
def test_help_imports_neither_the_data_stack_nor_the_database(tmp_path: Path) -> None:
    imported = _imported_by(tmp_path, "--help")

    assert imported & (DATA_STACK | SERVER_STACK | {"sqlalchemy", "alembic"}) == set()


@pytest.mark.usefixtures("vigil_home")
def test_models_list_on_a_current_database_imports_only_the_registry(tmp_path: Path) -> None:
    first = _imported_by(tmp_path, "models", "list", "--json")  # creates and migrates the database

    imported = _imported_by(tmp_path, "models", "list", "--json")

    assert "sqlalchemy" in first
    # At head, the embedded registry is read with sqlite3 alone (registry/quick_read.py).
    # Rich neither: a --json command prints no table, so it never loads it. Nor pydantic,
    # which Typer would load to check the flags (cli/main.py _flags_without_pydantic).
    unused = {"alembic", "rich", "sqlalchemy", "pydantic"}
    assert imported & (DATA_STACK | SERVER_STACK | unused) == set()


def test_the_start_up_check_knows_the_same_newest_migration_as_alembic() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    assert script_head() == ScriptDirectory.from_config(config).get_current_head()
