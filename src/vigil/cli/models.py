"""``vigil models …``: list, inspect, deploy, roll back and delete models and versions.

The policy and retraining commands of the group are in ``lifecycle.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller
from vigil.errors import UsageError


def models_list(json_output: JsonFlag = False) -> None:
    """List models."""
    from vigil.config import Settings
    from vigil.registry.entities import model_to_json
    from vigil.registry.quick_read import list_models

    # An embedded registry at head is read with sqlite3 alone: no SQLAlchemy to import.
    caller = cli_caller()
    records = list_models(Settings.from_env().database_url, caller.tenant)
    if records is None:
        records = build_service().models.list_models(caller)
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


def models_show(name: str, json_output: JsonFlag = False) -> None:
    """Show a model, its deployment and its history."""
    from vigil.usecases.models import event_to_json, model_to_json

    service = build_service()
    caller = cli_caller()
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


def models_versions(name: str, json_output: JsonFlag = False) -> None:
    """List a model's versions."""
    from vigil.usecases.models import version_to_json

    service = build_service()
    caller = cli_caller()
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
    from vigil.usecases.models import model_to_json

    if canary is not None and shadow:
        raise UsageError("Choose --canary or --shadow, not both.")
    strategy = "canary" if canary is not None else "shadow" if shadow else "replace"
    model = build_service().models.deploy(
        cli_caller(), name, version, strategy=strategy, weight=canary, reason=reason
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


def models_rollback(
    name: str,
    to: Annotated[int | None, typer.Option("--to", help="Version to go back to.")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Move production back to the previous version, or to --to VERSION."""
    from vigil.usecases.models import model_to_json

    model = build_service().models.rollback(cli_caller(), name, to_version=to, reason=reason)
    if json_output:
        render.emit_json(model_to_json(model))
        return
    render.out.print(f"{name}: production is now v{model.production_version}.")


def models_delete(
    name: str,
    version: Annotated[int | None, typer.Option(help="Delete only this version.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete a model (all versions) or one version."""
    service = build_service()
    if version is not None:
        deleted = [service.models.delete_version(cli_caller(), name, version)]
    else:
        deleted = service.models.delete_model(cli_caller(), name)
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


def models_best(
    name: str,
    metric: Annotated[str, typer.Option(help="Metric to rank by.")],
    json_output: JsonFlag = False,
) -> None:
    """Show the version with the best value of a metric."""
    from vigil.usecases.models import version_to_json

    record = build_service().models.best_version(cli_caller(), name, metric)
    if json_output:
        render.emit_json(version_to_json(record))
        return
    render.out.print(
        f"{name}: best {metric} is version {record.version} ({record.metrics[metric]})."
    )
