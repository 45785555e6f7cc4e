"""The Alembic environment of the registry: migrations run against ``tables.Base.metadata``.

Vigil runs it through :func:`vigil.registry.db.upgrade`, which passes an open
connection (already inside the transaction that serialises concurrent
upgrades) in ``config.attributes["connection"]``. Run by the ``alembic``
command, it connects to ``VIGIL_DATABASE_URL`` (or ``sqlalchemy.url``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from vigil.registry.db import create_engine_for
from vigil.registry.tables import Base, UTCDateTime

target_metadata = Base.metadata


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Returns how autogenerate writes ``item``: UTCDateTime as its plain column type.

    Migrations stay free of imports from the application, whose code changes
    while a migration must keep meaning what it meant when it was written.
    """
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    """Returns the URL the ``alembic`` command works on."""
    url = os.environ.get("VIGIL_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("Set VIGIL_DATABASE_URL to the database to migrate.")
    return url


def run_on(connection: Connection) -> None:
    """Runs the pending migrations on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Writes the migrations as SQL instead of running them (``alembic upgrade --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Runs the migrations on the caller's connection, or on a new one to the database URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine_for(database_url())
    try:
        with engine.begin() as own_connection:
            run_on(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
