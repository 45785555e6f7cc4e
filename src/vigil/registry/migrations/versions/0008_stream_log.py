"""Streams: a log of the batches answered since each model's stream snapshot.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Returns once stream_states says its snapshot's revision and stream_log exists.

    A state written before holds every batch (it is its own snapshot): its
    snapshot revision stays empty and is read as its revision.
    """
    with op.batch_alter_table("stream_states") as batch:
        batch.add_column(sa.Column("snapshot_revision", sa.BigInteger(), nullable=True))
    op.create_table(
        "stream_log",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "model", "revision", name=op.f("pk_stream_log")),
    )


def downgrade() -> None:
    """Returns once the schema is as revision 0007 made it (logged batches are dropped)."""
    op.drop_table("stream_log")
    with op.batch_alter_table("stream_states") as batch:
        batch.drop_column("snapshot_revision")
