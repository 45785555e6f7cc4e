"""The ``vigil`` command.

Every command takes ``--json`` (one JSON document on stdout and nothing else
there) and otherwise prints for people. Exit codes: 0 success, 1 the work
failed, 2 bad usage. Errors go to stderr as one sentence.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli import lifecycle, render
from vigil.cli.serve import serve
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.data.writing import write_table
from vigil.errors import UsageError, VigilError
from vigil.features.extractors import FEATURE_KINDS
from vigil.security import Caller
from vigil.service import VigilService
from vigil.serving.batch import predictions_frame, streamable
from vigil.training.request import train_spec_from_request
from vigil.usecases.models import event_to_json, model_to_json, version_to_json
from vigil.usecases.training import compare_algorithms, list_algorithms

app = typer.Typer(
    name="vigil",
    help="Vigil: train, version, serve and watch machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List, inspect, deploy, roll back and delete models.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.command("serve")(serve)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _service() -> VigilService:
    return VigilService.from_settings(Settings.from_env())


def _caller() -> Caller:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        user = "unknown"
    return Caller(tenant="default", actor=f"cli:{user}")


def _parse_params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes KEY=VALUE, got {pair!r}.")
        params[key.strip()] = value
    return params


def _feature_choice(features: str | None) -> str | list[str] | None:
    """Returns the train request's ``features`` from ``--features``: a kind or columns.

    A kind name alone (logs, metrics, requests, tabular) picks how raw inputs
    become features; anything else is a comma-separated column list (a list of
    one column named like a kind is written with a trailing comma: ``logs,``).
    """
    if features is None:
        return None
    if features.strip() in FEATURE_KINDS:
        return features.strip()
    return _comma_list(features)


def _comma_list(text: str | None) -> list[str]:
    """Returns the names in a comma-separated flag value (``a, b,`` -> ``["a", "b"]``)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _report_malformed(report: dict[str, Any] | None) -> None:
    """Prints the parse report's malformed lines on stderr, for people."""
    if not report or not report.get("malformed"):
        return
    render.err.print(
        f"warning: skipped {report['malformed']} malformed of {report['lines']} lines "
        f"({report['format']}):",
        markup=False,
    )
    for example in report.get("examples", []):
        render.err.print(
            f"  line {example['line']}: {example['text']!r} ({example['reason']})", markup=False
        )


