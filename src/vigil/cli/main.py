"""The ``vigil`` command: assembles the command modules into one Typer app.

Every command takes ``--json`` (one JSON document on stdout and nothing else
there) and otherwise prints for people. Exit codes: 0 success, 1 the work
failed, 2 bad usage. Errors go to stderr as one sentence.

Each command group lives in its own module (as the REST routes do in
``api/routes``); a command imports the service and the data stack when it
runs, so ``vigil --help`` and the registry commands start quickly.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from typing import Any

import typer
from typer.models import CommandInfo

from vigil.cli import (
    algorithms,
    doctor,
    incidents,
    keys,
    lifecycle,
    models,
    monitor,
    predict,
    render,
    serve,
    simulate,
    train,
    watch,
    worker,
)
from vigil.cli.common import build_service, cli_caller
from vigil.errors import UsageError, VigilError
from vigil.reprs import plain_reprs

APP_SETTINGS: dict[str, Any] = {
    "name": "vigil",
    "help": "Vigil: train, version, serve and watch machine-learning models.",
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
}
app = typer.Typer(**APP_SETTINGS)
models_app = typer.Typer(
    help="List, inspect, deploy, roll back and delete models.", no_args_is_help=True
)
keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)

# Commands are listed in ``vigil --help`` in this order, then the groups.
app.command("serve")(serve.serve)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("evaluate")(predict.evaluate)
app.command("algorithms")(algorithms.algorithms)
app.command("compare")(train.compare)
app.command("simulate")(simulate.simulate)
app.command("feedback")(monitor.feedback)
app.command("monitor")(monitor.monitor)
app.command("worker")(worker.worker)
app.command("doctor")(doctor.doctor)
app.command("watch")(watch.watch)
app.command("incidents")(incidents.incidents)

app.add_typer(models_app, name="models")
models_app.command("list")(models.models_list)
models_app.command("show")(models.models_show)
models_app.command("versions")(models.models_versions)
models_app.command("deploy")(models.models_deploy)
models_app.command("rollback")(models.models_rollback)
models_app.command("delete")(models.models_delete)
models_app.command("best")(models.models_best)

app.add_typer(keys_app, name="keys")
keys_app.command("create")(keys.keys_create)
keys_app.command("list")(keys.keys_list)
keys_app.command("rotate")(keys.keys_rotate)
keys_app.command("revoke")(keys.keys_revoke)

# ``alerts``, ``models policy``, ``models retrain`` and ``scheduler run``.
lifecycle.register(app, models_app, build_service, cli_caller)


def app_for(argv: list[str]) -> typer.Typer:
    """Returns the app that parses ``argv``: the one command or group it names, alone.

    Typer reads every command's parameters from its type hints when it builds
    the command line (some 30 ms for all of them); a run needs one. Anything
    else (``--help``, no command, a misspelt one) gets the whole app, whose
    help and "No such command" name every command.
    """
    named = argv[0] if argv else None
    commands = [info for info in app.registered_commands if info.name == named]
    groups = [info for info in app.registered_groups if info.name == named]
    if not commands and not groups:
        return _listing(app)
    alone = typer.Typer(**APP_SETTINGS)
    alone.registered_commands = commands
    alone.registered_groups = groups
    # A callback keeps it a group, so ``vigil serve ...`` parses as with the whole app.
    alone.callback()(_whole_app)
    return alone


def _listing(whole: typer.Typer) -> typer.Typer:
    """Returns ``whole`` with every command (in every group) standing in without parameters.

    What runs it never reaches a command: it prints the commands with their
    one-line help, or says a command is unknown. Those need each command's
    name and docstring, not the parameters Typer would read from all 28
    commands' type hints (most of ``vigil --help``'s time after the imports).
    """
    listing = copy.copy(whole)
    listing.registered_commands = [_stand_in(info) for info in whole.registered_commands]
    listing.registered_groups = []
    for info in whole.registered_groups:
        group = copy.copy(info)
        if info.typer_instance is not None:
            group.typer_instance = _listing(info.typer_instance)
        listing.registered_groups.append(group)
    return listing


def _stand_in(info: CommandInfo) -> CommandInfo:
    """Returns ``info`` with a callback that has its docstring and no parameters."""
    command = info.callback

    def stand_in() -> None:
        raise RuntimeError(f"{info.name} was run from the command listing")  # never, by app_for

    if command is not None:  # a command without a name is named after its function
        stand_in.__name__, stand_in.__doc__ = command.__name__, command.__doc__
    listed = copy.copy(info)
    listed.callback = stand_in
    return listed


def _whole_app() -> None:
    """Vigil: train, version, serve and watch machine-learning models."""


def _flags_without_pydantic(command: Any, parent: Any = None) -> None:
    """Gives every on/off flag of ``command`` and its subcommands, ``--help`` included, a
    plain coercion.

    Typer checks each parameter's value through a pydantic ``TypeAdapter`` built on
    first use, and the ``--help`` flag of every level gets a value (None when not
    given), so every run would import pydantic (a fifth of a second here) to check
    flags the parser already made True, False or None. Typer's own pass-through
    coercion accepts exactly those; parameters of other types keep the adapter.
    If Typer's internals differ from what this expects, it changes nothing.
    """
    try:
        from typer._click import Context
        from typer._coercion import PassThroughRuntimeParam

        context = Context(command, parent=parent)
        # Made once per command and kept (``_help_option``): made here, patched here.
        flags = [*command.params, command.get_help_option(context)]
        for param in flags:
            descriptor = getattr(param, "type_descriptor", None)
            if (
                descriptor is not None
                and getattr(param, "is_bool_flag", False)
                and descriptor.annotation is bool
                and getattr(param, "_runtime_param", "absent") is None
            ):
                param._runtime_param = PassThroughRuntimeParam(
                    parameter_info=descriptor.parameter_info, annotation=bool
                )
    except (ImportError, AttributeError, TypeError):
        return
    for subcommand in getattr(command, "commands", {}).values():
        _flags_without_pydantic(subcommand, context)


def main(argv: list[str] | None = None) -> None:
    """Runs the command line and exits with 0, 1 (the work failed) or 2 (bad usage)."""
    logging.basicConfig(
        level=os.environ.get("VIGIL_LOG_LEVEL", "WARNING").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if argv is None:
        argv = sys.argv[1:]
    command = typer.main.get_command(app_for(argv))
    _flags_without_pydantic(command)
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
        render.err.print(f"error: {plain_reprs(exc.message)}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        render.err.print("Interrupted; nothing was recorded for the unfinished work.")
        sys.exit(130)
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        if os.environ.get("VIGIL_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
            raise
        render.err.print(
            f"error: an unexpected {type(exc).__name__}: {str(exc)[:300]} "
            "(run again with VIGIL_DEBUG=1 to see where it happened).",
            markup=False,
        )
        sys.exit(1)
    # Typer turns an interrupt inside a command into a returned exit code (130).
    if isinstance(returned, int) and returned != 0:
        if returned == 130:
            render.err.print("Interrupted; nothing was recorded for the unfinished work.")
        sys.exit(returned)
    sys.exit(0)


if __name__ == "__main__":
    main()
