"""Leases carry requests to run now and the holder's last report.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Returns once the leases table has the run-request and last-run columns."""
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("run_requests", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("runs_answered", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_run_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_report", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Returns once the leases table is as revision 0004 made it."""
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("last_report")
        batch_op.drop_column("last_run_at")
        batch_op.drop_column("last_run_by")
        batch_op.drop_column("runs_answered")
        batch_op.drop_column("run_requests")
