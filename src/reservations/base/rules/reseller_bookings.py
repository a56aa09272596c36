"""A reseller's bookings (the OCTO API): a hold the reseller confirms, extends or lets go, a
confirmed booking it cancels until the cut-off (what it changes on them: ``reseller_changes``),
and the lock every one of these changes is made under (``under_lock``).

Every booking of a reseller is an ordinary booking (channel ``reseller``) made by
``booking.book``: its places are taken by the same statement under the same rule
(``room.fits``) as every other channel's, and its hold is ``on_hold``, one of the
``HOLD_STATUSES``, which ends by itself like an unpaid online booking's. The reseller's UUID for
it is its idempotency key, scoped to the reseller (``key_of``): a retry is answered with the
first booking, and only that reseller finds the booking by it.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    AlreadyCancelled,
    BookingNotFound,
    ChildWithoutAdult,
    HoldEnded,
    InvalidEmail,
    InvalidHoldLength,
    InvalidPhone,
    MissingName,
    NameTooLong,
    ResellerBookingNotFound,
)
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Booking,
    BookingStatus,
    CancelledBy,
    Channel,
    Slot,
)
from reservations.base.rules import audit, booking, contacts, holds, places
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.resellers import ResellerRef
from reservations.settings import SUPPORTED_LOCALES

#: The longest a reseller may hold places without confirming them.
MAX_HOLD_MINUTES = 24 * 60
#: The longest name a booking keeps (its column's length).
MAX_NAME = 200
ADULT, CHILD = "adult", "child"


def key_of(reseller_id: int, booking_uuid: str) -> str:
    """The idempotency key of a reseller's booking: its UUID, within that reseller."""
    return f"octo:{reseller_id}:{booking_uuid}"


def which(reseller: ResellerRef, booking_uuid: str) -> ColumnElement[bool]:
    """The reseller's booking with that UUID (no other reseller's)."""
    return (Booking.idempotency_key_hash == tokens.digest(key_of(reseller.id, booking_uuid))) & (
        Booking.reseller_id == reseller.id
    )


@dataclass(frozen=True)
class Guest:
    """The person a reseller books for, as much of them as the reseller gives."""

    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    #: Language tags in the guest's order of preference ("de-CH", "en").
    locales: tuple[str, ...] = ()
    country: str | None = None
    postal_code: str | None = None
    notes: str | None = None

    @property
    def name(self) -> str:
        given = " ".join(part.strip() for part in (self.first_name, self.last_name) if part)
        return (self.full_name or "").strip() or given.strip()

    @property
    def locale(self) -> str:
        """The first of the guest's languages that we speak, else French."""
        for tag in self.locales:
            language = tag.split("-")[0].lower()
            if language in SUPPORTED_LOCALES:
                return language
        return "fr"

    def check(self) -> None:
        if len(self.name) > MAX_NAME:
            raise NameTooLong(field="contact.fullName", maximum=MAX_NAME)
        if self.email and not contacts.is_email(self.email):
            raise InvalidEmail(field="contact.emailAddress", email=self.email)
        if self.phone and not contacts.is_phone(self.phone):
            raise InvalidPhone(field="contact.phoneNumber", phone=self.phone)

    def as_data(self) -> dict[str, Any]:
        """What the booking keeps of the guest beyond its own columns."""
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "country": self.country,
            "postalCode": self.postal_code,
            "locales": list(self.locales),
        }


@dataclass(frozen=True)
class UnitItem:
    unit_id: str
    uuid: str | None = None
    reseller_reference: str | None = None


@dataclass(frozen=True)
class Reservation:
    uuid: str
    slot_id: int
    units: tuple[UnitItem, ...]
    hold_minutes: int
    reseller_reference: str | None = None
    notes: str | None = None
    guest: Guest = field(default_factory=Guest)


