"""Taking places: the only statements that add people to a slot (the import of past seasons
writes its counters as it finds them), and the one that gives them back.

Every addition is one conditional UPDATE of the slot's counter, under ``room.fits`` (the one
rule: still open, ``booked + n <= capacity``, within the provider's daily cap):

- a booking (``take_places``), with its booking row and audit entry written only if the UPDATE
  took a row. PostgreSQL: all three are one statement (data-modifying CTEs) run in autocommit,
  so the whole booking is one round trip and the slot's row lock is held inside the server
  only, from the UPDATE to the commit of that statement: no client round trip happens under the
  lock. SQLite: the same three statements one after another inside a ``BEGIN IMMEDIATE``
  transaction, which holds the database's single write lock. Both return the row that answers
  the booker (slot times, titles), so nothing is read again;
- more places for a booking that exists (a larger party, a move, a hold paid after it
  lapsed), inside the caller's transaction (``take_more``).

A booking that is a hold (``hold_minutes``: an online booking waiting for its payment) is the
same statement: its people go to the slot's ``held`` counter instead of ``booked``, and the
slot's ``holds_expire_at`` moves to its end if that is earlier. When the slot counts a lapsed
hold the statement refuses; the taker then releases the lapsed holds (``holds``) under the
slot's lock and takes again, in one short transaction. A hold's payment moves its people from
``held`` to ``booked`` (``confirm_hold``).

Giving places back (a cancellation, a smaller party, a move away) is ``give_back``: the same
counter, so that every write of it by a booking is in this module. (Cancelling a whole slot
empties its counter with its bookings, in ``slots.py``.)

The daily cap is a sum over several rows, race-free only if takers of that provider queue
first: on PostgreSQL the one-statement path serves providers without a cap, and a capped
provider's booking locks the provider's row before the statement, in a short transaction; the
callers of ``take_more`` take that lock first in theirs (``lock_capped_provider``). SQLite's
single writer serialises everything anyway.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    bindparam,
    case,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reservations.base import clock
from reservations.base.infra.db import Database, DriverStatement
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    Provider,
    Slot,
    UTCDateTime,
)
from reservations.base.rules import audit, holds, room

_slot = Slot.__table__
_booking = Booking.__table__
_audit = AuditEntry.__table__
_activity = Activity.__table__
_provider = Provider.__table__
#: A slot with its activity and provider, for the questions asked of a slot's farm.
_SLOT_TO_PROVIDER = _slot.join(_activity, _activity.c.id == _slot.c.activity_id).join(
    _provider, _provider.c.id == _activity.c.provider_id
)

#: Booking columns written from parameters of the same name.
_BOOKING_FIELDS: dict[str, Any] = {
    "reference": String(),
    "adults": Integer(),
    "children": Integer(),
    "name": String(),
    "email": String(),
    "phone": String(),
    "locale": String(),
    "channel": String(),
    "status": String(),
    "notes": String(),
    "via_share_link": Boolean(),
    "reseller_id": Integer(),
    "reseller_reference": String(),
    "reseller_data": JSON(),
    "manage_token_hash": String(),
    "idempotency_key_hash": String(),
    "request_fingerprint": String(),
    "hold_expires_at": UTCDateTime(),
}


@dataclass(frozen=True)
class TakenPlaces:
    """What the statements return: the new booking's id and what the answer shows of its slot."""

    booking_id: int
    #: The time the places were taken at (read once the statement's locks were taken).
    at: datetime
    starts_at: datetime
    ends_at: datetime
    booking_cutoff_at: datetime
    slot_status: str
    activity_title: dict[str, str]
    activity_name: str
    provider_name: str


def _param(name: str, type_: Any) -> Any:
    return bindparam(name, type_=type_)


_NOW = _param("now", UTCDateTime())
_PEOPLE = _param("people", Integer())
#: The people of a hold (0 for a confirmed booking), and its end (NULL for a confirmed one).
_HELD = _param("held", Integer())
_HOLD_UNTIL = _param("hold_until", UTCDateTime())


async def lock_capped_provider(connection: AsyncConnection | AsyncSession, slot_id: int) -> bool:
    """Lock the row of the slot's provider if it has a daily cap (PostgreSQL; a no-op lock on
    SQLite, whose writer holds the database). True when it has one. Takers of a capped
    provider's places queue here, so each one's day total is read after the previous commit."""
    provider_id = (
        select(_provider.c.id)
        .select_from(_SLOT_TO_PROVIDER)
        .where(_slot.c.id == slot_id, _provider.c.daily_cap.is_not(None))
        .with_for_update(of=_provider)
    )
    return (await connection.execute(provider_id)).first() is not None


