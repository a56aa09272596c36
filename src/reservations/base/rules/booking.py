"""Booking and cancelling: the rules a booking request must meet, idempotent retries, and why a
refused booking was refused.

Places are taken in ``places.py`` by one conditional UPDATE (``room.fits``: the slot still
open, ``booked + n <= capacity``, within its farm's daily cap): on PostgreSQL a concurrent loser
re-evaluates that condition on the new row and gets no row back; on SQLite the writing
transaction began IMMEDIATE. Either way a full slot refuses, whatever the concurrency, and
``room.refusal`` says why. Lock order everywhere: a capped provider's row, then slot rows, then
their bookings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reservations.base import clock
from reservations.base.errors import (
    AlreadyCancelled,
    AwaitingPayment,
    BookingNotFound,
    CancellationClosed,
    ChangesClosed,
    IdempotencyKeyReused,
    InvalidEmail,
    InvalidParty,
    InvalidPhone,
    MissingContact,
    MissingName,
    PartyTooLarge,
    UnsupportedLocale,
)
from reservations.base.infra import outbox, tokens
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    Booking,
    BookingStatus,
    CancelledBy,
    Channel,
    Slot,
    SlotStatus,
)
from reservations.base.rules import audit, contacts, holds, places, refunds, room
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
    #: The visitor came from a link shared by someone who booked ("help this visit happen").
    via_share_link: bool = False
    #: A reseller's booking (channel ``reseller``): who sold it, its reference, and what the
    #: OCTO API keeps of the request (``Booking.reseller_data``).
    reseller_id: int | None = None
    reseller_reference: str | None = None
    reseller_data: dict[str, Any] | None = None

    @property
    def people(self) -> int:
        return self.adults + self.children

    def fingerprint(self) -> str:
        """Tells a retry of this very request from another request sent with the same key."""
        canonical = json.dumps([getattr(self, f.name) for f in fields(self)], default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class BookingPolicy:
    """What the office configures about bookings (see ``Settings``)."""

    secret_key: str
    max_party_size: int = 15


@dataclass(frozen=True)
class BookingView:
    """A booking as its holder sees it, with what they need to know of its slot."""

    id: int
    reference: str
    status: BookingStatus
    slot_id: int
    adults: int
    children: int
    name: str
    email: str | None
    phone: str | None
    locale: str
    channel: Channel
    created_at: datetime
    cancelled_at: datetime | None
    #: A hold (``pending_payment``) holds its places until then.
    hold_expires_at: datetime | None
    starts_at: datetime
    ends_at: datetime
    booking_cutoff_at: datetime
    slot_status: SlotStatus
    activity_title: dict[str, str]
    activity_name: str
    provider: str

    @property
    def people(self) -> int:
        return self.adults + self.children

    def activity_in(self, locale: str) -> str:
        return (
            self.activity_title.get(locale) or self.activity_title.get("fr") or self.activity_name
        )

    @classmethod
    def of(cls, booking: Booking) -> BookingView:
        """From a booking loaded with its slot, activity and provider."""
        slot, activity = booking.slot, booking.slot.activity
        return cls(
            id=booking.id,
            reference=booking.reference,
            status=booking.status,
            slot_id=booking.slot_id,
            adults=booking.adults,
            children=booking.children,
            name=booking.name,
            email=booking.email,
            phone=booking.phone,
            locale=booking.locale,
            channel=booking.channel,
            created_at=booking.created_at,
            cancelled_at=booking.cancelled_at,
            hold_expires_at=booking.hold_expires_at,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            booking_cutoff_at=slot.booking_cutoff_at,
            slot_status=slot.status,
            activity_title=activity.title,
            activity_name=activity.name,
            provider=activity.provider.name,
        )


@dataclass(frozen=True)
class BookingReceipt:
    """What the person who booked gets back, once: the booking and its secret manage token."""

    booking: BookingView
    manage_token: str
    #: True when this answers a retry of an earlier request with the same Idempotency-Key.
    replayed: bool = False


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
    # A reseller's customer is reached through the reseller, who may not pass their contact on.
    if not (request.email or request.phone) and request.reseller_id is None:
        raise MissingContact(field="email")
    if request.email and not contacts.is_email(request.email):
        raise InvalidEmail(field="email", email=request.email)
    if request.phone and not contacts.is_phone(request.phone):
        raise InvalidPhone(field="phone", phone=request.phone)
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
    now: clock.At = None,
    hold_minutes: int | None = None,
    hold_status: BookingStatus = BookingStatus.PENDING_PAYMENT,
    hold_ends_by: datetime | None = None,
) -> BookingReceipt:
    """Book places on a slot, or raise a ``DomainError`` saying why not. The cut-off is checked
    against the time read when the places are taken (``places.take_places``). With
    ``hold_minutes`` the booking is a hold of that long, but no later than ``hold_ends_by``
    (``hold_status``: ``pending_payment``, which its payment confirms,
    ``places.confirm_hold``; or a reseller's ``on_hold``)."""
    check_request(request, policy)
    read_clock = clock.reader(now)
    key_hash = fingerprint = None
    if idempotency_key:
        key_hash, fingerprint = tokens.digest(idempotency_key), request.fingerprint()
        earlier = await _replay(db, idempotency_key, key_hash, fingerprint, policy)
        if earlier:
            return earlier
        token = tokens.derived_token(policy.secret_key, idempotency_key, fingerprint)
    else:
        token = tokens.new_token()

    for _attempt in range(3):
        reference = tokens.new_reference()
        params = _statement_params(request, reference, token, key_hash, fingerprint, actor)
        if hold_minutes is not None:
            _as_hold(params, hold_minutes, hold_status, hold_ends_by)
        try:
            taken = await places.take_places(db, params, read_clock)
            if taken is not None:
                status = BookingStatus(params["booking_status"])
                view = _view_of_new(request, reference, taken, status, params["hold_until"])
                return BookingReceipt(view, token)
        except IntegrityError:
            # A concurrent retry with the same key won, the slot does not exist, or (once in
            # 10^12) the reference collided: find out which.
            if idempotency_key and key_hash and fingerprint:
                earlier = await _replay(db, idempotency_key, key_hash, fingerprint, policy)
                if earlier:
                    return earlier
        # Raises if the slot's state refuses the booking at the attempt's time; else (a
        # collision, or places given back since the UPDATE) try again. At the attempt's time,
        # not later: a hold that ends after the attempt has not freed what it refused.
        at = params.get("now") or read_clock()
        await _raise_refusal(db, request.slot_id, request.people, at)
    raise RuntimeError("could not store the booking after 3 attempts")  # pragma: no cover


def _statement_params(
    request: BookingRequest,
    reference: str,
    token: str,
    key_hash: str | None,
    fingerprint: str | None,
    actor: str,
) -> dict[str, Any]:
    """The statement's parameters but ``now`` and ``created_at``, stamped under its locks."""
    return {
        "slot_id": request.slot_id,
        "people": request.people,
        "booking_reference": reference,
        "booking_adults": request.adults,
        "booking_children": request.children,
        "booking_name": request.name,
        "booking_email": request.email,
        "booking_phone": request.phone,
        "booking_locale": request.locale,
        "booking_channel": request.channel.value,
        "booking_status": BookingStatus.CONFIRMED.value,
        "booking_notes": request.notes,
        "booking_via_share_link": request.via_share_link,
        "booking_reseller_id": request.reseller_id,
        "booking_reseller_reference": request.reseller_reference,
        "booking_reseller_data": request.reseller_data,
        "booking_manage_token_hash": tokens.digest(token),
        "booking_idempotency_key_hash": key_hash,
        "booking_request_fingerprint": fingerprint,
        "actor": actor,
        "audit_data": {
            "after": {
                "adults": request.adults,
                "children": request.children,
                "status": "confirmed",
            },
            "channel": request.channel.value,
        },
    }


def _as_hold(
    params: dict[str, Any], minutes: int, hold_status: BookingStatus, ends_by: datetime | None
) -> None:
    assert hold_status in HOLD_STATUSES
    status = hold_status.value
    params["hold_minutes"], params["hold_ends_by"] = minutes, ends_by
    params["booking_status"] = params["audit_data"]["after"]["status"] = status


def _view_of_new(
    request: BookingRequest,
    reference: str,
    taken: places.TakenPlaces,
    status: BookingStatus,
    hold_until: datetime | None,
) -> BookingView:
    return BookingView(
        id=taken.booking_id,
        reference=reference,
        status=status,
        slot_id=request.slot_id,
        adults=request.adults,
        children=request.children,
        name=request.name,
        email=request.email,
        phone=request.phone,
        locale=request.locale,
        channel=request.channel,
        created_at=taken.at,
        cancelled_at=None,
        hold_expires_at=hold_until,
        starts_at=taken.starts_at,
        ends_at=taken.ends_at,
        booking_cutoff_at=taken.booking_cutoff_at,
        slot_status=SlotStatus(taken.slot_status),
        activity_title=taken.activity_title,
        activity_name=taken.activity_name,
        provider=taken.provider_name,
    )


async def _replay(
    db: Database,
    idempotency_key: str,
    key_hash: str,
    fingerprint: str,
    policy: BookingPolicy,
) -> BookingReceipt | None:
    booking = await _find(db, Booking.idempotency_key_hash == key_hash)
    if booking is None:
        return None
    if booking.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(field="idempotency_key")
    token = tokens.derived_token(policy.secret_key, idempotency_key, fingerprint)
    return BookingReceipt(BookingView.of(booking), token, replayed=True)


async def _raise_refusal(db: Database, slot_id: int, people: int, now: datetime) -> None:
    """Explain a refused booking from the slot's state now; return if nothing refuses it."""
    async with db.reading_connection() as connection:
        refused = await room.refusal(connection, slot_id, people, now)
    if refused is not None:
        raise refused


async def _find(db: Database, condition: ColumnElement[bool]) -> Booking | None:
    """One booking with its slot, activity and provider loaded."""
    async with db.reading() as session:
        return await session.scalar(
            select(Booking)
            .where(condition)
            .options(
                joinedload(Booking.slot).joinedload(Slot.activity).joinedload(Activity.provider)
            )
        )


async def find_by_token(db: Database, manage_token: str) -> BookingView:
    """The booking a manage link points to."""
    booking = await _find(db, Booking.manage_token_hash == tokens.digest(manage_token))
    if booking is None:
        raise BookingNotFound(field="manage_token")
    return BookingView.of(booking)


async def cancel_by_visitor(
    db: Database, manage_token: str, *, now: clock.At = None
) -> BookingView:
    """The visitor cancels with their manage token, until the booking cut-off (checked against
    the time read under the slot's lock, in the transaction that cancels)."""
    await cancel_where(
        db,
        Booking.manage_token_hash == tokens.digest(manage_token),
        actor="visitor",
        cancelled_by=CancelledBy.VISITOR,
        now=now,
        until_cutoff=True,
    )
    return await find_by_token(db, manage_token)


async def change_party(
    db: Database,
    manage_token: str,
    adults: int,
    children: int,
    policy: BookingPolicy,
    *,
    now: clock.At = None,
    actor: str = "visitor",
) -> BookingView:
    """The visitor (or a reseller for its guest: ``actor``) changes the size of their party,
    until the cut-off and within the places left.

    One transaction: the booking is read, the slot's row locked (after its capped farm's when
    growing), the time read, and the booking changed only if it still holds what was read (a
    cancellation of it or of its slot that came first refuses this change: ``AlreadyCancelled``;
    a move meanwhile starts it again). Growing takes the extra places with the same conditional
    UPDATE as a booking; shrinking gives places back."""
    check_party(adults, children, policy)
    read_clock = clock.reader(now)
    token_hash = tokens.digest(manage_token)
    for _attempt in range(3):
        if await _change_on_its_slot(db, token_hash, adults, children, read_clock, actor):
            return await find_by_token(db, manage_token)
    raise AlreadyCancelled()  # pragma: no cover - moved away three times in a row


async def _change_on_its_slot(
    db: Database,
    token_hash: str,
    adults: int,
    children: int,
    read_clock: clock.Clock,
    actor: str,
) -> bool:
    """False when the booking was moved or changed between its read and its slot's lock."""
    async with db.writing() as session:
        booking = (
            await session.execute(
                select(
                    Booking.id, Booking.slot_id, Booking.status, Booking.adults, Booking.children
                ).where(Booking.manage_token_hash == token_hash)
            )
        ).first()
        if booking is None:
            raise BookingNotFound(field="manage_token")
        if booking.status in HOLD_STATUSES:
            raise AwaitingPayment()
        if booking.status != BookingStatus.CONFIRMED:
            raise AlreadyCancelled()  # final: a cancelled booking never comes back
        if (adults, children) == (booking.adults, booking.children):
            return True
        extra = adults + children - (booking.adults + booking.children)
        if extra > 0:
            await places.lock_capped_provider(session, booking.slot_id)
        slot = await lock_slot(session, booking.slot_id)
        assert slot is not None  # a booking's slot is never deleted (foreign key)
        now = read_clock()
        changed = await session.execute(
            update(Booking)
            .where(
                Booking.id == booking.id,
                Booking.slot_id == booking.slot_id,  # not moved meanwhile
                Booking.status == BookingStatus.CONFIRMED,
                Booking.adults == booking.adults,
                Booking.children == booking.children,
            )
            .values(adults=adults, children=children)
            .returning(Booking.id)
            .execution_options(synchronize_session=False)
        )
        if changed.first() is None:
            status = await session.scalar(select(Booking.status).where(Booking.id == booking.id))
            if status != BookingStatus.CONFIRMED:
                raise AlreadyCancelled()  # cancelled, or its slot was, before this change
            return False
        if not room.before_cutoff(slot.booking_cutoff_at, now):
            raise ChangesClosed(cutoff=clock.display(slot.booking_cutoff_at))
        if extra > 0:
            await _grow(session, booking.slot_id, extra, booking.adults + booking.children, now)
        elif extra < 0:
            # The booking is live under its slot's lock: its people are in the counter.
            await places.give_back(session, booking.slot_id, -extra, now)
        audit.record(
            session,
            actor,
            "booking.changed",
            slot_id=booking.slot_id,
            booking_id=booking.id,
            before={"adults": booking.adults, "children": booking.children},
            after={"adults": adults, "children": children},
        )
    return True


async def _grow(session: AsyncSession, slot_id: int, extra: int, party: int, now: datetime) -> None:
    """Take ``extra`` more places for a party of ``party``, or raise why they do not fit (its
    capped farm's row and its slot's are locked)."""
    for _attempt in range(3):
        if await places.take_more(session, slot_id, extra, now) is not None:
            return
        refused = await room.refusal(session, slot_id, extra, now, party=party)
        if refused is not None:
            raise refused
        # Places were given back since the UPDATE (a slot's row is not locked by a refused
        # UPDATE): take them.
    raise RuntimeError("could not take the places after 3 attempts")  # pragma: no cover


async def cancel_booking(
    db: Database,
    booking_id: int,
    *,
    actor: str,
    cancelled_by: CancelledBy = CancelledBy.STAFF,
    now: clock.At = None,
) -> None:
    """Cancel one booking at any time (staff, provider) and give its places back."""
    await cancel_where(
        db,
        Booking.id == booking_id,
        actor=actor,
        cancelled_by=cancelled_by,
        now=now,
        until_cutoff=False,
    )


#: More to write in a cancelling transaction, given its session, the booking's id and the time.
AlsoOnCancel = Callable[[AsyncSession, int, datetime], Awaitable[None]]


async def cancel_where(
    db: Database,
    which: ColumnElement[bool],
    *,
    actor: str,
    cancelled_by: CancelledBy,
    now: clock.At = None,
    until_cutoff: bool,
    also: AlsoOnCancel | None = None,
) -> None:
    """Cancel the booking ``which`` finds (the visitor's rules ``until_cutoff``: until its slot's
    cut-off, a reseller's hold at any time), ``also`` writing more in the same transaction."""
    for _attempt in range(3):
        if await _cancel_on_its_slot(
            db, which, actor, cancelled_by, clock.reader(now), until_cutoff, also
        ):
            return
    raise AlreadyCancelled()  # pragma: no cover - moved away three times in a row


async def _cancel_on_its_slot(
    db: Database,
    which: ColumnElement[bool],
    actor: str,
    cancelled_by: CancelledBy,
    read_clock: clock.Clock,
    until_cutoff: bool,
    also: AlsoOnCancel | None,
) -> bool:
    """False when the booking was moved to another slot before its slot's lock was taken.
    With ``until_cutoff`` (the visitor, a reseller), refused from the cut-off, read under the
    lock, but for a reseller's hold."""
    async with db.writing() as session:
        found = (await session.execute(select(Booking.id, Booking.slot_id).where(which))).first()
        if found is None:
            raise BookingNotFound(field="manage_token" if until_cutoff else None)
        booking_id, slot_id = found
        slot = await lock_slot(session, slot_id)
        assert slot is not None  # a booking's slot is never deleted (foreign key)
        now = read_clock()
        # Read again under the lock: a move (which locks this slot too) cannot happen now.
        current = (
            await session.execute(
                select(Booking.slot_id, Booking.status, Booking.hold_expires_at).where(
                    Booking.id == booking_id
                )
            )
        ).one()
        if current.slot_id != slot_id:
            return False
        status = BookingStatus(current.status)
        if status in HOLD_STATUSES and current.hold_expires_at <= now:
            await holds.release_lapsed(session, slot_id, now)  # it ended by itself
            raise AlreadyCancelled()
        if status != BookingStatus.CONFIRMED and status not in HOLD_STATUSES:
            raise AlreadyCancelled()
        late = not room.before_cutoff(slot.booking_cutoff_at, now)
        # A reseller's hold holds places only: letting it go is never too late.
        if until_cutoff and late and status != BookingStatus.ON_HOLD:
            raise CancellationClosed(cutoff=clock.display(slot.booking_cutoff_at))
        ended = await session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.status == status)
            .values(status=BookingStatus.CANCELLED, cancelled_at=now, cancelled_by=cancelled_by)
            .returning(Booking.adults, Booking.children)
            .execution_options(synchronize_session=False)
        )
        row = ended.one()  # live under its slot's lock
        if status in HOLD_STATUSES:
            await holds.end_hold(session, slot_id, row.adults + row.children, now)
            await outbox.discard(session, f"booking-confirmed:{booking_id}")
        else:
            await places.give_back(session, slot_id, row.adults + row.children, now)
            await refunds.on_cancellation(
                session,
                [booking_id],
                cancelled_by,
                before_cutoff=room.before_cutoff(slot.booking_cutoff_at, now),
                actor=actor,
                now=now,
            )
        audit.record(
            session,
            actor,
            "booking.cancelled",
            slot_id=slot_id,
            booking_id=booking_id,
            before={"status": status.value},
            after={"status": "cancelled", "cancelled_by": cancelled_by.value},
        )
        if also is not None:
            await also(session, booking_id, now)
    return True


async def lock_slot(
    session: AsyncSession, slot_id: int, *, provider_id: int | None = None
) -> Slot | None:
    """Lock a slot's row for the rest of the transaction (PostgreSQL; SQLite's writer already
    holds the database). Taken first, before any of its bookings' rows. With ``provider_id``,
    a slot of another provider is not found: a farmer's link reaches its own slots only."""
    query = select(Slot).where(Slot.id == slot_id)
    if provider_id is not None:
        query = query.join(Activity).where(Activity.provider_id == provider_id)
    return await session.scalar(
        query.with_for_update(of=Slot).execution_options(populate_existing=True)
    )
