"""invitations to move a booking to another slot of its activity (consolidation of
under-minimum slots); bookings made from a visitor's share link (existing ones: not)

Revision ID: 20261203_v
Revises: 20261203_u
Create Date: 2026-12-03 11:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "20261203_v"
down_revision: str | None = "20261203_u"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "move_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("source_slot_id", sa.Integer(), nullable=False),
        sa.Column("target_slot_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", reservations.base.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", reservations.base.models.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", reservations.base.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["booking.id"], name=op.f("fk_move_invitation_booking_id_booking")
        ),
        sa.ForeignKeyConstraint(
            ["source_slot_id"], ["slot.id"], name=op.f("fk_move_invitation_source_slot_id_slot")
        ),
        sa.ForeignKeyConstraint(
            ["target_slot_id"], ["slot.id"], name=op.f("fk_move_invitation_target_slot_id_slot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_move_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_move_invitation_token_hash")),
        sa.UniqueConstraint(
            "booking_id",
            "source_slot_id",
            "target_slot_id",
            name=op.f("uq_move_invitation_booking_id_source_slot_id_target_slot_id"),
        ),
    )
    op.create_index(
        op.f("ix_move_invitation_booking_id"), "move_invitation", ["booking_id"], unique=False
    )
    op.create_index(
        op.f("ix_move_invitation_source_slot_id"),
        "move_invitation",
        ["source_slot_id"],
        unique=False,
    )
    op.create_index(
        "ix_move_invitation_target_slot_id", "move_invitation", ["target_slot_id"], unique=False
    )
    with op.batch_alter_table("booking") as batch:
        batch.add_column(
            sa.Column("via_share_link", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("booking") as batch:
        batch.drop_column("via_share_link")
    op.drop_index("ix_move_invitation_target_slot_id", table_name="move_invitation")
    op.drop_index(op.f("ix_move_invitation_source_slot_id"), table_name="move_invitation")
    op.drop_index(op.f("ix_move_invitation_booking_id"), table_name="move_invitation")
    op.drop_table("move_invitation")
