"""Taking places: the statements that write a booking, its audit entry and the slot's counter.

The rule is one conditional UPDATE of the slot (``booked + n <= capacity``, still open, before
its cut-off); the booking and its audit entry are written only if it took a row.

- PostgreSQL: all three are one statement (data-modifying CTEs) run in autocommit, so the whole
  booking is one round trip and the slot's row lock is held inside the server only, from the
  UPDATE to the commit of that statement: no client round trip happens under the lock.
- SQLite: the same three statements one after another inside a ``BEGIN IMMEDIATE`` transaction,
  which holds the database's single write lock.

Both return the row that answers the booker (slot times, titles), so nothing is read again.

A provider's daily cap (at most N people a day across its slots) is one more condition of the
same UPDATE: the people already booked on the provider's slots that day, plus the newcomers,
within the cap. A sum over several rows is only race-free if takers of that provider queue
first, so on PostgreSQL the one-statement path serves providers without a cap, and a capped
provider's booking locks the provider's row before the statement, in a short transaction (see
``lock_capped_provider``). SQLite's single writer serialises everything anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    String,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reservations.base.infra.db import Database
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    AuditEntry,
    Booking,
    Provider,
    Slot,
    UTCDateTime,
)

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
#: Written into the SQL text (our own constants): the statement then has no list parameter.
_BOOKABLE_WORDS = [literal_column(f"'{status.value}'") for status in BOOKABLE_STATUSES]
_PEOPLE = _param("people", Integer())


def _daily_cap_of_slot() -> Any:
    """The daily cap of the provider of the slot being updated (NULL: none)."""
    activity, provider = _activity.alias("cap_activity"), _provider.alias("cap_provider")
    return (
        select(provider.c.daily_cap)
        .select_from(activity.join(provider, provider.c.id == activity.c.provider_id))
        .where(activity.c.id == _slot.c.activity_id)
        .correlate(_slot)
        .scalar_subquery()
    )


def _booked_that_day() -> Any:
    """People on the slots of the same provider and local day as the slot being updated
    (cancelled slots hold nobody: their counter is 0)."""
    own, other, other_activity = (
        _activity.alias("own_activity"),
        _slot.alias("same_day"),
        _activity.alias("same_day_activity"),
    )
    provider_id = select(own.c.provider_id).where(own.c.id == _slot.c.activity_id).correlate(_slot)
    return (
        select(func.coalesce(func.sum(other.c.booked), 0))
        .select_from(other.join(other_activity, other_activity.c.id == other.c.activity_id))
        .where(
            other_activity.c.provider_id == provider_id.scalar_subquery(),
            other.c.starts_on == _slot.c.starts_on,
        )
        .correlate(_slot)
        .scalar_subquery()
    )


def within_daily_cap(people: Any) -> ColumnElement[bool]:
    """A condition on an UPDATE of ``slot``: its provider has no daily cap, or ``people`` more
    fit under it that day. Race-free only after ``lock_capped_provider`` (or on SQLite)."""
    cap = _daily_cap_of_slot()
    return or_(cap.is_(None), _booked_that_day() + people <= cap)


def _uncapped() -> ColumnElement[bool]:
    return _daily_cap_of_slot().is_(None)


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


def _take_slot(*, capped: bool) -> Any:
    """The conditional UPDATE: the only statement that ever adds people to a slot. Without
    ``capped`` it refuses the slots of providers with a daily cap (they take the locked path)."""
    return (
        update(_slot)
        .where(
            _slot.c.id == _param("slot_id", Integer()),
            _slot.c.status.in_(_BOOKABLE_WORDS),
            _slot.c.booking_cutoff_at > _NOW,
            _slot.c.booked + _PEOPLE <= _slot.c.capacity,
            within_daily_cap(_PEOPLE) if capped else _uncapped(),
        )
        .values(booked=_slot.c.booked + _PEOPLE, updated_at=_NOW)
        .returning(
            _slot.c.id,
            _slot.c.activity_id,
            _slot.c.starts_at,
            _slot.c.ends_at,
            _slot.c.booking_cutoff_at,
            _slot.c.status,
        )
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


async def take_places(db: Database, params: dict[str, Any]) -> TakenPlaces | None:
    """Write the booking and take its places, or return None when the slot refuses them.

    ``params``: ``booking_<column>`` for each of ``_BOOKING_FIELDS``, ``slot_id``, ``people``,
    ``now``, ``created_at``, ``actor`` and ``audit_data``. Raises IntegrityError on a duplicate
    reference or idempotency key (nothing is written then).
    """
    if db.is_sqlite:
        return await _take_places_in_steps(db, params)
    async with db.autocommit() as connection:
        row = (await connection.execute(_POSTGRES_STATEMENT, params)).first()
        # Refused: full or closed (the usual case, one more read), or a capped farm's slot,
        # which takes the locked path.
        capped = row is None and bool(
            await connection.scalar(_SLOT_OF_CAPPED_FARM, {"slot_id": params["slot_id"]})
        )
    if capped:
        async with db.writing_connection() as connection:
            if await lock_capped_provider(connection, params["slot_id"]):
                row = (await connection.execute(_POSTGRES_CAPPED_STATEMENT, params)).first()
    return _taken(row) if row else None


async def room_that_day(session: AsyncSession, slot_id: int) -> int | None:
    """Places left under the daily cap of the slot's provider on the slot's day (None: no
    cap), to explain a refusal."""
    slot_provider = (
        select(_provider.c.id, _provider.c.daily_cap, _slot.c.starts_on)
        .select_from(_SLOT_TO_PROVIDER)
        .where(_slot.c.id == slot_id)
    )
    row = (await session.execute(slot_provider)).first()
    if row is None or row.daily_cap is None:
        return None
    booked = await session.scalar(
        select(func.coalesce(func.sum(_slot.c.booked), 0))
        .select_from(_slot.join(_activity, _activity.c.id == _slot.c.activity_id))
        .where(_activity.c.provider_id == row.id, _slot.c.starts_on == row.starts_on)
    )
    return max(row.daily_cap - int(booked or 0), 0)


async def _take_places_in_steps(db: Database, params: dict[str, Any]) -> TakenPlaces | None:
    async with db.writing_connection() as connection:
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


def _taken(row: Row[Any]) -> TakenPlaces:
    return TakenPlaces(
        booking_id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        booking_cutoff_at=row.booking_cutoff_at,
        slot_status=row.status,
        activity_title=row.title,
        activity_name=row.name,
        provider_name=row.provider_name,
    )
