"""Random lives of a slot: whatever happens, its counter is the sum of its live bookings.

Each Hypothesis example gets a fresh slot and plays a random sequence of bookings (valid,
invalid, too large), bursts of concurrent bookings, cancellations by the visitor and by staff
(also of bookings already cancelled), the go/no-go decision and a cancellation of the slot.
A model kept here in Python says what each step must do; after every step the database is
checked against it with the test's own queries. pytest-asyncio runs ``@given`` async tests on
its event loop, so each example runs on the same loop as the ``db`` fixture.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.errors import (
    AlreadyCancelled,
    DomainError,
    IdempotencyKeyReused,
    InvalidParty,
    NotEnoughPlaces,
    PartyTooLarge,
    SlotCancelled,
    SlotFull,
)
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import (
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Slot,
    SlotStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.slots import cancel_slot, decide_due_slots
from tests.factories import make_slot

MAX_PARTY = 6
POLICY = BookingPolicy(secret_key="property-secret", max_party_size=MAX_PARTY)


@dataclass
class Booked:
    token: str
    people: int
    status: BookingStatus = BookingStatus.CONFIRMED
    cancelled_by: CancelledBy | None = None


@dataclass
class Model:
    """What the slot must look like, computed from the operations alone."""

    capacity: int
    minimum: int
    now: datetime
    status: SlotStatus = SlotStatus.SCHEDULED
    bookings: dict[int, Booked] = field(default_factory=dict)

    @property
    def booked(self) -> int:
        return sum(b.people for b in self.bookings.values() if b.status == BookingStatus.CONFIRMED)

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked

    def live(self) -> list[int]:
        return sorted(i for i, b in self.bookings.items() if b.status == BookingStatus.CONFIRMED)

    def end(self, booking_id: int, by: CancelledBy) -> None:
        self.bookings[booking_id].status = BookingStatus.CANCELLED
        self.bookings[booking_id].cancelled_by = by

    def refusal(self, adults: int, children: int) -> type[DomainError] | None:
        """Why a booking must be refused in the current state, if it must."""
        if adults < 0 or children < 0 or adults + children < 1:
            return InvalidParty
        if adults + children > MAX_PARTY:
            return PartyTooLarge
        if self.status == SlotStatus.CANCELLED:
            return SlotCancelled
        if self.remaining < adults + children:
            return SlotFull if self.remaining == 0 else NotEnoughPlaces
        return None


parties = st.tuples(st.integers(-1, 8), st.integers(-1, 4))
operations = st.one_of(
    st.tuples(st.just("book"), parties),
    st.tuples(st.just("book"), st.tuples(st.integers(1, 3), st.integers(0, 2))),
    st.tuples(st.just("burst"), st.lists(parties, min_size=2, max_size=6)),
    st.tuples(st.just("cancel_by_visitor"), st.integers(0, 40)),
    st.tuples(st.just("cancel_by_staff"), st.integers(0, 40)),
    st.tuples(st.just("decide"), st.none()),
    st.tuples(st.just("cancel_slot"), st.none()),
)


def request_for(slot_id: int, adults: int, children: int) -> BookingRequest:
    return BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Paul Vidal",
        email="paul@example.org",
    )


async def attempt(db: Database, slot_id: int, party: tuple[int, int], now: datetime):
    try:
        return await booking_service.book(
            db, request_for(slot_id, *party), POLICY, actor="visitor", now=now
        )
    except DomainError as refused:
        return refused


async def step_book(db: Database, slot: Slot, model: Model, party: tuple[int, int]) -> None:
    expected = model.refusal(*party)
    outcome = await attempt(db, slot.id, party, model.now)
    if expected is None:
        assert not isinstance(outcome, DomainError), outcome
        assert outcome.booking.people == sum(party)
        model.bookings[outcome.booking.id] = Booked(outcome.manage_token, sum(party))
        return
    assert type(outcome) is expected, (outcome, expected)
    if expected in (NotEnoughPlaces, SlotFull):
        assert outcome.params == {"remaining": model.remaining, "requested": sum(party)}


async def step_burst(db: Database, slot: Slot, model: Model, burst: list[tuple[int, int]]) -> None:
    """Concurrent bookings: never more than the places left, and a refusal only for lack of them."""
    before = model.remaining
    outcomes = await asyncio.gather(*(attempt(db, slot.id, p, model.now) for p in burst))
    for party, outcome in zip(burst, outcomes, strict=True):
        if not isinstance(outcome, DomainError):
            model.bookings[outcome.booking.id] = Booked(outcome.manage_token, sum(party))
    after = model.remaining
    assert 0 <= after <= before
    for party, outcome in zip(burst, outcomes, strict=True):
        if not isinstance(outcome, DomainError):
            continue
        if isinstance(outcome, NotEnoughPlaces):
            # Refused while the slot had fewer places than asked for: places only go down in a
            # burst of bookings, so it still has fewer now.
            assert model.status != SlotStatus.CANCELLED
            assert sum(party) <= MAX_PARTY and min(party) >= 0
            assert outcome.params["requested"] == sum(party)
            assert after <= outcome.params["remaining"] <= before
            assert outcome.params["remaining"] < sum(party)
        else:
            assert type(outcome) is model.refusal(*party), (outcome, party)


def pick(model: Model, index: int) -> int | None:
    ids = sorted(model.bookings)
    return ids[index % len(ids)] if ids else None


async def step_cancel_by_visitor(db: Database, slot: Slot, model: Model, index: int) -> None:
    booking_id = pick(model, index)
    if booking_id is None:
        return
    booked = model.bookings[booking_id]
    try:
        cancelled = await booking_service.cancel_by_visitor(db, booked.token, now=model.now)
    except AlreadyCancelled:
        assert booked.status == BookingStatus.CANCELLED
        return
    assert booked.status == BookingStatus.CONFIRMED
    assert (cancelled.id, cancelled.status) == (booking_id, BookingStatus.CANCELLED)
    model.end(booking_id, CancelledBy.VISITOR)


async def step_cancel_by_staff(db: Database, slot: Slot, model: Model, index: int) -> None:
    booking_id = pick(model, index)
    if booking_id is None:
        return
    booked = model.bookings[booking_id]
    try:
        await booking_service.cancel_booking(db, booking_id, actor="staff:prop", now=model.now)
    except AlreadyCancelled:
        assert booked.status == BookingStatus.CANCELLED
        return
    assert booked.status == BookingStatus.CONFIRMED
    model.end(booking_id, CancelledBy.STAFF)


async def step_decide(db: Database, slot: Slot, model: Model, _: None) -> None:
    model.now = max(model.now, slot.decision_at)
    decisions = await decide_due_slots(db, now=model.now)
    ended = set(decisions.bookings_cancelled) & set(model.bookings)
    if model.status != SlotStatus.SCHEDULED:
        assert slot.id not in decisions.confirmed + decisions.cancelled and not ended
    elif model.booked < model.minimum:
        assert slot.id in decisions.cancelled and slot.id not in decisions.confirmed
        assert sorted(ended) == model.live()
        for booking_id in model.live():
            model.end(booking_id, CancelledBy.SLOT)
        model.status = SlotStatus.CANCELLED
    else:
        assert slot.id in decisions.confirmed and slot.id not in decisions.cancelled
        assert not ended
        model.status = SlotStatus.CONFIRMED
    model.now += timedelta(minutes=1)


async def step_cancel_slot(db: Database, slot: Slot, model: Model, _: None) -> None:
    try:
        ended = await cancel_slot(
            db, slot.id, CancelReason.WEATHER, actor="staff:prop", now=model.now
        )
    except SlotCancelled:
        assert model.status == SlotStatus.CANCELLED
        return
    assert model.status != SlotStatus.CANCELLED
    assert ended == model.live()
    for booking_id in ended:
        model.end(booking_id, CancelledBy.SLOT)
    model.status = SlotStatus.CANCELLED


STEPS = {
    "book": step_book,
    "burst": step_burst,
    "cancel_by_visitor": step_cancel_by_visitor,
    "cancel_by_staff": step_cancel_by_staff,
    "decide": step_decide,
    "cancel_slot": step_cancel_slot,
}


async def check_against_model(db: Database, slot_id: int, model: Model) -> None:
    async with db.reading() as session:
        slot = await session.get(Slot, slot_id, populate_existing=True)
        live_people = await session.scalar(
            select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                Booking.slot_id == slot_id, Booking.status == BookingStatus.CONFIRMED
            )
        )
        rows = (
            await session.execute(
                select(Booking.id, Booking.status, Booking.cancelled_by).where(
                    Booking.slot_id == slot_id
                )
            )
        ).all()
    assert slot is not None
    assert 0 <= slot.booked <= slot.capacity == model.capacity
    assert slot.booked == live_people == model.booked
    assert slot.status == model.status
    # Every refused booking left no row behind; every accepted one is as the model says.
    assert {r.id: (r.status, r.cancelled_by) for r in rows} == {
        i: (b.status, b.cancelled_by) for i, b in model.bookings.items()
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    capacity=st.integers(1, 12),
    minimum=st.integers(0, 6),
    steps=st.lists(operations, min_size=1, max_size=12),
)
# Edges a short random search may miss: exactly the minimum at the decision, a full slot.
@example(capacity=5, minimum=3, steps=[("book", (2, 1)), ("decide", None), ("book", (2, 0))])
@example(capacity=5, minimum=4, steps=[("book", (2, 1)), ("decide", None), ("book", (1, 0))])
@example(
    capacity=4,
    minimum=0,
    steps=[
        ("burst", [(2, 0), (1, 1), (3, 0), (0, 1)]),
        ("cancel_by_staff", 0),
        ("cancel_by_visitor", 0),
        ("book", (4, 0)),
        ("cancel_slot", None),
        ("cancel_by_visitor", 1),
        ("book", (1, 0)),
    ],
)
async def test_counter_always_equals_the_live_bookings(db, capacity, minimum, steps):
    slot = await make_slot(db, capacity=capacity, min_participants=minimum)
    model = Model(capacity=capacity, minimum=minimum, now=clock.now())
    for name, argument in steps:
        await STEPS[name](db, slot, model, argument)
        await check_against_model(db, slot.id, model)


# --- refusals are for a real reason, even where random runs cannot steer the timing ----------
# These replay, deterministically, moments a random run reaches only by luck: a unique
# constraint tripping on something other than the slot, and places freed between the refused
# UPDATE and the read that explains the refusal.


async def test_a_reference_collision_is_retried_not_refused(db, monkeypatch):
    slot = await make_slot(db, capacity=10)
    first = await booking_service.book(db, request_for(slot.id, 1, 0), POLICY, actor="t")
    fresh = tokens.new_reference
    references = iter([first.booking.reference])  # the first draw collides, then fresh ones
    monkeypatch.setattr(tokens, "new_reference", lambda: next(references, None) or fresh())

    second = await booking_service.book(db, request_for(slot.id, 2, 0), POLICY, actor="t")

    assert second.booking.reference != first.booking.reference
    model = Model(capacity=10, minimum=0, now=clock.now())
    model.bookings[first.booking.id] = Booked(first.manage_token, 1)
    model.bookings[second.booking.id] = Booked(second.manage_token, 2)
    await check_against_model(db, slot.id, model)


async def test_places_freed_during_a_refusal_do_not_give_a_false_reason(db, monkeypatch):
    """The slot is full when the UPDATE runs, then a cancellation commits before the refusal is
    explained: "only 2 places left, you asked for 1" would be a refusal without a reason."""
    slot = await make_slot(db, capacity=2)
    full = await booking_service.book(db, request_for(slot.id, 2, 0), POLICY, actor="t")
    explain = booking_service._raise_refusal

    async def cancellation_commits_first(*args, **kwargs):
        monkeypatch.setattr(booking_service, "_raise_refusal", explain)
        await booking_service.cancel_booking(db, full.booking.id, actor="staff:t")
        return await explain(*args, **kwargs)

    monkeypatch.setattr(booking_service, "_raise_refusal", cancellation_commits_first)
    outcome = await attempt(db, slot.id, (1, 0), clock.now())

    if isinstance(outcome, NotEnoughPlaces):
        assert outcome.params["remaining"] < outcome.params["requested"], outcome.text
    assert not isinstance(outcome, DomainError) or isinstance(outcome, NotEnoughPlaces)
    model = Model(capacity=2, minimum=0, now=clock.now())
    model.bookings[full.booking.id] = Booked(
        full.manage_token, 2, BookingStatus.CANCELLED, CancelledBy.STAFF
    )
    if not isinstance(outcome, DomainError):
        model.bookings[outcome.booking.id] = Booked(outcome.manage_token, 1)
    await check_against_model(db, slot.id, model)


async def attempt_with_key(db: Database, slot_id: int, party, now: datetime, key: str):
    try:
        return await booking_service.book(
            db, request_for(slot_id, *party), POLICY, actor="t", now=now, idempotency_key=key
        )
    except DomainError as refused:
        return refused


@pytest.mark.parametrize("party", [(1, 0), (2, 0)], ids=["same request", "other request"])
async def test_an_idempotency_key_reused_much_later(db, party):
    """A key stays bound to its booking: reused days later it replays the same request and
    refuses another one, never books again nor answers "not enough places"."""
    slot = await make_slot(db, capacity=10, starts_at=clock.now() + timedelta(days=10))
    first = await booking_service.book(
        db, request_for(slot.id, 1, 0), POLICY, actor="t", idempotency_key="late-key"
    )
    later = clock.now() + timedelta(days=3)

    outcome = await attempt_with_key(db, slot.id, party, later, "late-key")

    if party == (1, 0):
        assert isinstance(outcome, BookingReceipt) and outcome.replayed, repr(outcome)
        assert outcome.booking.id == first.booking.id
        assert outcome.manage_token == first.manage_token
    else:
        assert isinstance(outcome, IdempotencyKeyReused), repr(outcome)
    model = Model(capacity=10, minimum=0, now=later)
    model.bookings[first.booking.id] = Booked(first.manage_token, 1)
    await check_against_model(db, slot.id, model)
