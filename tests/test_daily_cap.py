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
from reservations.base.models import (
    Activity,
    Booking,
    BookingStatus,
    Provider,
    Slot,
    WaitlistStatus,
)
from reservations.base.reads import availability, catalogue
from reservations.base.rules import booking as booking_service
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.waitlist import PlacesStillAvailable
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


async def test_availability_shows_what_the_cap_lets_book(db):
    """Places left on a capped farm's slot are its own places left, and no more than the day's
    cap still allows: at the cap a slot with room is not bookable."""
    _, (first, second, third), next_day = await capped_farm(db)
    await book(db, first, 6)
    day = clock.local_date(first.starts_at)
    now = clock.now()

    def expected(slot_booked: int, day_total: int) -> int:
        return max(min(20 - slot_booked, CAP - day_total), 0)

    listed = {s.id: s for s in await availability.list_slots(db, day, day, now=now)}
    assert listed[second.id].remaining == expected(0, 6) == 4 and listed[second.id].bookable
    await book(db, second, 4)
    listed = {s.id: s for s in await availability.list_slots(db, day, day, now=now)}
    for slot, booked in ((first, 6), (second, 4), (third, 0)):
        assert listed[slot.id].remaining == expected(booked, CAP) == 0
        assert not listed[slot.id].bookable
    detail = await catalogue.slot_detail(db, third.id, now=now)
    assert (detail.remaining, detail.bookable) == (0, False)
    other_day = await catalogue.slot_detail(db, next_day.id, now=now)
    assert (other_day.remaining, other_day.bookable) == (expected(0, 0), True)  # the cap: 10


async def test_the_waiting_list_takes_parties_the_cap_refuses(db):
    _, (first, second, third), _ = await capped_farm(db)
    await book(db, first, 6)
    with pytest.raises(PlacesStillAvailable) as still:
        await join(db, second, 4)
    assert still.value.params["remaining"] == 4
    joined = await join(db, second, 5)  # 4 left in the day: a party of 5 cannot book
    assert joined.entry.status == WaitlistStatus.WAITING
    await book(db, second, 4)
    at_cap = await join(db, third, 1)  # the slot is empty but the farm's day is full
    assert at_cap.entry.status == WaitlistStatus.WAITING


async def test_waiting_list_offers_respect_the_cap(db):
    _, (first, second, third), _ = await capped_farm(db)
    freed = await book(db, first, 2)
    await book(db, second, 8)  # the day at its cap; the third slot is empty
    three = await join(db, third, 3)
    two = await join(db, third, 2)
    assert await offer_on(db, third) == []  # the cap leaves nothing to offer
    await booking_service.cancel_by_visitor(db, freed.manage_token)  # 2 free in the day
    offers = await offer_on(db, third)
    assert [o.entry.id for o in offers] == [two.entry.id]  # the party of 3 does not fit
    assert three.entry.id not in [o.entry.id for o in offers]


_join_numbers = iter(range(1, 10_000))


async def join(db, slot: Slot, people: int):  # type: ignore[no-untyped-def]
    return await waitlist.join(
        db,
        slot.id,
        adults=people,
        children=0,
        name="Waiting Visitor",
        email=f"wait{next(_join_numbers)}@example.org",
        locale="fr",
        policy=POLICY,
    )


async def offer_on(db, slot: Slot):  # type: ignore[no-untyped-def]
    async def quietly(session, offer) -> None:  # type: ignore[no-untyped-def]
        return None

    return await waitlist.offer_freed_places(db, slot.id, notify=quietly)
