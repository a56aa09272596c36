"""A visitor who cancels is told it is done, by email in their language (with the other dates
open), and the cancelled booking's page no longer offers to add it to a calendar."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base.models import OutboxMessage
from reservations.settings import Settings
from tests.factories import make_slot
from tests.outbox_support import as_sent


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=db.url, secret_key="test", booking_rate_limit=0)
    async with AsyncTestClient(app=create_app(settings, database=db)) as test_client:
        yield test_client


async def test_a_visitor_cancelling_is_told_and_offered_no_calendar(db, client):
    slot = await make_slot(db, capacity=10)
    booked = await client.post(
        "/api/v1/bookings",
        json={
            "slot_id": slot.id,
            "adults": 2,
            "children": 0,
            "name": "Lotte Jansen",
            "email": "lotte@example.nl",
            "locale": "nl",
        },
    )
    token = booked.json()["manage_token"]
    live = await client.get(f"/manage/{token}", params={"lang": "nl"})
    assert f"/manage/{token}/calendar.ics" in live.text

    assert (await client.delete(f"/api/v1/bookings/{token}")).status_code == 200
    async with db.reading() as session:
        messages = list(await session.scalars(select(OutboxMessage)))
    [told] = [m for m in messages if m.dedup_key.startswith("booking-cancelled-by-visitor:")]
    assert told.to_address == "lotte@example.nl"
    sent = as_sent(told)
    assert "Annulering bevestigd" in sent.subject  # Dutch, the booking's language
    assert "U hebt zelf geannuleerd" in sent.text

    cancelled = await client.get(f"/manage/{token}", params={"lang": "nl"})
    assert cancelled.status_code == 200
    assert "calendar.ics" not in cancelled.text
    # Cancelling twice tells nothing twice.
    assert (await client.delete(f"/api/v1/bookings/{token}")).status_code == 409
    async with db.reading() as session:
        keys = [m.dedup_key for m in await session.scalars(select(OutboxMessage))]
    assert sum(k.startswith("booking-cancelled-by-visitor:") for k in keys) == 1
