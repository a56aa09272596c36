"""A reseller's bookings (the OCTO API): a hold the reseller confirms, extends or lets go; a
confirmed booking it cancels until the cut-off, moves or resizes; its details it corrects.

Every booking of a reseller is an ordinary booking (channel ``reseller``) made by
``booking.book``: its places are taken by the same statement under the same rule
(``room.fits``) as every other channel's, and its hold is ``on_hold``, one of the
``HOLD_STATUSES``, which ends by itself like an unpaid online booking's. The reseller's UUID for
it is its idempotency key, scoped to the reseller (``key_of``): a retry is answered with the
first booking, and only that reseller finds the booking by it.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
)
from reservations.base.rules import audit, booking, contacts, holds, moves, places, room
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.resellers import ResellerRef
from reservations.settings import SUPPORTED_LOCALES

#: The longest a reseller may hold places without confirming them.
MAX_HOLD_MINUTES = 24 * 60
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


def _unit_items(booking_uuid: str, units: tuple[UnitItem, ...] | list[UnitItem]) -> list[Any]:
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
    statement as every booking; a retry with the same UUID and request answers the first."""
    adults, children = party_of(reservation.units)
    check_hold_minutes(reservation.hold_minutes)
    guest = reservation.guest
    guest.check()
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
            "unitItems": _unit_items(reservation.uuid, reservation.units),
            "guest": guest.as_data(),
        },
    )
    return await booking.book(
        db,
        request,
        policy,
        actor=_actor(reseller),
        idempotency_key=key_of(reseller.id, reservation.uuid),
        now=now,
        hold_minutes=reservation.hold_minutes,
        hold_status=BookingStatus.ON_HOLD,
    )


def _placeholder_name(reseller: ResellerRef, reference: str | None) -> str:
    return f"{reseller.name} {reference}" if reference else reseller.name


def _actor(reseller: ResellerRef) -> str:
    return f"reseller:{reseller.name}"


@dataclass(frozen=True)
class _Locked:
    """A reseller's booking read under its slot's lock."""

    id: int
    slot_id: int
    status: BookingStatus
    adults: int
    children: int
    hold_expires_at: datetime | None
    data: dict[str, Any]
    now: datetime

    @property
    def running_hold(self) -> bool:
        return (
            self.status in HOLD_STATUSES
            and self.hold_expires_at is not None
            and self.hold_expires_at > self.now
        )

    def ended(self) -> HoldEnded:
        lapsed = self.status in HOLD_STATUSES  # its time is over, not released yet
        status = BookingStatus.EXPIRED if lapsed else self.status
        return HoldEnded(field="uuid", status=status.value.replace("_", " "))


async def _lock(
    session: AsyncSession, reseller: ResellerRef, booking_uuid: str, read_clock: clock.Clock
) -> _Locked:
    """The booking, read again once its slot's row is locked, and the time read then. A move
    of the booking locks that slot too, so the slot read first is still its slot."""
    slot_id = await session.scalar(select(Booking.slot_id).where(which(reseller, booking_uuid)))
    if slot_id is None:
        raise ResellerBookingNotFound(field="uuid", uuid=booking_uuid)
    await holds.lock_slot_row(session, slot_id)
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
            ).where(which(reseller, booking_uuid))
        )
    ).one()
    return _Locked(
        id=row.id,
        slot_id=row.slot_id,
        status=BookingStatus(row.status),
        adults=row.adults,
        children=row.children,
        hold_expires_at=row.hold_expires_at,
        data=dict(row.reseller_data or {}),
        now=read_clock(),
    )


