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
- more places for a booking that exists (a larger party, a move), inside the caller's
  transaction (``take_more``).

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

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    String,
    bindparam,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    Provider,
    Slot,
    UTCDateTime,
)
from reservations.base.rules import room

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
    "manage_token_hash": String(),
    "idempotency_key_hash": String(),
    "request_fingerprint": String(),
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
    """The conditional UPDATE that adds ``people`` to a slot: every addition is this statement."""
    return (
        update(_slot)
        .where(_slot.c.id == slot_id, room.fits(people, now, uncapped_only=uncapped_only))
        .values(booked=_slot.c.booked + people, updated_at=now)
    )


def _take_slot(*, capped: bool) -> Any:
    """A booking's UPDATE. Without ``capped`` it refuses the slots of providers with a daily
    cap (they take the locked path)."""
    return _adding(_param("slot_id", Integer()), _PEOPLE, _NOW, uncapped_only=not capped).returning(
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
_SLOT_OF_CAPPED_FARM = (
    select(_provider.c.daily_cap.is_not(None))
    .select_from(_SLOT_TO_PROVIDER)
    .where(_slot.c.id == _param("slot_id", Integer()))
)


async def take_places(
    db: Database, params: dict[str, Any], read_clock: clock.Clock
) -> TakenPlaces | None:
    """Write the booking and take its places, or return None when the slot refuses them.

    ``params``: ``booking_<column>`` for each of ``_BOOKING_FIELDS``, ``slot_id``, ``people``,
    ``actor`` and ``audit_data``; ``now`` and ``created_at`` are read from ``read_clock`` once
    the statement's locks are taken (SQLite: the write lock; a capped farm: its row), or just
    before the one statement that takes its own. Raises IntegrityError on a duplicate
    reference or idempotency key (nothing is written then).
    """
    if db.is_sqlite:
        return await _take_places_in_steps(db, params, read_clock)
    async with db.autocommit() as connection:
        row = (await connection.execute(_POSTGRES_STATEMENT, _at(params, read_clock))).first()
        # Refused: full or closed (the usual case, one more read), or a capped farm's slot,
        # which takes the locked path.
        capped = row is None and bool(
            await connection.scalar(_SLOT_OF_CAPPED_FARM, {"slot_id": params["slot_id"]})
        )
    if capped:
        async with db.writing_connection() as connection:
            if await lock_capped_provider(connection, params["slot_id"]):
                statement_params = _at(params, read_clock)
                row = (
                    await connection.execute(_POSTGRES_CAPPED_STATEMENT, statement_params)
                ).first()
    return _taken(row, params["now"]) if row else None


def _at(params: dict[str, Any], read_clock: clock.Clock) -> dict[str, Any]:
    """Stamp the statement's parameters with the time read now (``params`` keeps it too)."""
    params["now"] = params["created_at"] = read_clock()
    return params


async def take_more(session: AsyncSession, slot_id: int, people: int, now: datetime) -> int | None:
    """Add ``people`` to the slot inside the caller's transaction, which has called
    ``lock_capped_provider`` first; the people on it now, or None when they do not fit
    (``room.refusal`` says why)."""
    taken = await session.execute(_adding(slot_id, people, now).returning(_slot.c.booked))
    return taken.scalar()


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
        slot = (
            await connection.execute(_TAKE_SLOT, _only(params, "slot_id", "people", "now"))
        ).first()
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


def _taken(row: Row[Any], at: datetime) -> TakenPlaces:
    return TakenPlaces(
        booking_id=row.id,
        at=at,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        booking_cutoff_at=row.booking_cutoff_at,
        slot_status=row.status,
        activity_title=row.title,
        activity_name=row.name,
        provider_name=row.provider_name,
    )
