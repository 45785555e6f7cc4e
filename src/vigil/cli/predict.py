"""``vigil predict`` and ``vigil evaluate``: answers from a model, and its score on labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller, comma_list, report_malformed
from vigil.errors import UsageError


def predict(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[
        Path | None,
        typer.Argument(
            help="CSV, Parquet, JSON Lines or raw log (.log, .txt) file; for a forecast, "
            "optional newer history to forecast from."
        ),
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: production).")] = None,
    horizon: Annotated[
        int | None, typer.Option(help="Forecast models: steps ahead to forecast.")
    ] = None,
    series: Annotated[
        str | None, typer.Option(help="Forecast models: comma-separated series (default all).")
    ] = None,
    level: Annotated[
        str | None, typer.Option(help="Forecast models: interval levels in %, e.g. 80,95.")
    ] = None,
    exog: Annotated[
        Path | None,
        typer.Option(
            help="Forecast models with regressors: a file of their values at the times "
            "forecast (time, series and regressor columns)."
        ),
    ] = None,
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
    memory) and --json prints a summary instead of every prediction. A
    forecast model answers --horizon H steps per series, from the end of
    its training data or of the newer history in DATA.
    """
    from vigil.data.loading import load_dataset
    from vigil.data.writing import write_table
    from vigil.serving.batch import predictions_frame, streamable

    if horizon is not None or series is not None or level is not None or exog is not None:
        _forecast(name, data, version, horizon, series, level, exog, output, json_output)
        return
    if data is None:
        raise UsageError("DATA is required (a file of rows to score), or --horizon to forecast.")
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


def _forecast(
    name: str,
    data: Path | None,
    version: int | None,
    horizon: int | None,
    series: str | None,
    level: str | None,
    exog: Path | None,
    output: Path | None,
    json_output: bool,
) -> None:
    """Prints (or writes) a forecast model's points: --horizon steps per series."""
    from vigil.data.loading import load_dataset
    from vigil.data.writing import write_table
    from vigil.serving.batch import predictions_frame
    from vigil.serving.forecasts import ForecastRequest
    from vigil.training.forecasting import DEFAULT_LEVELS

    if horizon is None:
        raise UsageError("--horizon is required for a forecast (how many steps ahead).")
    levels: tuple[int, ...] = DEFAULT_LEVELS
    if level is not None:
        try:
            levels = tuple(int(v) for v in comma_list(level))
        except ValueError:
            raise UsageError(
                f"--level takes whole per cents such as 80,95, got {level!r}."
            ) from None
        if not levels or not all(1 <= v <= 99 for v in levels):
            raise UsageError(f"--level takes per cents from 1 to 99, got {level!r}.")
    asked = ForecastRequest(
        horizon=horizon,
        series=tuple(comma_list(series)) if series is not None else None,
        history=load_dataset(data).frame if data is not None else None,
        levels=levels,
        exog=load_dataset(exog).frame if exog is not None else None,
    )
    result = build_service().predictions.forecast(cli_caller(), name, asked, version=version)
    if output is not None:
        write_table(predictions_frame(result.predictions), output)
    if json_output:
        render.emit_json(result.to_json())
        return
    if output is not None:
        render.out.print(
            f"Wrote {len(result.predictions)} forecast points of {name} v{result.version} "
            f"to {output}."
        )
        return
    bounds = [f"{side}_{v}" for v in levels for side in ("lo", "hi")]
    render.table(
        f"{name} v{result.version}: {len(result.predictions)} forecast points",
        ["series", "timestamp", "forecast", *bounds],
        [
            [p["series"], p["timestamp"], p["forecast"], *(p.get(b) for b in bounds)]
            for p in result.predictions[:200]
        ],
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
