"""A slot's life after planning: go/no-go, cancellation and attendance, on each database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.errors import (
    AlreadyCancelled,
    AttendanceNotAllowed,
    BookingClosed,
    BookingOfAnotherSlot,
    InvalidAttendance,
    NotEnoughPlaces,
    SlotAlreadyHeld,
    SlotCancelled,
    SlotNotFound,
    SlotNotOver,
)
from reservations.base.infra.db import Database
from reservations.base.models import (
    Attendance,
    AuditEntry,
    Base,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Slot,
    SlotStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest, BookingView
from reservations.base.rules.slots import (
    Decisions,
    Presence,
    cancel_slot,
    decide_due_slots,
    record_attendance,
)
from tests.factories import fetch_slot, make_activity, make_slot

POLICY = BookingPolicy(secret_key="test-secret", max_party_size=10)


def start_in(days: int, at: time = time(10, 0)) -> datetime:
    """A start at a fixed local time, so the decision and cut-off times are predictable."""
    return clock.local_datetime(clock.today() + timedelta(days=days), at)


async def book(
    db: Database, slot_id: int, adults: int, children: int = 0, **options: Any
) -> BookingView:
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Jeanne Roux",
        email="jeanne@example.org",
    )
    receipt = await booking_service.book(db, request, POLICY, actor="test", **options)
    return receipt.booking


async def after(delay: float, awaitable: Awaitable[Any]) -> Any:
    """Start ``awaitable`` a little later, so that a race has work on both sides of it."""
    await asyncio.sleep(delay)
    return await awaitable


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary key order: two equal snapshots, nothing changed."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with db.reading() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(row) for row in rows]
    return tables


async def bookings_of(db: Database, slot_id: int) -> list[Booking]:
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(Booking).where(Booking.slot_id == slot_id).order_by(Booking.id)
            )
        )


async def audit_of(db: Database, **where: int) -> list[AuditEntry]:
    async with db.reading() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(await session.scalars(query))


async def attendance_rows(db: Database) -> list[Attendance]:
    async with db.reading() as session:
        return list(await session.scalars(select(Attendance).order_by(Attendance.booking_id)))


# --- go / no-go ---------------------------------------------------------------------------


async def test_under_minimum_is_cancelled_with_its_bookings(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=4)
    first = await book(db, slot.id, 2)
    second = await book(db, slot.id, 0, 1)
    now = slot.decision_at

    decisions = await decide_due_slots(db, now=now)

    assert decisions == Decisions(
        confirmed=[], cancelled=[slot.id], bookings_cancelled=sorted([first.id, second.id])
    )
    decided = await fetch_slot(db, slot.id)
    assert decided.status == SlotStatus.CANCELLED
    assert decided.cancel_reason == CancelReason.UNDER_MINIMUM
    assert decided.cancelled_at == now
    assert decided.booked == 0
    assert decided.sequence == 1
    for booking in await bookings_of(db, slot.id):
        assert booking.status == BookingStatus.CANCELLED
        assert booking.cancelled_by == CancelledBy.SLOT
        assert booking.cancelled_at == now
    actions = [(e.action, e.booking_id, e.actor) for e in await audit_of(db, slot_id=slot.id)]
    assert actions[-3:] == [
        ("slot.decided", None, "system"),
        ("booking.cancelled", first.id, "system"),
        ("booking.cancelled", second.id, "system"),
    ]


@pytest.mark.parametrize("people", [4, 5])
async def test_at_or_over_minimum_is_confirmed(db, people):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=4)
    booking = await book(db, slot.id, people)

    decisions = await decide_due_slots(db, now=slot.decision_at + timedelta(seconds=1))

    assert decisions == Decisions(confirmed=[slot.id], cancelled=[], bookings_cancelled=[])
    decided = await fetch_slot(db, slot.id)
    assert (decided.status, decided.booked, decided.sequence) == (SlotStatus.CONFIRMED, people, 1)
    assert decided.cancel_reason is None and decided.cancelled_at is None
    [still] = await bookings_of(db, slot.id)
    assert (still.id, still.status, still.cancelled_by) == (
        booking.id,
        BookingStatus.CONFIRMED,
        None,
    )
    [entry] = [e for e in await audit_of(db, slot_id=slot.id) if e.action == "slot.decided"]
    assert entry.data["after"] == {"status": "confirmed", "booked": people}


async def test_no_minimum_and_no_booking_is_confirmed(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=0)
    decisions = await decide_due_slots(db, now=slot.decision_at)
    assert decisions.confirmed == [slot.id]
    assert (await fetch_slot(db, slot.id)).status == SlotStatus.CONFIRMED


async def test_cancelled_at_is_the_decision_instant_whatever_its_time_zone(db):
    """``now`` given in Paris time is the same instant as in UTC, and must be stored as such."""
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=2)
    now_in_paris = slot.decision_at.astimezone(clock.OFFICE_TZ)
    await decide_due_slots(db, now=now_in_paris)
    assert (await fetch_slot(db, slot.id)).cancelled_at == slot.decision_at


async def test_deciding_twice_changes_nothing(db):
    activity = await make_activity(db, capacity=10, min_participants=3)
    under = await make_slot(
        db, activity=activity, starts_at=start_in(4), capacity=10, min_participants=3
    )
    enough = await make_slot(
        db, activity=activity, starts_at=start_in(4, time(15)), capacity=10, min_participants=3
    )
    await book(db, under.id, 2)
    await book(db, enough.id, 3)
    now = max(under.decision_at, enough.decision_at)
    first = await decide_due_slots(db, now=now)
    assert (sorted(first.confirmed), sorted(first.cancelled)) == ([enough.id], [under.id])
    before = await snapshot(db)

    again = await decide_due_slots(db, now=now + timedelta(hours=1))

    assert again == Decisions()
    assert await snapshot(db) == before


async def test_two_runs_at_once_decide_each_slot_once(db):
    activity = await make_activity(db, capacity=10, min_participants=2)
    slots = [
        await make_slot(
            db,
            activity=activity,
            starts_at=start_in(4, time(8 + i)),
            capacity=10,
            min_participants=2,
        )
        for i in range(6)
    ]
    expected_bookings = []
    for i, slot in enumerate(slots):
        if i % 2:
            await book(db, slot.id, 2)
        else:
            expected_bookings.append((await book(db, slot.id, 1)).id)
    now = max(s.decision_at for s in slots)

    runs = await asyncio.gather(decide_due_slots(db, now=now), decide_due_slots(db, now=now))

    confirmed = [i for run in runs for i in run.confirmed]
    cancelled = [i for run in runs for i in run.cancelled]
    ended = [i for run in runs for i in run.bookings_cancelled]
    assert sorted(confirmed) == [s.id for i, s in enumerate(slots) if i % 2]
    assert sorted(cancelled) == [s.id for i, s in enumerate(slots) if not i % 2]
    assert sorted(ended) == sorted(expected_bookings)
    for slot in slots:
        entries = [e.action for e in await audit_of(db, slot_id=slot.id)]
        assert entries.count("slot.decided") == 1
        assert (await fetch_slot(db, slot.id)).sequence == 1
    for booking_id in expected_bookings:
        entries = [e.action for e in await audit_of(db, booking_id=booking_id)]
        assert entries == ["booking.created", "booking.cancelled"]


async def test_slots_not_yet_due_are_untouched(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=3)
    await book(db, slot.id, 1)
    before = await snapshot(db)

    decisions = await decide_due_slots(db, now=slot.decision_at - timedelta(seconds=1))

    assert decisions == Decisions()
    assert await snapshot(db) == before
    assert (await fetch_slot(db, slot.id)).status == SlotStatus.SCHEDULED


async def test_bookings_after_confirmation_work_until_the_cut_off(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=2)
    await book(db, slot.id, 2)
    await decide_due_slots(db, now=slot.decision_at)

    await book(db, slot.id, 3, now=slot.decision_at + timedelta(minutes=1))
    await book(db, slot.id, 1, now=slot.booking_cutoff_at - timedelta(seconds=1))
    with pytest.raises(BookingClosed):
        await book(db, slot.id, 1, now=slot.booking_cutoff_at)

    after = await fetch_slot(db, slot.id)
    assert (after.status, after.booked) == (SlotStatus.CONFIRMED, 6)


async def test_bookings_after_a_no_go_are_refused(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=2)
    await book(db, slot.id, 1)
    await decide_due_slots(db, now=slot.decision_at)

    with pytest.raises(SlotCancelled):
        await book(db, slot.id, 1, now=slot.decision_at + timedelta(minutes=1))
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert len(await bookings_of(db, slot.id)) == 1


async def test_a_burst_of_bookings_racing_the_decision(db):
    """Whatever wins, a cancelled slot has no live booking and a zero counter, and a confirmed
    slot's counter is the sum of its live bookings."""
    activity = await make_activity(db, capacity=30, min_participants=5)
    for round_number in range(4):
        slot = await make_slot(
            db,
            activity=activity,
            starts_at=start_in(4, time(8 + round_number)),
            capacity=30,
            min_participants=5,
        )
        await book(db, slot.id, 2)
        now = slot.decision_at
        results = await asyncio.gather(
            *(after(0.025 * i, book(db, slot.id, 1, now=now)) for i in range(12)),
            after(0.07 * round_number, decide_due_slots(db, now=now)),
            return_exceptions=True,
        )
        unexpected = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, SlotCancelled)
        ]
        assert not unexpected
        decided = await fetch_slot(db, slot.id)
        live = [b for b in await bookings_of(db, slot.id) if b.status == BookingStatus.CONFIRMED]
        won = [r for r in results if isinstance(r, BookingView)]
        assert decided.status in (SlotStatus.CONFIRMED, SlotStatus.CANCELLED)
        assert decided.booked == sum(b.people for b in live)
        if decided.status == SlotStatus.CANCELLED:
            assert live == [] and decided.booked == 0
            # Refused bookings came after the decision and left no row behind.
            assert len(await bookings_of(db, slot.id)) == 1 + len(won)
        else:
            assert decided.booked == 2 + len(won) and len(won) == 12


