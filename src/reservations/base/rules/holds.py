"""Holds: places taken for a while only (an online booking waiting for its payment, a
reseller's hold), that stop counting by themselves at their end, with no background job.

A hold is a booking in ``HOLD_STATUSES`` with ``hold_expires_at``. Its people are in the slot's
``held`` counter, which ``room`` counts as taken; the slot also keeps the earliest end of its
holds (``holds_expire_at``). From that instant:

- every read of the places left counts the lapsed holds' people as free (``lapsed_people``);
- the statement that takes places refuses while the slot has a lapsed hold (``room.fits``), so
  the taker releases the lapsed holds first (``release_lapsed``, under the slot's lock) and
  takes again. Nothing is read across rows by the taking UPDATE: on PostgreSQL a concurrent
  taker re-checks its condition on the slot's new row only, so everything it decides on is
  in that row;
- ``reservations tick`` releases what nobody has released yet (``tidy``): the same function,
  so a hold is marked ``expired`` and its places given back exactly once, and nobody is told.

Confirming a hold (its payment arrived: ``confirm``) moves its people from ``held`` to
``booked`` under the slot's lock; a hold that lapsed meanwhile takes its places again through
the same conditional UPDATE as a new booking, and may find them gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    case,
    cast,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    AuditEntry,
    Booking,
    BookingStatus,
    Slot,
    UTCDateTime,
)

_slot = Slot.__table__
_booking = Booking.__table__
_audit = AuditEntry.__table__
#: Written into the SQL text (our own constants): a statement then has no list parameter.
_HOLD_WORDS = [literal_column(f"'{status.value}'") for status in HOLD_STATUSES]


class database_now(FunctionElement[datetime]):  # noqa: N801 - a SQL function's name
    """The database's clock, for reads given no time: comparable with stored ``UTCDateTime``s
    on both databases (SQLite stores UTC text, to the microsecond)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(database_now)
def _now_default(element: Any, compiler: Any, **kw: Any) -> str:
    return "now()"


@compiles(database_now, "sqlite")
def _now_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


def is_hold() -> ColumnElement[bool]:
    return _booking.c.status.in_(_HOLD_WORDS)


def has_lapsed(slot: FromClause, now: Any) -> ColumnElement[bool]:
    """The slot counts a hold whose time is over (its places are free, not released yet)."""
    return slot.c.holds_expire_at <= now


def no_lapsed_hold(now: Any) -> ColumnElement[bool]:
    """The condition of the taking UPDATE: every hold counted in ``held`` is still running."""
    return _slot.c.holds_expire_at.is_(None) | (_slot.c.holds_expire_at > now)


def lapsed_people(slot: FromClause, now: Any) -> ColumnElement[int]:
    """The people of the slot's holds that are over but still counted in ``held``: free for
    every read from their end (one indexed look-up, only on a slot with a lapsed hold)."""
    lapsed = (
        select(func.coalesce(func.sum(_booking.c.adults + _booking.c.children), 0))
        .where(
            _booking.c.slot_id == slot.c.id,
            is_hold(),
            _booking.c.hold_expires_at <= now,
        )
        .correlate(slot)
        .scalar_subquery()
    )
    # An integer on PostgreSQL too (a sum of integers is a bigint there, and its sums numeric).
    return cast(case((has_lapsed(slot, now), lapsed), else_=0), Integer)


def _status_before() -> Any:
    """The status a hold had, for an UPDATE's RETURNING (which sees the new one): a reseller's
    hold is ``on_hold``, any other ``pending_payment``."""
    return case(
        (_booking.c.reseller_id.is_(None), literal_column("'pending_payment'")),
        else_=literal_column("'on_hold'"),
    ).label("before")


def _earliest_end(slot_id: Any) -> Any:
    return (
        select(func.min(_booking.c.hold_expires_at))
        .where(_booking.c.slot_id == slot_id, is_hold())
        .scalar_subquery()
    )


async def lock_slot_row(executor: AsyncConnection | AsyncSession, slot_id: int) -> None:
    """Lock the slot's row (PostgreSQL; SQLite's writer holds the database)."""
    await executor.execute(select(_slot.c.id).where(_slot.c.id == slot_id).with_for_update())