def party_of(units: tuple[UnitItem, ...] | list[UnitItem]) -> tuple[int, int]:
    """Adults and children of a list of unit items; a child comes with an adult."""
    adults = sum(1 for unit in units if unit.unit_id == ADULT)
    children = sum(1 for unit in units if unit.unit_id == CHILD)
    if children and not adults:
        raise ChildWithoutAdult(field="unitItems")
    return adults, children


def check_hold_minutes(minutes: int) -> None:
    if not 1 <= minutes <= MAX_HOLD_MINUTES:
        raise InvalidHoldLength(field="expirationMinutes", maximum=MAX_HOLD_MINUTES)


def derived_unit_uuid(booking_uuid: str, name: str) -> str:
    """A unit item's UUID when the reseller gave none: the same for the same booking and name."""
    return str(uuid_module.uuid5(uuid_module.UUID(booking_uuid), name))


def unit_items(booking_uuid: str, units: tuple[UnitItem, ...] | list[UnitItem]) -> list[Any]:
    """The unit items as kept, each with a UUID: the reseller's, or one derived from the
    booking's (the same on a retry, so that a retry is the same request)."""
    return [
        {
            "uuid": (unit.uuid or derived_unit_uuid(booking_uuid, str(index))).lower(),
            "unitId": unit.unit_id,
            "resellerReference": unit.reseller_reference,
        }
        for index, unit in enumerate(units)
    ]


async def reserve(
    db: Database,
    reseller: ResellerRef,
    reservation: Reservation,
    policy: BookingPolicy,
    *,
    now: clock.At = None,
) -> BookingReceipt:
    """Hold places for the reseller until it confirms them (``on_hold``), through the same
    statement as every booking, at most until the slot's cut-off (a hold keeps no places from
    the visitors beyond it); a retry with the same UUID and request answers the first."""
    adults, children = party_of(reservation.units)
    check_hold_minutes(reservation.hold_minutes)
    guest = reservation.guest
    guest.check()
    async with db.reading_connection() as connection:
        cutoff = await connection.scalar(
            select(Slot.booking_cutoff_at).where(Slot.id == reservation.slot_id)
        )
    request = BookingRequest(
        slot_id=reservation.slot_id,
        adults=adults,
        children=children,
        # The day sheet needs a name to call: the reseller's reference until the guest's.
        name=guest.name or _placeholder_name(reseller, reservation.reseller_reference),
        email=guest.email or None,
        phone=guest.phone or None,
        locale=guest.locale,
        channel=Channel.RESELLER,
        notes=reservation.notes,
        reseller_id=reseller.id,
        reseller_reference=reservation.reseller_reference,
        reseller_data={
            "uuid": reservation.uuid,
            "unitItems": unit_items(reservation.uuid, reservation.units),
            "guest": guest.as_data(),
        },
    )
    return await booking.book(
        db,
        request,
        policy,
        actor=actor_of(reseller),
        idempotency_key=key_of(reseller.id, reservation.uuid),
        now=now,
        hold_minutes=reservation.hold_minutes,
        hold_status=BookingStatus.ON_HOLD,
        hold_ends_by=cutoff,
    )


def _placeholder_name(reseller: ResellerRef, reference: str | None) -> str:
    return (f"{reseller.name} {reference}" if reference else reseller.name)[:MAX_NAME]


def actor_of(reseller: ResellerRef) -> str:
    return f"reseller:{reseller.name}"


@dataclass(frozen=True)
class Locked:
    """A reseller's booking read under its slot's lock, with the slot's cut-off and the time
    read then."""

    id: int
    slot_id: int
    status: BookingStatus
    adults: int
    children: int
    hold_expires_at: datetime | None
    data: dict[str, Any]
    request_fingerprint: str | None
    cutoff: datetime
    now: datetime

    @property
    def people(self) -> int:
        return self.adults + self.children

    @property
    def running_hold(self) -> bool:
        return (
            self.status in HOLD_STATUSES
            and self.hold_expires_at is not None
            and self.hold_expires_at > self.now
        )

    @property
    def live(self) -> bool:
        return self.status == BookingStatus.CONFIRMED or self.running_hold

    def ended(self) -> HoldEnded:
        lapsed = self.status in HOLD_STATUSES  # its time is over, not released yet
        status = BookingStatus.EXPIRED if lapsed else self.status
        return HoldEnded(field="uuid", status=status.value.replace("_", " "))


