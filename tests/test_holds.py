"""Place holds (an online booking waiting for its payment), on each database: a hold takes its
places through the same rule as a booking, every read counts it while it runs, and at its end
it stops counting for everyone at once, with no background job; ``tick`` only tidies up, and
nothing is freed twice. Expected figures are counted here from the parties the test made."""

from __future__ import annotations

import asyncio
import random
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select, update

from reservations.base import clock
from reservations.base.errors import (
    AwaitingPayment,
    DailyCapReached,
    DomainError,
    NotEnoughPlaces,
    SlotFull,
)
from reservations.base.models import AuditEntry, Booking, BookingStatus, Provider, Slot
from reservations.base.rules import booking as booking_service
from reservations.base.rules import holds, places, room
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from tests.factories import fetch_slot, make_activity, make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
HOLD_MINUTES = 15


def request(slot_id: int, people: int, name: str = "Visitor") -> BookingRequest:
    return BookingRequest(
        slot_id=slot_id, adults=people, children=0, name=name, email="v@example.org"
    )


async def hold(db, slot_id: int, people: int, *, ends_in: timedelta = timedelta(minutes=15)):  # type: ignore[no-untyped-def]
    """A hold made so that it ends ``ends_in`` from now (negative: already over)."""
    made_at = clock.now() - timedelta(minutes=HOLD_MINUTES) + ends_in
    return await booking_service.book(
        db,
        request(slot_id, people, "Holder"),
        POLICY,
        actor="test",
        now=made_at,
        hold_minutes=HOLD_MINUTES,
    )


async def places_left(db, slot_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(room.places_left()).where(Slot.id == slot_id))


async def counters_agree(db, slot_id: int) -> Slot:  # type: ignore[no-untyped-def]
    """The slot's counters equal the people of its confirmed bookings and unreleased holds."""
    async with db.reading() as session:

        def people_with(status: BookingStatus):  # type: ignore[no-untyped-def]
            return select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                Booking.slot_id == slot_id, Booking.status == status
            )

        confirmed = await session.scalar(people_with(BookingStatus.CONFIRMED))
        pending = await session.scalar(people_with(BookingStatus.PENDING_PAYMENT))
    slot = await fetch_slot(db, slot_id)
    assert (slot.booked, slot.held) == (confirmed, pending)
    assert slot.booked + slot.held <= slot.capacity
    return slot


async def expiries(db, booking_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(
            select(func.count()).where(
                AuditEntry.booking_id == booking_id, AuditEntry.action == "booking.expired"
            )
        )


async def test_a_hold_takes_its_places_while_it_runs(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4)
    assert receipt.booking.status == BookingStatus.PENDING_PAYMENT
    assert receipt.booking.hold_expires_at > clock.now()
    assert await places_left(db, slot.id) == 6
    with pytest.raises(NotEnoughPlaces) as refused:
        await booking_service.book(db, request(slot.id, 7), POLICY, actor="test")
    assert refused.value.params["remaining"] == 6
    await booking_service.book(db, request(slot.id, 6), POLICY, actor="test")
    with pytest.raises(SlotFull):
        await booking_service.book(db, request(slot.id, 1), POLICY, actor="test")
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (6, 4)


async def test_a_lapsed_hold_frees_its_places_for_everyone_without_tick(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4, ends_in=timedelta(seconds=-1))
    assert await places_left(db, slot.id) == 10  # every read, at once
    await booking_service.book(db, request(slot.id, 10), POLICY, actor="test")  # no tick ran
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held, slot_now.holds_expire_at) == (10, 0, None)
    ended = await booking_service.find_by_token(db, receipt.manage_token)
    assert ended.status == BookingStatus.EXPIRED
    assert await expiries(db, receipt.booking.id) == 1
    assert await holds.tidy(db) == 0  # tick finds nothing left to free


async def test_tick_tidies_a_lapsed_hold_once(db):
    slot = await make_slot(db, capacity=10)
    running = await hold(db, slot.id, 3)
    lapsed = await hold(db, slot.id, 4, ends_in=timedelta(seconds=-1))
    assert await holds.tidy(db) == 4
    assert await holds.tidy(db) == 0
    assert await expiries(db, lapsed.booking.id) == 1
    slot_now = await counters_agree(db, slot.id)
    assert slot_now.held == 3  # the running hold still holds
    assert slot_now.holds_expire_at == running.booking.hold_expires_at


async def test_a_paid_hold_becomes_a_booking_on_the_same_places(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4)
    async with db.writing() as session:
        done = await places.confirm_hold(session, receipt.booking.id, clock.now(), actor="test")
    assert done == places.Confirmation.CONFIRMED
    async with db.writing() as session:
        again = await places.confirm_hold(session, receipt.booking.id, clock.now(), actor="test")
    assert again == places.Confirmation.ALREADY_CONFIRMED
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held, slot_now.holds_expire_at) == (4, 0, None)


