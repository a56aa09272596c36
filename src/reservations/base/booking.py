"""Booking and cancelling places: the rules, and the one place where places are taken.

Places are taken by a single conditional UPDATE (``booked + n <= capacity`` and the slot still
open), issued as the last statement before COMMIT: on PostgreSQL the slot's row lock is held for
that statement and the commit only, and a concurrent loser re-evaluates the WHERE on the new row
and gets no row back; on SQLite the write transaction began IMMEDIATE. Either way a full slot
refuses, whatever the concurrency. Lock order everywhere: the slot row, then its bookings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reservations.base import audit, clock, tokens
from reservations.base.db import Database
from reservations.base.errors import (
    AlreadyCancelled,
    BookingClosed,
    BookingNotFound,
    CancellationClosed,
    IdempotencyKeyReused,
    InvalidEmail,
    InvalidParty,
    MissingContact,
    MissingName,
    NotEnoughPlaces,
    PartyTooLarge,
    SlotCancelled,
    SlotNotFound,
    UnsupportedLocale,
)
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    Booking,
    BookingStatus,
    CancelledBy,
    Channel,
    Slot,
    SlotStatus,
)
from reservations.settings import SUPPORTED_LOCALES


@dataclass(frozen=True)
class BookingRequest:
    slot_id: int
    adults: int
    children: int
    name: str
    email: str | None
    phone: str | None = None
    locale: str = "fr"
    channel: Channel = Channel.WEB
    notes: str | None = None

    @property
    def people(self) -> int:
        return self.adults + self.children

    def fingerprint(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class BookingPolicy:
    """What the office configures about bookings (see ``Settings``)."""

    secret_key: str
    max_party_size: int = 15


@dataclass(frozen=True)
class BookingReceipt:
    """What the person who booked gets back, once: the booking and its secret manage token."""

    booking: Booking
    manage_token: str
    #: True when this answers a retry of an earlier request with the same Idempotency-Key.
    replayed: bool = False


class _Refused(Exception):
    """The conditional UPDATE took no row: roll back, then say why."""


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_party(adults: int, children: int, policy: BookingPolicy) -> None:
    if adults < 0 or children < 0 or adults + children < 1:
        raise InvalidParty(field="adults")
    if adults + children > policy.max_party_size:
        raise PartyTooLarge(field="adults", maximum=policy.max_party_size)


def check_request(request: BookingRequest, policy: BookingPolicy) -> None:
    """Everything about a booking request that does not depend on the slot's state."""
    check_party(request.adults, request.children, policy)
    if not request.name.strip():
        raise MissingName(field="name")
    if not (request.email or request.phone):
        raise MissingContact(field="email")
    if request.email and not _EMAIL.match(request.email):
        raise InvalidEmail(field="email", email=request.email)
    if request.locale not in SUPPORTED_LOCALES:
        raise UnsupportedLocale(
            field="locale", locale=request.locale, choices=", ".join(SUPPORTED_LOCALES)
        )


async def book(
    db: Database,
    request: BookingRequest,
    policy: BookingPolicy,
    *,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> BookingReceipt:
    """Book places on a slot, or raise a ``DomainError`` saying why not."""
    check_request(request, policy)
    now = now or clock.now()
    fingerprint = request.fingerprint()
    key_hash = tokens.digest(idempotency_key) if idempotency_key else None
    if idempotency_key and key_hash:
        earlier = await _replay(db, idempotency_key, key_hash, fingerprint, policy, now)
        if earlier:
            return earlier
        token = tokens.derived_token(policy.secret_key, idempotency_key, fingerprint)
    else:
        token = tokens.new_token()

    for _attempt in range(3):
        try:
            booking = await _insert_and_take_places(
                db, request, token, key_hash, fingerprint, actor, now
            )
            return BookingReceipt(booking=booking, manage_token=token)
        except _Refused:
            pass
        except IntegrityError:
            # A concurrent retry with the same key won, the slot does not exist, or (once in
            # 10^12) the reference collided: find out which.
            if idempotency_key and key_hash:
                earlier = await _replay(db, idempotency_key, key_hash, fingerprint, policy, now)
                if earlier:
                    return earlier
        # Raises if the slot's state refuses the booking now; else (a collision, or places freed
        # since the UPDATE) try again.
        await _raise_refusal(db, request.slot_id, request.people, now)
    raise RuntimeError("could not store the booking after 3 attempts")  # pragma: no cover


async def _insert_and_take_places(
    db: Database,
    request: BookingRequest,
    token: str,
    key_hash: str | None,
    fingerprint: str,
    actor: str,
    now: datetime,
) -> Booking:
    async with db.writing() as session:
        booking = Booking(
            reference=tokens.new_reference(),
            slot_id=request.slot_id,
            adults=request.adults,
            children=request.children,
            name=request.name,
            email=request.email,
            phone=request.phone,
            locale=request.locale,
            channel=request.channel,
            status=BookingStatus.CONFIRMED,
            notes=request.notes,
            manage_token_hash=tokens.digest(token),
            idempotency_key_hash=key_hash,
            request_fingerprint=fingerprint if key_hash else None,
            created_at=now,
        )
        session.add(booking)
        await session.flush()
        audit.record(
            session,
            actor,
            "booking.created",
            slot_id=request.slot_id,
            booking_id=booking.id,
            after={"adults": request.adults, "children": request.children, "status": "confirmed"},
            channel=request.channel.value,
        )
        # Last statement before COMMIT: the slot's row lock is held from here to the commit.
        taken = await session.execute(
            update(Slot)
            .where(
                Slot.id == request.slot_id,
                Slot.status.in_(BOOKABLE_STATUSES),
                Slot.booking_cutoff_at > now,
                Slot.booked + request.people <= Slot.capacity,
            )
            .values(booked=Slot.booked + request.people)
            .returning(Slot.id)
            .execution_options(synchronize_session=False)
        )
        if taken.first() is None:
            raise _Refused
    return booking


async def _replay(
    db: Database,
    idempotency_key: str,
    key_hash: str,
    fingerprint: str,
    policy: BookingPolicy,
    now: datetime,
) -> BookingReceipt | None:
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking).where(
                Booking.idempotency_key_hash == key_hash,
            )
        )
    if booking is None:
        return None
    if booking.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(field="idempotency_key")
    token = tokens.derived_token(policy.secret_key, idempotency_key, fingerprint)
    return BookingReceipt(booking=booking, manage_token=token, replayed=True)


