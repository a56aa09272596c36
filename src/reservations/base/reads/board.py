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
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts

#: How far ahead the board looks for go/no-go decisions.
HORIZON = timedelta(hours=72)


@dataclass(frozen=True)
class BoardSlot(SlotFacts):
    """A slot on the board, with the farmer's phone: the office calls them."""

    provider_phone: str | None

    @property
    def slot_id(self) -> int:
        """The board's rows are named by their slot."""
        return self.id


async def at_risk(
    db: Database, *, now: datetime | None = None, horizon: timedelta = HORIZON
) -> list[BoardSlot]:
    """Undecided slots whose decision time is between now and ``now + horizon`` and that have
    fewer people than their minimum, the soonest decision first."""
    now = now or clock.now()
    query = (
        select(*slot_facts.COLUMNS, Provider.phone.label("provider_phone"))
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
    return [BoardSlot.from_row(row, now) for row in rows]


@dataclass(frozen=True)
class DayVisit(BoardSlot):
    """A visit of today or tomorrow with the head count of its live bookings."""

    adults: int
    children: int
    bookings: int

    @property
    def people(self) -> int:
        return self.adults + self.children


async def visits_between(
    db: Database, first_day: date, last_day: date, *, now: datetime | None = None
) -> list[DayVisit]:
    """Every slot starting on a local day from ``first_day`` to ``last_day``, cancelled ones
    included (someone may still turn up), with the adults and children of its live bookings:
    one SELECT with a GROUP BY."""
    live = and_(Booking.slot_id == Slot.id, Booking.status == BookingStatus.CONFIRMED)
    adults = func.coalesce(func.sum(Booking.adults), 0)
    children = func.coalesce(func.sum(Booking.children), 0)
    bookings = func.count(Booking.id)
    query = (
        select(
            *slot_facts.COLUMNS,
            Provider.phone.label("provider_phone"),
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
        DayVisit.from_row(
            row,
            now or clock.now(),
            adults=int(row.adults),
            children=int(row.children),
            bookings=int(row.bookings),
        )
        for row in rows
    ]
