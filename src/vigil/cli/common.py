"""What every command module shares: the service, the caller, the flag types, flag parsing.

Nothing here imports the service or the data stack at module level: ``vigil
--help`` loads every command module, and a command pays only for what it uses.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigil.cli import render
from vigil.errors import UsageError
from vigil.security import Caller

if TYPE_CHECKING:
    from vigil.service import VigilService

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def build_service() -> VigilService:
    """Returns the service on the configuration in the environment (VIGIL_HOME …)."""
    from vigil.config import Settings
    from vigil.service import VigilService

    return VigilService.from_settings(Settings.from_env())


def cli_caller() -> Caller:
    """Returns who runs the command: an admin of tenant ``default``, named after the user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        user = "unknown"
    return Caller(tenant="default", actor=f"cli:{user}")


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """Returns the ``--param KEY=VALUE`` flags as a dict; a pair without ``=`` is bad usage."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes KEY=VALUE, got {pair!r}.")
        params[key.strip()] = value
    return params


def comma_list(text: str | None) -> list[str]:
    """Returns the names in a comma-separated flag value (``a, b,`` -> ``["a", "b"]``)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def feature_choice(features: str | None) -> str | list[str] | None:
    """Returns the train request's ``features`` from ``--features``: a kind or columns.

    A kind name alone (logs, metrics, requests, tabular) picks how raw inputs
    become features; anything else is a comma-separated column list (a list of
    one column named like a kind is written with a trailing comma: ``logs,``).
    """
    from vigil.features.kinds import FEATURE_KINDS

    if features is None:
        return None
    if features.strip() in FEATURE_KINDS:
        return features.strip()
    return comma_list(features)


def report_malformed(report: dict[str, Any] | None) -> None:
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
