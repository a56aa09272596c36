"""A provider's daily cap (at most N people a day across all its slots), on each database: the
same guarantee as a slot's capacity, for every path that adds people (booking, waiting-list
claim through booking, growing a party), sequentially and under concurrent requests."""

from __future__ import annotations

import asyncio
import random
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select, update

from reservations.base import clock
from reservations.base.errors import CannotGrow, DailyCapReached, DomainError, NotEnoughPlaces
from reservations.base.models import Activity, Booking, BookingStatus, Provider, Slot
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from tests.factories import make_activity, make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
CAP = 10


async def capped_farm(db, cap: int | None = CAP, slots: int = 3, capacity: int = 20):  # type: ignore[no-untyped-def]
    """A farm with ``slots`` slots on the same day (9:00, 11:00, ...), and one the next day."""
    activity = await make_activity(db, capacity=capacity)
    async with db.writing() as session:
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(daily_cap=cap)
        )
    day = clock.today() + timedelta(days=5)
    same_day = [
        await make_slot(
            db,
            activity=activity,
            capacity=capacity,
            starts_at=clock.local_datetime(day, time(9 + 2 * n, 0)),
        )
        for n in range(slots)
    ]
    next_day = await make_slot(
        db,
        activity=activity,
        capacity=capacity,
        starts_at=clock.local_datetime(day + timedelta(days=1), time(9, 0)),
    )
    return activity, same_day, next_day


async def book(db, slot: Slot, people: int, name: str = "Visitor"):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot.id, adults=people, children=0, name=name, email="v@example.org"
    )
    return await booking_service.book(db, request, POLICY, actor="test")


async def people_that_day(db, activity: Activity, slots: list[Slot]) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        counters = await session.scalar(
            select(func.sum(Slot.booked)).where(Slot.id.in_([s.id for s in slots]))
        )
        live = await session.scalar(
            select(func.sum(Booking.adults + Booking.children)).where(
                Booking.slot_id.in_([s.id for s in slots]),
                Booking.status == BookingStatus.CONFIRMED,
            )
        )
    assert counters == live  # the counters agree with the bookings
    return int(counters or 0)


async def test_the_cap_counts_every_slot_of_the_day_and_only_that_day(db):
    activity, (first, second, third), next_day = await capped_farm(db)
    await book(db, first, 6)
    with pytest.raises(DailyCapReached) as refused:
        await book(db, second, 5)
    assert (refused.value.params["remaining"], refused.value.params["requested"]) == (4, 5)
    assert "4" in refused.value.text
    await book(db, second, 4)
    with pytest.raises(DailyCapReached):
        await book(db, third, 1)
    await book(db, next_day, CAP)  # another day, another cap
    assert await people_that_day(db, activity, [first, second, third]) == CAP


async def test_a_cancellation_frees_room_in_the_day(db):
    _, (first, second, _), _ = await capped_farm(db)
    receipt = await book(db, first, CAP)
    with pytest.raises(DailyCapReached):
        await book(db, second, 2)
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    await book(db, second, 2)


async def test_a_slot_that_is_full_says_so_before_the_cap(db):
    _, (first, *_), _ = await capped_farm(db, cap=50, capacity=4)
    await book(db, first, 4)
    with pytest.raises(NotEnoughPlaces) as refused:
        await book(db, first, 1)
    assert not isinstance(refused.value, DailyCapReached)


async def test_without_a_cap_only_slot_capacity_counts(db):
    activity, (first, second, third), _ = await capped_farm(db, cap=None)
    for slot in (first, second, third):
        await book(db, slot, 10)
        await book(db, slot, 10)
    assert await people_that_day(db, activity, [first, second, third]) == 60


async def test_growing_a_party_respects_the_cap(db):
    activity, (first, second, _), _ = await capped_farm(db)
    small = await book(db, first, 2)
    await book(db, second, 6)
    with pytest.raises(CannotGrow) as refused:
        await booking_service.change_party(db, small.manage_token, 5, 0, POLICY)
    assert refused.value.params["remaining"] == 2  # 10 - 8
    await booking_service.change_party(db, small.manage_token, 4, 0, POLICY)
    assert await people_that_day(db, activity, [first, second]) == CAP


@pytest.mark.parametrize("round_number", range(3))
async def test_concurrent_bookings_across_the_days_slots_never_pass_the_cap(db, round_number):
    """Forty parties of 1 to 3 people at once on the three slots of a day capped at 10: the
    day ends with at most 10 people, and every refusal is a clear one."""
    activity, slots, _ = await capped_farm(db)
    rng = random.Random(round_number)
    parties = [(rng.choice(slots), rng.randint(1, 3)) for _ in range(40)]

    async def attempt(slot: Slot, people: int) -> int:
        try:
            await book(db, slot, people)
        except DomainError as refused:
            assert isinstance(refused, NotEnoughPlaces), refused
            return 0
        return people

    taken = await asyncio.gather(*(attempt(slot, people) for slot, people in parties))
    total = await people_that_day(db, activity, slots)
    assert total == sum(taken)
    assert CAP - 2 <= total <= CAP  # parties of up to 3: at most 2 places can stay unused


async def test_concurrent_growths_never_pass_the_cap(db):
    activity, (first, second, third), _ = await capped_farm(db)
    parties = [await book(db, slot, 2) for slot in (first, second, third)]  # 6 of 10

    async def grow(receipt) -> bool:  # type: ignore[no-untyped-def]
        try:
            await booking_service.change_party(db, receipt.manage_token, 5, 0, POLICY)
        except CannotGrow:
            return False
        return True

    grown = await asyncio.gather(*(grow(r) for r in parties))
    assert sum(grown) == 1  # each needs 3 more; only 4 places were left in the day
    assert await people_that_day(db, activity, [first, second, third]) == 9
