"""What the waiting-list and cancellation emails say of a visit and of the office: one read of
a slot with its activity's titles and its farm, and the links every such email ends with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.models import Activity, Provider, Slot
from reservations.settings import Settings


def office_links(settings: Settings) -> dict[str, str]:
    return {"public_url": settings.public_url.rstrip("/"), "office_phone": settings.office_phone}


async def visit_with_titles(session: AsyncSession, slot_id: int) -> tuple[dict[str, str], str, Any]:
    """The activity's titles by language, its name, and the row (``.Slot``, ``.provider``)."""
    row = (
        await session.execute(
            select(Activity.title, Activity.name, Provider.name.label("provider"), Slot)
            .join(Activity, Slot.activity_id == Activity.id)
            .join(Provider, Activity.provider_id == Provider.id)
            .where(Slot.id == slot_id)
        )
    ).one()
    return dict(row.title or {}), row.name, row
