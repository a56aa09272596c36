"""The public feed's validator (``/calendar.ics``), on each database: its ETag moves when what
the feed shows moves (a slot called off, moved, added, a new minimum, an activity renamed or
archived, a provider renamed) and only then: bookings and their cancellations leave it, and the
bytes, as they were, since the feed shows no places. A body built once is served again while
its ETag holds, by one worker and, byte for byte, by another."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Activity, CancelReason, Provider, Slot
from reservations.base.rules import activities, season, slots
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.providers import fields_of_provider, update_provider
from reservations.base.rules.season import SlotChange
from tests.factories import make_activity, make_slot
from tests.test_visitors import MAX_PARTY, site_settings, upcoming

FEED = "/calendar.ics"
POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def book(db, slot_id: int, number: int) -> int:  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=2,
        children=1,
        name=f"Visiteur {number}",
        email=None,
        phone="+33 4 66 00 00 00",
    )
    return (await booking_service.book(db, request, POLICY, actor="test")).booking.id


def selects(db) -> tuple[list[str], Callable[[], None]]:  # type: ignore[no-untyped-def]
    """The SELECTs sent from now on, and how to stop listening."""
    sent: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    return sent, lambda: event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_bookings_and_their_cancellation_leave_the_feed_as_it_was(client, db):
    farm = await make_activity(db)
    slot = await make_slot(db, activity=farm, starts_at=upcoming(days=4), capacity=30)
    await make_slot(db, activity=farm, starts_at=upcoming(days=5))
    first = await client.get(FEED)
    etag = first.headers["etag"]

    booked = [await book(db, slot.id, number) for number in range(5)]
    await booking_service.cancel_booking(db, booked[0], actor="test")

    polled = await client.get(FEED, headers={"If-None-Match": etag})
    assert polled.status_code == 304
    assert polled.headers["etag"] == etag
    refetched = await client.get(FEED)
    assert refetched.headers["etag"] == etag
    assert refetched.content == first.content, "the same bytes: DTSTAMP is no booking's time"


async def test_a_body_is_built_once_while_its_etag_holds_and_is_the_same_in_every_worker(db):
    farm = await make_activity(db)
    slot = await make_slot(db, activity=farm, starts_at=upcoming(days=4))
    app = create_app(site_settings(db), database=db)
    async with AsyncTestClient(app=app) as one_worker:
        first = await one_worker.get(FEED)
        await book(db, slot.id, 1)
        sent, stop = selects(db)
        try:
            again = await one_worker.get(FEED)  # a new subscriber: no If-None-Match
        finally:
            stop()
        assert again.status_code == 200
        assert again.content == first.content
        assert len(sent) == 1 and "count(" in sent[0].lower(), sent  # the aggregate only
    another = create_app(site_settings(db), database=db)
    async with AsyncTestClient(app=another) as other_worker:
        built_there = await other_worker.get(FEED)
    assert built_there.headers["etag"] == first.headers["etag"]
    assert built_there.content == first.content


async def _move(db, slot_id: int) -> None:  # type: ignore[no-untyped-def]
    """No write path moves a slot yet; one that does must raise its sequence (RFC 5545)."""
    later = upcoming(days=4) + timedelta(hours=3)
    async with db.writing() as session:
        await session.execute(
            update(Slot)
            .where(Slot.id == slot_id)
            .values(
                starts_at=later,
                ends_at=later + timedelta(hours=2),
                starts_on=clock.local_date(later),
                sequence=Slot.sequence + 1,
            )
        )


async def _rename(db, activity: Activity) -> None:  # type: ignore[no-untyped-def]
    fields = activities.fields_of_activity(activity)
    renamed = replace(fields, title={**fields.title, "fr": "Visite des chèvres"})
    assert await activities.update_activity(db, activity.id, renamed, actor="test")


async def _rename_provider(db, activity: Activity) -> None:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        provider = await session.get(Provider, activity.provider_id)
        assert provider is not None
        fields = fields_of_provider(provider)
    renamed = replace(fields, name="Ferme renommée")
    assert await update_provider(
        db, activity.provider_id, renamed, sectors=[fields.sector], actor="test"
    )


CHANGES: dict[str, Callable[..., Awaitable[None]]] = {
    "a slot called off": lambda db, slot, other, farm: slots.cancel_slot(
        db, slot.id, CancelReason.WEATHER, actor="test"
    ),
    "a slot moved": lambda db, slot, other, farm: _move(db, slot.id),
    "a slot added": lambda db, slot, other, farm: make_slot(
        db, activity=farm, starts_at=upcoming(days=9)
    ),
    "a new minimum": lambda db, slot, other, farm: season.edit_slots(
        db, [slot.id], SlotChange(min_participants=3), actor="test"
    ),
    "an activity renamed": lambda db, slot, other, farm: _rename(db, farm),
    "a provider renamed": lambda db, slot, other, farm: _rename_provider(db, farm),
    "an activity archived": lambda db, slot, other, farm: activities.set_archived(
        db, other.activity_id, True, actor="test"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_what_the_feed_shows_moves_its_etag(client, db, change):
    farm = await make_activity(db)
    slot = await make_slot(db, activity=farm, starts_at=upcoming(days=4))
    elsewhere = await make_activity(db)
    other = await make_slot(db, activity=elsewhere, starts_at=upcoming(days=6))
    await slots.cancel_slot(db, other.id, CancelReason.PROVIDER, actor="test")  # archivable
    first = await client.get(FEED)

    await CHANGES[change](db, slot, other, farm)

    polled = await client.get(FEED, headers={"If-None-Match": first.headers["etag"]})
    assert polled.status_code == 200, change
    assert polled.headers["etag"] != first.headers["etag"]
    assert polled.content != first.content
