"""``vigil doctor``: checks the database, the artifact store and the secret."""

from __future__ import annotations

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag


def doctor(json_output: JsonFlag = False) -> None:
    """Check the database, every version's artifact (present, sha256, signature) and the secret."""
    from vigil.config import Settings
    from vigil.usecases.doctor import examine, report

    findings = examine(Settings.from_env())
    if json_output:
        render.emit_json(report(findings))
    else:
        render.table(
            "vigil doctor",
            ["area", "", "finding"],
            [[f.area, "ok" if f.ok else "FAIL", f.message] for f in findings],
        )
    if not all(f.ok for f in findings):
        raise typer.Exit(1)