async def release_lapsed(
    executor: AsyncConnection | AsyncSession, slot_id: int, now: datetime, *, actor: str = "system"
) -> int:
    """Mark the slot's lapsed holds ``expired`` and give their places back, in the caller's
    transaction; the people released. Takes the slot's row lock first (a capped farm's row,
    when needed, is the caller's to take before), so two releasers queue and the second finds
    nothing left to release."""
    await lock_slot_row(executor, slot_id)
    released = (
        await executor.execute(
            update(_booking)
            .where(_booking.c.slot_id == slot_id, is_hold(), _booking.c.hold_expires_at <= now)
            .values(status=BookingStatus.EXPIRED.value)
            .returning(_booking.c.id, _status_before(), _booking.c.adults, _booking.c.children)
        )
    ).all()
    people = sum(row.adults + row.children for row in released)
    await executor.execute(
        update(_slot)
        .where(_slot.c.id == slot_id)
        .values(held=_slot.c.held - people, holds_expire_at=_earliest_end(slot_id), updated_at=now)
    )
    if released:
        await executor.execute(
            insert(_audit),
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": "booking.expired",
                    "slot_id": slot_id,
                    "booking_id": row.id,
                    "data": {"before": {"status": row.before}, "after": {"status": "expired"}},
                }
                for row in released
            ],
        )
    return people


async def expire_now(
    executor: AsyncConnection | AsyncSession,
    slot_id: int,
    booking_id: int,
    now: datetime,
    *,
    actor: str,
) -> bool:
    """End one running hold before its time (its checkout expired or was declined): marked
    ``expired``, its places given back at once (lapsed or not, its people are still in
    ``held`` until released); False if it was no longer a hold."""
    await lock_slot_row(executor, slot_id)
    ended = (
        await executor.execute(
            update(_booking)
            .where(_booking.c.id == booking_id, _booking.c.slot_id == slot_id, is_hold())
            .values(status=BookingStatus.EXPIRED.value)
            .returning(_booking.c.adults, _booking.c.children, _status_before())
        )
    ).first()
    if ended is None:
        return False
    await end_hold(executor, slot_id, ended.adults + ended.children, now)
    await executor.execute(
        insert(_audit).values(
            at=now,
            actor=actor,
            action="booking.expired",
            slot_id=slot_id,
            booking_id=booking_id,
            data={"before": {"status": ended.before}, "after": {"status": "expired"}},
        )
    )
    return True


async def hold_ends_moved(
    executor: AsyncConnection | AsyncSession, slot_id: int, now: datetime
) -> None:
    """A hold of the slot got another end (a reseller extended it): the slot's earliest end of
    a hold follows, in the caller's transaction under the slot's lock."""
    await executor.execute(
        update(_slot)
        .where(_slot.c.id == slot_id)
        .values(holds_expire_at=_earliest_end(slot_id), updated_at=now)
    )


async def end_hold(
    executor: AsyncConnection | AsyncSession,
    slot_id: int,
    people: int,
    now: datetime,
    *,
    into_booked: bool = False,
) -> None:
    """A running hold ended (cancelled, or paid: ``into_booked``, its people staying as
    booked): its people leave ``held``, in the caller's transaction under the slot's lock,
    after the booking's status changed. One UPDATE, so the counters stay within capacity."""
    moved = people if into_booked else 0
    await executor.execute(
        update(_slot)
        .where(_slot.c.id == slot_id)
        .values(
            booked=_slot.c.booked + moved,
            held=_slot.c.held - people,
            holds_expire_at=_earliest_end(slot_id),
            updated_at=now,
        )
    )


async def tidy(db: Database, *, now: clock.At = None) -> int:
    """Release every lapsed hold nobody has released yet (``reservations tick``); the people
    released. Frees nothing that a taker already freed: both go through ``release_lapsed``."""
    read_clock = clock.reader(now)
    async with db.reading_connection() as connection:
        slot_ids = (
            await connection.scalars(
                select(_slot.c.id).where(has_lapsed(_slot, read_clock())).order_by(_slot.c.id)
            )
        ).all()
    released = 0
    for slot_id in slot_ids:
        async with db.writing_connection() as connection:
            released += await release_lapsed(connection, slot_id, read_clock(), actor="tick")
    return released