@app.command()
def train(
    data: Annotated[
        Path, typer.Argument(help="CSV, Parquet, JSON Lines or raw log (.log, .txt) file.")
    ],
    name: Annotated[str, typer.Option("--name", help="Model name.")],
    task: Annotated[
        str, typer.Option(help="auto|classification|regression|clustering|anomaly")
    ] = "auto",
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
    cv: Annotated[int | None, typer.Option(help="k-fold cross-validation folds.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 42,
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
            "features": _feature_choice(features),
            "feature_options": {k: v for k, v in options.items() if v is not None},
            "exclude": _comma_list(exclude),
            "params": _parse_params(param),
            "test_size": test_size,
            "cv": cv,
            "seed": seed,
        }
    )
    dataset = load_dataset(data, lines=spec.feature_kind == "logs")
    service = _service()
    with render.progress_bar(not json_output, f"training {name}") as progress:
        result = service.training.train(
            _caller(),
            name,
            dataset,
            spec,
            deploy="always" if deploy else "never",
            progress=progress,
        )
    document = result.to_json()
    _report_malformed(document.get("parse"))
    if json_output:
        render.emit_json(document)
        return
    state = "production" if result.deployed else "not deployed"
    render.out.print(
        f"Trained [bold]{name}[/] version {result.version.version} "
        f"({result.version.task}, {result.version.algorithm}) "
        f"on {result.outcome.rows} rows - {state}."
    )
    render.table("Metrics", ["metric", "value"], render.scalar_metrics(result.version.metrics))
    top = list(result.outcome.feature_importance.items())[:10]
    if top:
        render.table("Feature importance", ["feature", "importance"], top)


@app.command()
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
    service = _service()
    caller = _caller()
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
    _report_malformed(document.get("parse"))
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


@app.command()
def evaluate(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[Path, typer.Argument(help="Labelled CSV, Parquet or JSON Lines file.")],
    target: Annotated[str, typer.Option(help="The label column.")],
    version: Annotated[int | None, typer.Option(help="Version (default: production).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Score a model version on labelled data."""
    dataset = load_dataset(data)
    result = _service().predictions.evaluate(
        _caller(), name, dataset.frame, target, version=version
    )
    if json_output:
        render.emit_json(result)
        return
    render.table(
        f"{name} v{result['version']} on {result['rows']} rows",
        ["metric", "value"],
        render.scalar_metrics(result["metrics"]),
    )


@app.command()
def algorithms(json_output: JsonFlag = False) -> None:
    """List the algorithm catalogue with hyperparameters."""
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


@app.command()
def compare(
    data: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file.")],
    algorithms: Annotated[str, typer.Option("--algorithms", help="Comma-separated algorithms.")],
    target: Annotated[str | None, typer.Option(help="Target (label) column.")] = None,
    task: Annotated[
        str, typer.Option(help="auto|classification|regression|clustering|anomaly")
    ] = "auto",
    test_size: Annotated[float, typer.Option(help="Held-out share.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 42,
    exclude: Annotated[
        str | None, typer.Option(help="Comma-separated columns left out of the features.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train several algorithms on the same split and compare metrics and fit time."""
    names = _comma_list(algorithms)
    spec = train_spec_from_request(
        {
            "task": task,
            "target": target,
            "exclude": _comma_list(exclude),
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


@app.command()
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


@models_app.command("list")
def models_list(json_output: JsonFlag = False) -> None:
    """List models."""
    records = _service().models.list_models(_caller())
    if json_output:
        render.emit_json({"models": [model_to_json(m) for m in records]})
        return
    render.table(
        "Models",
        ["name", "task", "production", "canary", "latest"],
        [
            [m.name, m.task, m.production_version, m.canary_version, m.latest_version]
            for m in records
        ],
    )


@models_app.command("show")
def models_show(name: str, json_output: JsonFlag = False) -> None:
    """Show a model, its deployment and its history."""
    service = _service()
    caller = _caller()
    model = service.models.get_model(caller, name)
    history = service.models.history(caller, name)
    if json_output:
        render.emit_json({**model_to_json(model), "history": [event_to_json(e) for e in history]})
        return
    render.table(
        f"{name} ({model.task})",
        ["field", "value"],
        [[k, v] for k, v in model_to_json(model).items() if k not in ("name", "task")],
    )
    render.table(
        "Deployment history",
        ["when", "action", "version", "previous", "by", "reason"],
        [
            [
                e.created_at.isoformat(timespec="seconds"),
                e.action,
                e.version,
                e.previous_version,
                e.actor,
                e.reason,
            ]
            for e in history
        ],
    )


@models_app.command("versions")
def models_versions(name: str, json_output: JsonFlag = False) -> None:
    """List a model's versions."""
    service = _service()
    caller = _caller()
    records = service.models.list_versions(caller, name)
    production = service.models.get_model(caller, name).production_version
    if json_output:
        render.emit_json({"model": name, "versions": [version_to_json(v) for v in records]})
        return
    rows = []
    for v in records:
        headline = render.scalar_metrics(
            {k: x for k, x in v.metrics.items() if k != "fit_seconds"}
        )[:3]
        rows.append(
            [
                v.version,
                "production" if v.version == production else "",
                v.algorithm,
                ", ".join(f"{k}={render.fmt(x)}" for k, x in headline),
                v.created_at.isoformat(timespec="seconds"),
                v.created_by,
            ]
        )
    render.table(f"{name} versions", ["version", "", "algorithm", "metrics", "created", "by"], rows)


@models_app.command("deploy")
def models_deploy(
    name: str,
    version: int,
    canary: Annotated[float | None, typer.Option(help="Send this percent of traffic.")] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Score in the shadow of production.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Deploy a version: production (default), canary or shadow."""
    if canary is not None and shadow:
        raise UsageError("Choose --canary or --shadow, not both.")
    strategy = "canary" if canary is not None else "shadow" if shadow else "replace"
    model = _service().models.deploy(
        _caller(), name, version, strategy=strategy, weight=canary, reason=reason
    )
    if json_output:
        render.emit_json(model_to_json(model))
        return
    render.out.print(
        f"{name}: production v{model.production_version}"
        + (
            f", canary v{model.canary_version} at {model.canary_weight:g}%"
            if model.canary_version
            else ""
        )
        + (f", shadow {list(model.shadow_versions)}" if model.shadow_versions else "")
        + "."
    )


@models_app.command("rollback")
def models_rollback(
    name: str,
    to: Annotated[int | None, typer.Option("--to", help="Version to go back to.")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Move production back to the previous version, or to --to VERSION."""
    model = _service().models.rollback(_caller(), name, to_version=to, reason=reason)
    if json_output:
        render.emit_json(model_to_json(model))
        return
    render.out.print(f"{name}: production is now v{model.production_version}.")


@models_app.command("delete")
def models_delete(
    name: str,
    version: Annotated[int | None, typer.Option(help="Delete only this version.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete a model (all versions) or one version."""
    service = _service()
    if version is not None:
        deleted = [service.models.delete_version(_caller(), name, version)]
    else:
        deleted = service.models.delete_model(_caller(), name)
    document = {"model": name, "deleted_versions": [v.version for v in deleted]}
    if json_output:
        render.emit_json(document)
        return
    what = (
        f"version {version} of {name}"
        if version is not None
        else f"{name} and its {len(deleted)} versions"
    )
    render.out.print(f"Deleted {what}.")


@models_app.command("best")
def models_best(
    name: str,
    metric: Annotated[str, typer.Option(help="Metric to rank by.")],
    json_output: JsonFlag = False,
) -> None:
    """Show the version with the best value of a metric."""
    record = _service().models.best_version(_caller(), name, metric)
    if json_output:
        render.emit_json(version_to_json(record))
        return
    render.out.print(
        f"{name}: best {metric} is version {record.version} ({record.metrics[metric]})."
    )


@app.command()
def feedback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[Path, typer.Argument(help="File with columns prediction_id and actual.")],
    json_output: JsonFlag = False,
) -> None:
    """Send ground truth for earlier predictions (columns prediction_id, actual)."""
    frame = load_dataset(data).frame
    missing = [c for c in ("prediction_id", "actual") if c not in frame.columns]
    if missing:
        raise UsageError(f"Feedback file {data} needs the column {missing[0]!r}.")
    items = [
        {"prediction_id": str(row.prediction_id), "actual": row.actual}
        for row in frame[["prediction_id", "actual"]].itertuples(index=False)
    ]
    outcome = _service().monitoring.record_feedback(_caller(), name, items)
    if json_output:
        render.emit_json(outcome)
        return
    render.out.print(
        f"{name}: {outcome['accepted']} new, {outcome['unchanged']} unchanged, "
        f"{len(outcome['unknown'])} unknown prediction ids."
    )


@app.command()
def monitor(
    name: Annotated[str, typer.Argument(help="Model name.")],
    json_output: JsonFlag = False,
) -> None:
    """Show live performance per version and drift of recent inputs."""
    service = _service()
    caller = _caller()
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


keys_app = typer.Typer(help="Create API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, predictor, trainer or admin.")],
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")] = "default",
    json_output: JsonFlag = False,
) -> None:
    """Create an API key; its text is shown this once."""
    created = _service().access.create_key(_caller(), role, tenant)
    if json_output:
        render.emit_json(created)
        return
    render.out.print(
        f"Created {created['role']} key {created['id']} for tenant {created['tenant']}; "
        "it is shown only now:"
    )
    render.out.print(created["key"], markup=False)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(help="Jobs run at once by this process.")] = 2,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run jobs from the shared queue (scale mode: start as many as you need)."""
    service = _service()
    if once:
        ran = service.jobs.run_pending_jobs()
        service.scheduling.lifecycle_tick()
        render.err.print(f"Ran {ran} jobs and one policy check.")
        return
    service.jobs.start_workers(threads)
    # The scheduler acts only while this process holds the lease, so any number may run.
    service.scheduling.start_scheduler()
    render.err.print(
        f"Worker {service.jobs.runner.worker_id if service.jobs.runner else ''} running jobs and "
        "schedules; Ctrl-C stops it."
    )
    try:
        threading.Event().wait()
    finally:
        service.close()


lifecycle.register(app, models_app, _service, _caller)


def main(argv: list[str] | None = None) -> None:
    """Runs the command line and exits with 0, 1 (the work failed) or 2 (bad usage)."""
    logging.basicConfig(
        level=os.environ.get("VIGIL_LOG_LEVEL", "WARNING").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    command = typer.main.get_command(app)
    try:
        returned = command.main(args=argv, prog_name="vigil", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        render.err.print("Aborted.")
        sys.exit(130)
    except typer.TyperException as exc:
        # Typer's own parsing errors (unknown option, missing argument): bad usage.
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        render.err.print(f"error: {message}", markup=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except UsageError as exc:
        render.err.print(f"error: {exc.message}", markup=False)
        sys.exit(2)
    except VigilError as exc:
        render.err.print(f"error: {exc.message}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        render.err.print("Interrupted; nothing was recorded for the unfinished work.")
        sys.exit(130)
    # Typer turns an interrupt inside a command into a returned exit code (130).
    if isinstance(returned, int) and returned != 0:
        if returned == 130:
            render.err.print("Interrupted; nothing was recorded for the unfinished work.")
        sys.exit(returned)
    sys.exit(0)


if __name__ == "__main__":
    main()
