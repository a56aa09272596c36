"""The audit trail: every change to a slot or a booking adds one entry, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.models import AuditEntry


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    *,
    slot_id: int | None = None,
    booking_id: int | None = None,
    **data: Any,
) -> None:
    session.add(
        AuditEntry(actor=actor, action=action, slot_id=slot_id, booking_id=booking_id, data=data)
    )
