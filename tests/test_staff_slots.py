"""The slot page of the back office (``/staff/slots/{id}``) on each database: the slot's facts,
its bookings, its waiting list with "offer now" and "remove", and its audit trail (newest
first, who, what, before → after, in Paris time); each staff action is audited with its
before and after, refusals are shown on the page, and an offer races nothing into overselling."""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from reservations.base import clock
from reservations.base.models import (
    AuditEntry,
    CancelReason,
    Channel,
    OutboxMessage,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import moves, waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.slots import Presence, cancel_slot, record_attendance
from tests.factories import make_activity, make_slot
from tests.staff_support import csrf
from tests.test_visitors import text_of

POLICY = BookingPolicy(secret_key="test", max_party_size=10)


def days_ahead(days: int, hour: int = 10):  # type: ignore[no-untyped-def]
    return clock.local_datetime(clock.today() + timedelta(days=days), time(hour, 0))


async def book(db, slot_id: int, adults: int, children: int = 0, **fields: str):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=fields.get("name", "Anne Martin"),
        email=fields.get("email", "anne@example.org"),
        phone=fields.get("phone"),
        locale=fields.get("locale", "fr"),
        channel=Channel(fields.get("channel", "web")),
    )
    return (await booking_service.book(db, request, POLICY, actor="visitor")).booking


async def join(db, slot_id: int, email: str, adults: int = 2):  # type: ignore[no-untyped-def]
    receipt = await waitlist.join(
        db,
        slot_id,
        adults=adults,
        children=0,
        name=email.split("@")[0].title(),
        email=email,
        locale="nl",
        policy=POLICY,
    )
    return receipt.entry


async def entry_status(db, entry_id: int) -> WaitlistStatus:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        entry = await session.get(WaitlistEntry, entry_id)
    assert entry is not None
    return entry.status


async def outbox_to(db, address: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address))
        )


def row_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}".*?</tr>', html, re.DOTALL)
    assert found is not None, element_id
    return found.group(0)


async def full_slot_with_waiting(db, *, capacity: int = 4):  # type: ignore[no-untyped-def]
    """A full slot (two bookings of 2) with two parties of 2 waiting, in this order."""
    slot = await make_slot(db, capacity=capacity, starts_at=days_ahead(5))
    first = await book(db, slot.id, 2, name="Paul Durand", phone="06 11 22 33 44")
    second = await book(db, slot.id, 2, email="ben@example.org")
    ahead = await join(db, slot.id, "els@example.be")
    behind = await join(db, slot.id, "joost@example.nl")
    return slot, (first, second), (ahead, behind)


# --- the page -------------------------------------------------------------------------------


async def test_the_page_shows_the_slot_its_bookings_and_its_waiting_list(staff, db):
    client, _ = staff
    slot, (first, second), (ahead, _) = await full_slot_with_waiting(db)
    await booking_service.cancel_booking(db, second.id, actor="staff:someone@office.example")

    page = await client.get(f"/staff/slots/{slot.id}?lang=en")

    assert page.status_code == 200
    text = text_of(page)
    assert "2 booked of 4, minimum 0" in text
    booked = row_of(page.text, f"booking-{first.id}")
    assert first.reference in booked and "Paul Durand" in booked
    assert 'href="tel:0611223344"' in booked and "Online" in booked and "Confirmed" in booked
    assert f'href="/staff/bookings/{first.id}#move"' in booked
    cancelled = row_of(page.text, f"booking-{second.id}")
    assert "Cancelled" in cancelled and "#move" not in cancelled
    waiting = row_of(page.text, f"entry-{ahead.id}")
    assert "els@example.be" in waiting and "Waiting" in waiting
    assert f"/staff/slots/{slot.id}/waitlist/{ahead.id}/offer" in waiting


