"""Commands of the model lifecycle: policies, retraining, alerts and the scheduler.

``register`` adds them to the ``vigil`` app: ``vigil models policy``,
``vigil models retrain``, ``vigil alerts`` and ``vigil scheduler run``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag
from vigil.errors import InvalidInput, UsageError
from vigil.security import Caller

if TYPE_CHECKING:
    from vigil.service import VigilService


def register(
    app: typer.Typer,
    models_app: typer.Typer,
    service: Callable[[], VigilService],
    caller: Callable[[], Caller],
) -> None:
    """Adds the lifecycle commands to ``app`` and its ``models`` group."""

    @models_app.command("policy")
    def models_policy(
        name: str,
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="FIELD=VALUE (dotted path, JSON value), e.g. rollback.enabled=true; repeat.",
            ),
        ] = None,
        file: Annotated[
            Path | None,
            typer.Option(
                "--file",
                help="Replace the policy with this JSON file (a policy, or what --json prints).",
            ),
        ] = None,
        pause: Annotated[
            bool, typer.Option("--pause", help="Stop automatic actions for now.")
        ] = False,
        resume: Annotated[bool, typer.Option("--resume", help="Resume automatic actions.")] = False,
        json_output: JsonFlag = False,
    ) -> None:
        """Show or change a model's policy (schedule, triggers, promotion, rollback, canary)."""
        if pause and resume:
            raise UsageError("Choose --pause or --resume, not both.")
        svc, who = service(), caller()
        if file is not None or set_:
            if file is None:
                document = svc.policies.get_policy(who, name)["policy"]
            else:
                document = _read_policy(file)
                if isinstance(document.get("policy"), dict):
                    # What --json prints: the policy with the state fields shown next to it.
                    shown = svc.policies.get_policy(who, name).keys() - {"policy"}
                    document = _policy_member(document, shown)
            for assignment in set_ or []:
                _assign(document, assignment)
            state = svc.policies.put_policy(who, name, document)
        else:
            state = svc.policies.get_policy(who, name)
        if pause or resume:
            state = svc.policies.set_policy_paused(who, name, pause)
        if json_output:
            render.emit_json(state)
            return
        _print_policy(state)

    @models_app.command("retrain")
    def models_retrain(
        name: str,
        reason: Annotated[str, typer.Option(help="Why, for the history and the alert.")] = (
            "requested"
        ),
        queue: Annotated[
            bool, typer.Option("--queue", help="Queue it for a worker instead of running here.")
        ] = False,
        json_output: JsonFlag = False,
    ) -> None:
        """Retrain a model on its data plus recent feedback; promote only if it beats production."""
        svc, who = service(), caller()
        if queue:
            job = svc.retraining.submit_retraining(who, name, reason=reason)
            if json_output:
                render.emit_json(job)
            else:
                render.out.print(f"Queued retraining job {job['id']} ({job['status']}).")
            return
        with render.progress_bar(not json_output, f"retraining {name}") as progress:
            result = svc.retraining.retrain(
                who,
                name,
                reason=reason,
                progress=lambda f=None, m=None: progress(f or 0.0, m or ""),
            )
        if json_output:
            render.emit_json(result)
            return
        render.out.print(
            f"{name}: v{result['challenger']} {'promoted' if result['promoted'] else 'kept back'} "
            f"— {result['verdict']}."
        )
        render.table(None, ["rows", "count"], sorted(result["data"].items()))

    @app.command("alerts")
    def alerts(
        name: str,
        status: Annotated[
            str | None, typer.Option(help="Only alerts in this state: open|acknowledged|resolved.")
        ] = None,
        ack: Annotated[
            str | None, typer.Option("--ack", help="Acknowledge the alert with this id.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
        json_output: JsonFlag = False,
    ) -> None:
        """List a model's alerts (drift, degradation, failed jobs, automatic actions)."""
        svc, who = service(), caller()
        if status is not None and status not in ("open", "acknowledged", "resolved"):
            raise UsageError(f"--status must be open, acknowledged or resolved, got {status!r}.")
        if ack is not None:
            alert = svc.alerts.acknowledge_alert(who, name, ack)
            if json_output:
                render.emit_json(alert)
            else:
                render.out.print(f"Alert {ack} acknowledged.")
            return
        found = svc.alerts.list_alerts(who, name, status=status, limit=limit)
        if json_output:
            render.emit_json({"model": name, "alerts": found})
            return
        render.table(
            f"{name}: alerts",
            ["time", "kind", "severity", "status", "message", "id"],
            [
                [a["created_at"], a["kind"], a["severity"], a["status"], a["message"], a["id"]]
                for a in found
            ],
        )

    scheduler_app = typer.Typer(help="The policy scheduler.", no_args_is_help=True)
    app.add_typer(scheduler_app, name="scheduler")

    @scheduler_app.command("run")
    def scheduler_run(json_output: JsonFlag = False) -> None:
        """Run every policy's checks now: here, or by the process that leads the scheduler."""
        report = service().scheduling.run_lifecycle_now(caller())
        if json_output:
            render.emit_json(report)
            return
        if report["by"] == "this process":
            render.out.print(
                "This process ran the policies' checks (it holds the scheduler lease)."
            )
        else:
            render.out.print(
                f"The scheduler's leader, process {report['by']}, ran the policies' checks.",
                markup=False,
            )
        rows = [[m["model"], "; ".join(m["actions"]) or "-"] for m in report["models"]]
        render.table("policies", ["model", "actions"], rows)


def _read_policy(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}.") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path} must hold a JSON object.")
    return document


def _policy_member(document: dict[str, Any], state_fields: Collection[str]) -> dict[str, Any]:
    """Returns the ``policy`` of a ``--json`` document; its read-only state fields are ignored.

    Any other field next to the policy is refused as the policy itself refuses
    one it does not know, naming it.
    """
    unknown = sorted(set(document) - {"policy", *state_fields})
    if unknown:
        problem = "is not a policy field"
        raise InvalidInput(
            f"Policy field {unknown[0]} {problem}.", errors=[{"loc": [unknown[0]], "msg": problem}]
        )
    policy: dict[str, Any] = document["policy"]
    return policy


def _assign(document: dict[str, Any], assignment: str) -> None:
    """Sets ``a.b=VALUE`` in ``document`` (VALUE read as JSON, else as text)."""
    path, sep, text = assignment.partition("=")
    if not sep or not path:
        raise UsageError(f"--set takes FIELD=VALUE, got {assignment!r}.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    keys = path.split(".")
    target = document
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = {}
            target[key] = child
        target = child
    target[keys[-1]] = value


def _print_policy(state: dict[str, Any]) -> None:
    policy = state["policy"]
    rows: list[list[Any]] = []
    for section, value in policy.items():
        if isinstance(value, dict):
            rows.extend([f"{section}.{k}", v] for k, v in value.items())
        else:
            rows.append([section, value])
    render.table(f"{state['model']}: policy", ["field", "value"], rows)
    render.out.print(
        ("paused" if state["paused"] else "active")
        + (f"; next scheduled run {state['next_run_at']}" if state["next_run_at"] else "")
    )