# --- cancellation by provider or staff ---------------------------------------------------


async def test_cancel_slot_cancels_its_bookings_with_reason_message_and_audit(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10)
    kept = [await book(db, slot.id, 2), await book(db, slot.id, 1, 1)]
    earlier = await book(db, slot.id, 1)
    await booking_service.cancel_booking(
        db, earlier.id, actor="visitor", cancelled_by=CancelledBy.VISITOR
    )
    now = clock.now().replace(microsecond=0)

    ended = await cancel_slot(
        db, slot.id, CancelReason.PROVIDER, actor="provider:7", message="Orage annoncé", now=now
    )

    assert ended == sorted(b.id for b in kept)
    cancelled = await fetch_slot(db, slot.id)
    assert cancelled.status == SlotStatus.CANCELLED
    assert cancelled.cancel_reason == CancelReason.PROVIDER
    assert cancelled.cancel_message == "Orage annoncé"
    assert cancelled.cancelled_at == now
    assert (cancelled.booked, cancelled.sequence) == (0, 1)
    by_id = {b.id: b for b in await bookings_of(db, slot.id)}
    for booking in kept:
        assert by_id[booking.id].status == BookingStatus.CANCELLED
        assert by_id[booking.id].cancelled_by == CancelledBy.SLOT
        assert by_id[booking.id].cancelled_at == now
    assert by_id[earlier.id].cancelled_by == CancelledBy.VISITOR  # not rewritten

    entries = await audit_of(db, slot_id=slot.id)
    [slot_entry] = [e for e in entries if e.action == "slot.cancelled"]
    assert slot_entry.actor == "provider:7" and slot_entry.booking_id is None
    assert slot_entry.data == {
        "before": {"status": "scheduled"},
        "after": {"status": "cancelled", "reason": "provider"},
        "message": "Orage annoncé",
    }
    slot_ended = [
        e.booking_id for e in entries if e.action == "booking.cancelled" and e.actor == "provider:7"
    ]
    assert slot_ended == sorted(b.id for b in kept)