async def _raise_refusal(db: Database, slot_id: int, people: int, now: datetime) -> None:
    """Explain a refused booking from the slot's state now; return if nothing refuses it."""
    async with db.reading() as session:
        slot = await session.get(Slot, slot_id)
    if slot is None:
        raise SlotNotFound(field="slot_id")
    if slot.status == SlotStatus.CANCELLED:
        raise SlotCancelled(field="slot_id")
    if slot.status not in BOOKABLE_STATUSES or now >= slot.booking_cutoff_at:
        raise BookingClosed(field="slot_id", cutoff=clock.display(slot.booking_cutoff_at))
    if slot.remaining < people:
        raise NotEnoughPlaces(field="adults", remaining=slot.remaining, requested=people)


def _with_slot_details():  # type: ignore[no-untyped-def]
    return joinedload(Booking.slot).joinedload(Slot.activity).joinedload(Activity.provider)


async def find_by_token(db: Database, manage_token: str) -> Booking:
    """The booking a manage link points to, with its slot, activity and provider loaded."""
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking)
            .where(Booking.manage_token_hash == tokens.digest(manage_token))
            .options(_with_slot_details())
        )
    if booking is None:
        raise BookingNotFound(field="manage_token")
    return booking


async def cancel_by_visitor(
    db: Database, manage_token: str, *, now: datetime | None = None
) -> Booking:
    """The visitor cancels with their manage token, until the booking cut-off."""
    now = now or clock.now()
    booking = await find_by_token(db, manage_token)
    if booking.status == BookingStatus.CANCELLED:
        raise AlreadyCancelled()
    if now >= booking.slot.booking_cutoff_at:
        raise CancellationClosed(cutoff=clock.display(booking.slot.booking_cutoff_at))
    await cancel_booking(db, booking.id, actor="visitor", cancelled_by=CancelledBy.VISITOR, now=now)
    return await find_by_token(db, manage_token)


async def cancel_booking(
    db: Database,
    booking_id: int,
    *,
    actor: str,
    cancelled_by: CancelledBy = CancelledBy.STAFF,
    now: datetime | None = None,
) -> None:
    """Cancel one booking at any time (staff, provider) and give its places back."""
    now = now or clock.now()
    async with db.writing() as session:
        slot_id = await session.scalar(select(Booking.slot_id).where(Booking.id == booking_id))
        if slot_id is None:
            raise BookingNotFound()
        await lock_slot(session, slot_id)
        ended = await session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.status == BookingStatus.CONFIRMED)
            .values(status=BookingStatus.CANCELLED, cancelled_at=now, cancelled_by=cancelled_by)
            .returning(Booking.adults, Booking.children)
            .execution_options(synchronize_session=False)
        )
        row = ended.first()
        if row is None:
            raise AlreadyCancelled()
        await session.execute(
            update(Slot)
            .where(Slot.id == slot_id)
            .values(booked=Slot.booked - (row.adults + row.children))
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            actor,
            "booking.cancelled",
            slot_id=slot_id,
            booking_id=booking_id,
            before={"status": "confirmed"},
            after={"status": "cancelled", "cancelled_by": cancelled_by.value},
        )


async def lock_slot(session: AsyncSession, slot_id: int) -> Slot | None:
    """Lock a slot's row for the rest of the transaction (PostgreSQL; SQLite's writer already
    holds the database). Taken first, before any of its bookings' rows."""
    return await session.scalar(
        select(Slot).where(Slot.id == slot_id).with_for_update().execution_options(
            populate_existing=True
        )
    )
