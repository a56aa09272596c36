"""Room on a slot: the one rule for whether n more people fit on it, and why not when they don't.

n more people fit on a slot at ``now`` when

- it is open for booking: a bookable status (scheduled or confirmed), before its cut-off;
- the places taken on it, plus n, stay within its capacity;
- its provider has no daily cap, or the places taken on the provider's slots that local day,
  plus n, stay within the cap.

"The places taken" are ``_taken``: the people on confirmed bookings (``booked``) and on holds
that still run (``held``, minus the lapsed holds not released yet: ``holds``). The UPDATE that
takes places (``fits``), the reads that count what is left (``places_left``, ``has_places``:
the daily cap included, so a screen never offers places the UPDATE would refuse) and the
explanation of a refusal (``refusal``) all count through it. The UPDATE itself reads its own
slot's row only: it refuses while that slot counts a lapsed hold, and the taker releases it
first (``places.take_places``), so that a concurrent taker's re-check on PostgreSQL sees all
it decides on.

Everything here is SQL over the ``slot`` table, for Core and ORM statements alike (an UPDATE or
a SELECT of ``slot``); the explanation reads the same expressions and only words what they say.
The daily cap sums over several rows, so ``fits`` is race-free only once the provider's takers
queue on its row (``places.lock_capped_provider``, PostgreSQL) or under SQLite's single writer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    BookingClosed,
    CannotGrow,
    ChangesClosed,
    DailyCapReached,
    DomainError,
    NotEnoughPlaces,
    SlotCancelled,
    SlotFull,
    SlotNotFound,
)
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    Provider,
    Slot,
    SlotStatus,
    UTCDateTime,
)
from reservations.base.rules import holds

_slot = Slot.__table__
_activity = Activity.__table__
_provider = Provider.__table__
#: Written into the SQL text (our own constants): a statement then has no list parameter.
_BOOKABLE_WORDS = [literal_column(f"'{status.value}'") for status in BOOKABLE_STATUSES]


def _taken(slot: FromClause, now: Any) -> ColumnElement[int]:
    """The places of ``slot`` nobody else can have at ``now``: the people on its confirmed
    bookings and on its holds still running."""
    return slot.c.booked + slot.c.held - holds.lapsed_people(slot, now)


def _left_on_slot(now: Any) -> ColumnElement[int]:
    return _slot.c.capacity - _taken(_slot, now)


def places_left(now: Any = None) -> ColumnElement[int]:
    """The places that can really be booked on the slot, for reads that count them: its
    capacity minus the places taken, and no more than its farm's daily cap still allows that
    day (may be negative when a capacity or cap was lowered below what is taken). ``now``
    (a value or parameter) judges the holds; by default the database's clock."""
    now = holds.database_now() if now is None else now
    on_slot, that_day = _left_on_slot(now), _daily_cap() - _taken_that_day(now)
    return case(
        (_daily_cap().is_(None), on_slot),
        (on_slot <= that_day, on_slot),
        else_=that_day,
    )


def has_places(people: Any, now: Any = None) -> ColumnElement[bool]:
    """``people`` more fit in the slot's places: its capacity and its farm's daily cap."""
    now = holds.database_now() if now is None else now
    return and_(_taken(_slot, now) + people <= _slot.c.capacity, _within_daily_cap(people, now))


def is_open(status: SlotStatus, booking_cutoff_at: datetime, now: datetime) -> bool:
    """``open_for_booking`` for a slot already read: the same rule in Python."""
    return status in BOOKABLE_STATUSES and before_cutoff(booking_cutoff_at, now)


def before_cutoff(booking_cutoff_at: datetime, now: datetime) -> bool:
    """Bookings, changes of party and a visitor's cancellation are accepted until the cut-off
    (``now`` read inside the writing transaction, after its locks)."""
    return now < booking_cutoff_at


def open_for_booking(now: Any) -> ColumnElement[bool]:
    """The slot takes bookings at ``now``: a bookable status, before its cut-off."""
    return and_(_slot.c.status.in_(_BOOKABLE_WORDS), _slot.c.booking_cutoff_at > now)


