"""``vigil simulate``: labelled synthetic data for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag


def simulate(
    kind: Annotated[
        str, typer.Argument(help="logs, metrics, requests, transactions, users or access.")
    ],
    rows: Annotated[int, typer.Option("--rows", help="How many rows.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output file (.csv, .jsonl, .parquet; .log for access)."),
    ],
    anomaly_rate: Annotated[float, typer.Option(help="Share of anomalous rows (0 to 0.5).")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same file.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Write labelled synthetic data: is_anomaly (0/1) and anomaly_type label each row.

    Train on it with --target is_anomaly and leave anomaly_type out of the
    features (it names the label). ``access`` written to a .log file is raw
    nginx lines, with the labels in NAME.labels.csv beside it.
    """
    from vigil.simulate import simulate as generate
    from vigil.simulate import write_frame

    frame = generate(kind, rows, anomaly_rate=anomaly_rate, seed=seed)
    labels = write_frame(frame, out)
    document: dict[str, object] = {
        "kind": kind,
        "rows": len(frame),
        "anomalies": int(frame["is_anomaly"].sum()),
        "columns": list(frame.columns),
        "out": str(out),
    }
    if labels is not None:
        document["labels"] = str(labels)
    if json_output:
        render.emit_json(document)
        return
    beside = f"; labels in {labels}" if labels is not None else ""
    render.out.print(
        f"Wrote {document['rows']} {kind} rows ({document['anomalies']} anomalous) to {out}"
        f"{beside}.",
        markup=False,
    )
