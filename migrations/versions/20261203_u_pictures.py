"""pictures of activities and farms' portraits, with their encoded sizes

Revision ID: 20261203_u
Revises: 20261203_t
Create Date: 2026-12-03 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "20261203_u"
down_revision: str | None = "20261203_t"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "picture",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alt", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", reservations.base.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "(activity_id IS NULL AND provider_id IS NOT NULL)"
            " OR (activity_id IS NOT NULL AND provider_id IS NULL)",
            name=op.f("ck_picture_one_owner"),
        ),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_picture_dimensions_positive")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_picture_position_not_negative")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activity.id"], name=op.f("fk_picture_activity_id_activity")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_picture_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_picture")),
    )
    op.create_index(
        "ix_picture_activity_id_position", "picture", ["activity_id", "position"], unique=False
    )
    op.create_index(
        "ix_picture_provider_id_position", "picture", ["provider_id", "position"], unique=False
    )
    op.create_table(
        "picture_rendition",
        sa.Column("picture_id", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["picture_id"],
            ["picture.id"],
            name=op.f("fk_picture_rendition_picture_id_picture"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("picture_id", "width", "format", name=op.f("pk_picture_rendition")),
    )


def downgrade() -> None:
    op.drop_table("picture_rendition")
    op.drop_index("ix_picture_provider_id_position", table_name="picture")
    op.drop_index("ix_picture_activity_id_position", table_name="picture")
    op.drop_table("picture")