def _adding(slot_id: Any, people: Any, now: Any, *, uncapped_only: bool = False) -> Any:
    """The conditional UPDATE that adds ``people`` to a booking already on the slot, under the
    same rule as a new booking's (``_take_slot``)."""
    return (
        update(_slot)
        .where(_slot.c.id == slot_id, room.fits(people, now, uncapped_only=uncapped_only))
        .values(booked=_slot.c.booked + people, updated_at=now)
    )


def _take_slot(*, capped: bool) -> Any:
    """A booking's UPDATE, for a confirmed booking or a hold (``held`` of its ``people`` go
    to the holds' counter, and ``hold_until`` may become the slot's earliest end of a hold).
    Without ``capped`` it refuses the slots of providers with a daily cap (they take the
    locked path)."""
    earliest = _slot.c.holds_expire_at
    return (
        update(_slot)
        .where(
            _slot.c.id == _param("slot_id", Integer()),
            room.fits(_PEOPLE, _NOW, uncapped_only=not capped),
        )
        .values(
            booked=_slot.c.booked + _PEOPLE - _HELD,
            held=_slot.c.held + _HELD,
            holds_expire_at=case(
                (_HOLD_UNTIL.is_(None), earliest),
                (earliest.is_(None) | (earliest > _HOLD_UNTIL), _HOLD_UNTIL),
                else_=earliest,
            ),
            updated_at=_NOW,
        )
    ).returning(
        _slot.c.id,
        _slot.c.activity_id,
        _slot.c.starts_at,
        _slot.c.ends_at,
        _slot.c.booking_cutoff_at,
        _slot.c.status,
    )


def _booking_values_from(slot_id: Any) -> list[Any]:
    # Parameters are prefixed: a parameter named like a column of the UPDATEd table would be
    # added to its SET clause by SQLAlchemy.
    return [
        *(_param(f"booking_{name}", type_) for name, type_ in _BOOKING_FIELDS.items()),
        slot_id,
        _param("created_at", UTCDateTime()),
    ]


_BOOKING_COLUMNS = [*_BOOKING_FIELDS, "slot_id", "created_at"]
_AUDIT_COLUMNS = ["at", "actor", "action", "slot_id", "booking_id", "data"]


def _audit_values(slot_id: Any, booking_id: Any) -> list[Any]:
    return [
        _NOW,
        _param("actor", String()),
        literal_column("'booking.created'", String()),
        slot_id,
        booking_id,
        _param("audit_data", JSON()),
    ]


def _titles(activity_id: Any) -> Any:
    return (
        select(_activity.c.title, _activity.c.name, _provider.c.name.label("provider_name"))
        .join(_provider, _provider.c.id == _activity.c.provider_id)
        .where(_activity.c.id == activity_id)
    )


def _postgres_statement(*, capped: bool) -> Any:
    taken = _take_slot(capped=capped).cte("taken")
    new_booking = (
        insert(_booking)
        .from_select(_BOOKING_COLUMNS, select(*_booking_values_from(taken.c.id)))
        .returning(_booking.c.id, _booking.c.slot_id)
        .cte("new_booking")
    )
    audit_entry = (
        insert(_audit)
        .from_select(
            _AUDIT_COLUMNS, select(*_audit_values(new_booking.c.slot_id, new_booking.c.id))
        )
        .cte("audit_entry")
    )
    return (
        select(
            new_booking.c.id,
            taken.c.starts_at,
            taken.c.ends_at,
            taken.c.booking_cutoff_at,
            taken.c.status,
            _activity.c.title,
            _activity.c.name,
            _provider.c.name.label("provider_name"),
        )
        .select_from(new_booking)
        .join(taken, taken.c.id == new_booking.c.slot_id)
        .join(_activity, _activity.c.id == taken.c.activity_id)
        .join(_provider, _provider.c.id == _activity.c.provider_id)
        .add_cte(audit_entry)
    )


_POSTGRES_STATEMENT = _postgres_statement(capped=False)
#: The booking's one statement, sent straight through asyncpg: a booking's whole round trip.
_ONE_STATEMENT = DriverStatement(_POSTGRES_STATEMENT)
_POSTGRES_CAPPED_STATEMENT = _postgres_statement(capped=True)
_TAKE_SLOT = _take_slot(capped=True)
_INSERT_BOOKING = (
    insert(_booking)
    .from_select(_BOOKING_COLUMNS, select(*_booking_values_from(_param("slot_id", Integer()))))
    .returning(_booking.c.id)
)
_INSERT_AUDIT = insert(_audit).from_select(
    _AUDIT_COLUMNS,
    select(*_audit_values(_param("slot_id", Integer()), _param("booking_id", Integer()))),
)
_TITLES = _titles(_param("activity_id", Integer()))
#: Why the one statement may have refused where the locked path would not: a capped farm's
#: slot, or a lapsed hold to release first.
_LOCKED_PATH_NEEDED = (
    select(
        _provider.c.daily_cap.is_not(None).label("capped"),
        holds.has_lapsed(_slot, _NOW).label("lapsed"),
    )
    .select_from(_SLOT_TO_PROVIDER)
    .where(_slot.c.id == _param("slot_id", Integer()))
)


