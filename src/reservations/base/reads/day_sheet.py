"""What a provider sees of its own slots: the day sheet, the head counts of the coming days, and
the slots with their bookings for the calendar feed and the morning email.

An online booking still waiting for its payment (a hold, ``pending_payment``) is on the sheet
while its hold runs, marked as such (``awaiting_payment``): its places are taken, but the
people are not confirmed. A hold past its end is not on it (its places are free again). The
counts of people, the attendance forms, the feed and the morning email count confirmed
bookings only (``live_bookings``); ``held_people`` says how many more may come.

Reads only, always scoped to one provider. Two SELECTs for any number of slots (the slots, then
all their bookings with attendance), one GROUP BY for the coming days: no per-slot queries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import SlotNotFound
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    Attendance,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    Provider,
    Reseller,
    Slot,
    SlotStatus,
)
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.rules.slots import attendance_locks_at


@dataclass(frozen=True)
class SheetBooking:
    id: int
    reference: str
    name: str
    adults: int
    children: int
    phone: str | None
    email: str | None
    locale: str
    notes: str | None
    channel: Channel
    #: Confirmed, a running hold, or cancelled (with its slot: whom to tell; or on its own).
    status: BookingStatus
    #: Who came, once attendance is recorded: (adults, children); (0, 0) is a no-show.
    present: tuple[int, int] | None
    #: A running hold's end (``pending_payment``); None for other bookings.
    hold_expires_at: datetime | None = None
    #: Who cancelled it, when cancelled: with its slot, or on its own (visitor, office).
    cancelled_by: CancelledBy | None = None
    #: The reseller that sold it (channel ``reseller``).
    reseller: str | None = None

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def cancelled_alone(self) -> bool:
        """Cancelled on its own (by the visitor or the office), the visit going on."""
        return self.status == BookingStatus.CANCELLED and self.cancelled_by != CancelledBy.SLOT

    @property
    def awaiting_payment(self) -> bool:
        """A hold whose payment has not arrived yet (only running holds are read)."""
        return self.status in HOLD_STATUSES

    @property
    def held_by_reseller(self) -> bool:
        """A reseller's hold, which the reseller has not confirmed yet."""
        return self.status == BookingStatus.ON_HOLD


@dataclass(frozen=True)
class SheetSlot(SlotFacts):
    """One of the farm's slots with its bookings, for its day sheet, feed and morning email."""

    cancel_reason: CancelReason | None
    cancel_message: str | None
    sequence: int
    updated_at: datetime
    bookings: list[SheetBooking] = field(default_factory=list)

    @property
    def live_bookings(self) -> list[SheetBooking]:
        return [b for b in self.bookings if b.status == BookingStatus.CONFIRMED]

    @property
    def held_bookings(self) -> list[SheetBooking]:
        """Running holds: places taken while the visitor pays."""
        return [b for b in self.bookings if b.awaiting_payment]

    @property
    def held_people(self) -> int:
        return sum(b.people for b in self.held_bookings)

    @property
    def adults(self) -> int:
        return sum(b.adults for b in self.live_bookings)

    @property
    def children(self) -> int:
        return sum(b.children for b in self.live_bookings)

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def attendance_recorded(self) -> bool:
        return self.status == SlotStatus.HELD

    @property
    def present_people(self) -> int:
        return sum(sum(b.present) for b in self.live_bookings if b.present is not None)

    def attendance_open(self, now: datetime) -> bool:
        """A provider can record (or change) attendance now."""
        return self.status != SlotStatus.CANCELLED and self.starts_at <= now <= attendance_locks_at(
            self.ends_at
        )

    def cancellable(self, now: datetime) -> bool:
        return self.status in (SlotStatus.SCHEDULED, SlotStatus.CONFIRMED) and now < self.ends_at


@dataclass(frozen=True)
class DaySheet:
    day: date
    slots: list[SheetSlot]

    @property
    def live_slots(self) -> list[SheetSlot]:
        return [s for s in self.slots if s.status != SlotStatus.CANCELLED]

    @property
    def adults(self) -> int:
        return sum(s.adults for s in self.live_slots)

    @property
    def children(self) -> int:
        return sum(s.children for s in self.live_slots)

    @property
    def people(self) -> int:
        return self.adults + self.children


@dataclass(frozen=True)
class DayCount:
    day: date
    slots: int
    people: int


