"""The cut-off is checked against the time read inside the writing transaction, under its
locks: a request begun before the cut-off whose transaction starts after it is refused. The
clock is injected (``clock.At``); another session holds the locks the request needs while the
clock passes the cut-off, then lets it go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from reservations.base.errors import BookingClosed, CancellationClosed, ChangesClosed
from reservations.base.infra.db import Database
from reservations.base.models import BookingStatus, Provider, Slot
from reservations.base.rules import booking as booking_service
from reservations.base.rules import places, waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest, lock_slot
from tests.factories import fetch_slot, make_activity, make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=8)


class TestClock:
    """A clock the test moves by hand."""

    __test__ = False

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def book(db: Database, slot: Slot, people: int, now: object = None):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot.id, adults=people, children=0, name="Ana Costa", email="ana@example.pt"
    )
    return await booking_service.book(db, request, POLICY, actor="test", now=now)  # type: ignore[arg-type]


async def passes_the_cutoff_while_waiting(
    db: Database, slot: Slot, request: Callable[[TestClock], Awaitable[object]]
) -> BaseException | None:
    """Start ``request`` a minute before the slot's cut-off while another session holds the
    slot (and its farm's row), move the clock a minute past the cut-off, let go; what the
    request raised."""
    test_clock = TestClock(slot.booking_cutoff_at - timedelta(minutes=1))
    async with db.writing() as holder:
        await places.lock_capped_provider(holder, slot.id)
        await lock_slot(holder, slot.id)
        started = asyncio.ensure_future(request(test_clock))
        await asyncio.sleep(0)  # the request begins (a turn of the loop, not a wait)
        test_clock.at = slot.booking_cutoff_at + timedelta(minutes=1)
    outcome = await asyncio.gather(started, return_exceptions=True)
    return outcome[0] if isinstance(outcome[0], BaseException) else None


async def test_a_visitor_cancel_begun_before_the_cutoff_is_refused_after_it(db):
    slot = await make_slot(db, capacity=10)
    receipt = await book(db, slot, 3)
    refused = await passes_the_cutoff_while_waiting(
        db, slot, lambda at: booking_service.cancel_by_visitor(db, receipt.manage_token, now=at)
    )
    assert isinstance(refused, CancellationClosed)
    view = await booking_service.find_by_token(db, receipt.manage_token)
    assert view.status == BookingStatus.CONFIRMED
    assert (await fetch_slot(db, slot.id)).booked == 3


async def test_a_change_of_party_begun_before_the_cutoff_is_refused_after_it(db):
    slot = await make_slot(db, capacity=10)
    receipt = await book(db, slot, 3)
    refused = await passes_the_cutoff_while_waiting(
        db,
        slot,
        lambda at: booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY, now=at),
    )
    assert isinstance(refused, ChangesClosed)
    view = await booking_service.find_by_token(db, receipt.manage_token)
    assert (view.adults, view.children) == (3, 0)
    assert (await fetch_slot(db, slot.id)).booked == 3


async def test_a_booking_begun_before_the_cutoff_is_refused_after_it(db):
    """On a farm with a daily cap, whose bookings queue on the farm's row on PostgreSQL (the
    one-statement path reads the time just before its statement)."""
    activity = await make_activity(db, capacity=10)
    async with db.writing() as session:
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(daily_cap=50)
        )
    slot = await make_slot(db, activity=activity, capacity=10)
    refused = await passes_the_cutoff_while_waiting(db, slot, lambda at: book(db, slot, 2, at))
    assert isinstance(refused, BookingClosed)
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_joining_the_waiting_list_begun_before_the_cutoff_is_refused_after_it(db):
    slot = await make_slot(db, capacity=2)
    await book(db, slot, 2)
    refused = await passes_the_cutoff_while_waiting(
        db,
        slot,
        lambda at: waitlist.join(
            db,
            slot.id,
            adults=2,
            children=0,
            name="Ana Costa",
            email="ana@example.pt",
            locale="en",
            policy=POLICY,
            now=at,
        ),
    )
    assert isinstance(refused, BookingClosed)


@pytest.mark.parametrize("minutes", [-1, 1])
async def test_a_pinned_time_still_decides(db, minutes):
    """A rule given an instant (a batch, a test) acts at that instant."""
    slot = await make_slot(db, capacity=10)
    receipt = await book(db, slot, 3)
    at = slot.booking_cutoff_at + timedelta(minutes=minutes)
    if minutes > 0:
        with pytest.raises(CancellationClosed):
            await booking_service.cancel_by_visitor(db, receipt.manage_token, now=at)
    else:
        view = await booking_service.cancel_by_visitor(db, receipt.manage_token, now=at)
        assert view.status == BookingStatus.CANCELLED