async def take_places(
    db: Database, params: dict[str, Any], read_clock: clock.Clock
) -> TakenPlaces | None:
    """Write the booking and take its places, or return None when the slot refuses them.

    ``params``: ``booking_<column>`` for each of ``_BOOKING_FIELDS`` but ``hold_expires_at``,
    ``slot_id``, ``people``, ``actor``, ``audit_data`` and ``hold_minutes`` (None: a confirmed
    booking; else a hold of that long); ``now``, ``created_at`` and the hold's end are read
    from ``read_clock`` once the statement's locks are taken (SQLite: the write lock; a capped
    farm: its row), or just before the one statement that takes its own. Raises
    IntegrityError on a duplicate reference or idempotency key (nothing is written then).
    """
    if db.is_sqlite:
        return await _take_places_in_steps(db, params, read_clock)
    record = await _ONE_STATEMENT.first(db, _at(params, read_clock))
    if record is not None:
        return _taken(record, params["now"])
    # Refused: full or closed (the usual case, one more read), a capped farm's slot or a slot
    # with a lapsed hold, which take the locked path.
    async with db.autocommit() as connection:
        locked_path = (await connection.execute(_LOCKED_PATH_NEEDED, params)).first()
    if locked_path is None or not (locked_path.capped or locked_path.lapsed):
        return None
    async with db.writing_connection() as connection:
        await lock_capped_provider(connection, params["slot_id"])
        _at(params, read_clock)
        if locked_path.lapsed:
            await holds.release_lapsed(connection, params["slot_id"], params["now"])
        row = (await connection.execute(_POSTGRES_CAPPED_STATEMENT, params)).first()
    return _taken(row._mapping, params["now"]) if row else None


def _at(params: dict[str, Any], read_clock: clock.Clock) -> dict[str, Any]:
    """Stamp the statement's parameters with the time read now (``params`` keeps it too), and
    a hold's end from it (``hold_minutes`` later, no later than ``hold_ends_by``)."""
    now = params["now"] = params["created_at"] = read_clock()
    minutes, ends_by = params.get("hold_minutes"), params.get("hold_ends_by")
    hold_until = None if minutes is None else now + timedelta(minutes=minutes)
    if hold_until is not None and ends_by is not None:
        hold_until = min(hold_until, ends_by)
    params["hold_until"] = params["booking_hold_expires_at"] = hold_until
    params["held"] = 0 if minutes is None else params["people"]
    return params


async def take_more(session: AsyncSession, slot_id: int, people: int, now: datetime) -> int | None:
    """Add ``people`` to the slot inside the caller's transaction, which has called
    ``lock_capped_provider`` first; the people on it now, or None when they do not fit
    (``room.refusal`` says why). A lapsed hold on the slot is released first."""
    adding = _adding(slot_id, people, now).returning(_slot.c.booked)
    booked = (await session.execute(adding)).scalar()
    if booked is None and await _released_lapsed(session, slot_id, now):
        booked = (await session.execute(adding)).scalar()
    return booked


async def hold_more(
    session: AsyncSession,
    slot_id: int,
    people: int,
    now: datetime,
    *,
    until: datetime | None = None,
) -> bool:
    """Add ``people`` to the slot's holds, under the same rule as a booking's places (a
    reseller's hold grows, or moves here with its end ``until``), inside the caller's
    transaction, which has called ``lock_capped_provider`` first; False when they do not fit
    (``room.refusal`` says why). A lapsed hold on the slot is released first."""
    earliest = _slot.c.holds_expire_at
    ends = earliest
    if until is not None:
        ends = case((earliest.is_(None) | (earliest > until), until), else_=earliest)
    adding = (
        update(_slot)
        .where(_slot.c.id == slot_id, room.fits(people, now))
        .values(held=_slot.c.held + people, holds_expire_at=ends, updated_at=now)
        .returning(_slot.c.held)
    )
    held = (await session.execute(adding)).scalar()
    if held is None and await _released_lapsed(session, slot_id, now):
        held = (await session.execute(adding)).scalar()
    return held is not None


async def hold_fewer(session: AsyncSession, slot_id: int, people: int, now: datetime) -> None:
    """``people`` of the slot's holds are let go (a reseller's hold shrank or moved away), in the
    caller's transaction under the slot's lock, after the booking changed."""
    await holds.end_hold(session, slot_id, people, now)


