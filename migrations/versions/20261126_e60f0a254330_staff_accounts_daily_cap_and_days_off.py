"""staff accounts, daily cap and days off

Revision ID: e60f0a254330
Revises: 0bc443f118f6
Create Date: 2026-11-26 15:40:48.603152+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

revision: str = "e60f0a254330"
down_revision: str | None = "0bc443f118f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "staff",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column(
            "locked_until", reservations.base.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_login_at", reservations.base.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", reservations.base.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "disabled_at", reservations.base.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_user_email")),
    )
    op.create_table(
        "provider_day_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_day_off_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_day_off")),
        sa.UniqueConstraint("provider_id", "day", name=op.f("uq_provider_day_off_provider_id_day")),
    )
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_provider_daily_cap_positive"), "daily_cap IS NULL OR daily_cap > 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_provider_daily_cap_positive"), type_="check")
        batch_op.drop_column("daily_cap")

    op.drop_table("provider_day_off")
    op.drop_table("staff_user")