@pytest.mark.parametrize("released_first", [False, True])
async def test_a_hold_paid_after_its_end_takes_its_places_again_if_they_are_there(
    db, released_first
):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4, ends_in=timedelta(seconds=-1))
    if released_first:
        await holds.tidy(db)
    async with db.writing() as session:
        done = await places.confirm_hold(session, receipt.booking.id, clock.now(), actor="test")
    assert done == places.Confirmation.CONFIRMED
    assert (await booking_service.find_by_token(db, receipt.manage_token)).status == "confirmed"
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (4, 0)


async def test_a_hold_paid_after_its_places_went_to_others_changes_nothing(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4, ends_in=timedelta(seconds=-1))
    await booking_service.book(db, request(slot.id, 8), POLICY, actor="test")
    async with db.writing() as session:
        done = await places.confirm_hold(session, receipt.booking.id, clock.now(), actor="test")
    assert done == places.Confirmation.NO_PLACES
    assert (await booking_service.find_by_token(db, receipt.manage_token)).status == "expired"
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (8, 0)


async def test_cancelling_a_hold_frees_its_places_at_once(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 4)
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    assert await places_left(db, slot.id) == 10
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.held, slot_now.holds_expire_at) == (0, None)
    async with db.writing() as session:
        done = await places.confirm_hold(session, receipt.booking.id, clock.now(), actor="test")
    assert done == places.Confirmation.ENDED


async def test_a_hold_counts_in_its_farms_daily_cap_until_its_end(db):
    activity = await make_activity(db, capacity=20)
    async with db.writing() as session:
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(daily_cap=10)
        )
    day = clock.today() + timedelta(days=5)
    first, second = [
        await make_slot(
            db, activity=activity, capacity=20, starts_at=clock.local_datetime(day, time(hour, 0))
        )
        for hour in (9, 14)
    ]
    running = await hold(db, first.id, 6)
    with pytest.raises(DailyCapReached):
        await booking_service.book(db, request(second.id, 5), POLICY, actor="test")
    assert await places_left(db, second.id) == 4
    await booking_service.cancel_by_visitor(db, running.manage_token)
    await hold(db, first.id, 6, ends_in=timedelta(seconds=-1))
    assert await places_left(db, second.id) == 10  # a lapsed hold on another slot is free
    await booking_service.book(db, request(second.id, 10), POLICY, actor="test")
    await counters_agree(db, first.id)
    await counters_agree(db, second.id)


@pytest.mark.parametrize("round_number", range(2))
async def test_a_crowd_racing_unpaid_holds_that_lapse_during_the_race_never_oversells(
    db, round_number
):
    """240 people, one place each, against a slot of 30 whose 20 other places are held by ten
    unpaid holds that end, one after the other, while the crowd arrives: the
    slot ends with exactly its 30 people, each lapsed hold's places went to the crowd without
    ``tick``, every refusal is a clear one, and the counters agree with the bookings."""
    capacity, crowd = 30, 240
    slot = await make_slot(db, capacity=capacity)
    rng = random.Random(round_number)
    holders = [
        await hold(db, slot.id, 2, ends_in=timedelta(seconds=0.5 + 0.15 * n)) for n in range(10)
    ]
    last_end = max(holder.booking.hold_expires_at for holder in holders)
    # At most 24 at the database at once: the PostgreSQL server is shared by the test run.
    at_the_door = asyncio.Semaphore(24)

    async def visitor(number: int) -> object:
        if number < crowd - 20:  # arriving while the holds end
            await asyncio.sleep(rng.uniform(0, 2.0))
        else:  # the last ones, once every hold has ended
            await asyncio.sleep((last_end - clock.now()).total_seconds() + 0.2)
        async with at_the_door:
            try:
                return await booking_service.book(
                    db, request(slot.id, 1, f"Visitor {number}"), POLICY, actor="test"
                )
            except DomainError as refused:
                return refused

    answers = await asyncio.gather(*(visitor(n) for n in range(crowd)))
    booked = [a for a in answers if not isinstance(a, DomainError)]
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert all(isinstance(r, (SlotFull, NotEnoughPlaces)) for r in refused)
    assert len(booked) == capacity  # the last 20 came after every hold had ended
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (capacity, 0)
    for holder in holders:
        assert (await booking_service.find_by_token(db, holder.manage_token)).status == "expired"
        assert await expiries(db, holder.booking.id) == 1
    assert await holds.tidy(db) == 0


async def test_a_hold_cannot_change_its_party_before_it_is_paid(db):
    slot = await make_slot(db, capacity=10)
    receipt = await hold(db, slot.id, 2)
    with pytest.raises(AwaitingPayment):
        await booking_service.change_party(db, receipt.manage_token, 3, 0, POLICY)
    slot_now = await counters_agree(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (0, 2)
