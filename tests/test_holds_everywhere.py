"""Every surface that shows places (the API's availability, the programme, a visit's page, the
embed, the kiosk) counts a running hold as taken and a lapsed one as free, with no ``tick``:
on a slot of 7 places with a running hold of 3 and a hold of 2 that lapsed five minutes ago,
each says 4 places left (7 without the holds, 2 if the lapsed one still counted)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import time, timedelta

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.base import clock
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.settings import Settings
from tests.factories import make_slot

POLICY = BookingPolicy(secret_key="test", max_party_size=15)


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=db.url, secret_key="test", booking_rate_limit=0)
    async with AsyncTestClient(app=create_app(settings, database=db)) as test_client:
        yield test_client


async def _hold(db, slot_id: int, people: int, made_minutes_ago: int) -> None:  # type: ignore[no-untyped-def]
    await booking_service.book(
        db,
        BookingRequest(slot_id=slot_id, adults=people, children=0, name="H", email="h@example.org"),
        POLICY,
        actor="test",
        now=clock.now() - timedelta(minutes=made_minutes_ago),
        hold_minutes=15,
    )


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_running_holds_count_lapsed_ones_do_not(db, client):
    tomorrow = clock.local_datetime(clock.today() + timedelta(days=1), time(14, 0))
    slot = await make_slot(db, capacity=7, starts_at=tomorrow)  # on the kiosk too
    await _hold(db, slot.id, 3, made_minutes_ago=0)  # runs for 15 more minutes
    await _hold(db, slot.id, 2, made_minutes_ago=20)  # ended 5 minutes ago, not released

    day = clock.local_date(slot.starts_at)
    api = await client.get(
        "/api/v1/availability", params={"from": day.isoformat(), "to": day.isoformat()}
    )
    assert api.status_code == 200, api.text
    (listed,) = [s for s in api.json() if s["id"] == slot.id]
    assert listed["remaining"] == 4

    for page in ("/", f"/visits/{slot.id}", "/embed", "/kiosk"):
        answer = await client.get(page, params={"lang": "en"})
        assert answer.status_code == 200, page
        shown = text(answer.text)
        assert "4 places left" in shown, page
        assert "7 places left" not in shown and "2 places left" not in shown, page
