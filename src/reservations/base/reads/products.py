"""The activities as a reseller's catalogue reads them (OCTO products): what they are, what they
cost, when they start. One SELECT for the activities, one for their start times."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Activity, Slot


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    title: dict[str, str]
    min_age: int | None
    price_adult_cents: int
    price_child_cents: int
    #: Bookings and visitors' cancellations close this many minutes before the start.
    cutoff_minutes: int
    #: The local (Paris) times its coming slots start at, "HH:MM", in order.
    start_times: tuple[str, ...]


async def list_products(
    db: Database, *, product_id: int | None = None, now: datetime | None = None
) -> list[Product]:
    """The activities on sale (not archived), in name order; with ``product_id``, that one."""
    now = now or clock.now()
    activities = (
        select(
            Activity.id,
            Activity.name,
            Activity.title,
            Activity.min_age,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            Activity.cutoff_minutes,
        )
        .where(Activity.archived_at.is_(None))
        .order_by(Activity.name, Activity.id)
    )
    starts = select(Slot.activity_id, Slot.starts_at).distinct().where(Slot.starts_at > now)
    if product_id is not None:
        activities = activities.where(Activity.id == product_id)
        starts = starts.where(Slot.activity_id == product_id)
    async with db.reading_connection() as connection:
        rows = (await connection.execute(activities)).all()
        start_rows = (await connection.execute(starts)).all()
    times: dict[int, set[str]] = defaultdict(set)
    for activity_id, starts_at in start_rows:
        times[activity_id].add(starts_at.astimezone(clock.OFFICE_TZ).strftime("%H:%M"))
    return [Product(**row._mapping, start_times=tuple(sorted(times[row.id]))) for row in rows]