T = TypeVar("T")
Work = Callable[[AsyncSession, Locked], Awaitable[T]]


async def under_lock(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    now: clock.At,
    work: Work[T],
    *,
    target: int | None = None,
    grows: bool = False,
) -> T:
    """Run ``work`` in one transaction on the booking read once its slot's row is locked (and
    the ``target`` slot's, in id order; first the capped farm of the target, or of its own slot,
    when it ``grows``): the lock order of every booking. A booking moved between its first
    read and the lock is read again in a new transaction."""
    read_clock = clock.reader(now)
    for _attempt in range(3):
        async with db.writing() as session:
            slot_id = await session.scalar(
                select(Booking.slot_id).where(which(reseller, booking_uuid))
            )
            if slot_id is None:
                raise ResellerBookingNotFound(field="uuid", uuid=booking_uuid)
            if grows:
                await places.lock_capped_provider(session, target or slot_id)
            for locked_id in sorted({slot_id, target or slot_id}):
                await holds.lock_slot_row(session, locked_id)
            row = (
                await session.execute(
                    select(
                        Booking.id,
                        Booking.slot_id,
                        Booking.status,
                        Booking.adults,
                        Booking.children,
                        Booking.hold_expires_at,
                        Booking.reseller_data,
                        Booking.request_fingerprint,
                        Slot.booking_cutoff_at,
                    )
                    .join(Slot, Slot.id == Booking.slot_id)
                    .where(which(reseller, booking_uuid))
                )
            ).one()
            if row.slot_id != slot_id:
                continue  # moved meanwhile: nothing written, start again on its new slot
            locked = Locked(
                id=row.id,
                slot_id=row.slot_id,
                status=BookingStatus(row.status),
                adults=row.adults,
                children=row.children,
                hold_expires_at=row.hold_expires_at,
                data=dict(row.reseller_data or {}),
                request_fingerprint=row.request_fingerprint,
                cutoff=row.booking_cutoff_at,
                now=read_clock(),
            )
            return await work(session, locked)
    raise AlreadyCancelled()  # pragma: no cover - moved three times in a row