async def test_cancel_a_confirmed_slot_by_staff(db):
    slot = await make_slot(db, starts_at=start_in(4), capacity=10, min_participants=1)
    booking = await book(db, slot.id, 3)
    await decide_due_slots(db, now=slot.decision_at)

    ended = await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="staff:anne@example.org")

    assert ended == [booking.id]
    cancelled = await fetch_slot(db, slot.id)
    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancel_message) == (
        SlotStatus.CANCELLED,
        CancelReason.WEATHER,
        None,
    )
    assert (cancelled.booked, cancelled.sequence) == (0, 2)
    [entry] = [e for e in await audit_of(db, slot_id=slot.id) if e.action == "slot.cancelled"]
    assert entry.data["before"] == {"status": "confirmed"}


async def test_cancel_slot_twice_or_unknown(db):
    slot = await make_slot(db, starts_at=start_in(4))
    await cancel_slot(db, slot.id, CancelReason.STAFF, actor="staff:x")
    before = await snapshot(db)
    with pytest.raises(SlotCancelled):
        await cancel_slot(db, slot.id, CancelReason.STAFF, actor="staff:x")
    with pytest.raises(SlotNotFound):
        await cancel_slot(db, 987654, CancelReason.STAFF, actor="staff:x")
    assert await snapshot(db) == before


