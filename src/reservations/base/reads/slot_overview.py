"""One slot as the back office sees it: its facts, all its bookings, its waiting list and its
audit trail. Reads only, four SELECTs whatever the number of bookings or entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from reservations.base.errors import SlotNotFound
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    Provider,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules.waitlist import WaitlistView


@dataclass(frozen=True)
class StaffSlot:
    id: int
    activity_id: int
    activity_name: str
    title: dict[str, str]
    provider_id: int
    provider: str
    provider_phone: str | None
    village: str
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus
    capacity: int
    booked: int
    min_participants: int
    booking_cutoff_at: datetime
    decision_at: datetime
    cancel_reason: CancelReason | None
    cancel_message: str | None

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)

    @property
    def missing(self) -> int:
        """People still needed to reach the minimum (0 when reached)."""
        return max(self.min_participants - self.booked, 0)


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

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def live(self) -> bool:
        return self.status == BookingStatus.CONFIRMED


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


async def slot_overview(db: Database, slot_id: int) -> SlotOverview:
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Slot, Activity, Provider)
                .join(Activity, Slot.activity_id == Activity.id)
                .join(Provider, Activity.provider_id == Provider.id)
                .where(Slot.id == slot_id)
            )
        ).first()
        if row is None:
            raise SlotNotFound(field="slot_id")
        bookings = list(
            await session.scalars(
                select(Booking).where(Booking.slot_id == slot_id).order_by(Booking.id)
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
    slot, activity, provider = row
    return SlotOverview(
        slot=_staff_slot(slot, activity, provider),
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


def _staff_slot(slot: Slot, activity: Activity, provider: Provider) -> StaffSlot:
    return StaffSlot(
        id=slot.id,
        activity_id=activity.id,
        activity_name=activity.name,
        title=dict(activity.title or {}),
        provider_id=provider.id,
        provider=provider.name,
        provider_phone=provider.phone,
        village=provider.village,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=slot.status,
        capacity=slot.capacity,
        booked=slot.booked,
        min_participants=slot.min_participants,
        booking_cutoff_at=slot.booking_cutoff_at,
        decision_at=slot.decision_at,
        cancel_reason=slot.cancel_reason,
        cancel_message=slot.cancel_message,
    )


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
    )


#: Waiting-list entries staff can still act on.
LIVE_WAITLIST = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