async def _write(
    session: AsyncSession,
    locked: _Locked,
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


def _guest_values(guest: Guest) -> dict[str, Any]:
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
    async with db.writing() as session:
        locked = await _lock(session, reseller, booking_uuid, clock.reader(now))
        if locked.status == BookingStatus.CONFIRMED:
            return locked.id
        if not locked.running_hold:
            raise locked.ended()
        values = _guest_values(guest)
        if reseller_reference is not None:
            values["reseller_reference"] = reseller_reference
        await _write(
            session,
            locked,
            {
                "guest": guest.as_data(),
                "unitItems": _with_references(locked.data, unit_references),
                "confirmedAt": clock.utc_stamp(locked.now),
            },
            status=BookingStatus.CONFIRMED,
            **values,
        )
        people = locked.adults + locked.children
        await holds.end_hold(session, locked.slot_id, people, locked.now, into_booked=True)
        audit.record(
            session,
            _actor(reseller),
            "booking.confirmed",
            slot_id=locked.slot_id,
            booking_id=locked.id,
            before={"status": locked.status.value},
            after={"status": "confirmed"},
        )
    return locked.id


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
    """Hold the places ``minutes`` from now instead (longer or shorter), if the hold still
    runs; a hold that ended is not taken again (``HoldEnded``)."""
    check_hold_minutes(minutes)
    async with db.writing() as session:
        locked = await _lock(session, reseller, booking_uuid, clock.reader(now))
        if not locked.running_hold:
            raise locked.ended()
        until = locked.now + timedelta(minutes=minutes)
        await _write(session, locked, hold_expires_at=until)
        await holds.hold_ends_moved(session, locked.slot_id, locked.now)
        audit.record(
            session,
            _actor(reseller),
            "booking.hold_extended",
            slot_id=locked.slot_id,
            booking_id=locked.id,
            before={"hold_expires_at": clock.utc_stamp(locked.hold_expires_at)},
            after={"hold_expires_at": clock.utc_stamp(until)},
        )
    return locked.id


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
        await _merge_data(
            session, booking_id, {"cancellationReason": reason, "updatedAt": clock.utc_stamp(at)}
        )

    try:
        await booking.cancel_where(
            db,
            which(reseller, booking_uuid),
            actor=_actor(reseller),
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


async def _merge_data(session: AsyncSession, booking_id: int, changes: dict[str, Any]) -> None:
    """Add ``changes`` to what the booking keeps of the reseller's requests (under its slot's
    lock, taken by the caller)."""
    data = await session.scalar(select(Booking.reseller_data).where(Booking.id == booking_id))
    await session.execute(
        update(Booking)
        .where(Booking.id == booking_id)
        .values(reseller_data={**(data or {}), **changes})
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Details:
    """What a reseller may correct on its booking without touching places (None: unchanged)."""

    guest: Guest | None = None
    notes: str | None = None
    reseller_reference: str | None = None


async def correct(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    details: Details,
    *,
    now: clock.At = None,
) -> int:
    """Correct the guest, the notes or the reseller's reference of a live booking."""
    guest = details.guest
    if guest is not None:
        guest.check()
    async with db.writing() as session:
        locked = await _lock(session, reseller, booking_uuid, clock.reader(now))
        if locked.status != BookingStatus.CONFIRMED and not locked.running_hold:
            raise locked.ended()
        values = {} if guest is None else _guest_values(guest)
        if details.notes is not None:
            values["notes"] = details.notes
        if details.reseller_reference is not None:
            values["reseller_reference"] = details.reseller_reference
        await _write(
            session, locked, None if guest is None else {"guest": guest.as_data()}, **values
        )
        audit.record(
            session,
            _actor(reseller),
            "booking.details_changed",
            slot_id=locked.slot_id,
            booking_id=locked.id,
            fields=sorted(values),
        )
    return locked.id


async def resize(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    units: tuple[UnitItem, ...],
    policy: BookingPolicy,
    *,
    now: clock.At = None,
) -> int:
    """Change the unit items of a booking: its party grows within the places left, or shrinks.
    A confirmed booking by the visitor's own rule (``booking.change_party``, until the cut-off);
    a running hold within its held places (``places.hold_more``)."""
    adults, children = party_of(units)
    booking.check_party(adults, children, policy)
    found = await _identity(db, reseller, booking_uuid)
    items = {"unitItems": _unit_items(booking_uuid, units)}
    if found.status in HOLD_STATUSES:
        await _resize_hold(db, reseller, booking_uuid, (adults, children), items, now)
        return found.id
    if (adults, children) != (found.adults, found.children):
        receipt = await receipt_of(db, reseller, booking_uuid, policy)
        await booking.change_party(db, receipt.manage_token, adults, children, policy, now=now)
    async with db.writing() as session:
        await holds.lock_slot_row(session, found.slot_id)
        stamp = {"updatedAt": clock.utc_stamp(clock.reader(now)())}
        await _merge_data(session, found.id, {**items, **stamp})
    return found.id


async def _resize_hold(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    party: tuple[int, int],
    items: dict[str, Any],
    now: clock.At,
) -> None:
    async with db.writing() as session:
        slot_id = await session.scalar(select(Booking.slot_id).where(which(reseller, booking_uuid)))
        assert slot_id is not None  # found just before; bookings are never deleted
        await places.lock_capped_provider(session, slot_id)
        locked = await _lock(session, reseller, booking_uuid, clock.reader(now))
        if not locked.running_hold or locked.slot_id != slot_id:
            raise locked.ended()
        extra = sum(party) - (locked.adults + locked.children)
        if extra > 0:
            await _hold_more(
                session, slot_id, extra, locked.now, party=locked.adults + locked.children
            )
        await _write(session, locked, items, adults=party[0], children=party[1])
        if extra < 0:
            await places.hold_fewer(session, slot_id, -extra, locked.now)
        audit.record(
            session,
            _actor(reseller),
            "booking.changed",
            slot_id=slot_id,
            booking_id=locked.id,
            before={"adults": locked.adults, "children": locked.children},
            after={"adults": party[0], "children": party[1]},
        )


async def move(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    target_slot_id: int,
    *,
    now: clock.At = None,
) -> int:
    """Move a booking to another date of its activity: a confirmed one by
    ``moves.move_booking``, a running hold with its held places; the places are taken there
    under the same rule as a booking's."""
    found = await _identity(db, reseller, booking_uuid)
    if found.slot_id == target_slot_id:
        return found.id
    if found.status in HOLD_STATUSES:
        await _move_hold(db, reseller, booking_uuid, found.slot_id, target_slot_id, now)
        return found.id

    async def stamp(session: AsyncSession, _move: Any) -> None:
        at = clock.utc_stamp(clock.reader(now)())
        await _merge_data(session, found.id, {"updatedAt": at})

    await moves.move_booking(
        db, found.id, target_slot_id, actor=_actor(reseller), now=now, also=stamp
    )
    return found.id


async def _move_hold(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    source_id: int,
    target_id: int,
    now: clock.At,
) -> None:
    """Lock order as everywhere: the target's capped farm, then both slots by id, then the
    booking."""
    async with db.writing() as session:
        await places.lock_capped_provider(session, target_id)
        for slot_id in sorted({source_id, target_id}):
            await holds.lock_slot_row(session, slot_id)
        locked = await _lock(session, reseller, booking_uuid, clock.reader(now))
        if not locked.running_hold or locked.slot_id != source_id:
            raise locked.ended()
        people = locked.adults + locked.children
        await _hold_more(session, target_id, people, locked.now, until=locked.hold_expires_at)
        await _write(session, locked, slot_id=target_id)
        await places.hold_fewer(session, source_id, people, locked.now)
        audit.record(
            session,
            _actor(reseller),
            "booking.moved",
            slot_id=source_id,
            booking_id=locked.id,
            before={"slot_id": source_id},
            after={"slot_id": target_id},
        )


async def _hold_more(
    session: AsyncSession,
    slot_id: int,
    people: int,
    now: datetime,
    *,
    until: datetime | None = None,
    party: int | None = None,
) -> None:
    """Hold ``people`` more on the slot, or raise why they do not fit (for a larger party of
    ``party``, or a hold moved here)."""
    for _attempt in range(3):
        if await places.hold_more(session, slot_id, people, now, until=until):
            return
        refused = await room.refusal(
            session, slot_id, people, now, field="availabilityId", party=party
        )
        if refused is not None:
            raise refused
        # Places were given back since the UPDATE (a refused UPDATE locks nothing): again.
    raise RuntimeError("could not hold the places after 3 attempts")  # pragma: no cover


async def receipt_of(
    db: Database, reseller: ResellerRef, booking_uuid: str, policy: BookingPolicy
) -> BookingReceipt:
    """The booking as its guest sees it, with its manage token (derived, never stored): for the
    confirmation email a reseller asks us to send (``emailReceipt``)."""
    found = await _identity(db, reseller, booking_uuid)
    token = tokens.derived_token(
        policy.secret_key, key_of(reseller.id, booking_uuid), found.request_fingerprint or ""
    )
    return BookingReceipt(await booking.find_by_token(db, token), token)


@dataclass(frozen=True)
class _Identity:
    id: int
    slot_id: int
    status: BookingStatus
    adults: int
    children: int
    request_fingerprint: str | None


async def _identity(db: Database, reseller: ResellerRef, booking_uuid: str) -> _Identity:
    async with db.reading_connection() as connection:
        row = (
            await connection.execute(
                select(
                    Booking.id,
                    Booking.slot_id,
                    Booking.status,
                    Booking.adults,
                    Booking.children,
                    Booking.request_fingerprint,
                ).where(which(reseller, booking_uuid))
            )
        ).first()
    if row is None:
        raise ResellerBookingNotFound(field="uuid", uuid=booking_uuid)
    return _Identity(
        row.id,
        row.slot_id,
        BookingStatus(row.status),
        row.adults,
        row.children,
        row.request_fingerprint,
    )