async def test_bookings_and_cancellations_racing_a_slot_cancellation(db):
    """Row locks taken in different orders by booking (booking row, then slot) and by the
    cancellations (slot, then bookings) must neither deadlock nor leave a live booking behind."""
    activity = await make_activity(db, capacity=20)
    for round_number in range(3):
        slot = await make_slot(
            db, activity=activity, starts_at=start_in(4, time(8 + round_number)), capacity=20
        )
        existing = [await book(db, slot.id, 1) for _ in range(4)]
        results = await asyncio.gather(
            *(after(0.03 * i, book(db, slot.id, 1 + i % 2)) for i in range(8)),
            *(
                after(0.05 * i, booking_service.cancel_booking(db, b.id, actor="staff:x"))
                for i, b in enumerate(existing)
            ),
            after(0.05 * round_number, cancel_slot(db, slot.id, CancelReason.WEATHER, actor="x")),
            return_exceptions=True,
        )
        unexpected = [
            r
            for r in results
            if isinstance(r, Exception) and not isinstance(r, SlotCancelled | AlreadyCancelled)
        ]
        assert not unexpected
        cancelled = await fetch_slot(db, slot.id)
        assert (cancelled.status, cancelled.booked) == (SlotStatus.CANCELLED, 0)
        rows = await bookings_of(db, slot.id)
        assert all(b.status == BookingStatus.CANCELLED for b in rows)
        won = [r for r in results if isinstance(r, BookingView)]
        assert len(rows) == len(existing) + len(won)
        for entries in [await audit_of(db, booking_id=b.id) for b in rows]:
            assert [e.action for e in entries] == ["booking.created", "booking.cancelled"]


# --- attendance ------------------------------------------------------------------------------


async def slot_with_bookings(db: Database, *parties: tuple[int, int]) -> tuple[Slot, list[Booking]]:
    slot = await make_slot(db, starts_at=start_in(4), capacity=20)
    bookings = [await book(db, slot.id, adults, children) for adults, children in parties]
    return slot, bookings


async def test_a_held_slot_cannot_be_cancelled(db):
    slot, _bookings = await slot_with_bookings(db, (2, 1))
    await record_attendance(db, slot.id, None, actor="provider:1", now=slot.starts_at)
    before = await snapshot(db)
    with pytest.raises(SlotAlreadyHeld):
        await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="staff:x")
    assert await snapshot(db) == before


async def test_everyone_came(db):
    slot, bookings = await slot_with_bookings(db, (2, 1), (1, 0))
    after_start = slot.starts_at + timedelta(minutes=5)

    await record_attendance(db, slot.id, None, actor="provider:1", now=after_start)

    rows = await attendance_rows(db)
    assert [(r.booking_id, r.adults, r.children) for r in rows] == [
        (bookings[0].id, 2, 1),
        (bookings[1].id, 1, 0),
    ]
    assert all(r.recorded_by == "provider:1" and r.recorded_at == after_start for r in rows)
    held = await fetch_slot(db, slot.id)
    assert (held.status, held.sequence) == (SlotStatus.HELD, 1)
    actions = [e.action for e in await audit_of(db, slot_id=slot.id)]
    assert actions.count("slot.attendance_recorded") == 1


async def test_partial_attendance_and_no_show(db):
    slot, (family, couple, single) = await slot_with_bookings(db, (2, 2), (2, 0), (1, 0))
    present = {family.id: Presence(2, 1), single.id: Presence(0, 0)}

    await record_attendance(db, slot.id, present, actor="staff:x", now=slot.ends_at)

    figures = {r.booking_id: (r.adults, r.children) for r in await attendance_rows(db)}
    assert figures == {family.id: (2, 1), couple.id: (2, 0), single.id: (0, 0)}
    async with db.reading() as session:
        no_show = await session.get(Attendance, single.id)
    assert no_show is not None and no_show.no_show
    assert (await fetch_slot(db, slot.id)).status == SlotStatus.HELD


