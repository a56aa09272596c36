"""A visitor's booking form sent again (a double tap, a reload after a slow answer) books once:
the form carries a key drawn with the page, the booking's idempotency key. Both answers lead to
the same booking, its places are taken once and one confirmation is sent; the same form sent
with other details is refused with a fresh key. Through a real server too, where the posts
really overlap."""

from __future__ import annotations

import re

import httpx
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base.models import Booking, OutboxMessage
from tests.factories import fetch_slot, make_slot
from tests.live_server import live_server
from tests.test_crowd import all_at_once
from tests.test_visitors import site_settings, text_of, upcoming

FAMILY = {"adults": "2", "children": "1", "name": "Anne Martin", "email": "anne@example.org"}
FORM_USED = "This form was already used for another booking."


def hidden(markup: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', markup)
    assert found, f"no {name} in the page"
    return found.group(1)


async def bookings_of(db, slot_id: int) -> list[Booking]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(await session.scalars(select(Booking).where(Booking.slot_id == slot_id)))


async def confirmations(db) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(await session.scalars(select(OutboxMessage)))


async def form_of(client, slot_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = await client.get(f"/visits/{slot_id}?lang=en")
    assert page.status_code == 200
    return {
        "_csrf_token": hidden(page.text, "_csrf_token"),
        "form_key": hidden(page.text, "form_key"),
        **FAMILY,
    }


async def test_each_page_draws_its_own_key(db) -> None:  # type: ignore[no-untyped-def]
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        keys = {(await form_of(client, slot.id))["form_key"] for _ in range(3)}
    assert len(keys) == 3 and all(len(key) >= 32 for key in keys)


async def test_the_same_form_sent_twice_books_once(db) -> None:  # type: ignore[no-untyped-def]
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        form = await form_of(client, slot.id)
        first = await client.post(f"/visits/{slot.id}", data=form, follow_redirects=False)
        again = await client.post(f"/visits/{slot.id}", data=form, follow_redirects=False)
        assert first.status_code == again.status_code == 303, text_of(again)[:1000]
        assert first.headers["location"] == again.headers["location"]
        confirmation = await client.get(again.headers["location"])
        assert confirmation.status_code == 200 and "Anne Martin" in confirmation.text
    [booking] = await bookings_of(db, slot.id)
    assert (booking.adults, booking.children) == (2, 1)
    assert (await fetch_slot(db, slot.id)).booked == 3
    assert len(await confirmations(db)) == 1, "one confirmation, not one per post"


async def test_the_same_form_sent_for_another_party_is_refused_with_a_new_key(db) -> None:  # type: ignore[no-untyped-def]
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        form = await form_of(client, slot.id)
        first = await client.post(f"/visits/{slot.id}", data=form, follow_redirects=False)
        assert first.status_code == 303
        changed = {**form, "adults": "4", "name": "Jonas Weber"}
        refused = await client.post(f"/visits/{slot.id}?lang=en", data=changed)
        assert refused.status_code == 409
        assert FORM_USED in text_of(refused)
        assert 'value="Jonas Weber"' in refused.text  # what was typed is kept
        new_key = hidden(refused.text, "form_key")
        assert new_key != form["form_key"]
        resent = await client.post(
            f"/visits/{slot.id}", data={**changed, "form_key": new_key}, follow_redirects=False
        )
        assert resent.status_code == 303
    names = sorted(b.name for b in await bookings_of(db, slot.id))
    assert names == ["Anne Martin", "Jonas Weber"]
    assert (await fetch_slot(db, slot.id)).booked == 3 + 5  # 4 adults, 1 child


async def test_a_form_without_a_usable_key_still_books(db) -> None:  # type: ignore[no-untyped-def]
    """An old page (no key) or a key that is not ours books as a new request each time."""
    slot = await make_slot(db, capacity=9, starts_at=upcoming())
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        form = await form_of(client, slot.id)
        for key in ("", "k" * 500, "a\x00b"):
            answer = await client.post(
                f"/visits/{slot.id}", data={**form, "form_key": key}, follow_redirects=False
            )
            assert answer.status_code == 303, text_of(answer)[:1000]
    assert len(await bookings_of(db, slot.id)) == 3
    assert (await fetch_slot(db, slot.id)).booked == 9


async def test_a_form_sent_several_times_at_once_to_a_real_server_books_once(database_url, db):  # type: ignore[no-untyped-def]
    """Through ``reservations serve``: five overlapping posts of one form, one booking."""
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    with live_server(database_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            form = await form_of(http, slot.id)
            answers = await all_at_once(
                [lambda: http.post(f"/visits/{slot.id}", data=form) for _ in range(5)]
            )
        output = server.output()
    assert "Traceback" not in output, output
    assert {a.status_code for a in answers} == {303}, [a.text[:300] for a in answers]
    assert len({a.headers["location"] for a in answers}) == 1
    assert len(await bookings_of(db, slot.id)) == 1
    assert (await fetch_slot(db, slot.id)).booked == 3
    assert len(await confirmations(db)) == 1
