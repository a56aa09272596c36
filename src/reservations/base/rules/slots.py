"""A slot's life after it is planned: the go/no-go decision, cancellation, and attendance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    AttendanceLocked,
    AttendanceNotAllowed,
    BookingOfAnotherSlot,
    InvalidAttendance,
    MoreThanBooked,
    SlotAlreadyHeld,
    SlotCancelled,
    SlotNotFound,
    SlotNotOver,
)
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Attendance,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Slot,
    SlotStatus,
    UTCDateTime,
)
from reservations.base.rules import audit, refunds
from reservations.base.rules.booking import lock_slot


@dataclass
class Decisions:
    """What one run of the go/no-go decisions did."""

    confirmed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    #: Bookings cancelled with their slot: whom to tell.
    bookings_cancelled: list[int] = field(default_factory=list)


async def decide_due_slots(
    db: Database, *, now: datetime | None = None, actor: str = "system"
) -> Decisions:
    """Take the go/no-go decision of every scheduled slot whose decision time has come.

    A slot under its minimum is cancelled (``under_minimum``) with its bookings; any other is
    confirmed. The decision is one conditional UPDATE on a still-scheduled slot, so running this
    twice, or twice at once, decides each slot once.
    """
    now = now or clock.now()
    async with db.reading() as session:
        due = list(
            await session.scalars(
                select(Slot.id)
                .where(Slot.status == SlotStatus.SCHEDULED, Slot.decision_at <= now)
                .order_by(Slot.decision_at, Slot.id)
            )
        )
    decisions = Decisions()
    for slot_id in due:
        async with db.writing() as session:
            enough = Slot.booked >= Slot.min_participants
            decided = await session.execute(
                update(Slot)
                .where(Slot.id == slot_id, Slot.status == SlotStatus.SCHEDULED)
                .values(
                    status=case(
                        (enough, SlotStatus.CONFIRMED.value), else_=SlotStatus.CANCELLED.value
                    ),
                    cancel_reason=case((enough, None), else_=CancelReason.UNDER_MINIMUM.value),
                    cancelled_at=case((enough, None), else_=literal(now, UTCDateTime())),
                    sequence=Slot.sequence + 1,
                )
                .returning(Slot.status, Slot.booked, Slot.min_participants)
                .execution_options(synchronize_session=False)
            )
            row = decided.first()
            if row is None:
                continue  # decided meanwhile by another run
            status = SlotStatus(row.status)
            audit.record(
                session,
                actor,
                "slot.decided",
                slot_id=slot_id,
                before={"status": "scheduled"},
                after={"status": status.value, "booked": row.booked},
                min_participants=row.min_participants,
            )
            if status == SlotStatus.CONFIRMED:
                decisions.confirmed.append(slot_id)
            else:
                decisions.cancelled.append(slot_id)
                ended = await _cancel_bookings_of(session, slot_id, actor, now)
                decisions.bookings_cancelled.extend(ended)
    return decisions


async def cancel_slot(
    db: Database,
    slot_id: int,
    reason: CancelReason,
    *,
    actor: str,
    message: str | None = None,
    now: datetime | None = None,
    provider_id: int | None = None,
) -> list[int]:
    """Cancel a slot (provider, staff, weather) with all its bookings; returns those bookings.

    With ``provider_id`` (a farmer's link), only that provider's slots can be cancelled."""
    now = now or clock.now()
    async with db.writing() as session:
        slot = await lock_slot(session, slot_id, provider_id=provider_id)
        if slot is None:
            raise SlotNotFound()
        if slot.status == SlotStatus.CANCELLED:
            raise SlotCancelled()
        if slot.status == SlotStatus.HELD:
            raise SlotAlreadyHeld()
        before = slot.status.value
        slot.status = SlotStatus.CANCELLED
        slot.cancel_reason = reason
        slot.cancel_message = message
        slot.cancelled_at = now
        slot.sequence += 1
        await session.flush()
        audit.record(
            session,
            actor,
            "slot.cancelled",
            slot_id=slot_id,
            before={"status": before},
            after={"status": "cancelled", "reason": reason.value},
            message=message,
        )
        return await _cancel_bookings_of(session, slot_id, actor, now)


async def _cancel_bookings_of(
    session: AsyncSession, slot_id: int, actor: str, now: datetime
) -> list[int]:
    """End the live bookings of a slot being cancelled (its row already locked or updated)."""
    ended = await session.execute(
        update(Booking)
        .where(
            Booking.slot_id == slot_id,
            Booking.status.in_([BookingStatus.CONFIRMED, *HOLD_STATUSES]),
        )
        .values(status=BookingStatus.CANCELLED, cancelled_at=now, cancelled_by=CancelledBy.SLOT)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    booking_ids = sorted(ended.scalars())
    await session.execute(
        update(Slot)
        .where(Slot.id == slot_id)
        .values(booked=0, held=0, holds_expire_at=None)
        .execution_options(synchronize_session=False)
    )
    await refunds.on_cancellation(
        session, booking_ids, CancelledBy.SLOT, before_cutoff=True, actor=actor, now=now
    )
    # The parked confirmations of its unpaid holds will never be true.
    await outbox.discard(session, *(f"booking-confirmed:{id_}" for id_ in booking_ids))
    for booking_id in booking_ids:
        audit.record(
            session,
            actor,
            "booking.cancelled",
            slot_id=slot_id,
            booking_id=booking_id,
            before={"status": "confirmed"},
            after={"status": "cancelled", "cancelled_by": "slot"},
        )
    return booking_ids


#: A provider may record or change attendance until this long after the visit ends; then it
#: is locked and only staff can correct it.
ATTENDANCE_EDIT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Presence:
    adults: int
    children: int


async def record_attendance(
    db: Database,
    slot_id: int,
    present: Mapping[int, Presence] | None = None,
    *,
    actor: str,
    now: datetime | None = None,
    provider_id: int | None = None,
) -> None:
    """Record who came to a slot and mark it held.

    ``present`` maps booking ids to the people who came (zero and zero: a no-show); a booking
    left out counts as everyone booked having come, so ``present=None`` is "everyone came".
    Recording again replaces the earlier figures. With ``provider_id`` (a farmer's link), only
    that provider's slots, and only within ``ATTENDANCE_EDIT_WINDOW``; staff (no provider) can
    correct at any time.
    """
    now = now or clock.now()
    present = present or {}
    if any(p.adults < 0 or p.children < 0 for p in present.values()):
        raise InvalidAttendance()
    async with db.writing() as session:
        slot = await lock_slot(session, slot_id, provider_id=provider_id)
        if slot is None:
            raise SlotNotFound()
        if slot.status == SlotStatus.CANCELLED:
            raise AttendanceNotAllowed()
        if now < slot.starts_at:
            raise SlotNotOver()
        if provider_id is not None and now > attendance_locks_at(slot.ends_at):
            raise AttendanceLocked(days=ATTENDANCE_EDIT_WINDOW.days)
        bookings = {
            b.id: b
            for b in await session.scalars(
                select(Booking).where(
                    Booking.slot_id == slot_id, Booking.status == BookingStatus.CONFIRMED
                )
            )
        }
        for booking_id, came in present.items():
            booking = bookings.get(booking_id)
            if booking is None:
                raise BookingOfAnotherSlot(reference=str(booking_id))
            if came.adults + came.children > booking.people:
                raise MoreThanBooked(
                    field=str(booking_id), name=booking.name, people=booking.people
                )
        existing = {
            a.booking_id: a
            for a in await session.scalars(
                select(Attendance).where(Attendance.booking_id.in_(bookings))
            )
        }
        # Who came, per booking, before and after: a correction shows what it replaced.
        present_before = {str(i): [a.adults, a.children] for i, a in sorted(existing.items())}
        present_after: dict[str, list[int]] = {}
        for booking_id, booking in sorted(bookings.items()):
            came = present.get(booking_id, Presence(booking.adults, booking.children))
            present_after[str(booking_id)] = [came.adults, came.children]
            row = existing.get(booking_id)
            if row is None:
                session.add(
                    Attendance(
                        booking_id=booking_id,
                        adults=came.adults,
                        children=came.children,
                        recorded_at=now,
                        recorded_by=actor,
                    )
                )
            else:
                row.adults, row.children = came.adults, came.children
                row.recorded_at, row.recorded_by = now, actor
        before = slot.status.value
        if slot.status != SlotStatus.HELD:
            slot.status = SlotStatus.HELD
            slot.sequence += 1
        audit.record(
            session,
            actor,
            "slot.attendance_recorded",
            slot_id=slot_id,
            before={"status": before, "present": present_before},
            after={"status": "held", "present": present_after},
        )


def attendance_locks_at(ends_at: datetime) -> datetime:
    """When a provider can no longer change a visit's attendance."""
    return ends_at + ATTENDANCE_EDIT_WINDOW
