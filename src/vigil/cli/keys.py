"""``vigil keys …``: API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller


def keys_create(
    role: Annotated[str, typer.Option(help="viewer, predictor, trainer or admin.")],
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")] = "default",
    json_output: JsonFlag = False,
) -> None:
    """Create an API key; its text is shown this once."""
    created = build_service().access.create_key(cli_caller(), role, tenant)
    if json_output:
        render.emit_json(created)
        return
    render.out.print(
        f"Created {created['role']} key {created['id']} for tenant {created['tenant']}; "
        "it is shown only now:"
    )
    render.out.print(created["key"], markup=False)