async def write(
    session: AsyncSession,
    locked: Locked,
    data: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """Change the locked booking's columns (``values``) and what it keeps of the reseller's
    requests (``data``), stamped as its last change for the reseller."""
    kept = {**locked.data, **(data or {}), "updatedAt": clock.utc_stamp(locked.now)}
    await session.execute(
        update(Booking)
        .where(Booking.id == locked.id)
        .values(**values, reseller_data=kept)
        .execution_options(synchronize_session=False)
    )


def audited(
    session: AsyncSession, reseller: ResellerRef, locked: Locked, action: str, **data: Any
) -> None:
    """The audit entry of a reseller's change to its locked booking."""
    audit.record(
        session,
        actor_of(reseller),
        action,
        slot_id=locked.slot_id,
        booking_id=locked.id,
        **data,
    )


def guest_values(guest: Guest) -> dict[str, Any]:
    """The booking's columns the guest gives (their name only if they gave one)."""
    values: dict[str, Any] = {
        "email": guest.email or None,
        "phone": guest.phone or None,
        "locale": guest.locale,
    }
    if guest.name:
        values["name"] = guest.name
    if guest.notes is not None:
        values["notes"] = guest.notes
    return values


async def confirm(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    guest: Guest,
    *,
    reseller_reference: str | None = None,
    unit_references: dict[str, str] | None = None,
    now: clock.At = None,
) -> int:
    """The reseller confirms its hold for ``guest``, whose name the farmer will call: the hold's
    people move from ``held`` to ``booked`` (no place is taken again). Confirming a confirmed
    booking again changes nothing; a hold that ended cannot be confirmed (``HoldEnded``)."""
    if not guest.name:
        raise MissingName(field="contact.fullName")
    guest.check()

    async def confirming(session: AsyncSession, locked: Locked) -> int:
        if locked.status == BookingStatus.CONFIRMED:
            return locked.id
        if not locked.running_hold:
            raise locked.ended()
        values = guest_values(guest)
        if reseller_reference is not None:
            values["reseller_reference"] = reseller_reference
        data = {
            "guest": guest.as_data(),
            "unitItems": _with_references(locked.data, unit_references),
            "confirmedAt": clock.utc_stamp(locked.now),
        }
        await write(session, locked, data, status=BookingStatus.CONFIRMED, **values)
        await holds.end_hold(session, locked.slot_id, locked.people, locked.now, into_booked=True)
        audited(
            session,
            reseller,
            locked,
            "booking.confirmed",
            before={"status": locked.status.value},
            after={"status": "confirmed"},
        )
        return locked.id

    return await under_lock(db, reseller, booking_uuid, now, confirming)


def _with_references(data: dict[str, Any], references: dict[str, str] | None) -> list[Any]:
    """The booking's unit items, each with the reseller's reference sent for its UUID."""
    items = [dict(item) for item in data.get("unitItems", [])]
    for item in items:
        if references and item["uuid"] in references:
            item["resellerReference"] = references[item["uuid"]]
    return items


async def extend(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    minutes: int,
    *,
    now: clock.At = None,
) -> int:
    """Hold the places ``minutes`` from now instead (longer or shorter), never past the slot's
    cut-off, if the hold still runs; a hold that ended is not taken again (``HoldEnded``)."""
    check_hold_minutes(minutes)

    async def extending(session: AsyncSession, locked: Locked) -> int:
        if not locked.running_hold:
            raise locked.ended()
        until = min(locked.now + timedelta(minutes=minutes), locked.cutoff)
        await write(session, locked, hold_expires_at=until)
        await holds.hold_ends_moved(session, locked.slot_id, locked.now)
        audited(
            session,
            reseller,
            locked,
            "booking.hold_extended",
            before={"hold_expires_at": clock.utc_stamp(locked.hold_expires_at or locked.now)},
            after={"hold_expires_at": clock.utc_stamp(until)},
        )
        return locked.id

    return await under_lock(db, reseller, booking_uuid, now, extending)


async def cancel(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    *,
    reason: str | None = None,
    now: clock.At = None,
) -> bool:
    """The reseller lets its hold go, or cancels its confirmed booking until the slot's cut-off
    (as a visitor may: ``CancellationClosed`` after); False when the booking had already ended
    (cancelled or expired), which is left as it is."""

    async def keep_reason(session: AsyncSession, booking_id: int, at: datetime) -> None:
        await merge_data(
            session, booking_id, {"cancellationReason": reason, "updatedAt": clock.utc_stamp(at)}
        )

    try:
        await booking.cancel_where(
            db,
            which(reseller, booking_uuid),
            actor=actor_of(reseller),
            cancelled_by=CancelledBy.VISITOR,
            now=now,
            until_cutoff=True,
            also=keep_reason,
        )
    except BookingNotFound:
        raise ResellerBookingNotFound(field="uuid", uuid=booking_uuid) from None
    except AlreadyCancelled:
        return False
    return True


async def merge_data(session: AsyncSession, booking_id: int, changes: dict[str, Any]) -> None:
    """Add ``changes`` to what the booking keeps of the reseller's requests (under its slot's
    lock, taken by the caller)."""
    data = await session.scalar(select(Booking.reseller_data).where(Booking.id == booking_id))
    await session.execute(
        update(Booking)
        .where(Booking.id == booking_id)
        .values(reseller_data={**(data or {}), **changes})
        .execution_options(synchronize_session=False)
    )
