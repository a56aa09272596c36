"""The booking rules, on each database."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from reservations.base.errors import (
    AlreadyCancelled,
    BookingClosed,
    CancellationClosed,
    IdempotencyKeyReused,
    InvalidParty,
    NotEnoughPlaces,
    PartyTooLarge,
    SlotCancelled,
    SlotNotFound,
)
from reservations.base.models import AuditEntry, Booking, BookingStatus, CancelReason, SlotStatus
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.slots import cancel_slot
from tests.factories import fetch_slot, make_slot

POLICY = BookingPolicy(secret_key="test-secret", max_party_size=8)


def request_for(
    slot_id: int, adults: int = 1, children: int = 0, **extra: object
) -> BookingRequest:
    return BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Anne Martin",
        email="anne@example.org",
        **extra,  # type: ignore[arg-type]
    )


async def test_booking_takes_places_and_cancel_returns_them(db):
    slot = await make_slot(db, capacity=10)
    receipt = await booking_service.book(db, request_for(slot.id, 2, 1), POLICY, actor="test")
    assert receipt.booking.status == BookingStatus.CONFIRMED
    booked_slot = await fetch_slot(db, slot.id)
    assert booked_slot.booked == 3
    # Taking places changes the counter and nothing else of the slot.
    assert (booked_slot.status, booked_slot.capacity, booked_slot.sequence) == (
        SlotStatus.SCHEDULED,
        10,
        0,
    )
    assert receipt.booking.slot_status == SlotStatus.SCHEDULED
    assert receipt.booking.starts_at == slot.starts_at
    assert len(receipt.manage_token) >= 43  # 256 bits, base64url

    cancelled = await booking_service.cancel_by_visitor(db, receipt.manage_token)
    assert cancelled.status == BookingStatus.CANCELLED
    assert (await fetch_slot(db, slot.id)).booked == 0
    with pytest.raises(AlreadyCancelled):
        await booking_service.cancel_by_visitor(db, receipt.manage_token)
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_token_is_stored_only_as_a_hash(db):
    slot = await make_slot(db)
    receipt = await booking_service.book(db, request_for(slot.id), POLICY, actor="test")
    async with db.reading() as session:
        stored = await session.get(Booking, receipt.booking.id)
    assert stored is not None
    assert stored.manage_token_hash == hashlib.sha256(receipt.manage_token.encode()).hexdigest()
    row = {c.key: getattr(stored, c.key) for c in Booking.__table__.columns}
    assert receipt.manage_token not in repr(row)


@pytest.mark.parametrize(
    ("adults", "children", "error"),
    [(0, 0, InvalidParty), (-1, 2, InvalidParty), (2, -1, InvalidParty), (5, 4, PartyTooLarge)],
)
async def test_party_rules(db, adults, children, error):
    slot = await make_slot(db)
    with pytest.raises(error):
        await booking_service.book(db, request_for(slot.id, adults, children), POLICY, actor="test")
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_short_of_places_says_how_many_remain(db):
    slot = await make_slot(db, capacity=5)
    await booking_service.book(db, request_for(slot.id, 3), POLICY, actor="test")
    with pytest.raises(NotEnoughPlaces) as refused:
        await booking_service.book(db, request_for(slot.id, 2, 1), POLICY, actor="test")
    assert refused.value.params == {"remaining": 2, "requested": 3}
    assert "2" in refused.value.text
    assert (await fetch_slot(db, slot.id)).booked == 3


async def test_unknown_slot(db):
    with pytest.raises(SlotNotFound):
        await booking_service.book(db, request_for(987654), POLICY, actor="test")


async def test_cut_off_closes_bookings_and_visitor_cancellation(db):
    slot = await make_slot(db, cutoff_minutes=120)
    receipt = await booking_service.book(db, request_for(slot.id), POLICY, actor="test")
    after_cutoff = slot.booking_cutoff_at + timedelta(seconds=1)
    with pytest.raises(BookingClosed):
        await booking_service.book(db, request_for(slot.id), POLICY, actor="test", now=after_cutoff)
    with pytest.raises(CancellationClosed):
        await booking_service.cancel_by_visitor(db, receipt.manage_token, now=after_cutoff)
    # Staff may still cancel after the cut-off.
    await booking_service.cancel_booking(
        db, receipt.booking.id, actor="staff:test", now=after_cutoff
    )
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_past_slot_refuses(db):
    slot = await make_slot(db)
    with pytest.raises(BookingClosed):
        await booking_service.book(
            db, request_for(slot.id), POLICY, actor="test", now=slot.starts_at + timedelta(hours=1)
        )


async def test_cancelled_slot_refuses(db):
    slot = await make_slot(db)
    await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    with pytest.raises(SlotCancelled):
        await booking_service.book(db, request_for(slot.id), POLICY, actor="test")


async def test_idempotent_retry_returns_the_first_booking(db):
    slot = await make_slot(db, capacity=10)
    first = await booking_service.book(
        db, request_for(slot.id, 2), POLICY, actor="t", idempotency_key="k-1"
    )
    again = await booking_service.book(
        db, request_for(slot.id, 2), POLICY, actor="t", idempotency_key="k-1"
    )
    assert again.replayed and not first.replayed
    assert again.booking.id == first.booking.id
    assert again.manage_token == first.manage_token
    assert (await fetch_slot(db, slot.id)).booked == 2
    # The replayed token really opens the booking.
    assert (await booking_service.find_by_token(db, again.manage_token)).id == first.booking.id
    with pytest.raises(IdempotencyKeyReused):
        await booking_service.book(
            db, request_for(slot.id, 3), POLICY, actor="t", idempotency_key="k-1"
        )


async def test_concurrent_retries_with_one_key_book_once(db):
    slot = await make_slot(db, capacity=10)
    receipts = await asyncio.gather(
        *(
            booking_service.book(
                db, request_for(slot.id, 2), POLICY, actor="t", idempotency_key="same"
            )
            for _ in range(6)
        )
    )
    assert len({r.booking.id for r in receipts}) == 1
    assert len({r.manage_token for r in receipts}) == 1
    assert (await fetch_slot(db, slot.id)).booked == 2


async def test_every_change_is_audited(db):
    slot = await make_slot(db)
    receipt = await booking_service.book(db, request_for(slot.id), POLICY, actor="visitor")
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    async with db.reading() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.booking_id == receipt.booking.id)
                .order_by(AuditEntry.id)
            )
        )
        count = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert actions == ["booking.created", "booking.cancelled"]
    assert count == 2


async def test_concurrent_bookings_never_oversell(db):
    slot = await make_slot(db, capacity=7)
    results = await asyncio.gather(
        *(booking_service.book(db, request_for(slot.id), POLICY, actor="t") for _ in range(30)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, NotEnoughPlaces)]
    assert len(won) == 7 and len(refused) == 23
    assert (await fetch_slot(db, slot.id)).booked == 7
