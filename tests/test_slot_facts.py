"""One read model of a slot (``reads.slot_facts``), on each database: every screen that reads a
slot says the same of it (places, status, cut-off, bookable), and whether it can be booked
follows its status, cut-off and places."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import update

from reservations.base import clock
from reservations.base.models import Slot, SlotStatus
from reservations.base.reads import (
    availability,
    board,
    booking_lookup,
    catalogue,
    day_sheet,
    slot_overview,
)
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from tests.factories import make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=15)


def facts_of(read: SlotFacts) -> dict[str, object]:
    return {f.name: getattr(read, f.name) for f in fields(SlotFacts)} | {
        "remaining": read.remaining,
        "bookable": read.bookable,
        "missing": read.missing,
    }


async def book(db, slot_id: int, adults: int) -> None:  # type: ignore[no-untyped-def]
    request = BookingRequest(slot_id, adults, 0, "Paul Martin", "paul@example.org")
    await booking_service.book(db, request, POLICY, actor="test")


async def test_every_screen_says_the_same_of_a_slot(db):
    slot = await make_slot(db, capacity=5, min_participants=4)
    await book(db, slot.id, 3)
    now = clock.now()
    day = clock.local_date(slot.starts_at)
    provider_id = (await catalogue.slot_detail(db, slot.id)).provider_id

    reads: list[SlotFacts] = [
        *(await availability.list_slots(db, day, day, locale="en", now=now)),
        await catalogue.slot_detail(db, slot.id, now=now),
        *(await booking_lookup.open_slots_on(db, day, now=now)),
        (await slot_overview.slot_overview(db, slot.id, now=now)).slot,
        await day_sheet.sheet_slot(db, provider_id, slot.id),
        *(await board.visits_between(db, day, day, now=now)),
    ]

    assert [read.id for read in reads] == [slot.id] * 6
    expected = facts_of(reads[0])
    assert expected["remaining"] == 2
    assert expected["missing"] == 1
    assert expected["bookable"] is True
    assert [facts_of(read) for read in reads[1:]] == [expected] * 5


async def test_a_slot_is_bookable_while_open_with_a_place_left(db):
    slot = await make_slot(db, capacity=2)
    now = clock.now()

    fresh = await catalogue.slot_detail(db, slot.id, now=now)
    assert (fresh.open, fresh.bookable, fresh.remaining) == (True, True, 2)

    after_cutoff = await catalogue.slot_detail(db, slot.id, now=slot.booking_cutoff_at)
    assert (after_cutoff.open, after_cutoff.bookable) == (False, False)

    await book(db, slot.id, 2)
    full = await catalogue.slot_detail(db, slot.id, now=now)
    assert (full.open, full.bookable, full.remaining) == (True, False, 0)

    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == slot.id).values(status=SlotStatus.CANCELLED)
        )
    cancelled = await catalogue.slot_detail(db, slot.id, now=now)
    assert (cancelled.open, cancelled.bookable) == (False, False)
