"""One slot as the back office sees it: its facts, all its bookings, its waiting list and its
audit trail. Reads only, four SELECTs whatever the number of bookings or entries.

An online booking waiting for its payment (a hold) is listed while its hold runs, marked
(``awaiting_payment``, until ``hold_expires_at``): its places are taken. A hold past its end,
released (``expired``) or not yet, is not a booking any more and is not listed (the audit
trail still says it lapsed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, or_, select

from reservations.base import clock
from reservations.base.errors import SlotNotFound
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    Provider,
    Slot,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.rules.waitlist import WaitlistView


@dataclass(frozen=True)
class StaffSlot(SlotFacts):
    """The slot's own facts on its back-office page, with what only staff see."""

    provider_phone: str | None
    cancel_reason: CancelReason | None
    cancel_message: str | None


@dataclass(frozen=True)
class SlotBooking:
    id: int
    reference: str
    name: str
    adults: int
    children: int
    email: str | None
    phone: str | None
    locale: str
    channel: Channel
    status: BookingStatus
    notes: str | None
    created_at: datetime
    #: A running hold's end (its places are taken until then); None for other bookings.
    hold_expires_at: datetime | None = None

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def live(self) -> bool:
        return self.status == BookingStatus.CONFIRMED

    @property
    def awaiting_payment(self) -> bool:
        """A hold still running (lapsed ones are not read): places taken, payment awaited."""
        return self.status in HOLD_STATUSES


@dataclass(frozen=True)
class AuditLine:
    """One audit entry, ready to show: what changed from ``before`` to ``after`` field by field,
    and the other facts recorded with it."""

    id: int
    at: datetime
    actor: str
    action: str
    booking_id: int | None
    booking_reference: str | None
    changes: list[tuple[str, Any, Any]]
    details: list[tuple[str, Any]]


@dataclass(frozen=True)
class SlotOverview:
    slot: StaffSlot
    bookings: list[SlotBooking]
    waitlist: list[WaitlistView]
    audit: list[AuditLine]

    @property
    def held_people(self) -> int:
        """People of the running holds: places taken, not confirmed yet."""
        return sum(b.people for b in self.bookings if b.awaiting_payment)


def not_lapsed(now: datetime) -> Any:
    """A booking that is not a hold past its end (released as ``expired`` or not yet)."""
    return not_(
        or_(
            Booking.status == BookingStatus.EXPIRED,
            and_(Booking.status.in_(HOLD_STATUSES), Booking.hold_expires_at <= now),
        )
    )


async def slot_overview(db: Database, slot_id: int, *, now: datetime | None = None) -> SlotOverview:
    now = now or clock.now()
    async with db.reading() as session:
        row = (
            await session.execute(
                select(
                    *slot_facts.COLUMNS,
                    Provider.phone.label("provider_phone"),
                    Slot.cancel_reason,
                    Slot.cancel_message,
                )
                .join(Activity, Slot.activity_id == Activity.id)
                .join(Provider, Activity.provider_id == Provider.id)
                .where(Slot.id == slot_id)
            )
        ).first()
        if row is None:
            raise SlotNotFound(field="slot_id")
        bookings = list(
            await session.scalars(
                select(Booking)
                .where(Booking.slot_id == slot_id, not_lapsed(now))
                .order_by(Booking.id)
            )
        )
        waiting = list(
            await session.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.slot_id == slot_id)
                .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            )
        )
        trail = await audit_lines(
            session,
            or_(
                AuditEntry.slot_id == slot_id,
                and_(
                    AuditEntry.slot_id.is_(None),
                    AuditEntry.booking_id.in_(select(Booking.id).where(Booking.slot_id == slot_id)),
                ),
            ),
        )
    return SlotOverview(
        slot=StaffSlot.from_row(row, now),
        bookings=[_slot_booking(b) for b in bookings],
        waitlist=[WaitlistView.of(entry) for entry in waiting],
        audit=trail,
    )


async def audit_lines(session: Any, condition: Any) -> list[AuditLine]:
    """The audit entries matching ``condition``, newest first, each with its booking's
    reference (one SELECT)."""
    rows = await session.execute(
        select(AuditEntry, Booking.reference)
        .outerjoin(Booking, Booking.id == AuditEntry.booking_id)
        .where(condition)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return [_line(entry, reference) for entry, reference in rows]


def _line(entry: AuditEntry, reference: str | None) -> AuditLine:
    data = dict(entry.data or {})
    before = data.pop("before", None)
    after = data.pop("after", None)
    return AuditLine(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        booking_id=entry.booking_id,
        booking_reference=reference,
        changes=_changes(before, after),
        details=[(key, value) for key, value in data.items() if value is not None],
    )


def _changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """Field by field, in the order they were written; a value absent on one side is None."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    keys = list(before) + [key for key in after if key not in before]
    return [(key, before.get(key), after.get(key)) for key in keys]


def _slot_booking(booking: Booking) -> SlotBooking:
    return SlotBooking(
        id=booking.id,
        reference=booking.reference,
        name=booking.name,
        adults=booking.adults,
        children=booking.children,
        email=booking.email,
        phone=booking.phone,
        locale=booking.locale,
        channel=booking.channel,
        status=booking.status,
        notes=booking.notes,
        created_at=booking.created_at,
        hold_expires_at=booking.hold_expires_at if booking.status in HOLD_STATUSES else None,
    )


#: Waiting-list entries staff can still act on.
LIVE_WAITLIST = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
