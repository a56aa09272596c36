"""What staff look up to book at the counter or on the phone: a booking by reference, name,
email or phone; one booking with its trail; the slots open on a day; where a booking can be
moved. Reads only, one SELECT each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import joinedload

from reservations.base import clock
from reservations.base.errors import BookingNotFound
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    Provider,
    Reseller,
    Slot,
)
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.reads.slot_overview import AuditLine, audit_lines
from reservations.base.rules import room
from reservations.base.rules.booking import BookingView

#: Most bookings a search lists (the newest visits first).
SEARCH_LIMIT = 50
#: Most slots offered as the target of a move.
TARGETS_LIMIT = 30
#: Characters people type inside phone numbers, ignored when matching them.
_PHONE_SEPARATORS = (" ", ".", "-", "/", "(", ")")


def _digits_only(column: ColumnElement[str]) -> ColumnElement[str]:
    for separator in _PHONE_SEPARATORS:
        column = func.replace(column, separator, "")
    return column


def _matches(text: str) -> ColumnElement[bool]:
    compact = "".join(c for c in text.upper() if c.isalnum())
    conditions: list[ColumnElement[bool]] = [
        # "k7qm42zd" or "K7QM 42ZD" as read out on the phone: the reference "K7QM-42ZD".
        func.upper(Booking.reference).in_({text.upper(), f"{compact[:4]}-{compact[4:]}"}),
        Booking.name.icontains(text, autoescape=True),
        Booking.email.icontains(text, autoescape=True),
    ]
    phone = "".join(c for c in text if c not in _PHONE_SEPARATORS).lstrip("+")
    if len(phone) >= 4 and phone.isdigit():
        variants = {phone}
        if phone.startswith("0") and len(phone) == 10:  # French national form of +33 numbers
            variants.add("33" + phone[1:])
        conditions += [
            _digits_only(Booking.phone).contains(digits, autoescape=True) for digits in variants
        ]
    return or_(*conditions)


def _with_slot() -> list[Any]:
    return [joinedload(Booking.slot).joinedload(Slot.activity).joinedload(Activity.provider)]


async def search(db: Database, text: str, *, limit: int = SEARCH_LIMIT) -> list[BookingView]:
    """Bookings whose reference is ``text``, or whose name or email contains it, or whose phone
    number contains its digits; the latest visits first."""
    text = text.strip()
    if not text:
        return []
    async with db.reading() as session:
        found = await session.scalars(
            select(Booking)
            .join(Slot, Booking.slot_id == Slot.id)
            .where(_matches(text))
            .options(*_with_slot())
            .order_by(Slot.starts_at.desc(), Booking.id.desc())
            .limit(limit)
        )
        return [BookingView.of(booking) for booking in found.unique()]


async def booking_view(db: Database, booking_id: int) -> BookingView:
    """One booking as its holder sees it, found by id (staff have no manage token)."""
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking).where(Booking.id == booking_id).options(*_with_slot())
        )
    if booking is None:
        raise BookingNotFound()
    return BookingView.of(booking)


@dataclass(frozen=True)
class BookingRecord:
    """One booking for the back office: as its holder sees it, plus what only staff see."""

    booking: BookingView
    notes: str | None
    provider_phone: str | None
    audit: list[AuditLine]
    #: The reseller that sold it, and its reference for it (channel ``reseller``).
    reseller: str | None = None
    reseller_reference: str | None = None


async def booking_record(db: Database, booking_id: int) -> BookingRecord:
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking).where(Booking.id == booking_id).options(*_with_slot())
        )
        if booking is None:
            raise BookingNotFound()
        trail = await audit_lines(session, AuditEntry.booking_id == booking_id)
        reseller = None
        if booking.reseller_id is not None:
            reseller = await session.scalar(
                select(Reseller.name).where(Reseller.id == booking.reseller_id)
            )
    return BookingRecord(
        booking=BookingView.of(booking),
        notes=booking.notes,
        provider_phone=booking.slot.activity.provider.phone,
        audit=trail,
        reseller=reseller,
        reseller_reference=booking.reseller_reference,
    )


def _open_slots_query(now: datetime) -> Select[*tuple[Any, ...]]:
    return (
        select(*slot_facts.COLUMNS)
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(room.open_for_booking(now))
        .order_by(Slot.starts_at, Provider.name, Slot.id)
    )


async def _open_slots(
    db: Database, query: Select[*tuple[Any, ...]], now: datetime
) -> list[SlotFacts]:
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [SlotFacts.from_row(row, now) for row in rows]


async def open_slots_on(
    db: Database, day: date, *, activity_id: int | None = None, now: datetime | None = None
) -> list[SlotFacts]:
    """The slots of a local day that still take bookings (full ones too: they say so)."""
    now = now or clock.now()
    query = _open_slots_query(now).where(Slot.starts_on == day)
    if activity_id is not None:
        query = query.where(Slot.activity_id == activity_id)
    return await _open_slots(db, query, now)


async def move_targets(
    db: Database, booking: BookingView, *, now: datetime | None = None, limit: int = TARGETS_LIMIT
) -> list[SlotFacts]:
    """The coming slots of the booking's activity with room for its whole party."""
    now = now or clock.now()
    activity_id = select(Slot.activity_id).where(Slot.id == booking.slot_id).scalar_subquery()
    query = (
        _open_slots_query(now)
        .where(
            Slot.activity_id == activity_id,
            Slot.id != booking.slot_id,
            room.has_places(booking.people),
        )
        .limit(limit)
    )
    return await _open_slots(db, query, now)


@dataclass(frozen=True)
class ActivityChoice:
    id: int
    name: str
    provider: str


async def activity_choices(db: Database) -> list[ActivityChoice]:
    """The activities on offer (not archived), by provider then name."""
    query = (
        select(Activity.id, Activity.name, Provider.name.label("provider"))
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Activity.archived_at.is_(None))
        .order_by(Provider.name, Activity.name)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [ActivityChoice(row.id, row.name, row.provider) for row in rows]
