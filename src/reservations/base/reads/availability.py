"""What is on, and how many places are left: the read side used by the API, the website and
resellers. One SELECT over slot ⋈ activity ⋈ provider; no ORM objects, no per-slot queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, select

from reservations.base import clock
from reservations.base.errors import InvalidPeriod
from reservations.base.infra.db import Database
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    ActivityKind,
    Provider,
    Slot,
    SlotStatus,
)

MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class SlotView:
    id: int
    activity_id: int
    activity: str
    provider_id: int
    provider: str
    kind: ActivityKind
    sector: str
    village: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    min_participants: int
    status: SlotStatus
    booking_cutoff_at: datetime
    decision_at: datetime
    price_adult_cents: int
    price_child_cents: int
    bookable: bool

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)


@dataclass(frozen=True)
class SlotFilter:
    sector: str | None = None
    kind: ActivityKind | None = None
    #: A provider's id, or its exact name.
    provider: str | None = None


async def list_slots(
    db: Database,
    first_day: date,
    last_day: date,
    slot_filter: SlotFilter = SlotFilter(),
    *,
    locale: str = "fr",
    now: datetime | None = None,
) -> list[SlotView]:
    """Slots starting on local days ``first_day`` to ``last_day`` (inclusive), in start order."""
    if last_day < first_day or (last_day - first_day).days >= MAX_PERIOD_DAYS:
        raise InvalidPeriod(field="to", maximum=MAX_PERIOD_DAYS)
    now = now or clock.now()
    query = (
        select(
            Slot.id,
            Slot.activity_id,
            Slot.starts_at,
            Slot.ends_at,
            Slot.capacity,
            Slot.booked,
            Slot.min_participants,
            Slot.status,
            Slot.booking_cutoff_at,
            Slot.decision_at,
            Activity.title,
            Activity.name,
            Activity.kind,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            Provider.id.label("provider_id"),
            Provider.name.label("provider"),
            Provider.sector,
            Provider.village,
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(
            Slot.starts_on >= first_day,
            Slot.starts_on <= last_day,
            Activity.archived_at.is_(None),
        )
        .order_by(Slot.starts_at, Slot.id)
    )
    if slot_filter.sector:
        query = query.where(Provider.sector == slot_filter.sector)
    if slot_filter.kind:
        query = query.where(Activity.kind == slot_filter.kind)
    if slot_filter.provider:
        provider = slot_filter.provider
        query = query.where(
            Provider.id == int(provider) if provider.isdigit() else Provider.name == provider
        )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [_view(row, locale, now) for row in rows]


def _view(row: Row[Any], locale: str, now: datetime) -> SlotView:
    return SlotView(
        id=row.id,
        activity_id=row.activity_id,
        activity=row.title.get(locale) or row.title.get("fr") or row.name,
        provider_id=row.provider_id,
        provider=row.provider,
        kind=row.kind,
        sector=row.sector,
        village=row.village,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        booked=row.booked,
        min_participants=row.min_participants,
        status=row.status,
        booking_cutoff_at=row.booking_cutoff_at,
        decision_at=row.decision_at,
        price_adult_cents=row.price_adult_cents,
        price_child_cents=row.price_child_cents,
        bookable=is_bookable(row, now),
    )


def is_bookable(slot: Slot | Row[Any], now: datetime) -> bool:
    """The same conditions the booking UPDATE checks, for display (the UPDATE has the last word)."""
    return (
        slot.status in BOOKABLE_STATUSES
        and now < slot.booking_cutoff_at
        and slot.booked < slot.capacity
    )


def on_programme(view: SlotView, now: datetime) -> bool:
    """Listed publicly (programme, embed, kiosk): not started, neither held nor cancelled. A
    cancelled slot's visitors are told by email with other dates; its page stays readable."""
    return view.starts_at > now and view.status in BOOKABLE_STATUSES