async def test_recording_again_replaces_the_figures(db):
    slot, (family, single) = await slot_with_bookings(db, (2, 2), (1, 0))
    first_time = slot.ends_at
    await record_attendance(db, slot.id, {family.id: Presence(1, 1)}, actor="a", now=first_time)
    later = first_time + timedelta(hours=1)

    await record_attendance(db, slot.id, {single.id: Presence(0, 0)}, actor="b", now=later)

    rows = await attendance_rows(db)
    assert [(r.booking_id, r.adults, r.children, r.recorded_by) for r in rows] == [
        (family.id, 2, 2, "b"),
        (single.id, 0, 0, "b"),
    ]
    assert all(r.recorded_at == later for r in rows)
    held = await fetch_slot(db, slot.id)
    assert (held.status, held.sequence) == (SlotStatus.HELD, 1)  # held once, not bumped again


async def test_attendance_refused_before_the_start(db):
    slot, _ = await slot_with_bookings(db, (2, 0))
    before = await snapshot(db)
    with pytest.raises(SlotNotOver):
        await record_attendance(
            db, slot.id, None, actor="a", now=slot.starts_at - timedelta(seconds=1)
        )
    assert await snapshot(db) == before


async def test_attendance_refused_on_a_cancelled_slot(db):
    slot, _ = await slot_with_bookings(db, (2, 0))
    await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="staff:x")
    before = await snapshot(db)
    with pytest.raises(AttendanceNotAllowed):
        await record_attendance(db, slot.id, None, actor="a", now=slot.ends_at)
    assert await snapshot(db) == before


async def test_attendance_refuses_a_booking_of_another_slot(db):
    slot, (mine,) = await slot_with_bookings(db, (2, 0))
    _, (theirs,) = await slot_with_bookings(db, (1, 0))
    before = await snapshot(db)
    with pytest.raises(BookingOfAnotherSlot):
        await record_attendance(
            db,
            slot.id,
            {mine.id: Presence(2, 0), theirs.id: Presence(1, 0)},
            actor="a",
            now=slot.ends_at,
        )
    assert await snapshot(db) == before
    assert (await fetch_slot(db, slot.id)).status == SlotStatus.SCHEDULED


async def test_attendance_refuses_negative_figures_and_unknown_slot(db):
    slot, (booking,) = await slot_with_bookings(db, (2, 0))
    with pytest.raises(InvalidAttendance):
        await record_attendance(
            db, slot.id, {booking.id: Presence(-1, 0)}, actor="a", now=slot.ends_at
        )
    with pytest.raises(SlotNotFound):
        await record_attendance(db, 987654, None, actor="a", now=slot.ends_at)
    assert await attendance_rows(db) == []


async def test_attendance_leaves_cancelled_bookings_out(db):
    slot, (came, cancelled) = await slot_with_bookings(db, (2, 0), (3, 0))
    await booking_service.cancel_booking(db, cancelled.id, actor="staff:x")
    await record_attendance(db, slot.id, None, actor="a", now=slot.ends_at)
    assert [(r.booking_id, r.adults) for r in await attendance_rows(db)] == [(came.id, 2)]
    with pytest.raises(BookingOfAnotherSlot):
        await record_attendance(
            db, slot.id, {cancelled.id: Presence(3, 0)}, actor="a", now=slot.ends_at
        )


async def test_counter_and_audit_after_full_life(db):
    """A slot confirmed, booked further, then held: its counter is still the sum of its bookings."""
    slot = await make_slot(db, starts_at=start_in(4), capacity=6, min_participants=2)
    await book(db, slot.id, 2)
    await decide_due_slots(db, now=slot.decision_at)
    await book(db, slot.id, 4, now=slot.decision_at + timedelta(minutes=1))
    with pytest.raises(NotEnoughPlaces):
        await book(db, slot.id, 1, now=slot.decision_at + timedelta(minutes=2))
    await record_attendance(db, slot.id, None, actor="a", now=slot.ends_at)
    async with db.reading() as session:
        people = await session.scalar(
            select(func.sum(Booking.adults + Booking.children)).where(
                Booking.slot_id == slot.id, Booking.status == BookingStatus.CONFIRMED
            )
        )
        present = await session.scalar(select(func.sum(Attendance.adults + Attendance.children)))
    held = await fetch_slot(db, slot.id)
    assert (held.status, held.booked, people, present) == (SlotStatus.HELD, 6, 6, 6)
    assert held.updated_at.tzinfo == UTC
