"""What a reseller changes on its booking (OCTO's PATCH): the guest, notes and reference; the
people; the date. A confirmed booking changes by the rules every booking changes by
(``booking.change_party``, ``moves.move_booking``); a running hold changes within its held
places (``places.hold_more`` / ``hold_fewer``), under the same rule as a booking's places.
Each change is one transaction under the booking's slot's lock (``under_lock``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import ResellerBookingNotFound
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import Booking, BookingStatus, Slot
from reservations.base.rules import booking, moves, places, room
from reservations.base.rules.booking import BookingPolicy, BookingReceipt
from reservations.base.rules.reseller_bookings import (
    Guest,
    Locked,
    UnitItem,
    actor_of,
    audited,
    guest_values,
    key_of,
    merge_data,
    party_of,
    under_lock,
    unit_items,
    which,
    write,
)
from reservations.base.rules.resellers import ResellerRef


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

    async def correcting(session: AsyncSession, locked: Locked) -> int:
        if not locked.live:
            raise locked.ended()
        values = {} if guest is None else guest_values(guest)
        if details.notes is not None:
            values["notes"] = details.notes
        if details.reseller_reference is not None:
            values["reseller_reference"] = details.reseller_reference
        data = None if guest is None else {"guest": guest.as_data()}
        await write(session, locked, data, **values)
        audited(
            session,
            reseller,
            locked,
            "booking.details_changed",
            fields=sorted(values),
        )
        return locked.id

    return await under_lock(db, reseller, booking_uuid, now, correcting)


async def resize(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    units: tuple[UnitItem, ...],
    policy: BookingPolicy,
    *,
    now: clock.At = None,
) -> int:
    """Change the unit items of a live booking: its party grows within the places left, or
    shrinks. A running hold within its held places; a confirmed booking by the visitor's own
    rule (``booking.change_party``, until the cut-off), its unit items written once it did."""
    adults, children = party_of(units)
    booking.check_party(adults, children, policy)
    items = {"unitItems": unit_items(booking_uuid, units)}

    async def resizing_hold(session: AsyncSession, locked: Locked) -> bool:
        """False for a confirmed booking, which the visitor's rule resizes."""
        if locked.status == BookingStatus.CONFIRMED:
            return False
        if not locked.running_hold:
            raise locked.ended()
        extra = adults + children - locked.people
        if extra > 0:
            await _hold_more(session, locked.slot_id, extra, locked, party=locked.people)
        await write(session, locked, items, adults=adults, children=children)
        if extra < 0:
            await places.hold_fewer(session, locked.slot_id, -extra, locked.now)
        audited(
            session,
            reseller,
            locked,
            "booking.changed",
            before={"adults": locked.adults, "children": locked.children},
            after={"adults": adults, "children": children},
        )
        return True

    found = await _read(db, reseller, booking_uuid)
    if await under_lock(db, reseller, booking_uuid, now, resizing_hold, grows=True):
        return found.id
    if (adults, children) != (found.adults, found.children):
        token = manage_token(policy, reseller, booking_uuid, found.request_fingerprint)
        await booking.change_party(
            db, token, adults, children, policy, now=now, actor=actor_of(reseller)
        )

    async def keeping_items(session: AsyncSession, locked: Locked) -> int:
        if not locked.live:
            raise locked.ended()
        await write(session, locked, items)
        return locked.id

    return await under_lock(db, reseller, booking_uuid, now, keeping_items)


async def move(
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    target_slot_id: int,
    *,
    now: clock.At = None,
) -> int:
    """Move a live booking to another date of its activity: a running hold with its held
    places (its end kept, but never past the new date's cut-off), a confirmed booking by
    ``moves.move_booking``; the places are taken there under the same rule as a booking's."""

    async def moving_hold(session: AsyncSession, locked: Locked) -> bool:
        """False for a confirmed booking, which ``moves.move_booking`` moves."""
        if locked.status == BookingStatus.CONFIRMED:
            return False
        if not locked.running_hold:
            raise locked.ended()
        if locked.slot_id == target_slot_id:
            return True
        target_cutoff = await session.scalar(
            select(Slot.booking_cutoff_at).where(Slot.id == target_slot_id)
        )
        assert locked.hold_expires_at is not None  # a running hold
        until = min(locked.hold_expires_at, target_cutoff or locked.hold_expires_at)
        await _hold_more(session, target_slot_id, locked.people, locked, until=until)
        await write(session, locked, slot_id=target_slot_id, hold_expires_at=until)
        await places.hold_fewer(session, locked.slot_id, locked.people, locked.now)
        audited(
            session,
            reseller,
            locked,
            "booking.moved",
            before={"slot_id": locked.slot_id},
            after={"slot_id": target_slot_id},
        )
        return True

    found = await _read(db, reseller, booking_uuid)
    if await under_lock(
        db, reseller, booking_uuid, now, moving_hold, target=target_slot_id, grows=True
    ):
        return found.id
    if found.slot_id != target_slot_id:

        async def stamp(session: AsyncSession, _move: Any) -> None:
            at = clock.utc_stamp(clock.reader(now)())
            await merge_data(session, found.id, {"updatedAt": at})

        await moves.move_booking(
            db, found.id, target_slot_id, actor=actor_of(reseller), now=now, also=stamp
        )
    return found.id


async def _hold_more(
    session: AsyncSession,
    slot_id: int,
    people: int,
    locked: Locked,
    *,
    until: Any = None,
    party: int | None = None,
) -> None:
    """Hold ``people`` more on the slot, or raise why they do not fit (for a larger party of
    ``party``, or a hold moved here)."""
    for _attempt in range(3):
        if await places.hold_more(session, slot_id, people, locked.now, until=until):
            return
        refused = await room.refusal(
            session, slot_id, people, locked.now, field="availabilityId", party=party
        )
        if refused is not None:
            raise refused
        # Places were given back since the UPDATE (a refused UPDATE locks nothing): again.
    raise RuntimeError("could not hold the places after 3 attempts")  # pragma: no cover


async def receipt_of(
    db: Database, reseller: ResellerRef, booking_uuid: str, policy: BookingPolicy
) -> BookingReceipt:
    """The booking as its guest sees it, with its manage token: for the confirmation email a
    reseller asks us to send (``emailReceipt``)."""
    found = await _read(db, reseller, booking_uuid)
    token = manage_token(policy, reseller, booking_uuid, found.request_fingerprint)
    return BookingReceipt(await booking.find_by_token(db, token), token)


def manage_token(
    policy: BookingPolicy, reseller: ResellerRef, booking_uuid: str, fingerprint: str | None
) -> str:
    """A reseller's booking's manage token: derived from its request, never stored."""
    key = key_of(reseller.id, booking_uuid)
    return tokens.derived_token(policy.secret_key, key, fingerprint or "")


@dataclass(frozen=True)
class _Found:
    id: int
    slot_id: int
    adults: int
    children: int
    request_fingerprint: str | None


async def _read(db: Database, reseller: ResellerRef, booking_uuid: str) -> _Found:
    async with db.reading_connection() as connection:
        row = (
            await connection.execute(
                select(
                    Booking.id,
                    Booking.slot_id,
                    Booking.adults,
                    Booking.children,
                    Booking.request_fingerprint,
                ).where(which(reseller, booking_uuid))
            )
        ).first()
    if row is None:
        raise ResellerBookingNotFound(field="uuid", uuid=booking_uuid)
    return _Found(row.id, row.slot_id, row.adults, row.children, row.request_fingerprint)
