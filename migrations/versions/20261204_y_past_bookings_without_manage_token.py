"""a booking may have no manage token: past bookings imported from a spreadsheet were never
handed one, and inventing a random token per imported row costs time and means nothing

Revision ID: 20261204_y
Revises: 20261204_x
Create Date: 2026-12-04 20:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_y"
down_revision: str | None = "20261204_x"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.alter_column(
            "manage_token_hash", existing_type=sa.String(length=64), nullable=True
        )


def downgrade() -> None:
    # Bookings without a token get a random hash nobody holds the token of, as before.
    if op.get_bind().dialect.name == "sqlite":
        random_hash = "lower(hex(randomblob(32)))"
    else:
        random_hash = "md5(random()::text || id::text) || md5(random()::text || id::text)"
    op.execute(
        f"UPDATE booking SET manage_token_hash = {random_hash} WHERE manage_token_hash IS NULL"
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.alter_column(
            "manage_token_hash", existing_type=sa.String(length=64), nullable=False
        )
