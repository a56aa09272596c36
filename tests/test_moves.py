"""Moving a booking to another slot, on each database: places taken on the target and given
back on the source in one transaction, an audit entry on each slot, every refusal changing
nothing, the provider's daily cap, and the races: two moves into the last places of a slot,
a move among bookings of the target, a move against a cancellation of the same booking, and
two moves in opposite directions between the same slots."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select, text, update

from reservations.base import clock
from reservations.base.errors import (
    AlreadyCancelled,
    BookingClosed,
    BookingNotFound,
    DailyCapReached,
    DomainError,
    NotEnoughPlaces,
    SlotCancelled,
    SlotFull,
    SlotNotFound,
)
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import moves
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.moves import MoveAfterVisit, MoveToSameSlot
from reservations.base.rules.slots import cancel_slot, record_attendance
from tests.factories import fetch_slot, make_activity, make_slot
from tests.test_demo import slots_whose_counter_is_wrong

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
ACTOR = "staff:agent@office.example"


def days_ahead(days: int, hour: int = 10) -> datetime:
    return clock.local_datetime(clock.today() + timedelta(days=days), time(hour, 0))


async def book(db, slot_id: int, adults: int, children: int = 0, **fields: object):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=str(fields.get("name", "Marie Dupont")),
        email=str(fields.get("email", "marie@example.fr")),
        phone=None,
        locale=str(fields.get("locale", "fr")),
        channel=Channel.PHONE,
    )
    return (await booking_service.book(db, request, POLICY, actor="test")).booking


async def booking_row(db, booking_id: int) -> Booking:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.get(Booking, booking_id)
    assert found is not None
    return found


async def entries(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def two_slots(db, capacity: int = 10, target_capacity: int | None = None):  # type: ignore[no-untyped-def]
    """Two dates of one activity: a source and a target, a week apart."""
    activity = await make_activity(db, capacity=capacity)
    source = await make_slot(db, activity=activity, capacity=capacity, starts_at=days_ahead(3))
    target = await make_slot(
        db,
        activity=activity,
        capacity=target_capacity if target_capacity is not None else capacity,
        starts_at=days_ahead(10),
    )
    return source, target


# --- what a move does -------------------------------------------------------------------------


async def test_a_move_carries_the_places_and_writes_an_entry_on_each_slot(db):
    source, target = await two_slots(db)
    moved_booking = await book(db, source.id, 2, 1)
    other = await book(db, source.id, 4)
    await book(db, target.id, 2)

    move = await moves.move_booking(db, moved_booking.id, target.id, actor=ACTOR)

    assert (move.source_slot_id, move.target_slot_id, move.people) == (source.id, target.id, 3)
    assert (move.source_booked, move.target_booked) == (4, 5)
    assert (await fetch_slot(db, source.id)).booked == 4
    assert (await fetch_slot(db, target.id)).booked == 5
    assert (await booking_row(db, moved_booking.id)).slot_id == target.id
    assert (await booking_row(db, other.id)).slot_id == source.id
    assert await slots_whose_counter_is_wrong(db) == []

    out, into = await entries(db, "booking.moved_out"), await entries(db, "booking.moved_in")
    assert [(e.slot_id, e.booking_id, e.actor) for e in out] == [
        (source.id, moved_booking.id, ACTOR)
    ]
    assert [(e.slot_id, e.booking_id, e.actor) for e in into] == [
        (target.id, moved_booking.id, ACTOR)
    ]
    for entry in (*out, *into):
        assert entry.data["before"] == {
            "slot_id": source.id,
            "starts_at": source.starts_at.isoformat(),
        }
        assert entry.data["after"] == {
            "slot_id": target.id,
            "starts_at": target.starts_at.isoformat(),
        }
        assert entry.data["people"] == 3
    assert out[0].data["slot_booked_after"] == 4 and into[0].data["slot_booked_after"] == 5


async def test_a_move_back_and_forth_ends_where_it_started(db):
    source, target = await two_slots(db, capacity=5)
    booking = await book(db, source.id, 5)
    await moves.move_booking(db, booking.id, target.id, actor=ACTOR)
    back = await moves.move_booking(db, booking.id, source.id, actor=ACTOR)
    assert (back.source_booked, back.target_booked) == (0, 5)
    assert [(await fetch_slot(db, s.id)).booked for s in (source, target)] == [5, 0]
    assert len(await entries(db, "booking.moved_in")) == 2


async def test_the_calendar_sequence_supersedes_both_slots(db):
    source, target = await two_slots(db)
    async with db.writing() as session:
        await session.execute(update(Slot).where(Slot.id == source.id).values(sequence=4))
        await session.execute(update(Slot).where(Slot.id == target.id).values(sequence=2))
    booking = await book(db, source.id, 2)
    move = await moves.move_booking(db, booking.id, target.id, actor=ACTOR)
    assert move.calendar_sequence == 5


# --- refusals change nothing ------------------------------------------------------------------


async def _snapshot(db):  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        slots = (await session.execute(select(Slot.id, Slot.booked).order_by(Slot.id))).all()
        bookings = (
            await session.execute(
                select(Booking.id, Booking.slot_id, Booking.status).order_by(Booking.id)
            )
        ).all()
        audit = await session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()))
    return slots, bookings, audit


async def _refused(db, booking_id: int, target_id: int, refusal: type[DomainError]) -> DomainError:  # type: ignore[no-untyped-def]
    before = await _snapshot(db)
    with pytest.raises(refusal) as raised:
        await moves.move_booking(db, booking_id, target_id, actor=ACTOR)
    assert await _snapshot(db) == before
    return raised.value


async def test_a_target_without_room_refuses_and_says_how_many_places_are_left(db):
    source, target = await two_slots(db, capacity=10, target_capacity=4)
    booking = await book(db, source.id, 3)
    await book(db, target.id, 2)
    refusal = await _refused(db, booking.id, target.id, NotEnoughPlaces)
    assert refusal.params == {"remaining": 2, "requested": 3} and refusal.field == "slot_id"
    await book(db, target.id, 2)
    assert isinstance(await _refused(db, booking.id, target.id, SlotFull), SlotFull)


async def test_a_cancelled_or_closed_target_refuses(db):
    source, target = await two_slots(db)
    booking = await book(db, source.id, 2)
    await cancel_slot(db, target.id, CancelReason.WEATHER, actor=ACTOR)
    await _refused(db, booking.id, target.id, SlotCancelled)

    closing = await make_slot(db, capacity=10, starts_at=clock.now() + timedelta(minutes=90))
    await _refused(db, booking.id, closing.id, BookingClosed)  # cut-off is 120 minutes before


async def test_unknown_slots_and_bookings_and_the_same_slot_refuse(db):
    source, _ = await two_slots(db)
    booking = await book(db, source.id, 2)
    await _refused(db, booking.id, 999_999, SlotNotFound)
    await _refused(db, 999_999, source.id, BookingNotFound)
    await _refused(db, booking.id, source.id, MoveToSameSlot)


async def test_a_cancelled_booking_or_a_visit_that_took_place_cannot_move(db):
    source, target = await two_slots(db)
    cancelled = await book(db, source.id, 2)
    await booking_service.cancel_booking(db, cancelled.id, actor=ACTOR)
    await _refused(db, cancelled.id, target.id, AlreadyCancelled)

    past = await make_slot(db, capacity=10, starts_at=clock.now() + timedelta(days=1))
    held = await book(db, past.id, 2)
    await record_attendance(db, past.id, actor=ACTOR, now=past.ends_at)
    assert (await fetch_slot(db, past.id)).status == SlotStatus.HELD
    await _refused(db, held.id, target.id, MoveAfterVisit)


# --- the provider's daily cap -----------------------------------------------------------------


async def _cap(db, activity: Activity, cap: int) -> None:  # type: ignore[no-untyped-def]
    async with db.writing() as session:
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(daily_cap=cap)
        )


async def test_a_move_respects_the_daily_cap_of_the_target_farm(db):
    capped = await make_activity(db, capacity=10)
    morning = await make_slot(db, activity=capped, capacity=10, starts_at=days_ahead(5, 10))
    afternoon = await make_slot(db, activity=capped, capacity=10, starts_at=days_ahead(5, 15))
    await book(db, morning.id, 4)
    elsewhere = await make_slot(db, capacity=10, starts_at=days_ahead(4))
    moving = await book(db, elsewhere.id, 3)
    await _cap(db, capped, 6)  # 4 booked that day: 2 more at most

    refusal = await _refused(db, moving.id, afternoon.id, DailyCapReached)
    assert refusal.params == {"remaining": 2, "requested": 3}

    small = await book(db, elsewhere.id, 2)
    await moves.move_booking(db, small.id, afternoon.id, actor=ACTOR)
    assert (await fetch_slot(db, afternoon.id)).booked == 2


async def test_within_one_farm_and_day_the_people_moved_count_once(db):
    capped = await make_activity(db, capacity=10)
    morning = await make_slot(db, activity=capped, capacity=10, starts_at=days_ahead(5, 10))
    afternoon = await make_slot(db, activity=capped, capacity=10, starts_at=days_ahead(5, 15))
    booking = await book(db, morning.id, 5)
    await _cap(db, capped, 6)  # 5 + 5 would be over the cap; moving keeps the day at 5

    await moves.move_booking(db, booking.id, afternoon.id, actor=ACTOR)
    assert [(await fetch_slot(db, s.id)).booked for s in (morning, afternoon)] == [0, 5]


# --- races --------------------------------------------------------------------------------------


async def test_two_moves_into_the_last_places_one_wins(db):
    activity = await make_activity(db, capacity=10)
    target = await make_slot(db, activity=activity, capacity=4, starts_at=days_ahead(9))
    await book(db, target.id, 1)  # 3 places left
    sources = [
        await make_slot(db, activity=activity, capacity=10, starts_at=days_ahead(d)) for d in (3, 4)
    ]
    parties = [await book(db, s.id, 3) for s in sources]

    results = await asyncio.gather(
        *(moves.move_booking(db, b.id, target.id, actor=ACTOR) for b in parties),
        return_exceptions=True,
    )

    won = [r for r in results if isinstance(r, moves.Move)]
    lost = [r for r in results if isinstance(r, NotEnoughPlaces)]
    assert len(won) == 1 and len(lost) == 1, results
    assert (await fetch_slot(db, target.id)).booked == 4
    winner = won[0].booking_id
    for source, party in zip(sources, parties, strict=True):
        row = await booking_row(db, party.id)
        assert row.slot_id == (target.id if party.id == winner else source.id)
        assert (await fetch_slot(db, source.id)).booked == (0 if party.id == winner else 3)
    assert await slots_whose_counter_is_wrong(db) == []


async def test_many_moves_into_one_slot_never_overfill_it(db):
    activity = await make_activity(db, capacity=10)
    target = await make_slot(db, activity=activity, capacity=7, starts_at=days_ahead(9))
    parties = []
    for day in range(2, 8):
        source = await make_slot(db, activity=activity, capacity=10, starts_at=days_ahead(day))
        parties.append(await book(db, source.id, 2))

    results = await asyncio.gather(
        *(moves.move_booking(db, b.id, target.id, actor=ACTOR) for b in parties),
        return_exceptions=True,
    )

    assert all(isinstance(r, (moves.Move, NotEnoughPlaces)) for r in results), results
    assert sum(isinstance(r, moves.Move) for r in results) == 3  # 3 parties of 2 fit in 7
    assert (await fetch_slot(db, target.id)).booked == 6
    assert await slots_whose_counter_is_wrong(db) == []


async def test_a_move_racing_bookings_on_the_target_never_overbooks_it(db):
    source, target = await two_slots(db, capacity=10, target_capacity=8)
    left_behind = 0  # people of moves that lost the race, still on the source
    for round_number in range(3):
        moving = await book(db, source.id, 3)
        tasks = [moves.move_booking(db, moving.id, target.id, actor=ACTOR)] + [
            book(db, target.id, 1, email=f"walk-in-{round_number}-{n}@example.fr") for n in range(8)
        ]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(not isinstance(r, Exception) or isinstance(r, DomainError) for r in results)
        target_now = await fetch_slot(db, target.id)
        assert target_now.booked <= target_now.capacity
        assert await slots_whose_counter_is_wrong(db) == []
        moved = isinstance(results[0], moves.Move)
        singles = sum(not isinstance(r, Exception) for r in results[1:])
        # Every place taken on the target is a success somebody was told about, and the
        # target ends full (8 singles were asked for 8 places, whatever the move did).
        assert target_now.booked == (3 if moved else 0) + singles == target_now.capacity
        left_behind += 0 if moved else 3
        assert (await fetch_slot(db, source.id)).booked == left_behind
        # Start the next round from an empty target.
        async with db.reading() as session:
            live = list(
                await session.scalars(
                    select(Booking.id).where(
                        Booking.slot_id == target.id, Booking.status == BookingStatus.CONFIRMED
                    )
                )
            )
        for booking_id in live:
            await booking_service.cancel_booking(db, booking_id, actor=ACTOR)


async def test_a_move_racing_a_cancellation_releases_the_places_once(db):
    """Whichever wins, the places of the booking are given back exactly once, on the slot that
    holds them; other bookings on both slots keep theirs."""
    source, target = await two_slots(db, capacity=30)
    await book(db, source.id, 4)  # stay on the source whatever happens
    await book(db, target.id, 2)
    for round_number in range(12):
        booking = await book(db, source.id, 3)
        calls = [
            moves.move_booking(db, booking.id, target.id, actor=ACTOR),
            booking_service.cancel_booking(db, booking.id, actor=ACTOR),
        ]
        # Either one sent first, in turn: the interleavings differ.
        results = await asyncio.gather(
            *calls[:: 1 if round_number % 2 else -1], return_exceptions=True
        )
        assert all(
            not isinstance(r, Exception) or isinstance(r, AlreadyCancelled) for r in results
        ), results
        assert (await booking_row(db, booking.id)).status == BookingStatus.CANCELLED
        assert [(await fetch_slot(db, s.id)).booked for s in (source, target)] == [4, 2]
        assert await slots_whose_counter_is_wrong(db) == []


async def test_moves_in_opposite_directions_between_two_slots_both_succeed(db):
    source, target = await two_slots(db, capacity=20)
    for _ in range(4):
        there = await book(db, source.id, 2)
        back = await book(db, target.id, 3)
        results = await asyncio.gather(
            moves.move_booking(db, there.id, target.id, actor=ACTOR),
            moves.move_booking(db, back.id, source.id, actor=ACTOR),
            return_exceptions=True,
        )
        assert all(isinstance(r, moves.Move) for r in results), results
    assert [(await fetch_slot(db, s.id)).booked for s in (source, target)] == [12, 8]
    assert await slots_whose_counter_is_wrong(db) == []


async def test_a_move_racing_a_change_of_party_keeps_the_counters_right(db):
    """The visitor grows their party through their manage link while staff move the booking:
    the people added are counted on the slot that holds the booking, whichever goes first."""
    source, target = await two_slots(db, capacity=30)
    for _ in range(6):
        receipt = await booking_service.book(
            db,
            BookingRequest(source.id, 2, 0, "Lena Vogel", "lena@example.de", locale="de"),
            POLICY,
            actor="test",
        )
        results = await asyncio.gather(
            moves.move_booking(db, receipt.booking.id, target.id, actor=ACTOR),
            booking_service.change_party(db, receipt.manage_token, 4, 0, POLICY),
            return_exceptions=True,
        )
        assert all(not isinstance(r, Exception) or isinstance(r, DomainError) for r in results)
        assert await slots_whose_counter_is_wrong(db) == []


async def test_moves_into_two_slots_of_a_capped_farm_never_pass_its_daily_cap(db):
    """Each target has room, the farm's day has room for one party only: the farm's row lock
    makes the second move see the first one's people."""
    capped = await make_activity(db, capacity=10)
    targets = [
        await make_slot(db, activity=capped, capacity=10, starts_at=days_ahead(6, hour))
        for hour in (10, 15)
    ]
    await _cap(db, capped, 5)
    for _ in range(3):
        # Sources apart too, so that nothing but the farm's row makes the moves queue.
        sources = [await make_slot(db, capacity=10, starts_at=days_ahead(3)) for _ in targets]
        parties = [await book(db, source.id, 3) for source in sources]
        results = await asyncio.gather(
            *(
                moves.move_booking(db, party.id, target.id, actor=ACTOR)
                for party, target in zip(parties, targets, strict=True)
            ),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["DailyCapReached", "Move"], results
        day = [(await fetch_slot(db, t.id)).booked for t in targets]
        assert sum(day) == 3
        assert await slots_whose_counter_is_wrong(db) == []
        winner = next(r for r in results if isinstance(r, moves.Move))
        await booking_service.cancel_booking(db, winner.booking_id, actor=ACTOR)


async def _wait_for_lock_waiters(db, count: int) -> None:  # type: ignore[no-untyped-def]
    """Until ``count`` sessions of this database wait on a lock (PostgreSQL); fails after a
    generous bound rather than hang."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(2000):
        async with db.reading_connection() as connection:
            if (await connection.execute(query)).scalar_one() >= count:
                return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} sessions never waited on a lock")


async def test_a_cancellation_queued_behind_a_move_releases_the_places_where_they_are(db, backend):
    """The interleaving a race only sometimes hits, forced: the cancellation reads the booking's
    slot before the move commits, then waits for that slot's lock behind the move. It must give
    the places back on the slot the booking was moved to."""
    if backend != "postgres":
        pytest.skip("SQLite's writer holds the whole database: this interleaving cannot happen")
    source, target = await two_slots(db, capacity=30)
    await book(db, source.id, 4)
    await book(db, target.id, 2)
    booking = await book(db, source.id, 3)
    async with db.engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(select(Slot.id).where(Slot.id == source.id).with_for_update())
        move = asyncio.create_task(moves.move_booking(db, booking.id, target.id, actor=ACTOR))
        await _wait_for_lock_waiters(db, 1)
        cancel = asyncio.create_task(booking_service.cancel_booking(db, booking.id, actor=ACTOR))
        await _wait_for_lock_waiters(db, 2)
        await transaction.rollback()
    results = await asyncio.gather(move, cancel, return_exceptions=True)
    assert not any(isinstance(r, Exception) for r in results), results
    assert (await booking_row(db, booking.id)).status == BookingStatus.CANCELLED
    assert [(await fetch_slot(db, s.id)).booked for s in (source, target)] == [4, 2]
    assert await slots_whose_counter_is_wrong(db) == []