def fits(people: Any, now: Any, *, uncapped_only: bool = False) -> ColumnElement[bool]:
    """The whole rule, as the condition of an UPDATE (or SELECT) of ``slot``: ``people`` more
    fit on it at ``now``. ``people`` and ``now`` are values or bound parameters.

    With ``uncapped_only`` the daily cap is not summed: the slots of capped providers are
    refused instead (the one-statement booking path, which holds no lock on the provider)."""
    return and_(
        open_for_booking(now),
        holds.no_lapsed_hold(now),
        _slot.c.booked + _slot.c.held + people <= _slot.c.capacity,
        _daily_cap().is_(None) if uncapped_only else _within_daily_cap(people, now),
    )


def _daily_cap() -> Any:
    """The daily cap of the slot's provider (NULL: none)."""
    activity, provider = _activity.alias("cap_activity"), _provider.alias("cap_provider")
    return (
        select(provider.c.daily_cap)
        .select_from(activity.join(provider, provider.c.id == activity.c.provider_id))
        .where(activity.c.id == _slot.c.activity_id)
        .correlate(_slot)
        .scalar_subquery()
    )


def _taken_that_day(now: Any) -> Any:
    """The places taken on the slots of the same provider and local day as the slot (a
    cancelled slot holds nobody)."""
    own, other, other_activity = (
        _activity.alias("own_activity"),
        _slot.alias("same_day"),
        _activity.alias("same_day_activity"),
    )
    provider_id = select(own.c.provider_id).where(own.c.id == _slot.c.activity_id).correlate(_slot)
    return (
        select(func.coalesce(func.sum(_taken(other, now)), 0))
        .select_from(other.join(other_activity, other_activity.c.id == other.c.activity_id))
        .where(
            other_activity.c.provider_id == provider_id.scalar_subquery(),
            other.c.starts_on == _slot.c.starts_on,
        )
        .correlate(_slot)
        .scalar_subquery()
    )


def _within_daily_cap(people: Any, now: Any) -> ColumnElement[bool]:
    """Summed over rows other than the slot's own: race-free under the capped farm's lock, whose
    holders read after each other's commits (a lapsed hold there counts as free at once)."""
    cap = _daily_cap()
    return or_(cap.is_(None), _taken_that_day(now) + people <= cap)


#: What a refusal is explained from, by the same expressions as ``fits``.
_NOW = bindparam("now", type_=UTCDateTime())
_ROOM_NOW = select(
    _slot.c.status,
    _slot.c.booking_cutoff_at,
    open_for_booking(_NOW).label("is_open"),
    _left_on_slot(_NOW).label("on_slot"),
    (_daily_cap() - _taken_that_day(_NOW)).label("that_day"),  # NULL: no daily cap
).where(_slot.c.id == bindparam("slot_id"))


async def refusal(
    executor: AsyncSession | AsyncConnection,
    slot_id: int,
    people: int,
    now: datetime,
    *,
    field: str = "adults",
    party: int | None = None,
) -> DomainError | None:
    """Why ``people`` more do not fit on the slot at ``now``, or None when they do (one read;
    a lapsed hold counts as free: the taker releases it before it takes again).

    Worded for a booking or a move, ``field`` naming the input blamed when places are short;
    with ``party`` (the people of a booking asking for ``people`` more), for a larger party."""
    row = (await executor.execute(_ROOM_NOW, {"slot_id": slot_id, "now": now})).first()
    if party is not None:
        return _growth_refusal(row, people, party)
    if row is None:
        return SlotNotFound(field="slot_id")
    if row.status == SlotStatus.CANCELLED:
        return SlotCancelled(field="slot_id")
    if not row.is_open:
        return BookingClosed(field="slot_id", cutoff=clock.display(row.booking_cutoff_at))
    on_slot = max(row.on_slot, 0)
    if on_slot < people:
        short = SlotFull if on_slot == 0 else NotEnoughPlaces
        return short(field=field, remaining=on_slot, requested=people)
    that_day = _left_that_day(row)
    if that_day is not None and that_day < people:
        return DailyCapReached(field=field, remaining=that_day, requested=people)
    return None


def _growth_refusal(row: Any, people: int, party: int) -> DomainError | None:
    if row is None or row.status == SlotStatus.CANCELLED:
        return SlotCancelled()
    if not row.is_open:
        return ChangesClosed(cutoff=clock.display(row.booking_cutoff_at))
    that_day = _left_that_day(row)
    left = max(row.on_slot, 0) if that_day is None else min(max(row.on_slot, 0), that_day)
    if left < people:
        return CannotGrow(field="adults", remaining=left, maximum=party + left)
    return None


def _left_that_day(row: Any) -> int | None:
    return None if row.that_day is None else max(row.that_day, 0)
