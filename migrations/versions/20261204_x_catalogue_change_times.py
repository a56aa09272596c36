"""activities and providers carry the time of their last change, so that a published page, feed
or availability answer can tell from one aggregate whether the catalogue it shows has changed

Revision ID: 20261204_x
Revises: 20261203_w
Create Date: 2026-12-04 20:00:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "20261204_x"
down_revision: str | None = "20261203_w"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("activity", "provider")


def upgrade() -> None:
    now = datetime.now(UTC)
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("updated_at", reservations.base.models.UTCDateTime(), nullable=True)
            )
        column = sa.table(
            table, sa.column("updated_at", reservations.base.models.UTCDateTime())
        ).c.updated_at
        op.execute(sa.update(column.table).values(updated_at=now))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "updated_at",
                existing_type=reservations.base.models.UTCDateTime(),
                nullable=False,
            )


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("updated_at")
