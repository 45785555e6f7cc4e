"""``vigil simulate``: labelled synthetic data for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag


def simulate(
    kind: Annotated[
        str,
        typer.Argument(help="logs, metrics, requests, transactions, users, access or sales."),
    ],
    rows: Annotated[int, typer.Option("--rows", help="How many rows.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output file (.csv, .jsonl, .parquet; .log for access)."),
    ],
    anomaly_rate: Annotated[
        float, typer.Option(help="Share of anomalous rows (0 to 0.5; not for sales).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same file.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Write labelled synthetic data: is_anomaly (0/1) and anomaly_type label each row.

    Train on it with --target is_anomaly and leave anomaly_type out of the
    features (it names the label). ``access`` written to a .log file is raw
    nginx lines, with the labels in NAME.labels.csv beside it. ``sales`` is
    unlabelled hourly sales of four store/product series to forecast
    (columns timestamp, series, sales, promotion, holiday).
    """
    from vigil.simulate import simulate as generate
    from vigil.simulate import write_frame

    frame = generate(kind, rows, anomaly_rate=anomaly_rate, seed=seed)
    labels = write_frame(frame, out)
    labelled = "is_anomaly" in frame.columns  # sales are series to forecast, not labelled
    document: dict[str, object] = {"kind": kind, "rows": len(frame)}
    if labelled:
        document["anomalies"] = int(frame["is_anomaly"].sum())
    else:
        document["series"] = int(frame["series"].nunique())
    document.update(columns=list(frame.columns), out=str(out))
    if labels is not None:
        document["labels"] = str(labels)
    if json_output:
        render.emit_json(document)
        return
    beside = f"; labels in {labels}" if labels is not None else ""
    what = f"{document['anomalies']} anomalous" if labelled else f"{document['series']} series"
    render.out.print(
        f"Wrote {document['rows']} {kind} rows ({what}) to {out}{beside}.", markup=False
    )
