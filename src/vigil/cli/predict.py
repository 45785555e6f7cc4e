"""``vigil predict`` and ``vigil evaluate``: answers from a model, and its score on labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller, report_malformed


def predict(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[
        Path, typer.Argument(help="CSV, Parquet, JSON Lines or raw log (.log, .txt) file.")
    ],
    version: Annotated[int | None, typer.Option(help="Version (default: production).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Explain anomalies.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write predictions to this file.")] = None,
    log: Annotated[
        bool,
        typer.Option(
            "--log/--no-log", help="Record the predictions in the prediction log (default on)."
        ),
    ] = True,
    json_output: JsonFlag = False,
) -> None:
    """Predict with a model, one answer per input row in input order.

    A log model answers per event (each with its "line" when read from raw
    lines) or, in session mode, per session with its "session" key. With
    --output, a table file is read and scored in chunks (any size, bounded
    memory) and --json prints a summary instead of every prediction.
    """
    from vigil.data.loading import load_dataset
    from vigil.data.writing import write_table
    from vigil.serving.batch import predictions_frame, streamable

    service = build_service()
    caller = cli_caller()
    # A log model parses lines itself, counting malformed ones instead of failing.
    lines = service.models.feature_kind(caller, name, version) == "logs"
    if output is not None and not lines and streamable(data):
        with render.progress_bar(not json_output, f"Scoring with {name}") as update:
            summary = service.predictions.predict_file(
                caller,
                name,
                data,
                output,
                version=version,
                explain=explain,
                log=log,
                progress=update,
            )
        if json_output:
            render.emit_json(summary)
        else:
            render.out.print(
                f"Wrote {summary['rows']:,} predictions of {name} v{summary['version']} "
                f"to {output}."
            )
        return
    dataset = load_dataset(data, lines=lines)
    result = service.predictions.predict(
        caller, name, dataset.frame, version=version, explain=explain
    )
    document = result.to_json()
    report_malformed(document.get("parse"))
    if output is not None:
        write_table(predictions_frame(result.predictions), output)
    if json_output:
        render.emit_json(document)
        return
    if output is not None:
        render.out.print(
            f"Wrote {len(result.predictions)} predictions of {name} v{result.version} to {output}."
        )
        return
    unit = "session" if any("session" in p for p in result.predictions) else "row"
    rows = [
        [
            p.get("session", p.get("line", i)),
            p["prediction"],
            p.get("score"),
            p.get("severity"),
            p.get("probabilities"),
        ]
        for i, p in enumerate(result.predictions[:50])
    ]
    render.table(
        f"{name} v{result.version}: {len(result.predictions)} predictions",
        [unit, "prediction", "score", "severity", "probabilities"],
        rows,
    )


def evaluate(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[Path, typer.Argument(help="Labelled CSV, Parquet or JSON Lines file.")],
    target: Annotated[str, typer.Option(help="The label column.")],
    version: Annotated[int | None, typer.Option(help="Version (default: production).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Score a model version on labelled data."""
    from vigil.data.loading import load_dataset

    dataset = load_dataset(data)
    result = build_service().predictions.evaluate(
        cli_caller(), name, dataset.frame, target, version=version
    )
    if json_output:
        render.emit_json(result)
        return
    render.table(
        f"{name} v{result['version']} on {result['rows']} rows",
        ["metric", "value"],
        render.scalar_metrics(result["metrics"]),
    )