async def test_the_audit_trail_lists_the_slot_and_its_bookings_newest_first(staff, db):
    client, account = staff
    activity = await make_activity(db, capacity=10)
    slot = await make_slot(db, activity=activity, capacity=10, starts_at=days_ahead(5))
    other = await make_slot(db, activity=activity, capacity=10, starts_at=days_ahead(6))
    stays = await book(db, slot.id, 2)
    leaves = await book(db, slot.id, 3)
    await book(db, other.id, 1)  # another slot's entry: not on this page
    await moves.move_booking(db, leaves.id, other.id, actor=account.actor)
    await booking_service.cancel_booking(db, stays.id, actor=account.actor)

    page = await client.get(f"/staff/slots/{slot.id}?lang=en")

    async with db.reading() as session:
        expected = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.slot_id == slot.id)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            )
        )
    shown = [int(i) for i in re.findall(r'id="audit-(\d+)"', page.text)]
    assert shown == [e.id for e in expected]
    assert [e.action for e in expected] == [
        "booking.cancelled",
        "booking.moved_out",
        "booking.created",
        "booking.created",
    ]
    cancel_row = row_of(page.text, f"audit-{expected[0].id}")
    assert account.email in cancel_row and "Booking cancelled" in cancel_row
    assert "Status: Confirmed → Cancelled" in text_of_html(cancel_row)
    assert stays.reference in cancel_row
    when = clock.display(expected[0].at)[11:16]  # HH:MM in Paris time, as French shows it
    french = await client.get(f"/staff/slots/{slot.id}?lang=fr")
    assert when in row_of(french.text, f"audit-{expected[0].id}")
    move_row = text_of_html(row_of(page.text, f"audit-{expected[1].id}"))
    assert f"Visit: {slot.id} → {other.id}" in text_of_html(move_row)
    assert "Booking moved to another visit" in move_row

    on_other = await client.get(f"/staff/slots/{other.id}?lang=en")
    assert "Booking moved here" in on_other.text and leaves.reference in on_other.text


def text_of_html(fragment: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).replace("\u202f", " ")


async def test_an_unknown_slot_is_not_found(staff):
    client, _ = staff
    assert (await client.get("/staff/slots/999999")).status_code == 404


# --- the waiting list -----------------------------------------------------------------------


async def test_offer_now_offers_the_places_to_that_party_and_emails_it(staff, db):
    client, account = staff
    slot, (_, second), (ahead, behind) = await full_slot_with_waiting(db)
    await booking_service.cancel_booking(db, second.id, actor="test")  # 2 places, not offered yet
    await client.get(f"/staff/slots/{slot.id}?lang=en")

    # Staff choose the party behind: it is offered the places ahead of its turn.
    answer = await client.post(
        f"/staff/slots/{slot.id}/waitlist/{behind.id}/offer",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/staff/slots/{slot.id}?done=offered"
    assert await entry_status(db, behind.id) == WaitlistStatus.OFFERED
    assert await entry_status(db, ahead.id) == WaitlistStatus.WAITING
    (offer_email,) = [m for m in await outbox_to(db, "joost@example.nl") if "offer" in m.dedup_key]
    assert "/waitlist/" in offer_email.text_body
    async with db.reading() as session:
        entry = await session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "waitlist.offered", AuditEntry.slot_id == slot.id
            )
        )
    assert entry is not None and entry.actor == account.actor
    assert entry.data["before"] == {"status": "waiting"}
    assert entry.data["after"]["status"] == "offered"
    page = await client.get(answer.headers["location"])
    assert "Places offered: the person has been emailed a link to book them." in text_of(page)

    # No places are left to offer: the party ahead is told why, and stays waiting.
    refused = await client.post(
        f"/staff/slots/{slot.id}/waitlist/{ahead.id}/offer", data={"_csrf_token": csrf(client)}
    )
    assert refused.status_code == 409
    assert "Only 0 places can be offered now; this party needs 2." in text_of(refused)
    assert await entry_status(db, ahead.id) == WaitlistStatus.WAITING


