"""provider access link, and illness and fire risk as reasons to cancel a slot

Revision ID: 0bc443f118f6
Revises: f4d4c58a1dfa
Create Date: 2026-11-26 15:22:47.691466+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import reservations.base.models

OLD_REASONS = ("under_minimum", "provider", "weather", "staff", "other")
NEW_REASONS = (
    "under_minimum",
    "provider",
    "illness",
    "weather",
    "fire_risk",
    "staff",
    "other",
)


def _reasons(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="cancel_reason", native_enum=False, create_constraint=True, length=24
    )


revision: str = "0bc443f118f6"
down_revision: str | None = "f4d4c58a1dfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "access_link_issued_at",
                reservations.base.models.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_provider_access_token_hash"), ["access_token_hash"]
        )
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.alter_column(
            "cancel_reason",
            existing_type=_reasons(OLD_REASONS),
            type_=_reasons(NEW_REASONS),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.alter_column(
            "cancel_reason",
            existing_type=_reasons(NEW_REASONS),
            type_=_reasons(OLD_REASONS),
            existing_nullable=True,
        )
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_provider_access_token_hash"), type_="unique")
        batch_op.drop_column("access_link_issued_at")
        batch_op.drop_column("access_token_hash")
