"""A visit under its minimum says, on the programme and on its page, how many more people it
needs and when it is decided, in the reader's language; those who booked it are asked to pass
it on (its page's address). Once the minimum is reached, nothing of it is said."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from tests.factories import make_slot
from tests.test_visitors import PUBLIC_URL, book_directly, site_settings

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u202f", " ")


async def test_a_visit_under_its_minimum_asks_for_help(db, client):
    slot = await make_slot(db, capacity=12, min_participants=5)
    receipt = await book_directly(db, slot.id)  # 2 adults + 1 child: 3 of the 5 needed
    decided = slot.decision_at.astimezone(PARIS)
    day = format_date(decided.date(), "EEEE, MMMM d", locale="en")
    hour = format_time(decided, "short", locale="en").replace("\u202f", " ")
    english = f"2 more people and it takes place; decided {day} at {hour}."
    for page in ("/", f"/visits/{slot.id}", f"/manage/{receipt.manage_token}"):
        shown = text((await client.get(page, params={"lang": "en"})).text)
        assert english in shown, page
    german = text((await client.get(f"/visits/{slot.id}", params={"lang": "de"})).text)
    assert "Noch 2 Personen, und er findet statt" in german
    manage = (await client.get(f"/manage/{receipt.manage_token}", params={"lang": "en"})).text
    assert "Help this visit happen" in manage
    # The link passed on marks the bookings it brings (the report counts the visits they saved).
    assert f'href="{PUBLIC_URL}/visits/{slot.id}?shared=1"' in manage

    await book_directly(db, slot.id)  # 6 of 5: it will take place
    for page in ("/", f"/visits/{slot.id}", f"/manage/{receipt.manage_token}"):
        shown = text((await client.get(page, params={"lang": "en"})).text)
        assert "more people and it takes place" not in shown, page
        assert "Help this visit happen" not in shown, page


async def test_the_meeting_point_opens_in_maps_and_says_how_to_get_there(db, client):
    from sqlalchemy import update

    from reservations.base.models import Activity

    slot = await make_slot(db, capacity=8)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == slot.activity_id)
            .values(
                meeting_point="Parking du Mas, Vialas",
                latitude=44.3521,
                longitude=3.8762,
                directions={"fr": "Navette du mardi, arrêt Vialas.", "de": "Dienstags-Shuttle."},
            )
        )
    german = (await client.get(f"/visits/{slot.id}", params={"lang": "de"})).text
    assert 'href="geo:44.3521,3.8762"' in german
    assert "Anfahrt" in german and "Dienstags-Shuttle." in german
    dutch = (await client.get(f"/visits/{slot.id}", params={"lang": "nl"})).text
    assert "Navette du mardi, arrêt Vialas." in dutch  # no Dutch text: the French one


async def test_the_confirmation_announces_a_decision_only_while_it_is_to_come(db, client):
    from datetime import timedelta

    from sqlalchemy import update

    from reservations.base import clock
    from reservations.base.models import Slot
    from tests.test_visitors import outbox, post_booking

    coming = await make_slot(db, capacity=8, min_participants=4)
    overdue = await make_slot(db, capacity=8, min_participants=4)
    async with db.writing() as session:  # its decision time passed and nobody decided yet
        await session.execute(
            update(Slot)
            .where(Slot.id == overdue.id)
            .values(decision_at=clock.now() - timedelta(hours=1))
        )
    await post_booking(client, coming.id, "en", adults="1", children="0")
    await post_booking(client, overdue.id, "en", adults="1", children="0", email="b@example.org")
    by_address = {m.to_address: m.text_body for m in await outbox(db)}
    assert "It is decided on" in by_address["anne@example.org"]
    assert "It is decided on" not in by_address["b@example.org"]
