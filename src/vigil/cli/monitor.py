"""``vigil feedback`` and ``vigil monitor``: ground truth in, live performance and drift out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller
from vigil.errors import UsageError, VigilError


def feedback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[
        Path,
        typer.Argument(
            help="File with columns prediction_id and actual; for a forecast model, newer "
            "points in its training columns (or timestamp, series, actual)."
        ),
    ],
    json_output: JsonFlag = False,
) -> None:
    """Send ground truth for earlier predictions (columns prediction_id, actual).

    A forecast model's actuals come as newer points of its series: they join
    every forecast made for that series and time.
    """
    from vigil.data.loading import load_dataset

    frame = load_dataset(data).frame
    service = build_service()
    if "prediction_id" not in frame.columns:
        items = service.monitoring.actuals_from_table(cli_caller(), name, frame)
    elif "actual" not in frame.columns:
        raise UsageError(f"Feedback file {data} needs the column 'actual'.")
    else:
        items = [
            {"prediction_id": str(row.prediction_id), "actual": row.actual}
            for row in frame[["prediction_id", "actual"]].itertuples(index=False)
        ]
    outcome = service.monitoring.record_feedback(cli_caller(), name, items)
    if json_output:
        render.emit_json(outcome)
        return
    render.out.print(
        f"{name}: {outcome['accepted']} new, {outcome['unchanged']} unchanged, "
        f"{len(outcome['unknown'])} unknown "
        + ("prediction ids." if "prediction_id" in frame.columns else "series and times.")
    )


def monitor(
    name: Annotated[str, typer.Argument(help="Model name.")],
    json_output: JsonFlag = False,
) -> None:
    """Show live performance per version and drift of recent inputs."""
    service = build_service()
    caller = cli_caller()
    performance = service.monitoring.performance(caller, name)
    try:
        drift: dict[str, Any] | None = service.monitoring.drift(caller, name)
    except VigilError as exc:
        drift = {"error": exc.message}
    if json_output:
        render.emit_json({"performance": performance, "drift": drift})
        return
    rows = []
    for window, content in performance["windows"].items():
        for version, summary in content["versions"].items():
            headline = summary.get("metrics", {})
            rows.append(
                [
                    window,
                    version,
                    summary["predictions"],
                    summary["feedback"],
                    summary.get("anomaly_rate"),
                    summary["latency_us_p50"],
                    ", ".join(
                        f"{k}={render.fmt(v)}" for k, v in render.scalar_metrics(headline)[:3]
                    ),
                ]
            )
    render.table(
        f"{name}: production v{performance['production_version']}",
        ["window", "version", "predictions", "feedback", "anomaly rate", "p50 µs", "metrics"],
        rows,
    )
    if drift and "features" in drift:
        render.table(
            f"Drift ({drift['rows']} recent rows): {'DRIFTED' if drift['drifted'] else 'stable'}",
            ["feature", "test", "statistic", "drifted"],
            [[f, r["test"], r["statistic"], r["drifted"]] for f, r in drift["features"].items()],
        )
    elif drift:
        render.out.print(f"Drift: {drift.get('error') or drift.get('reason')}")
