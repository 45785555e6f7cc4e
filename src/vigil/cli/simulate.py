"""``vigil simulate``: labelled synthetic data for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag


def simulate(
    kind: Annotated[str, typer.Argument(help="logs, metrics, requests, transactions or users.")],
    rows: Annotated[int, typer.Option("--rows", help="How many rows.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv, .jsonl, .parquet).")],
    anomaly_rate: Annotated[float, typer.Option(help="Share of anomalous rows (0 to 0.5).")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same file.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Write labelled synthetic data: is_anomaly (0/1) and anomaly_type label each row.

    Train on it with --target is_anomaly and leave anomaly_type out of the
    features (it names the label).
    """
    from vigil.simulate import simulate as generate
    from vigil.simulate import write_frame

    frame = generate(kind, rows, anomaly_rate=anomaly_rate, seed=seed)
    write_frame(frame, out)
    document = {
        "kind": kind,
        "rows": len(frame),
        "anomalies": int(frame["is_anomaly"].sum()),
        "columns": list(frame.columns),
        "out": str(out),
    }
    if json_output:
        render.emit_json(document)
        return
    render.out.print(
        f"Wrote {document['rows']} {kind} rows ({document['anomalies']} anomalous) to {out}."
    )