async def slots_with_bookings(
    db: Database, provider_id: int, first_day: date, last_day: date
) -> list[SheetSlot]:
    """The provider's slots between two local days (included), by start, with their bookings."""
    return await _sheet_slots(
        db, provider_id, Slot.starts_on >= first_day, Slot.starts_on <= last_day
    )


async def sheet_slot(db: Database, provider_id: int, slot_id: int) -> SheetSlot:
    """One of the provider's slots with its bookings; another provider's is not found."""
    found = await _sheet_slots(db, provider_id, Slot.id == slot_id)
    if not found:
        raise SlotNotFound(field="slot_id")
    return found[0]


async def _sheet_slots(
    db: Database, provider_id: int, *conditions: ColumnElement[bool]
) -> list[SheetSlot]:
    slot_query = (
        select(
            *slot_facts.COLUMNS,
            Slot.cancel_reason,
            Slot.cancel_message,
            Slot.sequence,
            Slot.updated_at,
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Activity.provider_id == provider_id, *conditions)
        .order_by(Slot.starts_at, Slot.id)
    )
    now = clock.now()
    async with db.reading() as session:
        rows = (await session.execute(slot_query)).all()
        slot_ids = [row.id for row in rows]
        bookings = await _bookings_of(session, slot_ids, now) if slot_ids else {}
    return [SheetSlot.from_row(row, now, bookings=bookings.get(row.id, [])) for row in rows]


async def _bookings_of(
    session: AsyncSession, slot_ids: list[int], now: datetime
) -> dict[int, list[SheetBooking]]:
    query = (
        select(Booking, Attendance.adults, Attendance.children, Reseller.name)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .outerjoin(Reseller, Reseller.id == Booking.reseller_id)
        .where(
            Booking.slot_id.in_(slot_ids),
            or_(
                Booking.status == BookingStatus.CONFIRMED,
                # Cancelled with the slot (whom to tell) or on its own (the farmer sees it go).
                Booking.status == BookingStatus.CANCELLED,
                and_(Booking.status.in_(HOLD_STATUSES), Booking.hold_expires_at > now),
            ),
        )
        .order_by(Booking.created_at, Booking.id)
    )
    by_slot: dict[int, list[SheetBooking]] = defaultdict(list)
    for booking, present_adults, present_children, reseller in (await session.execute(query)).all():
        by_slot[booking.slot_id].append(
            SheetBooking(
                id=booking.id,
                reference=booking.reference,
                name=booking.name,
                adults=booking.adults,
                children=booking.children,
                phone=booking.phone,
                email=booking.email,
                locale=booking.locale,
                notes=booking.notes,
                channel=booking.channel,
                status=booking.status,
                cancelled_by=booking.cancelled_by,
                present=None if present_adults is None else (present_adults, present_children),
                hold_expires_at=(
                    booking.hold_expires_at if booking.status in HOLD_STATUSES else None
                ),
                reseller=reseller,
            )
        )
    return by_slot


async def day_sheet(db: Database, provider_id: int, day: date) -> DaySheet:
    return DaySheet(day=day, slots=await slots_with_bookings(db, provider_id, day, day))


async def coming_days(
    db: Database, provider_id: int, first_day: date | None = None, days: int = 14
) -> list[DayCount]:
    """Each day of the next ``days`` that has a live slot, with its slots and people booked."""
    first_day = first_day or clock.today()
    last_day = first_day + timedelta(days=days - 1)
    query = (
        select(Slot.starts_on, func.count(Slot.id), func.coalesce(func.sum(Slot.booked), 0))
        .join(Activity, Slot.activity_id == Activity.id)
        .where(
            Activity.provider_id == provider_id,
            Slot.starts_on >= first_day,
            Slot.starts_on <= last_day,
            Slot.status != SlotStatus.CANCELLED,
        )
        .group_by(Slot.starts_on)
        .order_by(Slot.starts_on)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [DayCount(day=row[0], slots=row[1], people=int(row[2])) for row in rows]


async def providers_with_visitors_on(db: Database, day: date, after: datetime) -> list[int]:
    """The providers with at least one person booked on a live slot that day still to start
    after ``after`` (the morning email: a sheet sent once the visits are over helps nobody)."""
    query = (
        select(Activity.provider_id)
        .join(Slot, Slot.activity_id == Activity.id)
        .where(
            Slot.starts_on == day,
            Slot.starts_at > after,
            Slot.status != SlotStatus.CANCELLED,
            Slot.booked > 0,
        )
        .distinct()
        .order_by(Activity.provider_id)
    )
    async with db.reading_connection() as connection:
        return list((await connection.execute(query)).scalars())
