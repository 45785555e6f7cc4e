"""``vigil algorithms``: the catalogue and each algorithm's hyperparameters."""

from __future__ import annotations

from vigil.cli import render
from vigil.cli.common import JsonFlag


def algorithms(json_output: JsonFlag = False) -> None:
    """List the algorithm catalogue with hyperparameters."""
    from vigil.algorithms.catalogue import list_algorithms  # no estimator imported

    entries = list_algorithms()
    if json_output:
        render.emit_json({"algorithms": entries})
        return
    rows = [
        [
            e["name"],
            ", ".join(e["tasks"]),
            ", ".join(p["name"] for p in e["params"]),
            e["description"],
        ]
        for e in entries
    ]
    render.table("Algorithms", ["name", "tasks", "parameters", "description"], rows)
