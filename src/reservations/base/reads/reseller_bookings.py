"""A reseller's bookings as the OCTO API shows them: one SELECT for the bookings (with who came),
one for their slots (``availability.slots_by_id``), whatever their number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Attendance, Booking, BookingStatus, CancelledBy, Slot
from reservations.base.reads import availability
from reservations.base.reads.availability import SlotView
from reservations.base.rules.reseller_bookings import which
from reservations.base.rules.resellers import ResellerRef

#: The most bookings one list answers (a reseller pages by dates).
MAX_LISTED = 500


@dataclass(frozen=True)
class ResellerBooking:
    id: int
    reference: str
    status: BookingStatus
    adults: int
    children: int
    name: str
    email: str | None
    phone: str | None
    locale: str
    notes: str | None
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: CancelledBy | None
    hold_expires_at: datetime | None
    reseller_reference: str | None
    data: dict[str, Any]
    #: When the farmer recorded that the party came (None: not yet, or nobody came).
    redeemed_at: datetime | None
    slot: SlotView

    @property
    def uuid(self) -> str:
        return str(self.data["uuid"])


_COLUMNS = (
    Booking.id,
    Booking.reference,
    Booking.status,
    Booking.adults,
    Booking.children,
    Booking.name,
    Booking.email,
    Booking.phone,
    Booking.locale,
    Booking.notes,
    Booking.created_at,
    Booking.cancelled_at,
    Booking.cancelled_by,
    Booking.hold_expires_at,
    Booking.reseller_reference,
    Booking.reseller_data,
    Booking.slot_id,
    Attendance.recorded_at,
    (Attendance.adults + Attendance.children).label("present"),
)


async def one(db: Database, reseller: ResellerRef, booking_uuid: str) -> ResellerBooking | None:
    found = await _read(db, which(reseller, booking_uuid))
    return found[0] if found else None


async def find(
    db: Database,
    reseller: ResellerRef,
    *,
    reseller_reference: str | None = None,
    supplier_reference: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[ResellerBooking]:
    """The reseller's bookings with that reference of theirs or ours, or whose visit is on the
    local days ``first_day`` to ``last_day``; in the visits' order."""
    conditions = [Booking.reseller_id == reseller.id]
    if reseller_reference is not None:
        conditions.append(Booking.reseller_reference == reseller_reference)
    if supplier_reference is not None:
        conditions.append(Booking.reference == supplier_reference)
    if first_day is not None and last_day is not None:
        day = select(Slot.id).where(Slot.starts_on >= first_day, Slot.starts_on <= last_day)
        conditions.append(Booking.slot_id.in_(day.scalar_subquery()))
    condition = conditions[0]
    for more in conditions[1:]:
        condition = condition & more
    return await _read(db, condition)


async def _read(db: Database, condition: ColumnElement[bool]) -> list[ResellerBooking]:
    now = clock.now()
    query = (
        select(*_COLUMNS)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(condition)
        .order_by(Booking.id)
        .limit(MAX_LISTED)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    slots = await availability.slots_by_id(db, [row.slot_id for row in rows], now=now)
    found = [_booking_of(row, slots[row.slot_id]) for row in rows]
    return sorted(found, key=lambda booking: (booking.slot.starts_at, booking.id))


def _booking_of(row: Any, slot: SlotView) -> ResellerBooking:
    came = row.recorded_at is not None and (row.present or 0) > 0
    return ResellerBooking(
        id=row.id,
        reference=row.reference,
        status=BookingStatus(row.status),
        adults=row.adults,
        children=row.children,
        name=row.name,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        notes=row.notes,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=CancelledBy(row.cancelled_by) if row.cancelled_by else None,
        hold_expires_at=row.hold_expires_at,
        reseller_reference=row.reseller_reference,
        data=dict(row.reseller_data or {}),
        redeemed_at=row.recorded_at if came else None,
        slot=slot,
    )