async def test_remove_takes_an_entry_off_and_its_offer_goes_to_the_next(staff, db):
    client, account = staff
    slot, (_, second), (ahead, behind) = await full_slot_with_waiting(db)
    await booking_service.cancel_booking(db, second.id, actor="test")
    await waitlist.offer_entry(db, slot.id, ahead.id, notify=_no_email, actor="test")
    await client.get(f"/staff/slots/{slot.id}")

    answer = await client.post(
        f"/staff/slots/{slot.id}/waitlist/{ahead.id}/remove",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert await entry_status(db, ahead.id) == WaitlistStatus.WITHDRAWN
    assert await entry_status(db, behind.id) == WaitlistStatus.OFFERED  # the freed offer
    assert any("offer" in m.dedup_key for m in await outbox_to(db, "joost@example.nl"))
    async with db.reading() as session:
        removed = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "waitlist.removed")
        )
    assert removed is not None and removed.actor == account.actor
    assert (removed.data["before"], removed.data["after"]["status"]) == (
        {"status": "offered"},
        "withdrawn",
    )
    again = await client.post(
        f"/staff/slots/{slot.id}/waitlist/{ahead.id}/remove",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert again.status_code == 303  # removing twice is harmless


async def test_waitlist_actions_refuse_what_does_not_apply(staff, db):
    client, _ = staff
    slot, _, (ahead, _) = await full_slot_with_waiting(db)
    other = await make_slot(db, capacity=4, starts_at=days_ahead(8))
    await client.get(f"/staff/slots/{slot.id}?lang=en")
    token = {"_csrf_token": csrf(client)}

    elsewhere = await client.post(f"/staff/slots/{other.id}/waitlist/{ahead.id}/offer", data=token)
    assert elsewhere.status_code == 404
    await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    closed = await client.post(f"/staff/slots/{slot.id}/waitlist/{ahead.id}/offer", data=token)
    assert closed.status_code == 409
    assert "This visit has been cancelled" in text_of(closed)
    assert await entry_status(db, ahead.id) == WaitlistStatus.WAITING


async def test_waitlist_actions_need_the_form_token(staff, db):
    client, _ = staff
    slot, _, (ahead, _) = await full_slot_with_waiting(db)
    answer = await client.post(f"/staff/slots/{slot.id}/waitlist/{ahead.id}/remove", data={})
    assert answer.status_code == 403
    assert await entry_status(db, ahead.id) == WaitlistStatus.WAITING


async def _no_email(session, offer) -> None:  # type: ignore[no-untyped-def]
    return None


async def test_concurrent_offers_never_offer_more_places_than_are_free(db):
    slot = await make_slot(db, capacity=4, starts_at=days_ahead(5))
    bookings = [await book(db, slot.id, 2) for _ in range(2)]
    parties = [await join(db, slot.id, f"party{n}@example.be") for n in range(4)]
    await booking_service.cancel_booking(db, bookings[0].id, actor="test")  # 2 places free

    results = await asyncio.gather(
        *(waitlist.offer_entry(db, slot.id, p.id, notify=_no_email, actor="t") for p in parties),
        return_exceptions=True,
    )

    offered = [r for r in results if isinstance(r, waitlist.Offer)]
    refused = [r for r in results if isinstance(r, waitlist.NoPlacesToOffer)]
    assert (len(offered), len(refused)) == (1, 3), results
    statuses = [await entry_status(db, p.id) for p in parties]
    assert statuses.count(WaitlistStatus.OFFERED) == 1


@pytest.mark.parametrize("lang", ["fr", "en", "de", "nl"])
async def test_the_page_reads_in_each_language(staff, db, lang):
    client, _ = staff
    slot, _, _ = await full_slot_with_waiting(db)
    page = await client.get(f"/staff/slots/{slot.id}?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    heading = {"fr": "Historique", "en": "History", "de": "Verlauf", "nl": "Geschiedenis"}
    assert heading[lang] in page.text


async def test_a_corrected_attendance_is_audited_with_what_it_replaced(staff, db):
    client, account = staff
    slot = await make_slot(db, capacity=10, starts_at=clock.now() + timedelta(hours=3))
    family = await book(db, slot.id, 2, 2)
    single = await book(db, slot.id, 1)
    await record_attendance(db, slot.id, actor="provider:1", now=slot.ends_at)
    await record_attendance(
        db, slot.id, {family.id: Presence(2, 1), single.id: Presence(0, 0)},
        actor=account.actor, now=slot.ends_at,
    )  # fmt: skip

    async with db.reading() as session:
        first, correction = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "slot.attendance_recorded")
                .order_by(AuditEntry.id)
            )
        )
    everyone = {str(family.id): [2, 2], str(single.id): [1, 0]}
    assert (first.data["before"], first.data["after"]) == (
        {"status": "scheduled", "present": {}},
        {"status": "held", "present": everyone},
    )
    assert correction.actor == account.actor
    assert correction.data["before"] == {"status": "held", "present": everyone}
    assert correction.data["after"]["present"] == {str(family.id): [2, 1], str(single.id): [0, 0]}
    page = await client.get(f"/staff/slots/{slot.id}?lang=en")
    assert "Attendance recorded" in page.text
