"""Moving a booking to another slot (bad weather, a farmer's change of plan): staff only.

One transaction, with the same capacity guarantee as a booking:

1. lock the target's provider if it has a daily cap (``places.lock_capped_provider``, as a
   booking does), then both slots' rows in id order (``booking.lock_slot``), so two moves
   between the same two slots, in either direction, queue instead of deadlocking; then the
   booking's row (the lock order everywhere: provider, slots, bookings);
2. check again, under the locks, that the booking is live and still on the slot it was read on
   (a concurrent move or cancellation wins: this one starts again or refuses);
3. give the places back on the source, take them on the target with the same conditional
   UPDATE as a booking (``places.take_more``: ``room.fits``), or refuse with the reason a
   booking would meet (``room.refusal``, read under the same locks); re-point the booking, and
   write one audit entry on each slot.

On SQLite the writing transaction began IMMEDIATE and holds the database's write lock, which
serialises the same steps. ``notices.followups.booking_moved`` then tells the visitor and offers
the freed places to the source's waiting list (``Move`` says what changed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    N_,
    AlreadyCancelled,
    AwaitingPayment,
    BookingNotFound,
    DomainError,
    ErrorKind,
    SlotNotFound,
)
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Booking,
    BookingStatus,
    SlotStatus,
)
from reservations.base.rules import audit, places, room
from reservations.base.rules.booking import lock_slot

#: A move that finds things changed under its locks starts again this many times.
_ATTEMPTS = 3


class MoveToSameSlot(DomainError):
    code = "move_to_same_slot"
    title = N_("Same visit")
    message = N_("The booking is already on this visit: choose another date.")


class MoveAfterVisit(DomainError):
    kind = ErrorKind.CONFLICT
    code = "move_after_visit"
    title = N_("The visit took place")
    message = N_("This booking's visit has already taken place: it can no longer be moved.")


@dataclass(frozen=True)
class Move:
    """What a move changed, for the visitor's email and the waiting list of the source."""

    booking_id: int
    reference: str
    adults: int
    children: int
    email: str | None
    locale: str
    source_slot_id: int
    target_slot_id: int
    source_starts_at: datetime
    target_starts_at: datetime
    #: People on each slot after the move.
    source_booked: int
    target_booked: int
    moved_at: datetime
    #: SEQUENCE for the booking's calendar event (RFC 5545), above what either slot gave it.
    calendar_sequence: int

    @property
    def people(self) -> int:
        return self.adults + self.children


class _ChangedMeanwhile(Exception):
    """The booking left the slot it was read on before its locks were taken, or places freed up
    on the target's day after its UPDATE was refused: start again."""


#: Run inside a move's transaction once it is made (its locks held): raising undoes it.
AlsoInTransaction = Callable[[AsyncSession, Move], Awaitable[None]]


async def move_booking(
    db: Database,
    booking_id: int,
    target_slot_id: int,
    *,
    actor: str,
    now: clock.At = None,
    also: AlsoInTransaction | None = None,
) -> Move:
    """Move a live booking, whole, to ``target_slot_id``; or raise a ``DomainError`` saying why
    not (nothing is changed then). The target's cut-off is checked against the time read under
    the locks. ``also`` writes what goes with the move in its transaction (a visitor's
    acceptance of an invitation to move)."""
    read_clock = clock.reader(now)
    for _attempt in range(_ATTEMPTS):
        try:
            async with db.writing() as session:
                move = await _move(session, booking_id, target_slot_id, actor, read_clock)
                if also is not None:
                    await also(session, move)
                return move
        except _ChangedMeanwhile:
            continue
    raise AlreadyCancelled()  # pragma: no cover - changed three times in a row


async def _move(
    session: AsyncSession, booking_id: int, target_id: int, actor: str, read_clock: clock.Clock
) -> Move:
    source_id = await session.scalar(select(Booking.slot_id).where(Booking.id == booking_id))
    if source_id is None:
        raise BookingNotFound()
    if source_id == target_id:
        raise MoveToSameSlot(field="slot_id")
    # The provider first, as a booking does: takers of a capped provider's places queue there.
    await places.lock_capped_provider(session, target_id)
    locked = {
        slot_id: await lock_slot(session, slot_id) for slot_id in sorted({source_id, target_id})
    }
    source, target = locked[source_id], locked[target_id]
    if target is None:
        raise SlotNotFound(field="slot_id")
    assert source is not None  # a booking's slot is never deleted (foreign key)
    booking = await session.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert booking is not None
    now = read_clock()
    if booking.slot_id != source_id:
        raise _ChangedMeanwhile()
    if booking.status in HOLD_STATUSES:
        raise AwaitingPayment()  # its places are held, not booked: pay or cancel first
    if booking.status != BookingStatus.CONFIRMED:
        raise AlreadyCancelled()
    if source.status == SlotStatus.HELD:
        raise MoveAfterVisit()
    people = booking.adults + booking.children
    # Released first: within one provider's day, the people moved are not counted twice
    # against its daily cap.
    source_booked = await places.give_back(session, source_id, people, now)
    target_booked = await places.take_more(session, target_id, people, now)
    if target_booked is None:
        refused = await room.refusal(session, target_id, people, now, field="slot_id")
        raise refused or _ChangedMeanwhile()  # None: its farm's day had places freed meanwhile
    repointed = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking_id,
            Booking.slot_id == source_id,
            Booking.status == BookingStatus.CONFIRMED,
        )
        .values(slot_id=target_id)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    assert repointed.first() is not None  # both slots and the booking are locked
    move = Move(
        booking_id=booking.id,
        reference=booking.reference,
        adults=booking.adults,
        children=booking.children,
        email=booking.email,
        locale=booking.locale,
        source_slot_id=source_id,
        target_slot_id=target_id,
        source_starts_at=source.starts_at,
        target_starts_at=target.starts_at,
        source_booked=source_booked,
        target_booked=target_booked,
        moved_at=now,
        calendar_sequence=max(source.sequence, target.sequence) + 1,
    )
    _audit(session, actor, move)
    return move


def _audit(session: AsyncSession, actor: str, move: Move) -> None:
    """One entry on each slot, so that each slot's trail tells where the booking went or came
    from; before and after are the booking's slot and start."""
    before = {"slot_id": move.source_slot_id, "starts_at": move.source_starts_at.isoformat()}
    after = {"slot_id": move.target_slot_id, "starts_at": move.target_starts_at.isoformat()}
    for action, slot_id, booked_after in (
        ("booking.moved_out", move.source_slot_id, move.source_booked),
        ("booking.moved_in", move.target_slot_id, move.target_booked),
    ):
        audit.record(
            session,
            actor,
            action,
            slot_id=slot_id,
            booking_id=move.booking_id,
            before=before,
            after=after,
            people=move.people,
            slot_booked_after=booked_after,
        )
