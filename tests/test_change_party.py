"""Changing the size of a party: within the places left, until the cut-off, never overselling."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from reservations.base.errors import (
    AlreadyCancelled,
    CannotGrow,
    ChangesClosed,
    DomainError,
    InvalidParty,
    PartyTooLarge,
)
from reservations.base.models import AuditEntry, Booking, BookingStatus, CancelReason
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.slots import cancel_slot
from tests.factories import fetch_slot, make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=8)


async def book(db, slot_id: int, adults: int, children: int = 0):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Lena Vogel",
        email="lena@example.de",
    )
    return await booking_service.book(db, request, POLICY, actor="test")


async def live_people(db, slot_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                Booking.slot_id == slot_id, Booking.status == BookingStatus.CONFIRMED
            )
        )
    return int(total or 0)


async def test_grow_and_shrink(db):
    slot = await make_slot(db, capacity=6)
    receipt = await book(db, slot.id, 2)
    grown = await booking_service.change_party(db, receipt.manage_token, 2, 2, POLICY)
    assert (grown.adults, grown.children) == (2, 2)
    assert (await fetch_slot(db, slot.id)).booked == 4
    shrunk = await booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY)
    assert (shrunk.adults, shrunk.children) == (1, 0)
    assert (await fetch_slot(db, slot.id)).booked == 1 == await live_people(db, slot.id)
    async with db.reading() as session:
        changes = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "booking.changed")
                .order_by(AuditEntry.id)
            )
        )
    assert [(c.data["before"], c.data["after"]) for c in changes] == [
        ({"adults": 2, "children": 0}, {"adults": 2, "children": 2}),
        ({"adults": 2, "children": 2}, {"adults": 1, "children": 0}),
    ]


async def test_growing_beyond_the_places_left_is_refused_and_says_how_far(db):
    slot = await make_slot(db, capacity=6)
    mine = await book(db, slot.id, 2)
    await book(db, slot.id, 3)
    with pytest.raises(CannotGrow) as refused:
        await booking_service.change_party(db, mine.manage_token, 2, 2, POLICY)
    assert refused.value.params == {"remaining": 1, "maximum": 3}
    assert (await fetch_slot(db, slot.id)).booked == 5
    changed = await booking_service.change_party(db, mine.manage_token, 2, 1, POLICY)
    assert changed.people == 3 and (await fetch_slot(db, slot.id)).booked == 6


@pytest.mark.parametrize(
    ("adults", "children", "error"),
    [(0, 0, InvalidParty), (-1, 1, InvalidParty), (6, 3, PartyTooLarge)],
)
async def test_party_rules_apply(db, adults, children, error):
    slot = await make_slot(db, capacity=20)
    receipt = await book(db, slot.id, 2)
    with pytest.raises(error):
        await booking_service.change_party(db, receipt.manage_token, adults, children, POLICY)
    assert (await fetch_slot(db, slot.id)).booked == 2


async def test_no_change_after_the_cut_off_or_once_cancelled(db):
    slot = await make_slot(db, capacity=20)
    receipt = await book(db, slot.id, 2)
    late = slot.booking_cutoff_at + timedelta(minutes=1)
    with pytest.raises(ChangesClosed):
        await booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY, now=late)
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    with pytest.raises(AlreadyCancelled):
        await booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY)
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_concurrent_growth_never_oversells(db):
    slot = await make_slot(db, capacity=12)
    receipts = [await book(db, slot.id, 1) for _ in range(6)]
    # Six parties of 1 each try to become 3: only 6 more places exist, so at most 3 can grow.
    results = await asyncio.gather(
        *(booking_service.change_party(db, r.manage_token, 3, 0, POLICY) for r in receipts),
        return_exceptions=True,
    )
    grown = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, CannotGrow)]
    assert len(grown) == 3 and len(refused) == 3
    assert (await fetch_slot(db, slot.id)).booked == 12 == await live_people(db, slot.id)


async def test_change_racing_a_cancellation_keeps_the_counter_right(db):
    slot = await make_slot(db, capacity=20)
    for _ in range(5):
        receipt = await book(db, slot.id, 2)
        results = await asyncio.gather(
            booking_service.change_party(db, receipt.manage_token, 4, 0, POLICY),
            booking_service.cancel_by_visitor(db, receipt.manage_token),
            return_exceptions=True,
        )
        assert all(not isinstance(r, Exception) or isinstance(r, DomainError) for r in results)
        assert (await fetch_slot(db, slot.id)).booked == await live_people(db, slot.id)


async def test_a_shrink_of_a_booking_whose_slot_was_cancelled_is_refused_clearly(db):
    slot = await make_slot(db, capacity=20)
    receipt = await book(db, slot.id, 4)
    await cancel_slot(db, slot.id, CancelReason.STAFF, actor="staff")
    with pytest.raises(AlreadyCancelled):
        await booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY)
    assert (await fetch_slot(db, slot.id)).booked == 0 == await live_people(db, slot.id)


@pytest.mark.parametrize("round_number", range(4))
async def test_shrinks_racing_a_staff_cancel_of_their_slot_refuse_clearly(db, round_number):
    """Six shrinks and the slot's cancellation at once, each in its own session: every shrink
    either lands before the cancellation or is refused as cancelled; never a database error."""
    slot = await make_slot(db, capacity=30)
    receipts = [await book(db, slot.id, 3) for _ in range(6)]
    shrinks = [booking_service.change_party(db, r.manage_token, 1, 0, POLICY) for r in receipts]
    cancel = cancel_slot(db, slot.id, CancelReason.STAFF, actor="staff")
    middle = 1 + round_number
    calls = [*shrinks[:middle], cancel, *shrinks[middle:]]
    results = await asyncio.gather(*calls, return_exceptions=True)
    cancelled_ids = results[middle]
    assert sorted(cancelled_ids) == sorted(r.booking.id for r in receipts)  # type: ignore[arg-type]
    outcomes = [r for i, r in enumerate(results) if i != middle]
    for outcome in outcomes:
        assert isinstance(outcome, (booking_service.BookingView, AlreadyCancelled)), outcome
    assert (await fetch_slot(db, slot.id)).booked == 0 == await live_people(db, slot.id)


@pytest.mark.parametrize("round_number", range(3))
async def test_shrinks_racing_cancels_of_the_booking_keep_the_counter_right(db, round_number):
    """Each booking is shrunk while the visitor and the office cancel it: one cancellation
    wins, the others and a late shrink are refused clearly, and the counter stays the sum of
    the live bookings."""
    slot = await make_slot(db, capacity=40)
    receipts = [await book(db, slot.id, 4) for _ in range(5)]
    calls = []
    for receipt in receipts:
        trio = [
            booking_service.change_party(db, receipt.manage_token, 1, 0, POLICY),
            booking_service.cancel_by_visitor(db, receipt.manage_token),
            booking_service.cancel_booking(db, receipt.booking.id, actor="staff"),
        ]
        calls += trio[round_number:] + trio[:round_number]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in results:
        assert outcome is None or isinstance(
            outcome, (booking_service.BookingView, AlreadyCancelled)
        ), outcome
    for receipt in receipts:
        view = await booking_service.find_by_token(db, receipt.manage_token)
        assert view.status == BookingStatus.CANCELLED
    assert (await fetch_slot(db, slot.id)).booked == 0 == await live_people(db, slot.id)
