"""Running the ``vigil`` command in-process against a fresh VIGIL_HOME."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vigil.cli.main import main


@dataclass
class CliResult:
    """What one command did: exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Returns stdout parsed as the single JSON document it must be."""
        return json.loads(self.stdout)


RunCli = Callable[..., CliResult]


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
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
