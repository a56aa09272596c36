"""resellers selling through the OCTO API: their keys (hashed), the bookings they sold, and the
reseller's hold (booking status ``on_hold``)

Revision ID: 20261203_w
Revises: 20261203_v
Create Date: 2026-12-03 13:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "20261203_w"
down_revision: str | None = "20261203_v"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = ("confirmed", "cancelled", "pending_payment", "expired")
_NEW_STATUSES = (*_OLD_STATUSES, "on_hold")


def _status_check(statuses: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


def upgrade() -> None:
    op.create_table(
        "reseller",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("test_mode", sa.Boolean(), nullable=False),
        sa.Column("created_at", reservations.base.models.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", reservations.base.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reseller")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_reseller_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_reseller_name")),
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reseller_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reseller_reference", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("reseller_data", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_booking_reseller_id_reseller"), "reseller", ["reseller_id"], ["id"]
        )
        batch_op.create_index(
            "ix_booking_reseller_id_reseller_reference",
            ["reseller_id", "reseller_reference"],
            unique=False,
        )
        batch_op.drop_constraint(batch_op.f("ck_booking_booking_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_booking_booking_status"), _status_check(_NEW_STATUSES)
        )


def downgrade() -> None:
    op.execute("UPDATE booking SET status = 'expired' WHERE status = 'on_hold'")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_booking_booking_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_booking_booking_status"), _status_check(_OLD_STATUSES)
        )
        batch_op.drop_index("ix_booking_reseller_id_reseller_reference")
        batch_op.drop_constraint(batch_op.f("fk_booking_reseller_id_reseller"), type_="foreignkey")
        batch_op.drop_column("reseller_data")
        batch_op.drop_column("reseller_reference")
        batch_op.drop_column("reseller_id")
    op.drop_table("reseller")
