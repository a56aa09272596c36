"""A party that does not fit is offered the waiting list prefilled with it; a party larger than
any booking may be (the "500 people" typo, a coach group) is for the office: the waiting list
is neither offered for it nor prefilled with it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from tests.factories import make_slot
from tests.test_visitors import book_directly, form_token, site_settings


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def ask(client, slot_id: int, adults: str):  # type: ignore[no-untyped-def]
    page = f"/visits/{slot_id}"
    token = await form_token(client, page)
    fields = {"adults": adults, "children": "0", "name": "Ada", "email": "ada@example.org"}
    return await client.post(page, data={**fields, "_csrf_token": token})


def waitlist_adults(html: str) -> str | None:
    found = re.search(r'id="wl-adults"[^>]*value="([^"]*)"', html, re.S)
    return found.group(1) if found else None


async def test_the_waiting_list_is_prefilled_only_with_a_party_one_booking_may_hold(db, client):
    few = await make_slot(db, capacity=5)
    answer = await ask(client, few.id, "8")  # more than the 5 places, within a booking (10)
    assert answer.status_code == 422
    assert waitlist_adults(answer.text) == "8"

    answer = await ask(client, few.id, "500")
    assert answer.status_code == 422
    assert waitlist_adults(answer.text) is None  # no waiting list for 500
    assert 'value="500"' in answer.text  # the booking form keeps what was typed

    full = await make_slot(db, capacity=3)
    await book_directly(db, full.id)  # 3 people: full
    answer = await ask(client, full.id, "500")
    assert answer.status_code == 422
    assert waitlist_adults(answer.text) == ""  # offered (it is full), not prefilled with 500
    assert 'id="wl-name"' in answer.text and 'value="Ada"' in answer.text
