"""Rate limits that spare people, on the visitors' forms: a form sent back for a mistake does
not count, one who hits the limit keeps what they typed (a 429 with the form), the staff login
has its own bucket (and a wrong password counts there), and a burst of bookings at once still
gets no more than the limit through."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from reservations.app import create_app
from tests.factories import fetch_slot, make_slot
from tests.staff_support import PASSWORD, make_staff
from tests.test_visitors import form_token, post_booking, site_settings, upcoming

LIMIT = 2


def limited_app(db):  # type: ignore[no-untyped-def]
    return create_app(site_settings(db, booking_rate_limit=LIMIT), database=db)


async def test_mistakes_do_not_count_and_the_limit_keeps_what_was_typed(db):
    slot = await make_slot(db, capacity=20, starts_at=upcoming())
    async with AsyncTestClient(app=limited_app(db)) as client:
        mistakes = [
            await post_booking(client, slot.id, "en", email="not-an-email") for _ in range(4)
        ]
        assert [m.status_code for m in mistakes] == [422] * 4
        booked = [
            await post_booking(client, slot.id, "en", adults="1", children="0")
            for _ in range(LIMIT)
        ]
        assert [b.status_code for b in booked] == [303] * LIMIT
        over = await post_booking(client, slot.id, "en", adults="1", children="0", name="Zoé Fabre")
        assert over.status_code == 429
        assert "Too many tries from your connection" in over.text
        assert 'value="Zoé Fabre"' in over.text and 'id="adults"' in over.text
        # Its own bucket: the staff login is not refused for the visitors' bookings.
        account = await make_staff(db)
        token = await form_token(client, "/staff/login")
        login = await client.post(
            "/staff/login",
            data={"email": account.email, "password": PASSWORD, "_csrf_token": token},
            follow_redirects=False,
        )
        assert login.status_code == 303
    assert (await fetch_slot(db, slot.id)).booked == LIMIT


async def test_a_burst_at_once_gets_no_more_than_the_limit_through(db):
    slot = await make_slot(db, capacity=20, starts_at=upcoming())
    async with AsyncTestClient(app=limited_app(db)) as client:
        answers = await asyncio.gather(
            *(post_booking(client, slot.id, "en", adults="1", children="0") for _ in range(8))
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [303] * LIMIT + [429] * (8 - LIMIT)
    assert (await fetch_slot(db, slot.id)).booked == LIMIT