async def _released_lapsed(
    executor: AsyncConnection | AsyncSession, slot_id: int, now: datetime
) -> bool:
    """Release the slot's lapsed holds if it counts any (under the caller's locks); True if
    it did, so that a refused UPDATE is worth trying again."""
    if not await executor.scalar(select(holds.has_lapsed(_slot, now)).where(_slot.c.id == slot_id)):
        return False
    await holds.release_lapsed(executor, slot_id, now)
    return True


async def give_back(session: AsyncSession, slot_id: int, people: int, now: datetime) -> int:
    """Give ``people`` places back on the slot inside the caller's transaction (which has
    locked the slot, or lets this UPDATE lock it); the people on it now."""
    given = await session.execute(
        update(_slot)
        .where(_slot.c.id == slot_id)
        .values(booked=_slot.c.booked - people, updated_at=now)
        .returning(_slot.c.booked)
    )
    return given.scalar_one()


async def _take_places_in_steps(
    db: Database, params: dict[str, Any], read_clock: clock.Clock
) -> TakenPlaces | None:
    async with db.writing_connection() as connection:  # BEGIN IMMEDIATE: the write lock is held
        _at(params, read_clock)
        slot_params = _only(params, "slot_id", "people", "now", "held", "hold_until")
        slot = (await connection.execute(_TAKE_SLOT, slot_params)).first()
        if slot is None:
            if not await _released_lapsed(connection, params["slot_id"], params["now"]):
                return None
            slot = (await connection.execute(_TAKE_SLOT, slot_params)).first()
            if slot is None:
                return None
        booking_id = (await connection.execute(_INSERT_BOOKING, params)).scalar_one()
        await connection.execute(_INSERT_AUDIT, {**params, "booking_id": booking_id})
        titles = (await connection.execute(_TITLES, {"activity_id": slot.activity_id})).one()
    return TakenPlaces(
        booking_id=booking_id,
        at=params["now"],
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        booking_cutoff_at=slot.booking_cutoff_at,
        slot_status=slot.status,
        activity_title=titles.title,
        activity_name=titles.name,
        provider_name=titles.provider_name,
    )


def _only(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: params[name] for name in names}


def _taken(row: Mapping[str, Any], at: datetime) -> TakenPlaces:
    """From the statement's row (an asyncpg record, or a SQLAlchemy row's mapping)."""
    return TakenPlaces(
        booking_id=row["id"],
        at=at,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        booking_cutoff_at=row["booking_cutoff_at"],
        slot_status=row["status"],
        activity_title=row["title"],
        activity_name=row["name"],
        provider_name=row["provider_name"],
    )


class Confirmation(enum.StrEnum):
    """What ``confirm_hold`` did with a booking."""

    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    #: The hold lapsed and its places went to others meanwhile (or the slot closed): unchanged.
    NO_PLACES = "no_places"
    #: The booking was cancelled (by the visitor, staff or its slot): unchanged.
    ENDED = "ended"


async def confirm_hold(
    session: AsyncSession, booking_id: int, now: datetime, *, actor: str
) -> Confirmation:
    """A hold is paid: make it a confirmed booking, in the caller's transaction. Its capped
    farm's row and its slot's are locked first, then the booking is read. A running hold's
    people move from ``held`` to ``booked``; a lapsed one's take their places again through
    the same rule as a new booking (still open, room left)."""
    slot_id = await session.scalar(select(_booking.c.slot_id).where(_booking.c.id == booking_id))
    await lock_capped_provider(session, slot_id)
    await holds.lock_slot_row(session, slot_id)
    booking = (
        await session.execute(
            select(
                _booking.c.status,
                _booking.c.adults,
                _booking.c.children,
                _booking.c.hold_expires_at,
            ).where(_booking.c.id == booking_id)
        )
    ).one()
    status = BookingStatus(booking.status)
    if status == BookingStatus.CONFIRMED:
        return Confirmation.ALREADY_CONFIRMED
    if status == BookingStatus.CANCELLED:
        return Confirmation.ENDED
    people = booking.adults + booking.children
    running = status in HOLD_STATUSES and booking.hold_expires_at > now
    if not running:
        if status in HOLD_STATUSES:  # lapsed, not released yet: release it with the others
            await holds.release_lapsed(session, slot_id, now)
        if await take_more(session, slot_id, people, now) is None:
            return Confirmation.NO_PLACES
    await session.execute(
        update(_booking)
        .where(_booking.c.id == booking_id)
        .values(status=BookingStatus.CONFIRMED.value)
    )
    if running:
        await holds.end_hold(session, slot_id, people, now, into_booked=True)
    audit.record(
        session,
        actor,
        "booking.confirmed",
        slot_id=slot_id,
        booking_id=booking_id,
        before={"status": status.value},
        after={"status": "confirmed"},
        hold_had_lapsed=not running,
    )
    return Confirmation.CONFIRMED
