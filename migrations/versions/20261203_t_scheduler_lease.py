"""scheduler lease (one server process at a time runs the due work); how to get to an
activity's meeting point, per language (existing activities: nothing said yet)

Revision ID: 20261203_t
Revises: 20261202_p
Create Date: 2026-12-03 06:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "20261203_t"
down_revision: str | None = "20261202_p"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", reservations.base.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )
    with op.batch_alter_table("activity") as batch:
        batch.add_column(
            sa.Column("directions", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("directions")
    op.drop_table("scheduler_lease")
