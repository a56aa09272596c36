"""The at-risk board, the back office's first page: the slots whose go/no-go falls in the next
hours while they are under their minimum (the office's main lever on visits called off for lack
of people: promote them, call the farmer, merge groups early), and the visits of today and
tomorrow with their head counts. Reads only; one SELECT each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    Booking,
    BookingStatus,
    Provider,
    Slot,
    SlotStatus,
)

#: How far ahead the board looks for go/no-go decisions.
HORIZON = timedelta(hours=72)


@dataclass(frozen=True)
class AtRiskSlot:
    slot_id: int
    activity_name: str
    title: dict[str, str]
    provider_id: int
    provider: str
    provider_phone: str | None
    starts_at: datetime
    decision_at: datetime
    capacity: int
    booked: int
    min_participants: int

    @property
    def missing(self) -> int:
        """People still needed for the visit to go ahead."""
        return self.min_participants - self.booked


async def at_risk(
    db: Database, *, now: datetime | None = None, horizon: timedelta = HORIZON
) -> list[AtRiskSlot]:
    """Undecided slots whose decision time is between now and ``now + horizon`` and that have
    fewer people than their minimum, the soonest decision first."""
    now = now or clock.now()
    query = (
        select(
            Slot.id,
            Activity.name,
            Activity.title,
            Provider.id.label("provider_id"),
            Provider.name.label("provider"),
            Provider.phone,
            Slot.starts_at,
            Slot.decision_at,
            Slot.capacity,
            Slot.booked,
            Slot.min_participants,
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(
            Slot.status == SlotStatus.SCHEDULED,
            Slot.decision_at >= now,
            Slot.decision_at <= now + horizon,
            Slot.booked < Slot.min_participants,
        )
        .order_by(Slot.decision_at, Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [
        AtRiskSlot(
            slot_id=row.id,
            activity_name=row.name,
            title=dict(row.title or {}),
            provider_id=row.provider_id,
            provider=row.provider,
            provider_phone=row.phone,
            starts_at=row.starts_at,
            decision_at=row.decision_at,
            capacity=row.capacity,
            booked=row.booked,
            min_participants=row.min_participants,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class DayVisit:
    slot_id: int
    activity_name: str
    title: dict[str, str]
    provider: str
    provider_phone: str | None
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus
    capacity: int
    min_participants: int
    adults: int
    children: int
    bookings: int

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def day(self) -> date:
        return clock.local_date(self.starts_at)


async def visits_between(db: Database, first_day: date, last_day: date) -> list[DayVisit]:
    """Every slot starting on a local day from ``first_day`` to ``last_day``, cancelled ones
    included (someone may still turn up), with the adults and children of its live bookings:
    one SELECT with a GROUP BY."""
    live = and_(Booking.slot_id == Slot.id, Booking.status == BookingStatus.CONFIRMED)
    adults = func.coalesce(func.sum(Booking.adults), 0)
    children = func.coalesce(func.sum(Booking.children), 0)
    bookings = func.count(Booking.id)
    query = (
        select(
            Slot.id,
            Activity.name,
            Activity.title,
            Provider.name.label("provider"),
            Provider.phone,
            Slot.starts_at,
            Slot.ends_at,
            Slot.status,
            Slot.capacity,
            Slot.min_participants,
            adults.label("adults"),
            children.label("children"),
            bookings.label("bookings"),
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .outerjoin(Booking, live)
        .where(Slot.starts_on >= first_day, Slot.starts_on <= last_day)
        .group_by(Slot.id, Activity.id, Provider.id)
        .order_by(Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [
        DayVisit(
            slot_id=row.id,
            activity_name=row.name,
            title=dict(row.title or {}),
            provider=row.provider,
            provider_phone=row.phone,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=SlotStatus(row.status),
            capacity=row.capacity,
            min_participants=row.min_participants,
            adults=int(row.adults),
            children=int(row.children),
            bookings=int(row.bookings),
        )
        for row in rows
    ]
