"""Running the ``vigil`` command in-process, as a user's terminal would, capturing its output.

Lives at the root of ``tests/`` because ``tests/cli`` and ``tests/forecast``
both run the command this way.
"""

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


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliResult:
    """Runs ``vigil ARGS`` in this process and returns what it printed and its exit code."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
