"""Running the ``vigil`` command in-process against a fresh VIGIL_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import CliResult, RunCli, run_cli


@pytest.fixture
def vigil_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Returns a fresh VIGIL_HOME with the embedded defaults (SQLite, local artifacts)."""
    home = tmp_path / "home"
    monkeypatch.setenv("VIGIL_HOME", str(home))
    for name in ("VIGIL_DATABASE_URL", "VIGIL_ARTIFACT_URI", "VIGIL_SECRET_KEY", "VIGIL_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def cli(vigil_home: Path, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Returns a function that runs ``vigil ARGS`` and returns its CliResult."""

    def run(*args: str | Path) -> CliResult:
        return run_cli(capsys, *args)

    return run
