"""Keys expire, rotate and record their last use; lost prediction-log records are counted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Returns once api_keys has expiry/last-use/rotation columns and the loss table exists."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rotated_from", sa.String(length=32), nullable=True))

    op.create_table(
        "prediction_log_losses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_log_losses")),
    )


def downgrade() -> None:
    """Returns once the schema is as revision 0005 made it."""
    op.drop_table("prediction_log_losses")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("rotated_from")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
