"""``vigil train`` and ``vigil compare``: new versions, and algorithms side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import (
    JsonFlag,
    build_service,
    cli_caller,
    comma_list,
    feature_choice,
    parse_params,
    report_malformed,
)

TaskOption = Annotated[
    str, typer.Option(help="auto|classification|regression|clustering|anomaly|forecast")
]


def train(
    data: Annotated[
        Path, typer.Argument(help="CSV, Parquet, JSON Lines or raw log (.log, .txt) file.")
    ],
    name: Annotated[str, typer.Option("--name", help="Model name.")],
    task: TaskOption = "auto",
    algorithm: Annotated[
        str | None, typer.Option(help="Algorithm (see `vigil algorithms`).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target (label) column.")] = None,
    features: Annotated[
        str | None,
        typer.Option(
            help="logs|metrics|requests|tabular (how raw inputs become features), "
            "or comma-separated feature columns."
        ),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="KEY=VALUE, repeatable.")
    ] = None,
    test_size: Annotated[float, typer.Option(help="Held-out share for evaluation.")] = 0.2,
    cv: Annotated[
        int | None,
        typer.Option(help="k-fold cross-validation folds; forecast: backtest windows (3)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 42,
    horizon: Annotated[
        int | None, typer.Option(help="Forecast: steps ahead (implies --task forecast).")
    ] = None,
    series: Annotated[
        str | None, typer.Option(help="Forecast: the column naming each series.")
    ] = None,
    timestamp: Annotated[
        str | None, typer.Option(help="Forecast: the time column (default: inferred).")
    ] = None,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Make the new version production.")
    ] = False,
    session_key: Annotated[
        str | None,
        typer.Option(help="Logs: regex naming sessions in the message (e.g. 'blk_-?\\d+')."),
    ] = None,
    session_field: Annotated[
        str | None, typer.Option(help="Logs: column naming sessions (e.g. request_id).")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Logs: sessions by time window (5min); metrics: rolling window."),
    ] = None,
    rolling_window: Annotated[
        str | None, typer.Option(help="Logs, per event: per-service window (default 5min).")
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(help="Logs: auto|json|regex|raw|hdfs|bgl|nginx|apache (default auto)."),
    ] = None,
    log_pattern: Annotated[
        str | None, typer.Option(help="Logs: regex with named groups, one line per event.")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Logs: the message field; requests: the payload field.")
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(help="Comma-separated columns (or event fields) left out of the features."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train a new version of a model on a data file."""
    from vigil.data.loading import load_dataset
    from vigil.training.request import train_spec_from_request

    options = {
        "session_key": session_key,
        "session_field": session_field,
        "window": window,
        "rolling_window": rolling_window,
        "log_format": log_format,
        "log_pattern": log_pattern,
        "text_column": text_column,
    }
    # The flags make the same train request a REST body is, checked before the data is read.
    spec = train_spec_from_request(
        {
            "task": task,
            "algorithm": algorithm,
            "target": target,
            "features": feature_choice(features),
            "feature_options": {k: v for k, v in options.items() if v is not None},
            "exclude": comma_list(exclude),
            "params": parse_params(param),
            "test_size": test_size,
            "cv": cv,
            "seed": seed,
            "horizon": horizon,
            "series": series,
            "timestamp": timestamp,
        }
    )
    dataset = load_dataset(data, lines=spec.feature_kind == "logs")
    service = build_service()
    with render.progress_bar(not json_output, f"training {name}") as progress:
        result = service.training.train(
            cli_caller(),
            name,
            dataset,
            spec,
            deploy="always" if deploy else "never",
            progress=progress,
        )
    document = result.to_json()
    report_malformed(document.get("parse"))
    if json_output:
        render.emit_json(document)
        return
    state = "production" if result.deployed else "not deployed"
    render.out.print(
        f"Trained [bold]{name}[/] version {result.version.version} "
        f"({result.version.task}, {result.version.algorithm}) "
        f"on {result.outcome.rows} rows - {state}."
    )
    _print_excluded(document["excluded"])
    for note in document.get("forecast", {}).get("notes", []):
        render.out.print(note, markup=False)  # a forecast's unused columns, averaged times
    render.table("Metrics", ["metric", "value"], render.scalar_metrics(result.version.metrics))
    top = list(result.outcome.feature_importance.items())[:10]
    if top:
        render.table("Feature importance", ["feature", "importance"], top)
    by_series = document.get("metrics_by_series") or {}
    if by_series:
        chosen = document.get("algorithm_by_series") or {}
        names = ["mase", "smape", "coverage_80", "coverage_95"]
        render.table(
            f"Backtest per series ({len(by_series)})",
            ["series", "algorithm", *names],
            [
                [series, chosen.get(series), *(metrics.get(n) for n in names)]
                for series, metrics in list(by_series.items())[:20]
            ],
        )


def _print_excluded(excluded: dict[str, str]) -> None:
    """Prints one line naming the columns left out of the features and why, if any."""
    if excluded:
        reasons = "; ".join(f"{column} ({why})" for column, why in excluded.items())
        render.out.print(f"Left out of the features: {reasons}.", markup=False)


def compare(
    data: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file.")],
    algorithms: Annotated[str, typer.Option("--algorithms", help="Comma-separated algorithms.")],
    target: Annotated[str | None, typer.Option(help="Target (label) column.")] = None,
    task: TaskOption = "auto",
    test_size: Annotated[float, typer.Option(help="Held-out share.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 42,
    exclude: Annotated[
        str | None, typer.Option(help="Comma-separated columns left out of the features.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train several algorithms on the same split and compare metrics and fit time."""
    from vigil.data.loading import load_dataset
    from vigil.training.request import train_spec_from_request
    from vigil.usecases.training import compare_algorithms

    names = comma_list(algorithms)
    spec = train_spec_from_request(
        {
            "task": task,
            "target": target,
            "exclude": comma_list(exclude),
            "test_size": test_size,
            "seed": seed,
        }
    )
    dataset = load_dataset(data)
    rows = compare_algorithms(dataset, spec, names)
    if json_output:
        render.emit_json({"data": str(data), "comparison": rows})
        return
    metric_names: list[str] = []
    for row in rows:
        for key, _ in render.scalar_metrics(row["metrics"]):
            if key not in metric_names and key != "fit_seconds":
                metric_names.append(key)
    render.table(
        f"{len(rows)} algorithms on {data.name}",
        ["algorithm", *metric_names, "fit_seconds"],
        [
            [r["algorithm"], *(r["metrics"].get(m) for m in metric_names), r["fit_seconds"]]
            for r in rows
        ],
    )
