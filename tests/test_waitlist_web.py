"""The waiting list on the site (Litestar's test client, each database): joining through the
visit's form, the offer email when places free up (a cancellation, a smaller party, an offer
withdrawn ahead in line), claiming on POST only, the kind refusal when someone was quicker,
leaving the list, unknown and expired links, and ``tick`` offering what a failed follow-up
missed. The office's changes that free places are covered with their pages (test_staff_bookings:
cancel, move; test_staff_planning: a larger capacity; test_staff_slots: an entry removed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from babel.dates import format_date
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import OutboxMessage, WaitlistEntry, WaitlistStatus
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingPolicy
from reservations.due_work import tick_before_mail
from tests.factories import fetch_slot, make_slot
from tests.outbox_support import as_sent
from tests.test_visitors import (
    MAX_PARTY,
    PUBLIC_URL,
    book_directly,
    form_token,
    site_settings,
    text_of,
    upcoming,
)

POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)
ENTRY_LINK = re.compile(re.escape(PUBLIC_URL) + r"/waitlist/([A-Za-z0-9_\-]+)")


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def outbox(db, prefix: str = "") -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        messages = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
        return list(messages)


async def entries(db, slot_id: int) -> list[WaitlistEntry]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalars(
            select(WaitlistEntry).where(WaitlistEntry.slot_id == slot_id).order_by(WaitlistEntry.id)
        )
        return list(found)


async def full_slot(db, capacity: int = 3):  # type: ignore[no-untyped-def]
    """A slot whose places are all taken by one booking of 3 (2 adults, 1 child)."""
    slot = await make_slot(db, capacity=capacity, starts_at=upcoming())
    receipt = await book_directly(db, slot.id)
    return slot, receipt


async def join_directly(  # type: ignore[no-untyped-def]
    db, slot_id: int, *, locale: str = "nl", adults: int = 2
):
    return await waitlist.join(
        db,
        slot_id,
        adults=adults,
        children=0,
        name="Els Peeters",
        email="els@example.be",
        locale=locale,
        policy=POLICY,
    )


def weekday(instant, locale: str) -> str:  # type: ignore[no-untyped-def]
    return format_date(instant.astimezone(clock.OFFICE_TZ).date(), "EEEE", locale=locale)


async def test_a_full_slot_takes_an_entry_through_its_form_and_sends_the_join_email(client, db):
    slot, _ = await full_slot(db)
    page = await client.get(f"/visits/{slot.id}?lang=de")
    assert f'action="/waitlist/join/{slot.id}"' in page.text
    token = await form_token(client, f"/visits/{slot.id}?lang=de")
    fields = {"adults": "1", "children": "2", "name": "Jonas Weber", "email": "jonas@example.de"}
    answer = await client.post(
        f"/waitlist/join/{slot.id}", data={**fields, "_csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303, text_of(answer)
    found = re.fullmatch(r"/waitlist/([^/?]+)\?done=joined", answer.headers["location"])
    assert found, answer.headers["location"]
    shown = await client.get(answer.headers["location"])
    assert shown.status_code == 200 and "Jonas Weber" in text_of(shown)

    [entry] = await entries(db, slot.id)
    assert (entry.adults, entry.children, entry.locale) == (1, 2, "de")
    assert entry.status == WaitlistStatus.WAITING
    [email] = await outbox(db, "waitlist-joined:")
    assert email.dedup_key == f"waitlist-joined:{entry.id}"
    assert email.to_address == "jonas@example.de"
    assert found.group(1) not in email.text_body  # sealed at rest
    assert f"{PUBLIC_URL}/waitlist/{found.group(1)}" in as_sent(email).text
    assert weekday(slot.starts_at, "de") in email.text_body  # written in German


async def test_a_refused_join_shows_the_form_again_with_the_values_kept(client, db):
    slot, _ = await full_slot(db)
    token = await form_token(client, f"/visits/{slot.id}?lang=en")
    fields = {"adults": "2", "children": "", "name": "Jonas Weber", "email": ""}
    answer = await client.post(f"/waitlist/join/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422
    assert 'value="Jonas Weber"' in answer.text and 'id="wl-email-error"' in answer.text
    assert await entries(db, slot.id) == []

    fields = {"adults": "abc", "children": "0", "name": "Jonas Weber", "email": "j@example.de"}
    answer = await client.post(f"/waitlist/join/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422 and 'id="wl-party-error"' in answer.text
    assert 'value="j@example.de"' in answer.text


async def test_joining_a_slot_with_room_for_the_party_is_refused_kindly(client, db):
    slot = await make_slot(db, capacity=5, starts_at=upcoming())
    token = await form_token(client, f"/visits/{slot.id}?lang=en")
    fields = {"adults": "2", "children": "0", "name": "Jonas Weber", "email": "j@example.de"}
    answer = await client.post(f"/waitlist/join/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422
    assert "you can book them right away" in text_of(answer)
    assert await entries(db, slot.id) == []


async def test_a_party_that_does_not_fit_is_offered_the_waiting_list(client, db):
    slot = await make_slot(db, capacity=4, starts_at=upcoming())
    await book_directly(db, slot.id)  # 3 of 4 places taken
    token = await form_token(client, f"/visits/{slot.id}?lang=en")
    fields = {"adults": "2", "children": "1", "name": "Anne Martin", "email": "anne@example.org"}
    answer = await client.post(f"/visits/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422
    assert f'action="/waitlist/join/{slot.id}"' in answer.text
    assert 'id="wl-name"' in answer.text and 'value="anne@example.org"' in answer.text


async def test_a_cancellation_offers_the_places_and_a_claim_books_them(client, db):
    slot, first = await full_slot(db)
    joined = await join_directly(db, slot.id, locale="nl", adults=2)

    # The first visitor cancels from their manage page.
    token = await form_token(client, f"/manage/{first.manage_token}")
    cancelled = await client.post(
        f"/manage/{first.manage_token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": token},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    [offer] = await outbox(db, f"waitlist-offer:{joined.entry.id}:")
    assert offer.to_address == "els@example.be"
    assert weekday(slot.starts_at, "nl") in offer.text_body  # in the entry's language
    claim_token = ENTRY_LINK.search(as_sent(offer).text).group(1)  # type: ignore[union-attr]
    assert claim_token != joined.token  # each offer has its own link

    page = await client.get(f"/waitlist/{claim_token}?lang=en")  # what a mail scanner does
    assert page.status_code == 200 and 'value="claim"' in page.text
    assert (await fetch_slot(db, slot.id)).booked == 0  # opening the link books nothing

    token = await form_token(client, f"/waitlist/{claim_token}")
    answer = await client.post(
        f"/waitlist/{claim_token}",
        data={"action": "claim", "_csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, text_of(answer)
    assert re.fullmatch(r"/manage/[^/]+/confirmation", answer.headers["location"])
    assert (await fetch_slot(db, slot.id)).booked == 2
    [entry] = await entries(db, slot.id)
    assert entry.status == WaitlistStatus.CLAIMED and entry.booking_id is not None
    [confirmation] = await outbox(db, f"booking-confirmed:{entry.booking_id}")
    assert confirmation.to_address == "els@example.be"
    assert (await client.get(answer.headers["location"])).status_code == 200


async def test_a_claim_after_the_places_were_taken_is_told_kindly(client, db):
    slot, first = await full_slot(db)
    await join_directly(db, slot.id, adults=3)
    await client.get(f"/manage/{first.manage_token}")
    token = await form_token(client, f"/manage/{first.manage_token}")
    await client.post(
        f"/manage/{first.manage_token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": token},
    )
    [offer] = await outbox(db, "waitlist-offer:")
    claim_token = ENTRY_LINK.search(as_sent(offer).text).group(1)  # type: ignore[union-attr]
    await book_directly(db, slot.id)  # someone books the 3 freed places first

    token = await form_token(client, f"/waitlist/{claim_token}?lang=en")
    answer = await client.post(
        f"/waitlist/{claim_token}", data={"action": "claim", "_csrf_token": token}
    )
    assert answer.status_code == 409
    assert "someone was quicker" in text_of(answer)
    assert "You stay on the waiting list" in text_of(answer)
    [entry] = await entries(db, slot.id)
    assert entry.status == WaitlistStatus.WAITING and entry.booking_id is None
    assert (await fetch_slot(db, slot.id)).booked == 3


async def test_leaving_the_waiting_list(client, db):
    slot, _ = await full_slot(db)
    joined = await join_directly(db, slot.id)
    page = await client.get(f"/waitlist/{joined.token}?lang=en")
    assert 'value="withdraw"' in page.text and 'value="claim"' not in page.text
    token = await form_token(client, f"/waitlist/{joined.token}")
    answer = await client.post(
        f"/waitlist/{joined.token}",
        data={"action": "withdraw", "_csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/waitlist/{joined.token}?done=withdrawn"
    [entry] = await entries(db, slot.id)
    assert entry.status == WaitlistStatus.WITHDRAWN
    after = await client.get(answer.headers["location"])
    assert after.status_code == 200 and 'value="withdraw"' not in after.text


async def test_unknown_and_expired_links_get_friendly_pages(client, db):
    unknown = await client.get("/waitlist/not-a-real-token?lang=en")
    assert unknown.status_code == 404 and "Unknown waiting-list link" in text_of(unknown)
    assert "Traceback" not in unknown.text

    slot, first = await full_slot(db)
    await join_directly(db, slot.id)
    await client.get(f"/manage/{first.manage_token}")
    token = await form_token(client, f"/manage/{first.manage_token}")
    await client.post(
        f"/manage/{first.manage_token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": token},
    )
    [offer] = await outbox(db, "waitlist-offer:")
    claim_token = ENTRY_LINK.search(as_sent(offer).text).group(1)  # type: ignore[union-attr]
    token = await form_token(client, f"/waitlist/{claim_token}?lang=en")
    async with db.writing() as session:  # the offer runs out while the page is open
        await session.execute(
            update(WaitlistEntry).values(offer_expires_at=clock.now() - timedelta(minutes=1))
        )
    answer = await client.post(
        f"/waitlist/{claim_token}", data={"action": "claim", "_csrf_token": token}
    )
    assert answer.status_code == 409 and "This offer ran out" in text_of(answer)
    assert 'value="claim"' not in answer.text
    assert (await fetch_slot(db, slot.id)).booked == 0


async def manage_post(client, manage_token: str, **fields: str):  # type: ignore[no-untyped-def]
    token = await form_token(client, f"/manage/{manage_token}")
    return await client.post(
        f"/manage/{manage_token}", data={**fields, "_csrf_token": token}, follow_redirects=False
    )


async def test_a_smaller_party_offers_the_places_it_gives_back(client, db):
    slot, first = await full_slot(db)  # 3 of 3 taken by one party of 3
    joined = await join_directly(db, slot.id, adults=1)

    answer = await manage_post(client, first.manage_token, action="party", adults="2", children="0")

    assert answer.status_code == 303, text_of(answer)
    assert (await fetch_slot(db, slot.id)).booked == 2  # one place given back
    [entry] = await entries(db, slot.id)
    assert entry.status == WaitlistStatus.OFFERED
    [offer] = await outbox(db, f"waitlist-offer:{joined.entry.id}:")
    assert offer.to_address == "els@example.be"


async def test_a_cancellation_through_the_api_offers_the_places(client, db):
    slot, first = await full_slot(db)  # 3 of 3 taken by one party of 3
    joined = await join_directly(db, slot.id, adults=2)

    answer = await client.delete(f"/api/v1/bookings/{first.manage_token}")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    assert (await fetch_slot(db, slot.id)).booked == 0
    [entry] = await entries(db, slot.id)
    assert entry.status == WaitlistStatus.OFFERED
    [offer] = await outbox(db, f"waitlist-offer:{joined.entry.id}:")
    assert offer.to_address == "els@example.be"


async def test_an_offer_withdrawn_ahead_in_line_goes_to_the_next_party(client, db):
    slot, first = await full_slot(db)
    ahead = await join_directly(db, slot.id, adults=2)
    behind = await waitlist.join(
        db, slot.id, adults=2, children=0, name="Joost Jansen", email="joost@example.nl",
        locale="nl", policy=POLICY,
    )  # fmt: skip
    await manage_post(client, first.manage_token, action="party", adults="1", children="0")
    assert [e.status for e in await entries(db, slot.id)] == [
        WaitlistStatus.OFFERED,  # the 2 places given back
        WaitlistStatus.WAITING,
    ]
    [offer] = await outbox(db, f"waitlist-offer:{ahead.entry.id}:")
    ahead_link = ENTRY_LINK.search(as_sent(offer).text).group(1)  # type: ignore[union-attr]

    token = await form_token(client, f"/waitlist/{ahead_link}")
    answer = await client.post(
        f"/waitlist/{ahead_link}",
        data={"action": "withdraw", "_csrf_token": token},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert [e.status for e in await entries(db, slot.id)] == [
        WaitlistStatus.WITHDRAWN,
        WaitlistStatus.OFFERED,
    ]
    [offer] = await outbox(db, f"waitlist-offer:{behind.entry.id}:")
    assert offer.to_address == "joost@example.nl"


async def test_a_failed_offer_does_not_undo_the_cancellation_and_tick_makes_it(
    client, db, monkeypatch, caplog
):
    slot, first = await full_slot(db)
    joined = await join_directly(db, slot.id)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(waitlist, "offer_freed_places", broken)
        answer = await manage_post(client, first.manage_token, action="cancel", confirm="yes")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?done=cancelled")
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert "could not offer the freed places of slot" in caplog.text
    assert await outbox(db, "waitlist-offer:") == []

    await tick_before_mail(db, site_settings(db))

    [offer] = await outbox(db, f"waitlist-offer:{joined.entry.id}:")
    assert offer.to_address == "els@example.be"
