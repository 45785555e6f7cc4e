"""``vigil keys …``: API keys (create, list, rotate, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.cli import render
from vigil.cli.common import JsonFlag, build_service, cli_caller


def keys_create(
    role: Annotated[str, typer.Option(help="viewer, predictor, trainer, admin or metrics.")],
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")] = "default",
    expires_in_days: Annotated[
        float | None,
        typer.Option("--expires-in-days", help="The key stops working after N days."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create an API key; its text is shown this once."""
    created = build_service().access.create_key(
        cli_caller(), role, tenant, expires_in_days=expires_in_days
    )
    if json_output:
        render.emit_json(created)
        return
    expiry = f", expiring {created['expires_at']}" if created["expires_at"] else ""
    render.out.print(
        f"Created {created['role']} key {created['id']} for tenant {created['tenant']}"
        f"{expiry}; it is shown only now:",
        markup=False,
    )
    render.out.print(created["key"], markup=False)


def keys_list(
    tenant: Annotated[str, typer.Option(help="Tenant whose keys to list.")] = "default",
    json_output: JsonFlag = False,
) -> None:
    """List a tenant's keys: id, role, state, created, last used (never the secret)."""
    keys = build_service().access.list_keys(cli_caller(), tenant)
    if json_output:
        render.emit_json(keys)
        return
    render.table(
        f"Keys of tenant {tenant}",
        ["id", "role", "state", "created", "last used", "expires"],
        [_row(key) for key in keys],
    )


def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id.")],
    json_output: JsonFlag = False,
) -> None:
    """Revoke a key: every server refuses it within 2 seconds."""
    revoked = build_service().access.revoke_key(cli_caller(), key_id)
    if json_output:
        render.emit_json(revoked)
        return
    render.out.print(f"Revoked key {revoked['id']} of tenant {revoked['tenant']}.", markup=False)


def keys_rotate(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key to replace.")],
    grace_hours: Annotated[
        float, typer.Option("--grace-hours", help="How long the old key keeps working.")
    ] = 24.0,
    json_output: JsonFlag = False,
) -> None:
    """Create a key with the same role and tenant; the old one works for the grace period."""
    created = build_service().access.rotate_key(cli_caller(), key_id, grace_hours=grace_hours)
    if json_output:
        render.emit_json(created)
        return
    render.out.print(
        f"Key {created['id']} replaces {key_id} ({created['role']}, tenant "
        f"{created['tenant']}); {key_id} works for {grace_hours:g} more hours. "
        "The new key is shown only now:",
        markup=False,
    )
    render.out.print(created["key"], markup=False)


def _row(key: dict[str, Any]) -> list[Any]:
    return [
        key["id"],
        key["role"],
        key["state"],
        key["created_at"],
        key["last_used_at"] or "never",
        key["expires_at"] or "never",
    ]
